"""What the chip of a device accepts, checked before anything is written to it.

The numbers come from the chip's target file (`snndeploy.targets.load_target`, hw_targets/*.toml):
core indices and per-core kernel / neuron / bias memory (with the target's address rounding),
weight / bias / state bit widths, square kernels up to the limit, strides, padding, channels,
output map size, input size, destinations per core and their pooling. A DVS input stage
needs a board with a sensor.
"""

from __future__ import annotations

import numpy as np

from snndeploy.devices.interface import DeviceError, DeviceKind, WrongChipError


def _outside(values: np.ndarray, bounds: tuple[int, int]) -> bool:
    return values.size > 0 and (int(values.min()) < bounds[0] or int(values.max()) > bounds[1])


def check_fits(net, kind: DeviceKind) -> None:
    """Raise DeviceError naming the first core and field that the chip of `kind` cannot hold."""
    from snndeploy.targets import load_target

    target = load_target(kind.chip)
    if net.input.dvs and not (kind.has_dvs and target.input.dvs):
        raise WrongChipError(
            f"the configuration reads a DVS sensor, but {kind.name} ({kind.description}) has none; "
            "map the network with external input for this board, or flash a Speck board"
        )
    if net.state_bits != target.state_bits:
        raise DeviceError(f"the configuration uses {net.state_bits}-bit states; {target.name} has "
                          f"{target.state_bits}-bit states")
    width, height, _ = net.input.size
    if max(width, height) > target.limits.max_input_size:
        raise DeviceError(f"input {width}x{height} exceeds {target.name}'s "
                          f"{target.limits.max_input_size}x{target.limits.max_input_size}")
    cores = {core.index: core for core in target.cores}
    for index, core in net.cores.items():
        if index not in cores:
            raise DeviceError(f"core {index}: {target.name} has cores {sorted(cores)}")
        _check_core(index, core, target, cores[index])


def _check_core(index: int, core, target, spec) -> None:
    limits = target.limits
    c_out, c_in, ky, kx = core.weights.shape
    _, h_out, w_out = core.output_shape
    problems = {
        "weights": (_outside(core.weights, target.range(target.weight_bits)),
                    f"must be {target.weight_bits}-bit signed {target.range(target.weight_bits)}; quantize first"),
        "bias": (_outside(core.bias, target.range(target.bias_bits)),
                 f"must be {target.bias_bits}-bit signed {target.range(target.bias_bits)}"),
        "initial_state": (_outside(core.initial_state, target.range(target.state_bits)),
                          f"must be {target.state_bits}-bit signed {target.range(target.state_bits)}"),
        "kernel": (ky != kx or kx > limits.max_kernel_size, f"{ky}x{kx}: square, at most {limits.max_kernel_size}"),
        "stride": (core.stride[0] != core.stride[1] or core.stride[0] not in limits.strides,
                   f"{core.stride}: square, one of {limits.strides}"),
        "padding": (not all(0 <= p <= limits.max_padding for p in core.padding),
                    f"{core.padding}: each 0..{limits.max_padding}"),
        "channels": (max(c_in, c_out) > limits.max_channels, f"{c_in} in / {c_out} out: at most {limits.max_channels}"),
        "output": (max(h_out, w_out) > limits.max_feature_map,
                   f"{h_out}x{w_out}: at most {limits.max_feature_map}x{limits.max_feature_map}"),
        "destinations": (len(core.destinations) > limits.fan_out
                         or any(d.pool not in limits.poolings for d in core.destinations),
                         f"at most {limits.fan_out}, pooling one of {limits.poolings}"),
    }
    for field, (bad, rule) in problems.items():
        if bad:
            raise DeviceError(f"core {index}: {field} {rule}")
    need = target.memory_needed(c_in, c_out, kx, (h_out, w_out), bool(np.any(core.bias != 0)))
    if not need.fits(spec):
        raise DeviceError(
            f"core {index}: needs {need.kernel} kernel / {need.neuron} neuron / {need.bias} bias entries, "
            f"the core has {spec.kernel_memory} / {spec.neuron_memory} / {spec.bias_memory}; map the layer "
            "to a larger core"
        )
