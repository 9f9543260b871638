"""`verify`: the float model, its QuantizedModel, the time-stepped and the per-event chip
simulation on the same samples, side by side, as a CI gate.

Stages and what is compared (per sample, per time bin of the dataset's dt):
  float      the trained model on the binned frames;
  quantized  `snndeploy.quantize(model, target)` on the same frames;
  timestep   `simulate(config, events, "timestep")` of `map_to_chip(quantized, target)`:
             must equal `quantized` spike for spike in every layer (any difference fails);
  event      `simulate(config, events, "event")`, the chip: differs from timestep where the
             chip's one-spike-per-update rule bites (see snndeploy.sim); the difference is
             measured, and the accuracy gap float -> event is checked against `tolerance`.
Prediction everywhere: the class with most output spikes (lowest index on ties), none (-1,
counted wrong) when no output neuron spiked - the chip's readout has no answer then.
Spike agreement: fraction of (sample, bin, output neuron) spike counts equal to the previous
stage's. First divergence: the earliest bin, then the first layer in network order, then the
first neuron (channel, y, x) whose count differs, with the sample index.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.sim.network import SimNetwork
from snndeploy.sim.simulate import Monitor, as_network, simulate
from snndeploy.sim.timestep import topological_order


@dataclass(frozen=True)
class Divergence:
    """Where two stages first disagree."""

    sample: int
    layer: str
    neuron: tuple[int, ...]
    step: int
    expected: int
    got: int

    def __str__(self) -> str:
        return (f"sample {self.sample}, {self.layer}, neuron {self.neuron}, bin {self.step}: "
                f"{self.expected} vs {self.got} spikes")


@dataclass
class StageRow:
    """accuracy over the samples; spikes: all spikes of all neuron layers (the chip's
    activity, which per-event mode lowers where a neuron would fire several times at once)."""

    name: str
    accuracy: float
    spikes: int
    compared_with: str | None = None
    agreement: float | None = None
    first_divergence: Divergence | None = None


@dataclass
class VerifyReport:
    """One row per stage, and why the gate failed (empty when it passed)."""

    rows: list[StageRow]
    samples: int
    tolerance: float | None
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures

    def table(self) -> str:
        lines = [f"{'stage':<10} | {'accuracy':>8} | {'spikes':>9} | {'spike agreement':<26} | first divergence"]
        for row in self.rows:
            agreement = "" if row.agreement is None else f"{row.agreement:.4%} vs {row.compared_with}"
            divergence = "" if row.compared_with is None else (str(row.first_divergence) if row.first_divergence else "none")
            lines.append(f"{row.name:<10} | {row.accuracy:>8.4f} | {row.spikes:>9} | {agreement:<26} | {divergence}")
        lines.append(f"{self.samples} samples; " + ("PASSED" if self.passed else "FAILED: " + "; ".join(self.failures)))
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "samples": self.samples,
            "tolerance": self.tolerance,
            "passed": self.passed,
            "failures": self.failures,
            "stages": [
                {
                    "name": row.name,
                    "accuracy": row.accuracy,
                    "spikes": row.spikes,
                    "compared_with": row.compared_with,
                    "spike_agreement": row.agreement,
                    "first_divergence": None if row.first_divergence is None else vars(row.first_divergence),
                }
                for row in self.rows
            ],
        }


def _run_model(model: torch.nn.Module, frames: torch.Tensor, record: bool) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """Per sample of `frames` (batch, T, ...): (T, outputs) output counts and, if `record`, each
    neuron layer's (T, neurons) spikes in forward order (quantize's own runner: fresh state,
    squeezed models handled). Samples do not interact: batching only saves time."""
    from snndeploy.quantize import run_float_model
    from snndeploy.quantize.graph import is_neuron

    names = [name for name, module in model.named_modules() if is_neuron(module)] if record else []
    out, recorded = run_float_model(model, frames, names)
    batch, steps = frames.shape[:2]
    out = out.reshape(batch, steps, -1).numpy()
    layers = [recorded[name].reshape(batch, steps, -1).numpy() for name in names]
    return [(out[b], [layer[b] for layer in layers]) for b in range(batch)]


def _core_order(net: SimNetwork, quantized: torch.nn.Module) -> list[int]:
    """Cores in the order of the quantized model's neuron layers: by layer name when both
    carry names (QuantizedModel.layers[i].name == the config's layer_name), else topological."""
    names = [getattr(layer, "name", None) for layer in getattr(quantized, "layers", [])]
    by_name = {name: core for core, name in net.layer_names.items()}
    if names and all(name in by_name for name in names):
        return [by_name[name] for name in names]
    return topological_order(net)


def _predict(counts: np.ndarray) -> int:
    totals = counts.sum(0)
    return int(np.argmax(totals)) if totals.size and totals.max() > 0 else -1


def _core_spikes(result, net: SimNetwork, steps: int, dt_us: int) -> dict[int, np.ndarray]:
    """Monitored spikes binned into (steps, c·h·w) counts per core."""
    binned = {}
    for index in net.cores:
        shape = net.cores[index].output_shape
        mine = result.spikes[result.spikes["core"] == index]
        counts = np.zeros((steps, *shape), np.int64)
        np.add.at(counts, (mine["t"] // dt_us, mine["p"], mine["y"], mine["x"]), 1)
        binned[index] = counts.reshape(steps, -1)
    return binned


def _class_counts(core_counts: np.ndarray, net: SimNetwork, output_core: int) -> np.ndarray:
    """(steps, classes) from an output core's (steps, c·h·w) counts through the readout."""
    shape = net.cores[output_core].output_shape
    per_channel = core_counts.reshape(core_counts.shape[0], shape[0], -1).sum(2)
    if net.readout is None:
        return per_channel
    return per_channel[:, list(net.readout.channels())]


def _first_divergence(sample: int, names: list[str], shapes: list[tuple], a: list[np.ndarray], b: list[np.ndarray]):
    best = None
    for layer, (name, shape, x, y) in enumerate(zip(names, shapes, a, b)):
        differ = np.argwhere(x != y)
        if len(differ):
            step, flat = (int(v) for v in differ[0])
            key = (step, layer)
            if best is None or key < best[0]:
                neuron = tuple(int(v) for v in np.unravel_index(flat, shape))
                best = (key, Divergence(sample, name, neuron, step, int(x[step, flat]), int(y[step, flat])))
    return None if best is None else best[1]


def _dataset_indices(dataset, limit: int | None) -> range:
    return range(len(dataset) if limit is None else min(limit, len(dataset)))


# Samples per forward pass of the float and quantized models (memory stays small, speed comes
# from batching).
_MODEL_BATCH = 32


def compare_stages(model, quantized, config, dataset, *, limit=None, tolerance=None, hop_delay_us=0) -> VerifyReport:
    """Run the four stages on `dataset` (an EventDataset: events(i), label(i), dt_us,
    duration_us, frames(i)) and build the report. `config`: ChipConfig or SimNetwork."""
    net = as_network(config)
    order = _core_order(net, quantized)
    output_core = net.readout.core if net.readout is not None else topological_order(net)[-1]
    layer_names = [f"core {i}" + (f" ({net.layer_names[i]})" if net.layer_names.get(i) else "") for i in order]
    layer_shapes = [net.cores[i].output_shape for i in order]
    dt, duration = int(dataset.dt_us), int(dataset.duration_us)
    steps = -(-duration // dt)
    indices = _dataset_indices(dataset, limit)
    if len(indices) == 0:
        raise SnnDeployError("verify: the dataset has no samples")
    correct = {name: 0 for name in ("float", "quantized", "timestep", "event")}
    equal = {name: 0 for name in ("quantized", "timestep", "event")}
    entries = 0
    spikes = {name: 0 for name in correct}
    divergence: dict[str, Divergence | None] = {"quantized": None, "timestep": None, "event": None}
    for start in range(0, len(indices), _MODEL_BATCH):
        chunk = list(indices[start:start + _MODEL_BATCH])
        frames = torch.stack([dataset.frames(sample) for sample in chunk])
        runs = zip(chunk, _run_model(model, frames, record=True), _run_model(quantized, frames, record=True))
        for sample, (float_out, float_layers), (quant_out, quant_layers) in runs:
            label = int(dataset.label(sample))
            events = dataset.events(sample)
            if len(quant_layers) != len(order):
                raise SnnDeployError(
                    f"verify: the quantized model has {len(quant_layers)} neuron layers but the chip "
                    f"configuration {len(order)} cores; they must correspond one to one"
                )
            monitor = Monitor(cores=tuple(order))
            stepped = simulate(net, events, "timestep", monitor, duration_us=duration, dt_us=dt)
            chip = simulate(net, events, "event", monitor, duration_us=duration, dt_us=dt, hop_delay_us=hop_delay_us)
            stepped_cores = _core_spikes(stepped, net, steps, dt)
            chip_cores = _core_spikes(chip, net, steps, dt)
            stepped_layers = [stepped_cores[i] for i in order]
            chip_layers = [chip_cores[i] for i in order]
            quant_int = [np.rint(layer).astype(np.int64) for layer in quant_layers]
            outputs = {
                "float": float_out,
                "quantized": quant_out,
                "timestep": _class_counts(stepped_cores[output_core], net, output_core),
                "event": _class_counts(chip_cores[output_core], net, output_core),
            }
            for name, counts in outputs.items():
                correct[name] += _predict(counts) == label
            entries += float_out.size
            layer_spikes = {"float": float_layers, "quantized": quant_layers, "timestep": stepped_layers, "event": chip_layers}
            for name, layers in layer_spikes.items():
                spikes[name] += int(round(sum(float(layer.sum()) for layer in layers)))
            previous = "float"
            for name in ("quantized", "timestep", "event"):
                equal[name] += int(np.sum(outputs[name] == outputs[previous]))
                previous = name
            pairs = {
                "quantized": None,
                "timestep": (quant_int, stepped_layers),
                "event": (stepped_layers, chip_layers),
            }
            if divergence["quantized"] is None:
                diff = np.argwhere(np.rint(float_out) != np.rint(quant_out))
                if len(diff):
                    step, k = (int(v) for v in diff[0])
                    divergence["quantized"] = Divergence(sample, "output", (k,), step, int(float_out[step, k]), int(quant_out[step, k]))
            for name, pair in pairs.items():
                if pair is not None and divergence[name] is None:
                    divergence[name] = _first_divergence(sample, layer_names, layer_shapes, *pair)
    total = len(indices)
    rows = [StageRow("float", correct["float"] / total, spikes["float"])]
    previous = "float"
    for name in ("quantized", "timestep", "event"):
        rows.append(StageRow(name, correct[name] / total, spikes[name], previous, equal[name] / entries, divergence[name]))
        previous = name
    report = VerifyReport(rows, total, tolerance)
    if divergence["timestep"] is not None:
        report.failures.append(f"time-stepped simulation differs from the QuantizedModel at {divergence['timestep']}")
    gap = abs(rows[0].accuracy - rows[3].accuracy)
    if tolerance is not None and gap > tolerance:
        report.failures.append(f"float vs chip (event) accuracy differ by {gap:.4f} > tolerance {tolerance}")
    return report


def verify(model, target: str = "speck2f", data="digits", *, split: str = "test", limit: int | None = None,
           tolerance: float | None = None, hop_delay_us: int = 0, **data_options) -> VerifyReport:
    """Quantize and map `model` for `target` with the public pipeline, then `compare_stages`.

    model: a torch module taking (batch, time, *features), or a float MODEL path (training run
    folder, checkpoint or .nir file; `snndeploy.export.load_network`). data: a dataset name of `snndeploy.data`
    (options such as dt_us pass through) or an EventDataset.
    """
    from snndeploy.data import get_dataset
    from snndeploy.mapping import map_to_chip
    from snndeploy.quantize import quantize
    from snndeploy.export import load_network

    if not isinstance(model, torch.nn.Module):
        model = load_network(model, float_only=True).model
    dataset = get_dataset(data, split, **data_options) if isinstance(data, str) else data
    width, height, channels = dataset.sensor_size
    quantized = quantize(model, target, input_shape=(channels, height, width))
    config = map_to_chip(quantized, target)
    return compare_stages(model, quantized, config, dataset, limit=limit, tolerance=tolerance, hop_delay_us=hop_delay_us)
