"""The whole pipeline on the shipped dataset: `run_demo()` and `snndeploy demo`.

Stages, each timed: data (the shipped digits or a tonic dataset, binned at dt) -> train a
spiking CNN (`snndeploy.train.fit`, validation curve on the test samples) -> quantize to the
target's integer grid (`snndeploy.quantize`, scales calibrated on a few training samples) ->
map onto the target's cores (`snndeploy.mapping.map_to_chip`, writes chip.json) -> simulate +
compare: `snndeploy.sim.verify.compare_stages` runs the float model, the QuantizedModel and the
chip configuration time-stepped and per event on the test samples (accuracies, and a failure
if time-stepped ever differs from the QuantizedModel); per-event runs give SynOps -> plots.
The result is one table (`DemoResult.table()`) and result.json."""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from snndeploy.data import check_dataset_name, get_dataset
from snndeploy.errors import SnnDeployError
from snndeploy.files import write_text_atomically
from snndeploy.plots import plot_core_memory, plot_event_raster, plot_learning_curve


MEMORY_KINDS = ("kernel", "neuron", "bias")


@dataclass(frozen=True)
class DemoSettings:
    """What the demo trains and how long: `PRESETS` holds the default and the --fast one."""

    dt_us: int = 20_000
    epochs: int = 6
    batch_size: int = 32
    lr: float = 2e-3
    backend: str = "exodus"
    train_limit: int | None = None  # first n training samples (None: all)
    test_limit: int | None = None  # first n test samples, used for every accuracy
    calibration_samples: int = 16  # training samples that pick the quantization scales
    architecture: str | None = None  # None: DEFAULT_ARCHITECTURES for the dataset


PRESETS: dict[str, DemoSettings] = {
    "default": DemoSettings(),
    "fast": DemoSettings(epochs=2, lr=5e-3, train_limit=384, test_limit=32, calibration_samples=8),
}

# Conv nets in the notation of `snndeploy.train.architecture`; "{input}" is the dataset's HxWxC.
DEFAULT_ARCHITECTURES: dict[str, str] = {
    "digits": "{input}-8c3-2p-16c3-2p-{classes}",
    "nmnist": "{input}-8c3-2p-16c3-2p-{classes}",
    "dvsgesture": "{input}-4p-8c3-2p-16c3-2p-16c3-2p-{classes}",
}


@dataclass
class DemoResult:
    """Everything the demo measured. Accuracies are fractions in [0, 1]."""

    target: str
    dataset: str
    preset: str
    architecture: str
    settings: DemoSettings
    train_samples: int
    test_samples: int
    float_accuracy: float | None = None
    quantized_accuracy: float | None = None
    chip_accuracy_timestep: float | None = None
    chip_accuracy_event: float | None = None
    # fraction of test samples whose per-event prediction equals the time-stepped one
    event_timestep_agreement: float | None = None
    cores_used: list[int] = field(default_factory=list)
    memory_used: dict[str, dict[int, int]] = field(default_factory=dict)  # kind -> core -> entries
    memory_limits: dict[str, dict[int, int]] = field(default_factory=dict)
    synops_per_sample: float | None = None  # per-event mode, mean over test samples, all cores
    synops_per_s: float | None = None  # the same divided by a sample's duration
    over_bandwidth_samples: int | None = None  # samples where some core exceeded its SynOps/s
    verify_failures: list[str] = field(default_factory=list)  # compare_stages' gate messages
    history: list[dict] = field(default_factory=list)
    stage_seconds: dict[str, float] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dictionary (what `snndeploy demo --json` prints)."""
        document = asdict(self)
        document["settings"] = asdict(self.settings)
        return document

    def rows(self) -> list[tuple[str, str]]:
        """(metric, value) rows of the summary table, in pipeline order."""
        rows = [
            ("pipeline", f"{self.dataset} -> {self.target} ({self.preset})"),
            ("network", self.architecture),
            ("samples", f"{self.train_samples} train / {self.test_samples} test"),
        ]
        accuracies = (
            ("float accuracy", self.float_accuracy),
            ("quantized accuracy", self.quantized_accuracy),
            ("chip-sim accuracy (time-stepped)", self.chip_accuracy_timestep),
            ("chip-sim accuracy (per event)", self.chip_accuracy_event),
            ("per event = time-stepped prediction", self.event_timestep_agreement),
        )
        rows += [(name, _percent(value)) for name, value in accuracies if value is not None]
        if self.cores_used:
            total = len(next(iter(self.memory_limits.values()), {})) or "?"
            rows.append(("cores used", f"{len(self.cores_used)} of {total}: {self.cores_used}"))
        for kind, per_core in self.memory_used.items():
            used = sum(per_core.values())
            available = sum(self.memory_limits.get(kind, {}).get(core, 0) for core in per_core)
            rows.append((f"{kind} memory", f"{used / 1024:.1f} Ki of {available / 1024:.1f} Ki "
                                           "on the cores used"))
        if self.synops_per_sample is not None:
            rows.append(("SynOps per sample (chip, mean)", f"{self.synops_per_sample:,.0f}"))
            rows.append(("SynOps/s (chip, mean)", f"{self.synops_per_s:,.0f}"))
        if self.over_bandwidth_samples is not None:
            rows.append(("samples over a core's SynOps/s limit", str(self.over_bandwidth_samples)))
        rows += [(f"time: {stage}", f"{seconds:.1f} s") for stage, seconds in self.stage_seconds.items()]
        rows.append(("time: total", f"{sum(self.stage_seconds.values()):.1f} s"))
        return rows

    def table(self) -> str:
        """The summary as an aligned two-column text table."""
        rows = self.rows()
        width = max(len(metric) for metric, _ in rows)
        lines = [f"{'metric'.ljust(width)}  value", f"{'-' * width}  {'-' * 24}"]
        lines += [f"{metric.ljust(width)}  {value}" for metric, value in rows]
        return "\n".join(lines)


def _percent(fraction: float) -> str:
    return f"{100.0 * fraction:.1f} %"


def _check_architecture_known(dataset_name: str, settings: DemoSettings) -> None:
    check_dataset_name(dataset_name)
    if settings.architecture is None and dataset_name not in DEFAULT_ARCHITECTURES:
        raise SnnDeployError(
            f"the demo has no default network for dataset {dataset_name!r}; pass an architecture "
            f"in DemoSettings (datasets with one: {', '.join(sorted(DEFAULT_ARCHITECTURES))})"
        )


def _architecture(dataset_name: str, train_set, settings: DemoSettings) -> str:
    if settings.architecture is not None:
        return settings.architecture
    _, channels, height, width = train_set.frame_shape
    return DEFAULT_ARCHITECTURES[dataset_name].format(
        input=f"{height}x{width}x{channels}", classes=train_set.num_classes
    )


class _Stages:
    """Times each stage into a dict and reports progress lines through `say`."""

    def __init__(self, say: Callable[[str], None]) -> None:
        self.seconds: dict[str, float] = {}
        self.say = say

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.say(f"[{len(self.seconds) + 1}] {name} ...")
        start = time.perf_counter()
        yield
        self.seconds[name] = time.perf_counter() - start


def _write_json(path: Path, document: dict) -> None:
    write_text_atomically(path, json.dumps(document, indent=2))


def _output_spike_train(counts: torch.Tensor, dt_us: int) -> tuple[np.ndarray, np.ndarray]:
    """(times_us, neuron) of per-bin spike counts (time, neurons), each spike at its bin's middle."""
    counts_np = counts.detach().round().to(torch.int64).clamp(min=0).numpy()
    steps, neurons = np.nonzero(counts_np)
    repeats = counts_np[steps, neurons]
    times = (np.repeat(steps, repeats) * dt_us + dt_us // 2).astype(np.int64)
    return times, np.repeat(neurons, repeats)


def run_demo(
    target: str = "speck2f",
    dataset: str = "digits",
    *,
    fast: bool = False,
    out_dir: str | os.PathLike = "snndeploy-demo",
    seed: int = 0,
    settings: DemoSettings | None = None,
    progress: bool = True,
    say: Callable[[str], None] = lambda line: None,
) -> DemoResult:
    """Train, quantize, map and simulate a spiking CNN; write plots and result.json to `out_dir`.

    `settings` overrides the preset (`PRESETS["fast"]` with fast=True, else "default");
    `progress` shows tqdm bars; `say` receives one line per stage.
    """
    from snndeploy.mapping import map_to_chip, resource_report
    from snndeploy.quantize import quantize
    from snndeploy.sim.simulate import simulate
    from snndeploy.sim.verify import compare_stages
    from snndeploy.targets import load_target
    from snndeploy.train import architecture as arch_module
    from snndeploy.train.losses import SumOverTimeCrossEntropy
    from snndeploy.train.loop import fit, make_loader, reset_states

    preset = "fast" if fast else "default"
    settings = settings or PRESETS[preset]
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise SnnDeployError(f"output folder {out} exists and is not a folder; pick a folder path")
    target_spec = load_target(target)
    _check_architecture_known(dataset, settings)
    stages = _Stages(say)

    with stages.stage("data"):
        train_set = get_dataset(dataset, "train", dt_us=settings.dt_us)
        test_set = get_dataset(dataset, "test", dt_us=settings.dt_us)
        train_indices = list(range(min(len(train_set), settings.train_limit or len(train_set))))
        test_indices = list(range(min(len(test_set), settings.test_limit or len(test_set))))
        train_part = torch.utils.data.Subset(train_set, train_indices)
        test_part = torch.utils.data.Subset(test_set, test_indices)
    architecture = _architecture(dataset, train_set, settings)
    result = DemoResult(
        target=target, dataset=dataset, preset=preset, architecture=architecture,
        settings=settings, train_samples=len(train_part), test_samples=len(test_part),
    )

    with stages.stage("train"):
        torch.manual_seed(seed)
        model = arch_module.build_model(architecture, neuron="iaf", backend=settings.backend)
        loss = SumOverTimeCrossEntropy()
        test_loader = make_loader(test_part, 64, shuffle=False)
        result.history = fit(
            model, make_loader(train_part, settings.batch_size, seed=seed), loss,
            settings.epochs, lr=settings.lr, seed=seed, progress=progress, val_loader=test_loader,
        )

    with stages.stage("quantize"):
        calibration = torch.stack([train_set.frames(i) for i in train_indices[: settings.calibration_samples]])
        model.eval()
        quantized = quantize(model, target_spec, calibration=calibration)

    with stages.stage("map"):
        config = map_to_chip(quantized, target_spec)
        out.mkdir(parents=True, exist_ok=True)
        result.files["chip_config"] = str(config.to_json(out / "chip.json"))
        usage = resource_report(config, target_spec)
        result.cores_used = sorted(core.core for core in usage.cores)
        result.memory_used = {
            kind: {core.core: getattr(core, kind)[0] for core in usage.cores} for kind in MEMORY_KINDS
        }
        result.memory_limits = {
            kind: {spec.index: getattr(spec, f"{kind}_memory") for spec in target_spec.cores}
            for kind in MEMORY_KINDS
        }

    with stages.stage("simulate + compare"):
        report = compare_stages(model, quantized, config, test_set, limit=len(test_indices))
        accuracy = {row.name: row for row in report.rows}
        result.float_accuracy = accuracy["float"].accuracy
        result.quantized_accuracy = accuracy["quantized"].accuracy
        result.chip_accuracy_timestep = accuracy["timestep"].accuracy
        result.chip_accuracy_event = accuracy["event"].accuracy
        result.verify_failures = list(report.failures)
        # SynOps come from per-event runs of their own: compare_stages reports accuracies only.
        chip_runs = [
            simulate(config, test_set.events(index), "event", duration_us=test_set.duration_us)
            for index in tqdm(test_indices, desc="SynOps", disable=not progress, leave=False)
        ]
        synops = np.array([sum(run.synops.values()) for run in chip_runs], dtype=np.float64)
        result.synops_per_sample = float(synops.mean())
        result.synops_per_s = float(synops.mean() / (test_set.duration_us * 1e-6))
        result.over_bandwidth_samples = sum(bool(run.over_bandwidth) for run in chip_runs)
        sample = test_indices[0]
        chip_run = chip_runs[0]
        reset_states(model)
        with torch.no_grad():
            float_counts = model(test_set.frames(sample)[None])[0]
        reset_states(model)

    with stages.stage("plots"):
        shown = [kind for kind in MEMORY_KINDS if any(result.memory_used[kind].values())]
        result.files["memory"] = str(plot_core_memory(
            {kind: result.memory_used[kind] for kind in shown},
            {kind: result.memory_limits[kind] for kind in shown}, out / "memory.png",
            title=f"{architecture} on {target_spec.name}"))
        result.files["learning_curve"] = str(
            plot_learning_curve(result.history, out / "learning_curve.png",
                                title=f"{architecture} on {dataset} (val: the test samples)"))
        width, height, channels = test_set.sensor_size
        output_core = config.metadata["output_core"]
        chip_spikes = chip_run.spikes[chip_run.spikes["core"] == output_core]
        outputs = {
            "float": _output_spike_train(float_counts, settings.dt_us),
            "chip-sim (per event)": (chip_spikes["t"], chip_spikes["p"]),
        }
        result.files["raster"] = str(plot_event_raster(
            test_set.events(test_indices[0]), outputs, out / "raster.png",
            input_size=(channels, height, width), duration_us=test_set.duration_us,
            class_names=test_set.classes,
            title=f"test sample 0 (label {test_set.classes[test_set.label(test_indices[0])]})",
        ))

    result.stage_seconds = stages.seconds
    result.files["result"] = str(out / "result.json")
    _write_json(out / "result.json", result.to_dict())
    return result
