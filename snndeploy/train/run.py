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

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Optional

import numpy as np
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
EVENTPROP_DEFAULT_TAU_MEM = 20.0  # ms
EVENTPROP_DEFAULT_TAU_SYN = 5.0  # ms
EVENTPROP_DEFAULT_STEP_MS = 1.0


def _eventprop_options(loss: str, feature_shape: tuple, step_ms: float, steps: Optional[int],
                       spike_threshold: float, tau_mem: float, tau_syn: float,
                       spike_fn: str, neuron: str, bias: bool, qat: Optional[str],
                       hidden_weights: Optional[list], output_weights: Optional[tuple],
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
    if hidden_weights is not None and len(hidden_weights) > 1:
        raise SnnDeployError(
            f"--hidden-weights given {len(hidden_weights)} times; --backend eventprop takes one "
            "MEAN STD for all hidden layers"
        )
    options = {"loss": loss, "dt": step_ms, "num_steps": steps, "threshold": spike_threshold,
               "tau_mem": tau_mem, "tau_syn": tau_syn, "recurrent": recurrent}
    if spike_regularisation is not None:
        strength, target = map(float, spike_regularisation)
        options.update(regularisation_strength=strength, regularisation_target=target)
    for layers, given in (("hidden", hidden_weights and hidden_weights[0]),
                          ("output", output_weights)):
        if given is not None:
            options[f"{layers}_weight_mean"], options[f"{layers}_weight_std"] = map(float, given)
    return options


def _weight_inits(value) -> Optional[list]:
    """[(mean, std), ...] from one (mean, std) pair or a sequence of pairs; None when not given."""
    if value is None or len(value) == 0:
        return None
    pairs = [value] if isinstance(value[0], (int, float)) else list(value)
    for pair in pairs:
        if len(pair) != 2:
            raise SnnDeployError(f"initial weights must be (mean, std) pairs, got {pair!r}")
    return [(float(mean), float(std)) for mean, std in pairs]


# -- FP networks (backend "fp": exact forward-propagated gradients, snndeploy.fp, paper 001) --

FP = "fp"
FP_LOSS = "first_spike_time"
# run_training keyword -> its command-line option, for the FP options
FP_FLAGS = {"fp_alpha": "--fp-alpha", "fp_beta": "--fp-beta", "hidden_weights": "--hidden-weights",
            "output_weights": "--output-weights", "fp_max_spikes": "--fp-max-spikes",
            "fp_tau0": "--fp-tau0", "fp_tau1": "--fp-tau1", "fp_gamma": "--fp-gamma",
            "fp_no_spike_time": "--fp-no-spike-time"}


def fp_preset_options(data: str) -> dict:
    """run_training keywords holding the hyper-parameters of `snndeploy.fp.PRESETS[data]` (paper
    001's tables), or {} when `data` has no preset.

    Keys: fp_alpha, fp_beta, spike_threshold (ϑ), hidden_weights (one (mean, std) per preset
    hidden layer), output_weights, fp_max_spikes, fp_tau0, fp_tau1, fp_gamma, fp_no_spike_time,
    lr, batch_size (None: the whole training split in one batch), epochs, dataset_options and,
    where the preset has one, fp_weight_bump.
    `snndeploy train --trainer fp` takes each of them that the command line does not give.
    """
    from snndeploy.fp import PRESETS

    preset = PRESETS.get(data)
    if preset is None:
        return {}
    return {"fp_alpha": preset.alpha, "fp_beta": preset.beta, "spike_threshold": preset.theta,
            "hidden_weights": [tuple(pair) for pair in preset.hidden_init],
            "output_weights": tuple(preset.output_init),
            "fp_max_spikes": preset.max_hidden_spikes, "fp_tau0": preset.tau0,
            "fp_tau1": preset.tau1, "fp_gamma": preset.gamma,
            "fp_no_spike_time": preset.no_spike_time, "lr": preset.learning_rate,
            "batch_size": preset.batch_size, "epochs": preset.epochs,
            "dataset_options": dict(preset.dataset_options),
            **({"fp_weight_bump": (preset.weight_bump.value, preset.weight_bump.hidden_min_firing,
                                   preset.weight_bump.output_min_firing)}
               if preset.weight_bump is not None else {})}


def _weight_bump(triple: Optional[tuple]):
    """`snndeploy.fp.WeightBump` from (value, hidden_min_firing, output_min_firing); None when not
    given or value 0."""
    from snndeploy.fp import WeightBump

    if triple is None or float(triple[0]) == 0.0:
        return None
    return WeightBump(*map(float, triple))


def _check_fp_combination(source: str, loss: Optional[str], neuron: str, spike_fn: str,
                          bias: bool, qat: Optional[str], tau_mem: Optional[float],
                          tau_syn: Optional[float], step_ms: Optional[float]) -> list[int]:
    """Layer sizes of the dense FP net `source`, after refusing options FP networks lack."""
    from snndeploy.train.architecture import dense_layer_sizes

    if source.endswith(".py"):
        raise SnnDeployError(
            f"--trainer fp builds its network from a dense architecture string "
            f"(inputs-hidden…-classes, e.g. 4-10-3), not from the model file {source}"
        )
    sizes = dense_layer_sizes(source, FP)
    if loss is not None and loss != FP_LOSS:
        raise SnnDeployError(
            f"--loss {loss} does not apply to --trainer fp: it trains with the first-spike-time "
            "loss of paper 001 (set by --fp-tau0, --fp-tau1, --fp-gamma, --fp-no-spike-time); "
            "drop --loss"
        )
    refused = {"--qat": qat is not None, "--bias": bias, "--neuron lif": neuron != "iaf",
               "--spike-fn single": spike_fn != "multi", "--tau-mem": tau_mem is not None,
               "--tau-syn": tau_syn is not None, "--step-ms": step_ms is not None}
    given = [flag for flag, used in refused.items() if used]
    if given:
        raise SnnDeployError(
            f"{', '.join(given)} cannot be combined with --trainer fp (exact event simulation in "
            "continuous time with --fp-alpha = 1/tau_syn, --fp-beta = 1/tau_mem, threshold "
            "--threshold, no bias, no quantization); drop the option"
        )
    return sizes


def _fp_options(data: str, sizes: list[int], feature_shape: tuple, values: dict) -> tuple[dict, dict]:
    """(keyword arguments of build_fp_from_architecture, of FirstSpikeTimeLoss) from the FP
    options in `values` (run_training keywords), after checking that all are given and that the
    data is spike times."""
    if len(feature_shape) != 0:
        raise SnnDeployError(
            f"--trainer fp trains on spike-time data (one spike time per input: xor, iris, "
            f"yinyang); dataset {data!r} gives frames of shape {feature_shape}"
        )
    missing = [flag for key, flag in FP_FLAGS.items() if values[key] is None]
    if missing:
        raise SnnDeployError(
            f"--trainer fp on dataset {data!r} needs {', '.join(missing)} (only xor, iris and "
            "yinyang have a preset of paper 001 that supplies them)"
        )
    hidden = values["hidden_weights"]
    hidden_layers = len(sizes) - 2
    if len(hidden) == 1:  # one pair for every hidden layer (none: a preset's pair goes unused)
        hidden = hidden * hidden_layers
    if len(hidden) != hidden_layers:
        raise SnnDeployError(
            f"--hidden-weights given {len(values['hidden_weights'])} times but {sizes} has "
            f"{hidden_layers} hidden layer(s); give it once (all hidden layers) or once per layer"
        )
    if len(values["output_weights"]) != 2:
        raise SnnDeployError(f"--output-weights must be MEAN STD, got {values['output_weights']!r}")
    network = {"alpha": float(values["fp_alpha"]), "beta": float(values["fp_beta"]),
               "theta": float(values["spike_threshold"]),
               "hidden_init": [[mean, std] for mean, std in hidden],
               "output_init": [float(x) for x in values["output_weights"]],
               "max_hidden_spikes": int(values["fp_max_spikes"])}
    loss = {name: float(values[f"fp_{name}"]) for name in ("tau0", "tau1", "gamma", "no_spike_time")}
    numbers = {**{f"--fp-{name.replace('_', '-')}": value for name, value in loss.items()},
               "--fp-alpha": network["alpha"], "--fp-beta": network["beta"], "--threshold": network["theta"],
               "--output-weights": network["output_init"],
               "--hidden-weights": [x for pair in network["hidden_init"] for x in pair]}
    not_finite = [flag for flag, value in numbers.items() if not np.all(np.isfinite(value))]
    if not_finite:
        raise SnnDeployError(f"{', '.join(not_finite)}: values must be finite numbers")
    return network, loss


def get_training_loss(name: str, model: nn.Module, fp_loss: Optional[dict] = None):
    """The loss object of `name` for `model`: an EventProp loss (at the network's step dt) for
    EventProp networks, `snndeploy.fp.FirstSpikeTimeLoss(**fp_loss)` (tau0, tau1, gamma,
    no_spike_time) for FP networks, else a key of snndeploy.train.losses.LOSSES."""
    from snndeploy.fp import FirstSpikeTimeLoss, FPNetwork

    if getattr(model, "backend", None) == EVENTPROP:
        from snndeploy.eventprop import EventPropLoss

        return EventPropLoss(name, dt=model.dt)
    if isinstance(model, FPNetwork):
        if name != FP_LOSS or fp_loss is None:
            raise SnnDeployError(
                f"an FP network is trained with the {FP_LOSS} loss and its parameters (fp_loss "
                f"in the training options); got loss {name!r} with parameters {fp_loss!r}"
            )
        return FirstSpikeTimeLoss(**fp_loss)
    return get_loss(name)


def run_training(source: str, out: "str | Path", *, data: str = "digits",
                 data_root: Optional[str] = None, dt_us: Optional[int] = None,
                 limit: Optional[int] = None, neuron: str = "iaf", backend: str = "exodus",
                 loss: Optional[str] = None, epochs: int = 3, batch_size: Optional[int] = 32,
                 lr: float = 1e-3, seed: int = 0, device: str = "cpu", resume: bool = False,
                 spike_threshold: float = 1.0, tau_mem: Optional[float] = None,
                 spike_fn: str = "multi", bias: bool = False, qat: Optional[str] = None,
                 init: "str | Path | None" = None, tau_syn: Optional[float] = None,
                 step_ms: Optional[float] = None, steps: Optional[int] = None,
                 hidden_weights=None, output_weights: Optional[tuple] = None,
                 recurrent: bool = False, spike_regularisation: Optional[tuple] = None,
                 fp_alpha: Optional[float] = None, fp_beta: Optional[float] = None,
                 fp_max_spikes: Optional[int] = None, fp_tau0: Optional[float] = None,
                 fp_tau1: Optional[float] = None, fp_gamma: Optional[float] = None,
                 fp_no_spike_time: Optional[float] = None, fp_weight_bump: Optional[tuple] = None,
                 dataset_options: Optional[dict] = None,
                 progress: bool = True) -> TrainingRun:
    """Train `source` (architecture string or model .py file) on dataset `data`; checkpoints,
    metrics and the learning curve go to `out`. `limit` keeps the first samples of each split;
    `dataset_options` are further keyword options of the dataset factory.
    `qat` names a chip target: train the network quantization-aware for it (the checkpoint
    then holds the `QuantizationAware` wrapper, which `quantize` turns into the chip's
    integers without further change). `init` is a checkpoint (file or folder) of the same
    float network whose weights training starts from, e.g. a float run to fine-tune with QAT.
    `batch_size` is the global batch: under torchrun each of N processes takes batch_size / N;
    None puts the whole training split in one batch.

    backend "eventprop" trains a dense `snndeploy.eventprop` network (current-based LIF with
    `tau_mem` (default 20 ms), `tau_syn` (default 5 ms) and exact spike times, step `step_ms`
    (default 1 ms)) with one of its losses (default sum_exp); spike-time data (Yin-Yang) needs
    `steps`, the trial length. `hidden_weights` / `output_weights` = (mean, std) of its initial
    weights; `recurrent` adds hidden recurrent weights; `spike_regularisation` = (strength,
    target spike count).

    backend "fp" trains a dense `snndeploy.fp.FPNetwork` (exact event simulation, gradients by
    forward propagation, paper 001) on spike-time data with the first-spike-time loss: neuron
    rates `fp_alpha` = 1/τs and `fp_beta` = 1/τm, threshold `spike_threshold`, initial weights
    `hidden_weights` (one (mean, std) for all hidden layers or a list with one per hidden layer)
    and `output_weights`, at most `fp_max_spikes` spikes per hidden neuron; loss `fp_tau0`,
    `fp_tau1`, `fp_gamma`, `fp_no_spike_time` (silent outputs count as firing then). All of them
    must be given; `fp_weight_bump` = (value, hidden_min_firing, output_min_firing) of a
    `snndeploy.fp.WeightBump` applied after every step (None or value 0: none).
    `fp_preset_options(data)` holds the paper's values for xor, iris and yinyang
    (`snndeploy train --trainer fp` takes those the command line leaves out).
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
    is_eventprop, is_fp = backend == EVENTPROP, backend == FP
    hidden_weights = _weight_inits(hidden_weights)
    fp_values = {"fp_alpha": fp_alpha, "fp_beta": fp_beta, "spike_threshold": spike_threshold,
                 "hidden_weights": hidden_weights, "output_weights": output_weights,
                 "fp_max_spikes": fp_max_spikes, "fp_tau0": fp_tau0, "fp_tau1": fp_tau1,
                 "fp_gamma": fp_gamma, "fp_no_spike_time": fp_no_spike_time}
    fp_sizes = (_check_fp_combination(source, loss, neuron, spike_fn, bias, qat, tau_mem,
                                      tau_syn, step_ms) if is_fp else None)
    if loss is None:
        loss = {EVENTPROP: EVENTPROP_DEFAULT_LOSS, FP: FP_LOSS}.get(backend, "sum-ce")
    eventprop_only = {"--steps": steps, "--recurrent": recurrent or None,
                      "--spike-regularisation": spike_regularisation}
    if not is_fp:
        eventprop_only.update({"--hidden-weights": hidden_weights,
                               "--output-weights": output_weights})
    given = [flag for flag, value in eventprop_only.items() if value is not None]
    if given and not is_eventprop:
        shared = {"--hidden-weights", "--output-weights"} & set(given)
        raise SnnDeployError(f"{', '.join(given)}: EventProp options, they need --backend eventprop"
                             + (f" ({', '.join(sorted(shared))} also --trainer fp)" if shared else ""))
    fp_only = [flag for key, flag in FP_FLAGS.items()
               if key.startswith("fp_") and fp_values[key] is not None]
    fp_only += ["--fp-weight-bump"] if fp_weight_bump is not None else []
    if fp_only and not is_fp:
        raise SnnDeployError(f"{', '.join(fp_only)}: FP options, they need --trainer fp")
    if not (is_eventprop or is_fp) and loss not in LOSSES:
        raise SnnDeployError(
            f"--loss {loss} is an EventProp loss; add --backend eventprop or choose one of "
            f"{', '.join(LOSSES)}"
        )
    data_options = {**(dataset_options or {}), **_data_options(data_root, dt_us, limit)}
    train_set = get_dataset(data, "train", **data_options)
    test_set = get_dataset(data, "test", **data_options)
    feature_shape = _feature_shape(train_set)
    fp_loss = bump = None
    if is_eventprop:
        tau_syn = EVENTPROP_DEFAULT_TAU_SYN if tau_syn is None else tau_syn
        step_ms = EVENTPROP_DEFAULT_STEP_MS if step_ms is None else step_ms
        neuron_options = _eventprop_options(loss, feature_shape, step_ms, steps, spike_threshold,
                                            EVENTPROP_DEFAULT_TAU_MEM if tau_mem is None else tau_mem,
                                            tau_syn, spike_fn, neuron, bias, qat,
                                            hidden_weights, output_weights, recurrent,
                                            spike_regularisation)
        feature_shape = feature_shape or (len(train_set[0][0]),)
    elif is_fp:
        neuron_options, fp_loss = _fp_options(data, fp_sizes, feature_shape, fp_values)
        bump = _weight_bump(fp_weight_bump)
        feature_shape = (len(train_set[0][0]),)
    else:
        neuron_options = {"spike_threshold": spike_threshold, "spike_fn": spike_fn}
        if tau_mem is not None:
            neuron_options["tau_mem"] = tau_mem
    spec = ModelSpec.from_source(source, neuron=neuron, backend=backend, bias=bias,
                                 qat_target=qat, input_shape=feature_shape, **neuron_options)
    if spec.architecture is not None:
        check_data_fits(parse_architecture(spec.architecture), feature_shape,
                        getattr(train_set, "num_classes", None))
    if batch_size is None:
        batch_size = len(train_set)
    initial = load_checkpoint(init) if init is not None else None
    seed_everything(seed)
    model = spec.build(float_weights=None if initial is None else initial.model_state)
    loss_fn = get_training_loss(loss, model, fp_loss)
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
                   **({"tau_syn": tau_syn, "step_ms": step_ms, "steps": steps} if is_eventprop else {}),
                   **({"fp_network": neuron_options, "fp_loss": fp_loss,
                       "fp_weight_bump": None if bump is None else asdict(bump)}
                      if is_fp else {})}
        trained = wrap_model(model.to(torch_device), context)
        optimizer = torch.optim.Adam(trained.parameters(), lr=lr)
        if bump is not None:
            if context.world_size > 1:
                # each process would bump from its own share of the batch and the copies drift
                raise SnnDeployError(
                    "--fp-weight-bump is not supported under torchrun (several processes); "
                    "train in one process or pass --fp-weight-bump 0 0 0"
                )
            bump.attach(model, optimizer)
        history = fit(trained, make_sharded_loader(train_set, local_batch, context, seed=seed),
                      loss_fn, epochs, optimizer=optimizer, device=torch_device,
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
    loss_fn = get_training_loss(trained.get("loss", "sum-ce"), network.model, trained.get("fp_loss"))
    result = evaluate(network.model, make_loader(dataset, batch_size, shuffle=False), loss_fn,
                      torch_device, progress=progress)
    return {"checkpoint": str(stored.path if stored is not None else model), "kind": network.kind,
            "epoch": stored.epoch if stored is not None else None, "data": name, "split": split,
            **result}
