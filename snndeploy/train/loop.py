"""The training loop: `fit` trains a spiking network, `evaluate` measures it.

Contract with the model: it takes (batch, time, *features) float tensors and returns
(batch, time, classes); neuron state is zeroed before every batch (each module that has
`reset_states()` gets it called), so samples never leak into each other.

Reproducibility: `seed_everything(seed)` seeds Python, numpy and torch; the training data order
of epoch e is a permutation drawn from a generator seeded with (seed, e) (`EpochShuffleSampler`),
so it does not depend on what else consumed random numbers. A checkpoint written after epoch e
holds weights, optimizer state and all RNG states, so `resume=True` continues with exactly the
numbers an uninterrupted run would have used: on CPU the final weights are bit-identical.

Files in `checkpoint_dir`: ``epoch-NNNN.safetensors`` (+ ``.json``) after every epoch (see
`snndeploy.train.checkpoint`), ``metrics.csv`` and ``metrics.jsonl`` with one row per epoch.
On resume the metric files are rewritten from the checkpoint's history first, so rows of an
epoch that was killed before its checkpoint never appear twice.

Data-parallel training (torchrun) runs through the same `fit`: pass `distributed=` the context of
`snndeploy.train.distributed.init_distributed`, a model wrapped by `wrap_model` and a loader from
`make_sharded_loader`. Every rank then reports the metrics averaged over ranks, only rank 0
writes checkpoints and metric files (the others wait for it), and every rank resumes from the
same checkpoint, whatever the number of processes that wrote it.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
from pathlib import Path
from typing import Callable, Iterable, Optional, Sequence

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_text_atomically
from snndeploy.train.architecture import ModelSpec
from snndeploy.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    restore_training_state,
    save_checkpoint,
    write_sidecar,
)
from snndeploy.train.distributed import DistributedContext, barrier, reduce_metrics, unwrap_model

METRIC_FIELDS = ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy",
                 "samples_per_s", "seconds")
# Options that may differ between the run that wrote a checkpoint and the run resuming it.
RESUMABLE_CHANGES = frozenset({"epochs", "device", "progress", "out", "resume", "json", "processes"})


def seed_everything(seed: int) -> None:
    """Seed Python's, numpy's and torch's global generators (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


class EpochShuffleSampler(torch.utils.data.Sampler):
    """Shuffles indices with a generator seeded from (seed, epoch): the order of an epoch is a
    function of those two numbers only. `fit` calls `set_epoch(e)` before epoch e."""

    def __init__(self, size: int, seed: int = 0) -> None:
        self.size = size
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self):
        entropy = np.random.SeedSequence([self.seed, self.epoch]).generate_state(1, np.uint64)
        generator = torch.Generator().manual_seed(int(entropy[0] >> np.uint64(1)))
        return iter(torch.randperm(self.size, generator=generator).tolist())

    def __len__(self) -> int:
        return self.size


def make_loader(dataset, batch_size: int, shuffle: bool = True, seed: int = 0,
                num_workers: int = 0) -> torch.utils.data.DataLoader:
    """A DataLoader whose shuffled order per epoch depends only on (seed, epoch)."""
    if batch_size < 1:
        raise SnnDeployError(f"batch size must be at least 1, got {batch_size}")
    sampler = EpochShuffleSampler(len(dataset), seed) if shuffle else None
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler,
                                       num_workers=num_workers)


def reset_states(model: nn.Module) -> None:
    """Zero the state of every module that has `reset_states()` (neuron layers)."""
    for module in model.modules():
        if module is not model and callable(getattr(module, "reset_states", None)):
            module.reset_states()
    if callable(getattr(model, "reset_states", None)):
        model.reset_states()


def _accuracy_of(loss_fn) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss's own reading of the output, or the class with most spikes."""
    return getattr(loss_fn, "predict", lambda outputs: outputs.sum(dim=1).argmax(dim=1))


def _spiking_layers(model: nn.Module) -> dict[str, nn.Module]:
    """Named neuron layers that emit spikes (snndeploy or sinabs style)."""
    return {
        f"{name} {type(module).__name__}": module
        for name, module in model.named_modules()
        if hasattr(module, "spike_threshold") and callable(getattr(module, "reset_states", None))
        and getattr(module, "spiking", True)
    }


@torch.no_grad()
def evaluate(model: nn.Module, loader: Iterable, loss_fn=None,
             device: "str | torch.device" = "cpu", progress: bool = False) -> dict:
    """Loss (when `loss_fn` is given), accuracy and per-layer firing rates over `loader`.

    Firing rate of a layer = spikes it emitted / (neurons × time steps × samples).
    """
    model = model.to(device)
    was_training = model.training
    model.eval()
    totals = {name: [0.0, 0] for name in _spiking_layers(model)}

    def recorder(name):
        def hook(module, inputs, output):
            totals[name][0] += float(output.sum())
            totals[name][1] += output.numel()
        return hook

    handles = [layer.register_forward_hook(recorder(name))
               for name, layer in _spiking_layers(model).items()]
    predict = _accuracy_of(loss_fn)
    loss_sum, correct, seen = 0.0, 0, 0
    try:
        for frames, labels in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
            frames, labels = frames.to(device), labels.to(device)
            reset_states(model)
            outputs = model(frames)
            if loss_fn is not None:
                loss_sum += float(loss_fn(outputs, labels)) * len(labels)
            correct += int((predict(outputs) == labels).sum())
            seen += len(labels)
    finally:
        for handle in handles:
            handle.remove()
        reset_states(model)
        model.train(was_training)
    if seen == 0:
        raise SnnDeployError("evaluation data is empty")
    return {
        "loss": loss_sum / seen if loss_fn is not None else None,
        "accuracy": correct / seen,
        "samples": seen,
        "firing_rates": {name: (s / n if n else 0.0) for name, (s, n) in totals.items()},
    }


def _train_epoch(model, loader, loss_fn, optimizer, device, bar) -> dict:
    predict = _accuracy_of(loss_fn)
    model.train()
    loss_sum, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    for frames, labels in loader:
        frames, labels = frames.to(device), labels.to(device)
        reset_states(model)
        outputs = model(frames)
        loss = loss_fn(outputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss_sum += float(loss.detach()) * len(labels)
        correct += int((predict(outputs.detach()) == labels).sum())
        seen += len(labels)
        rate = seen / max(time.perf_counter() - start, 1e-9)
        bar.update(1)
        bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.3f}",
                        samples_s=f"{rate:.0f}")
    reset_states(model)
    if seen == 0:
        raise SnnDeployError("training data is empty")
    seconds = time.perf_counter() - start
    return {"train_loss": loss_sum / seen, "train_accuracy": correct / seen,
            "samples_per_s": seen / seconds, "seconds": seconds}


def _write_metric_files(directory: Path, history: list[dict]) -> None:
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=METRIC_FIELDS, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(history)
    write_text_atomically(directory / "metrics.csv", text.getvalue())
    write_text_atomically(directory / "metrics.jsonl",
                          "".join(json.dumps(row) + "\n" for row in history))


def _append_metrics(directory: Path, record: dict) -> None:
    with open(directory / "metrics.csv", "a", newline="") as handle:
        csv.DictWriter(handle, fieldnames=METRIC_FIELDS, extrasaction="ignore").writerow(record)
    with open(directory / "metrics.jsonl", "a") as handle:
        handle.write(json.dumps(record) + "\n")


def fit(model: nn.Module, train_loader: Iterable, loss_fn: Callable, epochs: int, *,
        optimizer: Optional[torch.optim.Optimizer] = None, lr: float = 1e-3,
        device: "str | torch.device" = "cpu", val_loader: Optional[Iterable] = None,
        seed: Optional[int] = 0, checkpoint_dir: "str | Path | None" = None,
        resume: bool = False, progress: bool = True,
        callbacks: Sequence[Callable[[dict, nn.Module], None]] = (),
        model_spec: Optional[ModelSpec] = None, options: Optional[dict] = None,
        distributed: Optional[DistributedContext] = None) -> list[dict]:
    """Train `model` for `epochs` epochs (in total, counting resumed ones); return the history.

    * `loss_fn(outputs, labels)` -> scalar; its `predict(outputs)` (if any) gives the class
      used for accuracy (see `snndeploy.train.losses`).
    * `optimizer` defaults to Adam(lr) over the model's parameters.
    * `seed` seeds all generators before the first epoch (None leaves them alone); use a
      loader from `make_loader` for a seeded, resumable data order.
    * `checkpoint_dir`: write a checkpoint and metric rows after every epoch; with a
      `model_spec` (default: the model's own `model_spec` attribute, which `build_model` sets)
      the checkpoints can rebuild the network (`load_model`); `options` are stored with them
      (and must match on resume, except RESUMABLE_CHANGES).
    * `resume`: continue from the latest checkpoint in `checkpoint_dir` (start fresh when
      there is none). Without it a folder that already holds checkpoints is refused.
    * `callbacks`: each is called as callback(record, model) after every epoch.
    * `distributed`: the context of one process of a torchrun job (`init_distributed`); the
      model is then DistributedDataParallel-wrapped (`wrap_model`) and the loader gives this
      rank's share of each global batch (`make_sharded_loader`). History records hold the
      metrics averaged over ranks (samples_per_s summed); rank 0 alone writes checkpoints of the
      unwrapped model and the metric files, and every rank waits until they are complete.

    Each history record has METRIC_FIELDS (val_* are None without `val_loader`).
    """
    if epochs < 1:
        raise SnnDeployError(f"epochs must be at least 1, got {epochs}")
    options = dict(options or {})
    context = distributed if distributed is not None else DistributedContext()
    writes_files = context.is_main
    model_spec = model_spec if model_spec is not None else getattr(unwrap_model(model), "model_spec", None)
    model = model.to(device)
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    directory = Path(checkpoint_dir) if checkpoint_dir is not None else None
    history: list[dict] = []
    start_epoch = 1
    existing = latest_checkpoint(directory) if directory is not None else None
    if resume and directory is None:
        raise SnnDeployError("resume needs checkpoint_dir (the folder the checkpoints are in)")
    if existing is not None and not resume:
        raise SnnDeployError(
            f"{directory} already holds checkpoints (latest {existing.name}); resume to continue "
            "or choose another output folder"
        )
    if existing is not None:
        checkpoint = load_checkpoint(existing)
        changed = sorted(k for k in options.keys() & checkpoint.options.keys()
                         if k not in RESUMABLE_CHANGES and options[k] != checkpoint.options[k])
        if changed:
            details = ", ".join(f"{k}: {checkpoint.options[k]!r} -> {options[k]!r}" for k in changed)
            raise SnnDeployError(f"cannot resume {existing}: options changed ({details})")
        restore_training_state(checkpoint, unwrap_model(model), optimizer)
        history = list(checkpoint.history)
        start_epoch = checkpoint.epoch + 1
        if writes_files:
            if not checkpoint.path.with_suffix(".json").exists():
                write_sidecar(checkpoint.path, checkpoint.document)
            _write_metric_files(directory, history)
    else:
        if seed is not None:
            seed_everything(seed)
        if directory is not None and writes_files:
            directory.mkdir(parents=True, exist_ok=True)
            _write_metric_files(directory, history)
    barrier(context)  # every rank has read the folder before rank 0 writes to it
    sampler = getattr(train_loader, "sampler", None)
    for epoch in range(start_epoch, epochs + 1):
        if callable(getattr(sampler, "set_epoch", None)):
            sampler.set_epoch(epoch)
        with tqdm(total=len(train_loader), desc=f"epoch {epoch}/{epochs}", unit="batch",
                  disable=not (progress and writes_files), leave=True) as bar:
            record = {"epoch": epoch, **_train_epoch(model, train_loader, loss_fn, optimizer,
                                                     device, bar)}
            if val_loader is not None:
                result = evaluate(model, val_loader, loss_fn, device)
                record.update(val_loss=result["loss"], val_accuracy=result["accuracy"])
                bar.set_postfix(loss=f"{record['train_loss']:.4f}",
                                acc=f"{record['train_accuracy']:.3f}",
                                val_acc=f"{record['val_accuracy']:.3f}",
                                samples_s=f"{record['samples_per_s']:.0f}")
            else:
                record.update(val_loss=None, val_accuracy=None)
        record = reduce_metrics({field: record[field] for field in METRIC_FIELDS}, context)
        history.append(record)
        if directory is not None:
            if writes_files:
                save_checkpoint(directory, epoch, unwrap_model(model), model_spec, optimizer, history,
                                options)
                _append_metrics(directory, record)
            barrier(context)  # no rank reads or resumes from a half-written epoch
        for callback in callbacks:
            callback(record, model)
    return history
