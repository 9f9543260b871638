"""Train or evaluate a classifier on a registered dataset in one call (what the CLI runs).

    from snndeploy.train.run import run_training, run_evaluation
    run = run_training("34x34x2-8c3-2p-16c3-2p-10", "runs/digits", data="digits", epochs=3)
    report = run_evaluation("runs/digits")          # accuracy, per-layer firing rates

Everything is checked before training starts: the architecture string or model file, neuron
and loss names, the device, the dataset (name, presence on disk, options), whether the data
fits the architecture, and whether the output folder already holds checkpoints.

Under torchrun (`torchrun --nproc_per_node N "$(which snndeploy)" train ...`, see
docs/distributed.md) `run_training` trains data-parallel: each of the N processes joins the
process group (gloo on CPU, nccl with --device cuda, one GPU per process), takes batch_size / N
samples of every global batch of `batch_size`, and rank 0 writes the checkpoints, metrics and
learning curve. `batch_size` is the global batch whatever N is, so a run resumed with another
number of processes continues the same optimisation.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
from torch import nn

from snndeploy.data import get_dataset
from snndeploy.errors import SnnDeployError
from snndeploy.plots import plot_learning_curve
from snndeploy.train.architecture import ModelSpec, check_data_fits, parse_architecture
from snndeploy.train.checkpoint import latest_checkpoint, load_checkpoint
from snndeploy.train.distributed import init_distributed, make_sharded_loader, shutdown, wrap_model
from snndeploy.train.loop import evaluate, fit, make_loader, seed_everything
from snndeploy.train.losses import LOSSES, get_loss

LEARNING_CURVE = "learning_curve.png"
# process-group backend of each device type (one process per CPU / per GPU)
PROCESS_GROUP_BACKENDS = {"cpu": "gloo", "cuda": "nccl"}


@dataclass
class TrainingRun:
    """What `run_training` produced."""

    history: list[dict]
    checkpoint: Path
    learning_curve: Path
    model: nn.Module
    options: dict
    is_main: bool = True  # False on the ranks > 0 of a torchrun job (they write and print nothing)


def check_device(device: str) -> torch.device:
    """The torch device, or an error when CUDA is asked for and absent."""
    try:
        resolved = torch.device(device)
    except RuntimeError as err:
        raise SnnDeployError(f"unknown device {device!r}; use cpu or cuda") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise SnnDeployError("device cuda requested but torch sees no CUDA GPU; use --device cpu")
    return resolved


def _data_options(data_root: Optional[str], dt_us: Optional[int], limit: Optional[int]) -> dict:
    given = {"root": data_root, "dt_us": dt_us, "limit": limit}
    return {key: value for key, value in given.items() if value is not None}


def _per_process_batch(batch_size: int, processes: int) -> int:
    if batch_size % processes:
        raise SnnDeployError(
            f"--batch-size {batch_size} (the global batch) does not split evenly over {processes} "
            f"processes; use a multiple of {processes}"
        )
    return batch_size // processes


def _feature_shape(dataset) -> tuple:
    frames, _ = dataset[0]
    return tuple(frames.shape[1:])


# -- EventProp networks (backend "eventprop": a network type of its own, snndeploy.eventprop) --

EVENTPROP = "eventprop"
EVENTPROP_DEFAULT_LOSS = "sum_exp"


def _eventprop_options(loss: str, feature_shape: tuple, step_ms: float, steps: Optional[int],
                       spike_threshold: float, tau_mem: Optional[float], tau_syn: float,
                       spike_fn: str, neuron: str, bias: bool, qat: Optional[str],
                       hidden_weights: Optional[tuple], output_weights: Optional[tuple],
                       recurrent: bool, spike_regularisation: Optional[tuple]) -> dict:
    """Keyword arguments of build_eventprop_network, after refusing what EventProp lacks."""
    from snndeploy.eventprop import LOSSES as EVENTPROP_LOSSES

    if loss not in EVENTPROP_LOSSES:
        raise SnnDeployError(
            f"--loss {loss} is not an EventProp loss; with --backend eventprop choose one of "
            f"{', '.join(EVENTPROP_LOSSES)}"
        )
    refused = {"--qat": qat is not None, "--bias": bias, "--neuron lif": neuron != "iaf",
               "--spike-fn single": spike_fn != "multi"}
    given = [flag for flag, used in refused.items() if used]
    if given:
        raise SnnDeployError(
            f"{', '.join(given)} cannot be combined with --backend eventprop (its layers are "
            "current-based LIF neurons with exact spike times, no bias); drop the option"
        )
    if len(feature_shape) == 0 and steps is None:
        raise SnnDeployError(
            "the data's samples are spike times (one per input); --backend eventprop needs "
            "--steps (the trial length in steps of --step-ms)"
        )
    options = {"loss": loss, "dt": step_ms, "num_steps": steps, "threshold": spike_threshold,
               "tau_mem": 20.0 if tau_mem is None else tau_mem, "tau_syn": tau_syn,
               "recurrent": recurrent}
    if spike_regularisation is not None:
        strength, target = map(float, spike_regularisation)
        options.update(regularisation_strength=strength, regularisation_target=target)
    for layers, given in (("hidden", hidden_weights), ("output", output_weights)):
        if given is not None:
            options[f"{layers}_weight_mean"], options[f"{layers}_weight_std"] = map(float, given)
    return options


def get_training_loss(name: str, model: nn.Module):
    """The loss object of `name` for `model`: an EventProp loss (at the network's step dt) for
    EventProp networks, else a key of snndeploy.train.losses.LOSSES."""
    if getattr(model, "backend", None) == EVENTPROP:
        from snndeploy.eventprop import EventPropLoss

        return EventPropLoss(name, dt=model.dt)
    return get_loss(name)


def run_training(source: str, out: "str | Path", *, data: str = "digits",
                 data_root: Optional[str] = None, dt_us: Optional[int] = None,
                 limit: Optional[int] = None, neuron: str = "iaf", backend: str = "exodus",
                 loss: Optional[str] = None, epochs: int = 3, batch_size: int = 32, lr: float = 1e-3,
                 seed: int = 0, device: str = "cpu", resume: bool = False,
                 spike_threshold: float = 1.0, tau_mem: Optional[float] = None,
                 spike_fn: str = "multi", bias: bool = False, qat: Optional[str] = None,
                 init: "str | Path | None" = None, tau_syn: float = 5.0, step_ms: float = 1.0,
                 steps: Optional[int] = None, hidden_weights: Optional[tuple] = None,
                 output_weights: Optional[tuple] = None, recurrent: bool = False,
                 spike_regularisation: Optional[tuple] = None,
                 progress: bool = True) -> TrainingRun:
    """Train `source` (architecture string or model .py file) on dataset `data`; checkpoints,
    metrics and the learning curve go to `out`. `limit` keeps the first samples of each split.
    `qat` names a chip target: train the network quantization-aware for it (the checkpoint
    then holds the `QuantizationAware` wrapper, which `quantize` turns into the chip's
    integers without further change). `init` is a checkpoint (file or folder) of the same
    float network whose weights training starts from, e.g. a float run to fine-tune with QAT.
    `batch_size` is the global batch: under torchrun each of N processes takes batch_size / N.

    backend "eventprop" trains a dense `snndeploy.eventprop` network (current-based LIF with
    `tau_mem` (default 20 ms), `tau_syn` and exact spike times, step `step_ms`) with one of
    its losses (default sum_exp); spike-time data (Yin-Yang) needs `steps`, the trial length.
    `hidden_weights` / `output_weights` = (mean, std) of its initial weights; `recurrent` adds
    hidden recurrent weights; `spike_regularisation` = (strength, target spike count).
    `loss` defaults to sum-ce for the other backends."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise SnnDeployError(f"output path {out} is a file; --out must name a folder")
    if latest_checkpoint(out) is not None and not resume:
        raise SnnDeployError(
            f"{out} already holds checkpoints (latest {latest_checkpoint(out).name}); add --resume "
            "to continue or choose another --out"
        )
    torch_device = check_device(device)
    if torch_device.type not in PROCESS_GROUP_BACKENDS:
        raise SnnDeployError(f"device {device!r} is not supported; use cpu or cuda")
    is_eventprop = backend == EVENTPROP
    if loss is None:
        loss = EVENTPROP_DEFAULT_LOSS if is_eventprop else "sum-ce"
    eventprop_only = {"--steps": steps, "--hidden-weights": hidden_weights,
                      "--output-weights": output_weights, "--recurrent": recurrent or None,
                      "--spike-regularisation": spike_regularisation}
    given = [flag for flag, value in eventprop_only.items() if value is not None]
    if given and not is_eventprop:
        raise SnnDeployError(f"{', '.join(given)}: EventProp options, they need --backend eventprop")
    if not is_eventprop and loss not in LOSSES:
        raise SnnDeployError(
            f"--loss {loss} is an EventProp loss; add --backend eventprop or choose one of "
            f"{', '.join(LOSSES)}"
        )
    data_options = _data_options(data_root, dt_us, limit)
    train_set = get_dataset(data, "train", **data_options)
    test_set = get_dataset(data, "test", **data_options)
    feature_shape = _feature_shape(train_set)
    if is_eventprop:
        neuron_options = _eventprop_options(loss, feature_shape, step_ms, steps, spike_threshold,
                                            tau_mem, tau_syn, spike_fn, neuron, bias, qat,
                                            hidden_weights, output_weights, recurrent,
                                            spike_regularisation)
        feature_shape = feature_shape or (len(train_set[0][0]),)
    else:
        neuron_options = {"spike_threshold": spike_threshold, "spike_fn": spike_fn}
        if tau_mem is not None:
            neuron_options["tau_mem"] = tau_mem
    spec = ModelSpec.from_source(source, neuron=neuron, backend=backend, bias=bias,
                                 qat_target=qat, input_shape=feature_shape, **neuron_options)
    if spec.architecture is not None:
        check_data_fits(parse_architecture(spec.architecture), feature_shape,
                        getattr(train_set, "num_classes", None))
    initial = load_checkpoint(init) if init is not None else None
    seed_everything(seed)
    model = spec.build(float_weights=None if initial is None else initial.model_state)
    loss_fn = get_training_loss(loss, model)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SnnDeployError(f"cannot create output folder {out}: {err.strerror}") from err
    context = init_distributed(PROCESS_GROUP_BACKENDS[torch_device.type])
    try:
        local_batch = _per_process_batch(batch_size, context.world_size)
        if context.active:
            torch_device = context.device()
        options = {"source": source, "data": data, "data_options": data_options, "neuron": neuron,
                   "backend": backend, "loss": loss, "epochs": epochs, "batch_size": batch_size,
                   "processes": context.world_size, "lr": lr, "seed": seed, "device": device,
                   "spike_threshold": spike_threshold, "tau_mem": tau_mem, "spike_fn": spike_fn,
                   "bias": bias, "qat": qat, "init": None if initial is None else str(initial.path),
                   **({"tau_syn": tau_syn, "step_ms": step_ms, "steps": steps} if is_eventprop else {})}
        trained = wrap_model(model.to(torch_device), context)
        history = fit(trained, make_sharded_loader(train_set, local_batch, context, seed=seed),
                      loss_fn, epochs, lr=lr, device=torch_device,
                      val_loader=make_loader(test_set, batch_size, shuffle=False), seed=seed,
                      checkpoint_dir=out, resume=resume, progress=progress, model_spec=spec,
                      options=options, distributed=context)
        curve = out / LEARNING_CURVE
        if context.is_main:
            plot_learning_curve(history, curve)
    finally:
        shutdown(context)
    return TrainingRun(history, latest_checkpoint(out), curve, model, options, context.is_main)


def run_evaluation(model: "str | Path", *, data: Optional[str] = None, split: str = "test",
                   data_root: Optional[str] = None, dt_us: Optional[int] = None,
                   limit: Optional[int] = None, batch_size: int = 64, device: str = "cpu",
                   backend: Optional[str] = None, progress: bool = False) -> dict:
    """Accuracy, loss and per-layer firing rates of MODEL on a dataset split.

    MODEL is whatever `snndeploy.export.load_network` reads: a training run folder or checkpoint,
    a .nir file, or a quantized .safetensors. For a checkpoint the dataset, its options and the
    loss default to those it was trained with; other models need `data` (loss: sum-ce).
    `backend` runs the neuron layers with another training backend (None: as stored).
    """
    from snndeploy.export import load_network

    torch_device = check_device(device)
    network = load_network(model, backend=backend)
    stored = network.checkpoint
    trained = stored.options if stored is not None else {}
    name = data or trained.get("data")
    if name is None:
        raise SnnDeployError(f"{model} does not name its dataset (only training checkpoints do); "
                             "pass --data")
    options = dict(trained.get("data_options", {})) if name == trained.get("data") else {}
    options.update(_data_options(data_root, dt_us, limit))
    if limit is None:
        options.pop("limit", None)
    dataset = get_dataset(name, split, **options)
    loss_fn = get_training_loss(trained.get("loss", "sum-ce"), network.model)
    result = evaluate(network.model, make_loader(dataset, batch_size, shuffle=False), loss_fn,
                      torch_device, progress=progress)
    return {"checkpoint": str(stored.path if stored is not None else model), "kind": network.kind,
            "epoch": stored.epoch if stored is not None else None, "data": name, "split": split,
            **result}
