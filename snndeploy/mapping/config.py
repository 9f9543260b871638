"""`ChipConfig`: the versioned, validated, human-readable chip configuration (JSON).

It is the contract between mapping (which writes it), the simulator (which runs it), the
devices (which flash it) and the user (who can read and diff it). Every numeric chip value is
an integer. The file is JSON with a top-level "format_version"; `chip_config.schema.json`
(shipped next to this module) is its JSON Schema, and `validate_config_dict` adds the checks
a schema cannot express (shapes that must agree with each other, destinations that exist).

Conventions (stated once, used everywhere):
- Shapes are (channels, height, width).
- `CoreConfig.weights[c_out][c_in][ky][kx]` is in torch Conv2d cross-correlation orientation:
  the input pixel (c, y, x) reaches output neuron (f, oy, ox) with weight
  weights[f][c][y + padding - oy*stride][x + padding - ox*stride] when both kernel indices
  lie inside the kernel. `to_samna` swaps ky/kx (samna stores [c_out][c_in][kx][ky]).
- `neuron_shape` is the convolution output (before any pooling); pooling belongs to each
  destination: a spike at (c, y, x) arrives at the destination as
  (c + feature_shift, y // pooling, x // pooling).
- `initial_state[c][y][x]` (None = all zeros) has shape `neuron_shape`.
- Biases are added to every neuron of the core once per slow-clock tick when `leak_enable`.
"""

from __future__ import annotations

import importlib
import json
import os
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_text_atomically

FORMAT_VERSION = 1
SCHEMA_PATH = Path(__file__).with_name("chip_config.schema.json")

RESET_MODES = ("subtract", "zero")
INPUT_SOURCES = ("dvs", "external")
POLARITY_MODES = ("both", "merge", "on", "off")
POOLING_SIZES = (1, 2, 4)

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Destination:
    """Where spikes go: target core, square sum pooling (address // pooling), channel offset."""

    core: int
    pooling: int = 1
    feature_shift: int = 0


@dataclass(frozen=True)
class DvsConfig:
    """The DVS pre-processing, applied in this order: polarity ("both" keeps 2 channels,
    "merge" sums them into channel 0, "on"/"off" keep one polarity as channel 0), region of
    interest roi = (x0, y0, x1, y1) inclusive (None = whole sensor), sum pooling, mirror_x,
    mirror_y, rotate90 (a transpose followed by mirror_y)."""

    polarity: str = "both"
    roi: Optional[tuple[int, int, int, int]] = None
    pooling: int = 1
    mirror_x: bool = False
    mirror_y: bool = False
    rotate90: bool = False


@dataclass(frozen=True)
class InputConfig:
    """Where input events come from and where they go.

    source "external": events (x, y, p) are core input addresses (c=p, y, x) of `shape`.
    source "dvs": `shape` is the sensor (2, height, width); `dvs` says how it is pre-processed.
    """

    source: str
    shape: Shape
    destinations: tuple[Destination, ...]
    dvs: Optional[DvsConfig] = None


@dataclass(frozen=True)
class ReadoutConfig:
    """Class scores from the output spikes of core `core`.

    `channel_of_class[k]` is the core output channel counted for class k. On Speck the
    readout erratum (speck.md) makes readout channel k+1 listen to core channel 4k, so a
    network's class k must sit on channel 4k; the mapping writes that list from the target.
    `moving_average_window` is the readout's low-pass window in slow-clock ticks.
    """

    core: int
    num_classes: int
    channel_of_class: tuple[int, ...]
    moving_average_window: int = 1


@dataclass
class CoreConfig:
    """One core: convolution -> IAF neurons (see the module docstring for orientations)."""

    core: int
    layer_name: str
    input_shape: Shape
    neuron_shape: Shape
    kernel_size: int
    stride: int
    padding: int
    weights: list
    biases: Optional[list[int]]
    threshold_high: int
    threshold_low: int
    reset: str = "subtract"
    leak_enable: bool = False
    initial_state: Optional[list] = None
    destinations: tuple[Destination, ...] = ()
    monitor: bool = False


@dataclass
class ChipConfig:
    """A whole chip: input stage, cores, readout, and the chip facts the simulator needs.

    `slow_clock_period_us`: period of the leak / readout clock (also the time-stepped mode's
    default bin). `state_bits`, `weight_bits`: signed widths of neuron state / thresholds and
    of weights / biases. `synops_per_s_limit`: per-core bandwidth above which the chip stalls
    (None when the target states none). `metadata`: free JSON (tool version, report, source).
    """

    target: str
    input: InputConfig
    cores: list[CoreConfig]
    readout: Optional[ReadoutConfig] = None
    slow_clock_period_us: int = 1000
    state_bits: int = 16
    weight_bits: int = 8
    synops_per_s_limit: Optional[int] = None
    metadata: dict = field(default_factory=dict)
    format_version: int = FORMAT_VERSION

    # ---- access ------------------------------------------------------------------------
    def core(self, index: int) -> CoreConfig:
        """The configuration of physical core `index`."""
        for core in self.cores:
            if core.core == index:
                return core
        raise SnnDeployError(f"chip config has no core {index} (configured: {[c.core for c in self.cores]})")

    # ---- serialisation -----------------------------------------------------------------
    def to_dict(self) -> dict:
        """Plain JSON-ready dict (tuples become lists)."""
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: Any, source: str = "chip config") -> "ChipConfig":
        """Validate (schema + consistency) and build; errors name `source` and the JSON path."""
        validate_config_dict(data, source)
        return _build_config(data)

    def to_json(self, path: "str | os.PathLike") -> Path:
        """Validate, then write atomically (temp file in the same folder + os.replace)."""
        data = self.to_dict()
        validate_config_dict(data, f"chip config for {path}")
        return write_text_atomically(path, json.dumps(data, indent=1) + "\n")

    @classmethod
    def from_json(cls, path: "str | os.PathLike") -> "ChipConfig":
        """Read and validate; an unreadable, truncated or invalid file raises SnnDeployError
        naming the file and the JSON path ($.cores[0].weights ...) of the problem."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as err:
            raise SnnDeployError(f"cannot read chip config {path}: {err.strerror}") from None
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise SnnDeployError(
                f"{path}: not valid JSON at line {err.lineno} column {err.colno} ({err.msg}); "
                "the file is truncated or corrupt, write it again with ChipConfig.to_json"
            ) from None
        return cls.from_dict(data, str(path))

    # ---- samna -------------------------------------------------------------------------
    def to_samna(self):
        """The samna configuration object of this chip (samna is imported only here).

        Writes per core: dimensions (samna's x = width, y = height), weights with ky/kx
        swapped (samna's [c_out][c_in][kx][ky]), biases, thresholds, return_to_zero,
        leak_enable, neurons_initial_value ([c][x][y]), destinations (layer, enable,
        pooling, feature_shift), monitor_enable; the DVS layer. The readout block is left at samna's
        defaults (its register names differ between chip generations); configure it in samna.
        """
        try:
            samna = importlib.import_module("samna")
        except ImportError:
            raise SnnDeployError(
                "ChipConfig.to_samna needs the vendor runtime 'samna', which is not importable here; "
                "install SynSense's samna (pip install samna, from their index) or use the open simulator "
                "(snndeploy.sim.simulate) instead"
            ) from None
        from snndeploy.targets import load_target

        target = load_target(self.target)
        if not target.samna_configuration:
            raise SnnDeployError(f"target {self.target!r} names no samna configuration class (field samna_configuration)")
        factory = samna
        for part in target.samna_configuration.split("."):
            factory = getattr(factory, part)
        config = factory()
        for core in self.cores:
            _write_samna_core(config.cnn_layers[core.core], core)
        if self.input.source == "dvs":
            _write_samna_dvs(config.dvs_layer, self.input)
        else:
            config.dvs_layer.pass_sensor_events = False
        return config


# ---- samna writers --------------------------------------------------------------------


def _swap_xy(tensor: list) -> list:
    """[...][a][b] -> [...][b][a] on the last two levels of a nested list."""
    if tensor and isinstance(tensor[0], list) and tensor[0] and isinstance(tensor[0][0], list):
        return [_swap_xy(t) for t in tensor]
    return [list(column) for column in zip(*tensor)]


def _write_samna_core(layer, core: CoreConfig) -> None:
    c_in, h_in, w_in = core.input_shape
    c_out, h_out, w_out = core.neuron_shape
    layer.dimensions = {
        "input_shape": {"size": {"x": w_in, "y": h_in}, "feature_count": c_in},
        "output_shape": {"size": {"x": w_out, "y": h_out}, "feature_count": c_out},
        "padding": {"x": core.padding, "y": core.padding},
        "stride": {"x": core.stride, "y": core.stride},
        "kernel_size": core.kernel_size,
    }
    layer.weights = _swap_xy(core.weights)
    layer.biases = list(core.biases) if core.biases is not None else [0] * c_out
    layer.leak_enable = core.leak_enable
    layer.threshold_high = core.threshold_high
    layer.threshold_low = core.threshold_low
    layer.return_to_zero = core.reset == "zero"
    state = core.initial_state if core.initial_state is not None else [[[0] * w_out for _ in range(h_out)] for _ in range(c_out)]
    layer.neurons_initial_value = _swap_xy(state)
    layer.monitor_enable = core.monitor
    for slot, dest in enumerate(core.destinations):
        layer.destinations[slot].layer = dest.core
        layer.destinations[slot].enable = True
        layer.destinations[slot].pooling = dest.pooling
        layer.destinations[slot].feature_shift = dest.feature_shift


def _write_samna_dvs(dvs_layer, stage: InputConfig) -> None:
    dvs = stage.dvs or DvsConfig()
    dvs_layer.merge = dvs.polarity == "merge"
    dvs_layer.on_channel = dvs.polarity in ("both", "merge", "on")
    dvs_layer.off_channel = dvs.polarity in ("both", "merge", "off")
    dvs_layer.pooling.x = dvs.pooling
    dvs_layer.pooling.y = dvs.pooling
    if dvs.roi is not None:
        # samna crops after pooling (sinabs' DVSLayer: merge, pool, crop, flip), so the ROI is
        # written in pooled coordinates; that is the same crop only when it is pooling-aligned.
        x0, y0, x1, y1 = dvs.roi
        p = dvs.pooling
        if x0 % p or y0 % p or (x1 + 1) % p or (y1 + 1) % p:
            raise SnnDeployError(
                f"DVS roi {dvs.roi} is not aligned to the pooling {p}; samna crops after pooling, so use a roi "
                f"whose origin and end + 1 are multiples of {p}"
            )
        dvs_layer.origin.x, dvs_layer.origin.y = x0 // p, y0 // p
        dvs_layer.cut.x, dvs_layer.cut.y = (x1 + 1) // p - 1, (y1 + 1) // p - 1
    dvs_layer.mirror.x = dvs.mirror_x
    dvs_layer.mirror.y = dvs.mirror_y
    dvs_layer.mirror_diagonal = dvs.rotate90
    dvs_layer.pass_sensor_events = False
    for slot, dest in enumerate(stage.destinations):
        dvs_layer.destinations[slot].layer = dest.core
        dvs_layer.destinations[slot].enable = True
        dvs_layer.destinations[slot].pooling = dest.pooling
        dvs_layer.destinations[slot].feature_shift = dest.feature_shift


# ---- (de)serialisation helpers --------------------------------------------------------


def _plain(value):
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def _destinations(items) -> tuple[Destination, ...]:
    return tuple(Destination(**item) for item in items)


def _tuple_or_none(value):
    return None if value is None else tuple(value)


def _build_config(data: dict) -> ChipConfig:
    stage = data["input"]
    dvs = stage.get("dvs")
    input_config = InputConfig(
        source=stage["source"],
        shape=tuple(stage["shape"]),
        destinations=_destinations(stage["destinations"]),
        dvs=None if dvs is None else DvsConfig(**{**dvs, "roi": _tuple_or_none(dvs.get("roi"))}),
    )
    cores = [
        CoreConfig(
            **{
                **core,
                "input_shape": tuple(core["input_shape"]),
                "neuron_shape": tuple(core["neuron_shape"]),
                "destinations": _destinations(core["destinations"]),
            }
        )
        for core in data["cores"]
    ]
    readout = data.get("readout")
    return ChipConfig(
        target=data["target"],
        input=input_config,
        cores=cores,
        readout=None if readout is None else ReadoutConfig(**{**readout, "channel_of_class": tuple(readout["channel_of_class"])}),
        slow_clock_period_us=data["slow_clock_period_us"],
        state_bits=data["state_bits"],
        weight_bits=data["weight_bits"],
        synops_per_s_limit=data.get("synops_per_s_limit"),
        metadata=data.get("metadata", {}),
        format_version=data["format_version"],
    )


# ---- validation -------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema)


def json_path(parts) -> str:
    """$.cores[2].weights[0] from a sequence of keys and indices."""
    text = "$"
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _nested_shape(value, path: str, shape: tuple[int, ...], source: str) -> None:
    """Check that a nested list has exactly `shape` (integers at the leaves)."""
    if not isinstance(value, list) or len(value) != shape[0]:
        got = len(value) if isinstance(value, list) else type(value).__name__
        raise SnnDeployError(f"{source}: {path} must have {shape[0]} entries, got {got}")
    if len(shape) > 1:
        for index, item in enumerate(value):
            _nested_shape(item, f"{path}[{index}]", shape[1:], source)


def _leaves(value, path=()):
    """(index path, leaf) of a nested list, depth first."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            yield from _leaves(item, (*path, index))
    else:
        yield path, value


def _flat(value) -> list:
    """The leaves of a nested list (fast: no paths)."""
    while any(isinstance(item, list) for item in value):
        value = [leaf for item in value for leaf in (item if isinstance(item, list) else (item,))]
    return value


def _range(value_path: str, values, bits: int, source: str) -> None:
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    flat = _flat(values) if isinstance(values, list) else [values]
    if all(type(item) is int for item in flat) and (not flat or (low <= min(flat) and max(flat) <= high)):
        return
    for path, item in _leaves(values):
        if type(item) is not int:
            where = value_path + "".join(f"[{i}]" for i in path)
            raise SnnDeployError(f"{source}: {where} = {item!r} must be an integer")
        if not low <= item <= high:
            where = value_path + "".join(f"[{i}]" for i in path)
            raise SnnDeployError(f"{source}: {where} = {item} is outside the {bits}-bit range {low}..{high}")


def _no_floats(value, path: str, source: str) -> None:
    """JSON Schema's "integer" accepts 1.0; a chip value must be written as an integer."""
    if isinstance(value, float):
        raise SnnDeployError(f"{source}: {path} = {value} must be written as an integer")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_floats(item, f"{path}.{key}", source)
    elif isinstance(value, list):
        if not any(isinstance(item, float) for item in _flat(value)) and not any(isinstance(item, dict) for item in value):
            return
        for index, item in enumerate(value):
            _no_floats(item, f"{path}[{index}]", source)


def validate_config_dict(data: Any, source: str = "chip config") -> None:
    """Raise SnnDeployError naming `source` and the JSON path of the first problem."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: (len(e.absolute_path), list(map(str, e.absolute_path))))
    if errors:
        error = errors[0]
        raise SnnDeployError(f"{source}: {json_path(error.absolute_path)}: {error.message}")
    _no_floats({key: value for key, value in data.items() if key != "metadata"}, "$", source)
    if data["format_version"] != FORMAT_VERSION:
        raise SnnDeployError(
            f"{source}: $.format_version is {data['format_version']}, this snndeploy reads version "
            f"{FORMAT_VERSION}; re-create the file with this version's `snndeploy map`"
        )
    cores = {}
    for position, core in enumerate(data["cores"]):
        where = f"$.cores[{position}]"
        if core["core"] in cores:
            raise SnnDeployError(f"{source}: {where}.core: core {core['core']} is configured twice")
        cores[core["core"]] = core
        c_in, h_in, w_in = core["input_shape"]
        c_out, h_out, w_out = core["neuron_shape"]
        k, s, p = core["kernel_size"], core["stride"], core["padding"]
        expected = ((h_in + 2 * p - k) // s + 1, (w_in + 2 * p - k) // s + 1)
        if expected != (h_out, w_out):
            raise SnnDeployError(
                f"{source}: {where}.neuron_shape: {core['neuron_shape']} disagrees with input {core['input_shape']}, "
                f"kernel {k}, stride {s}, padding {p}, which give {[c_out, *expected]}"
            )
        _nested_shape(core["weights"], f"{where}.weights", (c_out, c_in, k, k), source)
        _range(f"{where}.weights", core["weights"], data["weight_bits"], source)
        if core["biases"] is not None:
            _nested_shape(core["biases"], f"{where}.biases", (c_out,), source)
            _range(f"{where}.biases", core["biases"], data["weight_bits"], source)
        if core["initial_state"] is not None:
            _nested_shape(core["initial_state"], f"{where}.initial_state", (c_out, h_out, w_out), source)
            _range(f"{where}.initial_state", core["initial_state"], data["state_bits"], source)
        for name in ("threshold_high", "threshold_low"):
            _range(f"{where}.{name}", core[name], data["state_bits"], source)
        if core["threshold_high"] <= 0:
            raise SnnDeployError(f"{source}: {where}.threshold_high must be positive, got {core['threshold_high']}")
        if core["leak_enable"] and core["biases"] is None:
            raise SnnDeployError(f"{source}: {where}.leak_enable is true but biases is null; give biases or disable the leak")
    def check_destinations(owner: str, shape, destinations) -> None:
        for index, dest in enumerate(destinations):
            path = f"{owner}.destinations[{index}]"
            if dest["core"] not in cores:
                raise SnnDeployError(f"{source}: {path}.core: core {dest['core']} is not configured")
            target = cores[dest["core"]]["input_shape"]
            arriving = [shape[0] + dest["feature_shift"], shape[1] // dest["pooling"], shape[2] // dest["pooling"]]
            if any(a > t for a, t in zip(arriving, target)):
                raise SnnDeployError(
                    f"{source}: {path}: sends (c, h, w) = {arriving} to core {dest['core']} whose input is {list(target)}"
                )

    for position, core in enumerate(data["cores"]):
        check_destinations(f"$.cores[{position}]", core["neuron_shape"], core["destinations"])
    stage = data["input"]
    check_destinations("$.input", input_output_shape(stage), stage["destinations"])
    readout = data.get("readout")
    if readout is not None:
        if readout["core"] not in cores:
            raise SnnDeployError(f"{source}: $.readout.core: core {readout['core']} is not configured")
        channels = cores[readout["core"]]["neuron_shape"][0]
        for k, channel in enumerate(readout["channel_of_class"]):
            if channel >= channels:
                raise SnnDeployError(
                    f"{source}: $.readout.channel_of_class[{k}] = {channel} but core {readout['core']} has {channels} channels"
                )
        if len(readout["channel_of_class"]) != readout["num_classes"]:
            raise SnnDeployError(f"{source}: $.readout.channel_of_class must list num_classes = {readout['num_classes']} channels")


def input_output_shape(stage: dict) -> list[int]:
    """(c, h, w) the input stage sends, before destination pooling (dict form of InputConfig)."""
    channels, height, width = stage["shape"]
    dvs = stage.get("dvs")
    if stage["source"] != "dvs" or dvs is None:
        return [channels, height, width]
    if dvs.get("roi") is not None:
        x0, y0, x1, y1 = dvs["roi"]
        width, height = x1 - x0 + 1, y1 - y0 + 1
    width, height = width // dvs["pooling"], height // dvs["pooling"]
    if dvs["rotate90"]:
        width, height = height, width
    return [2 if dvs["polarity"] == "both" else 1, height, width]
