"""The simulator's own, flat view of a chip configuration (all integers, numpy arrays).

`ChipConfig` (snndeploy.mapping) is the file format; `SimNetwork` is what both simulators run.
`network_from_config` is the only place that reads a ChipConfig, so a change of the file
format touches one function. Tests build `SimNetwork`s directly for hand-computed cases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from snndeploy.errors import SnnDeployError


@dataclass(frozen=True)
class Destination:
    """Where a core's (or the input stage's) output spikes go.

    A spike at (c, y, x) arrives at core `core` as (c + channel_shift, y // pool, x // pool).
    """

    core: int
    pool: int = 1
    channel_shift: int = 0


@dataclass
class SimCore:
    """One core: convolution (cross-correlation, as stored) -> IAF neurons.

    weights[c_out, c_in, ky, kx]; the input pixel (c, y, x) reaches output neuron (f, oy, ox)
    with weight weights[f, c, y + pad_y - oy * stride_y, x + pad_x - ox * stride_x] whenever
    both kernel indices lie inside the kernel.
    """

    weights: np.ndarray
    input_shape: tuple[int, int, int]  # (c_in, h_in, w_in)
    threshold_high: int
    threshold_low: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    bias: np.ndarray | None = None  # (c_out,), added per slow-clock tick when leak_enable
    leak_enable: bool = False
    reset_to_zero: bool = False
    initial_state: np.ndarray | None = None  # (c_out, h_out, w_out); None = zeros
    destinations: tuple[Destination, ...] = ()

    def __post_init__(self) -> None:
        self.weights = np.asarray(self.weights, dtype=np.int64)
        if self.weights.ndim != 4:
            raise SnnDeployError(f"core weights need 4 dims (c_out, c_in, ky, kx), got {self.weights.shape}")
        c_out, c_in, ky, kx = self.weights.shape
        self.input_shape = tuple(int(v) for v in self.input_shape)
        self.stride = tuple(int(v) for v in self.stride)
        self.padding = tuple(int(v) for v in self.padding)
        if self.input_shape[0] != c_in:
            raise SnnDeployError(f"core weights have c_in={c_in} but the input has {self.input_shape[0]} channels")
        if self.output_shape[1] < 1 or self.output_shape[2] < 1:
            raise SnnDeployError(f"kernel {ky}x{kx} does not fit input {self.input_shape} with padding {self.padding}")
        self.bias = np.zeros(c_out, np.int64) if self.bias is None else np.asarray(self.bias, np.int64).reshape(c_out)
        if self.initial_state is None:
            self.initial_state = np.zeros(self.output_shape, np.int64)
        self.initial_state = np.asarray(self.initial_state, np.int64).reshape(self.output_shape)
        self.threshold_high = int(self.threshold_high)
        self.threshold_low = int(self.threshold_low)
        if self.threshold_high <= 0:
            raise SnnDeployError(f"threshold_high must be positive, got {self.threshold_high}")
        self.destinations = tuple(self.destinations)

    @property
    def output_shape(self) -> tuple[int, int, int]:
        c_out, _, ky, kx = self.weights.shape
        _, h_in, w_in = self.input_shape
        h_out = (h_in + 2 * self.padding[0] - ky) // self.stride[0] + 1
        w_out = (w_in + 2 * self.padding[1] - kx) // self.stride[1] + 1
        return (c_out, h_out, w_out)


@dataclass(frozen=True)
class InputStage:
    """How input events enter the chip.

    External input (`dvs=False`): an event (x, y, p) is the address (c=p, y, x) and goes to
    every destination. DVS input (`dvs=True`), applied in this order to each event of the
    (width x height, 2 polarities) sensor:
      1. polarity: `polarity="both"` keeps p (2 channels); "merge" maps both to channel 0;
         "on" / "off" keep only p == 1 / p == 0 and map it to channel 0;
      2. ROI crop: keep roi_x0 <= x <= roi_x1 and roi_y0 <= y <= roi_y1, then shift the origin
         to (roi_x0, roi_y0);
      3. sum pooling: (x // pool, y // pool);
      4. mirror_x: x -> W' - 1 - x; mirror_y: y -> H' - 1 - y (W', H' = size after 2-3);
      5. rotate_90 (counter-clockwise by one quarter, as a transpose followed by mirror_y):
         (x, y) -> (y, W' - 1 - x), giving an H' x W' image.
    Then each destination applies its own channel shift and pooling (Destination).
    """

    size: tuple[int, int, int]  # (width, height, channels) the events must fit
    destinations: tuple[Destination, ...]
    dvs: bool = False
    polarity: str = "both"
    roi: tuple[int, int, int, int] | None = None  # (x0, y0, x1, y1) inclusive
    pool: int = 1
    mirror_x: bool = False
    mirror_y: bool = False
    rotate_90: bool = False


@dataclass(frozen=True)
class Readout:
    """Class scores from the output spikes of core `core`.

    `channel_of_class[k]` is the core output channel counted for class k (the erratum mapping:
    readout channel k + 1 listens to core channel 4 k; see speck.md). None = channel k.
    """

    core: int
    num_classes: int
    channel_of_class: tuple[int, ...] | None = None

    def channels(self) -> tuple[int, ...]:
        return self.channel_of_class if self.channel_of_class is not None else tuple(range(self.num_classes))


@dataclass
class SimNetwork:
    """Cores by chip index, the input stage, the readout, the clock and the limits.

    A spike whose destination address (after pooling and shift) falls outside the target
    core's input is dropped.
    """

    cores: dict[int, SimCore]
    input: InputStage
    readout: Readout | None = None
    slow_clock_period_us: int = 1000
    state_bits: int = 16
    synops_per_s_limit: dict[int, float] = field(default_factory=dict)
    monitored_cores: tuple[int, ...] = ()  # cores whose output spikes are recorded by default
    layer_names: dict[int, str] = field(default_factory=dict)  # core -> network layer it holds

    def __post_init__(self) -> None:
        self.cores = dict(sorted(self.cores.items()))
        limit = 2 ** (self.state_bits - 1)
        for index, core in self.cores.items():
            for dest in core.destinations:
                self._check_destination(f"core {index}", core.output_shape, dest)
            for name in ("threshold_high", "threshold_low"):
                value = getattr(core, name)
                if not -limit <= value < limit:
                    raise SnnDeployError(f"core {index}: {name}={value} outside the {self.state_bits}-bit state range")
        for dest in self.input.destinations:
            self._check_destination("input", self.input_stage_output_shape(), dest)
        if self.readout is not None and self.readout.core not in self.cores:
            raise SnnDeployError(f"readout listens to core {self.readout.core}, which is not configured")
        if self.slow_clock_period_us <= 0:
            raise SnnDeployError(f"slow_clock_period_us must be positive, got {self.slow_clock_period_us}")

    def input_stage_output_shape(self) -> tuple[int, int, int]:
        """(channels, height, width) of the input stage's output, before destination pooling."""
        width, height, channels = self.input.size
        if not self.input.dvs:
            return (channels, height, width)
        if self.input.roi is not None:
            x0, y0, x1, y1 = self.input.roi
            width, height = x1 - x0 + 1, y1 - y0 + 1
        width, height = width // self.input.pool, height // self.input.pool
        if self.input.rotate_90:
            width, height = height, width
        return (2 if self.input.polarity == "both" else 1, height, width)

    def _check_destination(self, source: str, shape: tuple[int, int, int], dest: Destination) -> None:
        if dest.core not in self.cores:
            raise SnnDeployError(f"{source} sends to core {dest.core}, which is not configured")
        channels, height, width = shape
        target = self.cores[dest.core].input_shape
        arriving = (channels + dest.channel_shift, height // dest.pool, width // dest.pool)
        if arriving[0] > target[0] or arriving[1] > target[1] or arriving[2] > target[2]:
            raise SnnDeployError(
                f"{source} sends (channels, height, width) = {arriving} (pool {dest.pool}, "
                f"channel shift {dest.channel_shift}) to core {dest.core}, whose input is {target}"
            )
