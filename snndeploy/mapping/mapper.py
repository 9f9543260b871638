"""`map_to_chip(qmodel, target) -> ChipConfig`, and the resource report.

Layers go to cores by `assign.find_assignment` (exact; explains failures). Each layer's
sources become destinations of the source core (or of the input stage) with the source's
sum pooling. The output layer's core is monitored.

Input: `input_source="dvs"` (default when the target has a sensor and the model takes ≤ 2
channels within the sensor) crops the sensor to the model's input with the ROI
(0, 0, w−1, h−1) and keeps both polarities (2 channels) or merges them (1 channel);
"external" feeds events as core input addresses.

Readout (optional, `num_classes`): class k is read from core channel stride·k, stride from
the target (Speck erratum: 4); the output layer must have those channels.

SynOps/s estimate per core (speck.md): input events/s · C_out · k² / stride², where a
core's input rate is the input rate for cores fed by the input and, for deeper cores, the
given measured rates (`layer_input_rates`) or else the input rate (stated in the report).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from snndeploy._version import __version__
from snndeploy.errors import SnnDeployError
from snndeploy.mapping.assign import LayerNeed, find_assignment
from snndeploy.mapping.config import validate_config_dict, ChipConfig, CoreConfig, Destination, DvsConfig, InputConfig, ReadoutConfig
from snndeploy.quantize.model import QuantizedModel
from snndeploy.targets import Target, load_target


def layer_needs(qmodel: QuantizedModel, target: Target) -> list[LayerNeed]:
    needs = []
    for layer in qmodel.layers:
        c_out, h, w = layer.neuron_shape
        has_bias = layer.biases is not None
        needs.append(LayerNeed(layer.name, layer.input_shape[0], c_out, layer.kernel_size, (h, w), has_bias,
                               target.memory_needed(layer.input_shape[0], c_out, layer.kernel_size, (h, w), has_bias)))
    return needs


def _input_config(qmodel: QuantizedModel, target: Target, source: Optional[str], destinations) -> InputConfig:
    c, h, w = qmodel.input_shape
    sensor = target.input
    dvs_possible = sensor.dvs and c <= 2 and w <= sensor.sensor_width and h <= sensor.sensor_height
    source = source or ("dvs" if dvs_possible else "external")
    if source == "dvs":
        if not dvs_possible:
            raise SnnDeployError(
                f"input_source='dvs': {target.name} {'has no DVS' if not sensor.dvs else f'has a {sensor.sensor_width}x{sensor.sensor_height} 2-polarity sensor'}, "
                f"the model takes {c}x{h}x{w}; use input_source='external'"
            )
        dvs = DvsConfig(polarity="both" if c == 2 else "merge", roi=(0, 0, w - 1, h - 1))
        return InputConfig("dvs", (2, sensor.sensor_height, sensor.sensor_width), tuple(destinations), dvs)
    if source != "external":
        raise SnnDeployError(f"input_source must be 'dvs' or 'external', got {source!r}")
    if w > sensor.max_width or h > sensor.max_height:
        raise SnnDeployError(f"input {w}x{h} exceeds {target.name}'s external input {sensor.max_width}x{sensor.max_height}")
    return InputConfig("external", (c, h, w), tuple(destinations), None)


def map_to_chip(qmodel: QuantizedModel, target=None, *, input_source: Optional[str] = None,
                num_classes: Optional[int] = None, monitor_all: bool = False) -> ChipConfig:
    """Assign the QuantizedModel's layers to the target's cores and build the ChipConfig."""
    target = load_target(target if target is not None else qmodel.target)
    if len(qmodel.layers) > len(target.cores):
        raise SnnDeployError(f"{len(qmodel.layers)} layers for {len(target.cores)} cores of {target.name}; merge or remove layers")
    for layer in qmodel.layers:
        if layer.decay_shift is not None:
            raise SnnDeployError(
                f"layer {layer.name!r} uses bit-shift decay (a LIF target); ChipConfig describes IAF cores (Speck / DYNAP-CNN) "
                "and has no decay field, so it cannot be written as a ChipConfig"
            )
    needs = layer_needs(qmodel, target)
    cores = find_assignment(needs, target)
    destinations: dict[int, list[Destination]] = {i: [] for i in range(-1, len(qmodel.layers))}
    for reader, layer in enumerate(qmodel.layers):
        for source in layer.sources:
            destinations[source.layer].append(Destination(core=cores[reader], pooling=source.pooling))
    for source, dests in destinations.items():
        if len(dests) > target.limits.fan_out:
            who = "the input" if source < 0 else f"layer {qmodel.layers[source].name!r}"
            raise SnnDeployError(f"{who} sends to {len(dests)} cores; {target.name} allows {target.limits.fan_out}")
    output_layer = qmodel.output.layer
    configs = []
    for index, layer in enumerate(qmodel.layers):
        configs.append(CoreConfig(
            core=cores[index], layer_name=layer.name, input_shape=tuple(layer.input_shape),
            neuron_shape=tuple(layer.neuron_shape), kernel_size=layer.kernel_size, stride=layer.stride,
            padding=layer.padding, weights=layer.weights.tolist(),
            biases=None if layer.biases is None else layer.biases.tolist(),
            threshold_high=layer.threshold_high, threshold_low=layer.threshold_low, reset=layer.reset,
            leak_enable=layer.biases is not None,
            initial_state=None if layer.initial_state is None else layer.initial_state.tolist(),
            destinations=tuple(destinations[index]), monitor=monitor_all or index == output_layer,
        ))
    readout = None
    if num_classes is not None:
        if target.readout is None:
            raise SnnDeployError(f"{target.name} has no readout layer; leave num_classes unset and read the output core's spikes")
        if num_classes > target.readout.max_classes:
            raise SnnDeployError(f"{num_classes} classes exceed {target.name}'s readout ({target.readout.max_classes})")
        channels = target.readout.channel_of_class(num_classes)
        c_out = qmodel.layers[output_layer].neuron_shape[0]
        if channels[-1] >= c_out:
            raise SnnDeployError(
                f"the readout of {target.name} reads class k from output channel {target.readout.channel_stride}·k "
                f"(erratum), so {num_classes} classes need >= {channels[-1] + 1} output channels, the output layer has "
                f"{c_out}; place class k at channel {target.readout.channel_stride}·k"
            )
        readout = ReadoutConfig(cores[output_layer], num_classes, channels, target.readout.moving_average_window)
    config = ChipConfig(
        target=target.name,
        input=_input_config(qmodel, target, input_source, destinations[-1]),
        cores=configs,
        readout=readout,
        slow_clock_period_us=target.slow_clock_period_us,
        state_bits=target.state_bits,
        weight_bits=target.weight_bits,
        synops_per_s_limit=target.synops_per_s_limit,
        metadata={
            "snndeploy_version": __version__,
            "output_core": cores[output_layer],
            "output_pooling": qmodel.output.pooling,
            "layers": {layer.name: {"core": cores[i], "scale": layer.scale} for i, layer in enumerate(qmodel.layers)},
        },
    )
    config.metadata["resources"] = resource_report(config, target).to_dict()
    validate_config_dict(config.to_dict(), f"chip config of {target.name}")
    return config


@dataclass
class CoreUsage:
    core: int
    layer_name: str
    kernel: tuple[int, int]  # (used, available)
    neuron: tuple[int, int]
    bias: tuple[int, int]
    input_rate_hz: float
    synops_per_s: float
    over_bandwidth: bool


@dataclass
class ResourceReport:
    cores: list[CoreUsage]
    input_rate_hz: float
    bandwidth_limit: Optional[float]
    warnings: list[str]
    capacity: dict[str, dict[int, int]]  # memory kind -> {core: entries}, every core of the target

    def plot(self, path, title: str = "Memory per core"):
        """PNG bar chart of used vs available kernel / neuron / bias memory per core."""
        from snndeploy.plots import plot_core_memory

        used = {kind: {u.core: getattr(u, kind)[0] for u in self.cores} for kind in self.capacity}
        return plot_core_memory(used, self.capacity, path, title)

    def table(self) -> str:
        lines = [f"{'core':>4} {'layer':<12} {'kernel':>15} {'neuron':>15} {'bias':>11} {'SynOps/s':>12}"]
        for u in self.cores:
            lines.append(f"{u.core:>4} {u.layer_name:<12} {u.kernel[0]:>7}/{u.kernel[1]:<7} {u.neuron[0]:>7}/{u.neuron[1]:<7} "
                         f"{u.bias[0]:>5}/{u.bias[1]:<5} {u.synops_per_s:>12.4g}{' OVER' if u.over_bandwidth else ''}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {"input_rate_hz": self.input_rate_hz, "bandwidth_limit": self.bandwidth_limit, "warnings": self.warnings,
                "cores": [{**vars(u), "kernel": list(u.kernel), "neuron": list(u.neuron), "bias": list(u.bias)} for u in self.cores]}


def resource_report(config: ChipConfig, target=None, *, input_rate_hz: float = 1e5,
                    layer_input_rates: Optional[dict[int, float]] = None, bandwidth_limit: Optional[float] = None) -> ResourceReport:
    """Memory used / available per core and estimated SynOps/s (module docstring)."""
    target = load_target(target if target is not None else config.target)
    specs = {core.index: core for core in target.cores}
    limit = bandwidth_limit if bandwidth_limit is not None else target.synops_per_s_limit
    fed_by_input = {d.core for d in config.input.destinations}
    usages, warnings = [], []
    if layer_input_rates is None and len(fed_by_input) < len(config.cores):
        warnings.append("deeper cores assumed to receive the input rate; pass measured layer_input_rates for a better estimate")
    for core in config.cores:
        c_out, h, w = core.neuron_shape
        need = target.memory_needed(core.input_shape[0], c_out, core.kernel_size, (h, w), core.biases is not None)
        spec = specs[core.core]
        rate = (layer_input_rates or {}).get(core.core, input_rate_hz)
        synops = rate * c_out * core.kernel_size ** 2 / core.stride ** 2
        over = limit is not None and synops > limit
        if over:
            warnings.append(f"core {core.core} ({core.layer_name}): estimated {synops:.3g} SynOps/s exceeds the bandwidth {limit:.3g}")
        usages.append(CoreUsage(core.core, core.layer_name, (need.kernel, spec.kernel_memory), (need.neuron, spec.neuron_memory),
                                (need.bias, spec.bias_memory), rate, synops, over))
    capacity = {kind: {core.index: getattr(core, f"{kind}_memory") for core in target.cores} for kind in ("kernel", "neuron", "bias")}
    return ResourceReport(usages, input_rate_hz, limit, warnings, capacity)
