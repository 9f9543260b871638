"""What a Speck / DYNAP-CNN core accepts, checked before anything is written to a device.

Limits (shared by Speck 2e, 2f and the DYNAP-CNN dev kit; speck.md): cores 0..8; weights and
biases 8-bit signed; thresholds and neuron states 16-bit signed; square kernels up to 16;
stride 1/2/4/8; padding 0..7; at most 1024 channels; output maps up to 64x64; input up to
128x128; at most 2 destinations per core, pooling 1/2/4; per-core kernel and neuron memory
with the address rounding kernel = c_in·2^(⌈log2(k²)⌉+⌈log2 f⌉), neuron = f·2^(⌈log2 h⌉+⌈log2 w⌉).
A DVS input stage needs a board with a sensor.
"""

from __future__ import annotations

import math

import numpy as np

from snndeploy.devices.interface import DeviceError, DeviceKind, WrongChipError

KIB = 1024
KERNEL_MEMORY = (16 * KIB, 16 * KIB, 16 * KIB, 32 * KIB, 32 * KIB, 64 * KIB, 64 * KIB, 16 * KIB, 16 * KIB)
NEURON_MEMORY = (64 * KIB, 64 * KIB, 64 * KIB, 32 * KIB, 32 * KIB, 16 * KIB, 16 * KIB, 16 * KIB, 16 * KIB)
WEIGHT_RANGE = (-128, 127)
STATE_RANGE = (-32768, 32767)
STRIDES = (1, 2, 4, 8)
POOLS = (1, 2, 4)
MAX_KERNEL, MAX_PADDING, MAX_CHANNELS, MAX_OUTPUT, MAX_INPUT, MAX_DESTINATIONS = 16, 7, 1024, 64, 128, 2


def _ceil_log2(n: int) -> int:
    return max(0, math.ceil(math.log2(n)))


def kernel_memory(c_in: int, c_out: int, kernel: int) -> int:
    return c_in * 2 ** (_ceil_log2(kernel * kernel) + _ceil_log2(c_out))


def neuron_memory(c_out: int, h_out: int, w_out: int) -> int:
    return c_out * 2 ** (_ceil_log2(h_out) + _ceil_log2(w_out))


def _outside(values: np.ndarray, bounds: tuple[int, int]) -> bool:
    return values.size > 0 and (int(values.min()) < bounds[0] or int(values.max()) > bounds[1])


def check_fits(net, kind: DeviceKind) -> None:
    """Raise DeviceError naming the first core and field that the chip of `kind` cannot hold."""
    if net.input.dvs and not kind.has_dvs:
        raise WrongChipError(
            f"the configuration reads a DVS sensor, but {kind.name} ({kind.description}) has none; "
            "map the network with external input for this board, or flash a Speck board"
        )
    if net.state_bits != 16:
        raise DeviceError(f"the configuration uses {net.state_bits}-bit states; {kind.chip} has 16-bit states")
    width, height, _ = net.input.size
    if width > MAX_INPUT or height > MAX_INPUT:
        raise DeviceError(f"input {width}x{height} exceeds the chip's {MAX_INPUT}x{MAX_INPUT}")
    for index, core in net.cores.items():
        _check_core(index, core)


def _check_core(index: int, core) -> None:
    where = f"core {index}"
    if not 0 <= index < len(KERNEL_MEMORY):
        raise DeviceError(f"{where}: the chip has cores 0..{len(KERNEL_MEMORY) - 1}")
    c_out, c_in, ky, kx = core.weights.shape
    _, h_out, w_out = core.output_shape
    problems = {
        "weights": (_outside(core.weights, WEIGHT_RANGE), f"must be 8-bit signed {WEIGHT_RANGE}; quantize first"),
        "bias": (_outside(core.bias, WEIGHT_RANGE), f"must be 8-bit signed {WEIGHT_RANGE}"),
        "initial_state": (_outside(core.initial_state, STATE_RANGE), f"must be 16-bit signed {STATE_RANGE}"),
        "kernel": (ky != kx or kx > MAX_KERNEL, f"{ky}x{kx}: kernels are square, at most {MAX_KERNEL}"),
        "stride": (core.stride[0] != core.stride[1] or core.stride[0] not in STRIDES,
                   f"{core.stride}: square, one of {STRIDES}"),
        "padding": (not all(0 <= p <= MAX_PADDING for p in core.padding), f"{core.padding}: each 0..{MAX_PADDING}"),
        "channels": (max(c_in, c_out) > MAX_CHANNELS, f"{c_in} in / {c_out} out: at most {MAX_CHANNELS}"),
        "output": (max(h_out, w_out) > MAX_OUTPUT, f"{h_out}x{w_out}: at most {MAX_OUTPUT}x{MAX_OUTPUT}"),
        "destinations": (len(core.destinations) > MAX_DESTINATIONS
                         or any(d.pool not in POOLS for d in core.destinations),
                         f"at most {MAX_DESTINATIONS}, pooling one of {POOLS}"),
    }
    for field, (bad, rule) in problems.items():
        if bad:
            raise DeviceError(f"{where}: {field} {rule}")
    need_kernel = kernel_memory(c_in, c_out, kx)
    need_neuron = neuron_memory(c_out, h_out, w_out)
    if need_kernel > KERNEL_MEMORY[index] or need_neuron > NEURON_MEMORY[index]:
        raise DeviceError(
            f"{where}: needs {need_kernel} kernel / {need_neuron} neuron entries, the core has "
            f"{KERNEL_MEMORY[index]} / {NEURON_MEMORY[index]}; map the layer to a larger core"
        )
