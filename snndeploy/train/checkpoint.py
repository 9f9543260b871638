"""Training checkpoints: one safetensors file per epoch, written atomically, no pickle.

``DIR/epoch-0003.safetensors`` holds

* tensors ``model/<state_dict key>`` (the weights), ``optimizer/<param index>/<name>`` (the
  optimizer's per-parameter state), ``rng/torch``, ``rng/cuda/<i>``, ``rng/numpy`` and
  ``rng/python`` (the random generators' states);
* in the safetensors header metadata, under ``snndeploy``, a JSON document: format version,
  epoch, the model spec (architecture string or Python file, neuron, backend, options), the
  training options, the metrics history, the optimizer's class, param groups and non-tensor
  state, and the non-tensor parts of the numpy / Python generator states.

A readable copy of that JSON sits next to it (``epoch-0003.json``) for people and tools; the
safetensors file alone is authoritative. Each file is written to a temporary name in the same
folder, flushed and fsynced, then moved over its final name with os.replace, so a kill at any
moment leaves every existing checkpoint complete; `latest_checkpoint` ignores leftover
temporaries. (A kill between the two files leaves a checkpoint without its JSON copy; resuming
writes it.)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically, write_text_atomically
from snndeploy.layers import IAF, LIF, ExpLeak
from snndeploy.train.architecture import ModelSpec

FORMAT_VERSION = 1
METADATA_KEY = "snndeploy"
_NAME = re.compile(r"epoch-(\d{4,})\.safetensors")


@dataclass
class Checkpoint:
    """A loaded checkpoint: tensors grouped by purpose plus the JSON document."""

    path: Path
    epoch: int
    model_spec: Optional[ModelSpec]
    model_state: dict[str, torch.Tensor]
    document: dict
    tensors: dict[str, torch.Tensor]

    @property
    def history(self) -> list[dict]:
        return self.document.get("history", [])

    @property
    def options(self) -> dict:
        return self.document.get("options", {})


def checkpoint_path(directory: "str | Path", epoch: int) -> Path:
    return Path(directory) / f"epoch-{epoch:04d}.safetensors"


def latest_checkpoint(directory: "str | Path") -> Optional[Path]:
    """The checkpoint of the highest epoch in `directory`, or None when there is none."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in directory.iterdir() if (m := _NAME.fullmatch(p.name))]
    return max(found)[1] if found else None


# -- random generator states ------------------------------------------------------------------


def rng_state() -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, json) of the torch, CUDA, numpy and Python generators."""
    tensors = {"rng/torch": torch.get_rng_state()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        for index, state in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng/cuda/{index}"] = state
    name, keys, position, has_gauss, cached = np.random.get_state()
    tensors["rng/numpy"] = torch.from_numpy(keys.astype(np.int64))
    version, internal, gauss = random.getstate()
    tensors["rng/python"] = torch.tensor(internal, dtype=torch.int64)
    document = {"numpy": [name, int(position), int(has_gauss), float(cached)],
                "python": [version, gauss]}
    return tensors, document


def set_rng_state(tensors: dict[str, torch.Tensor], document: dict) -> None:
    """Restore what `rng_state` captured."""
    torch.set_rng_state(tensors["rng/torch"])
    cuda = [tensors[k] for k in sorted(k for k in tensors if k.startswith("rng/cuda/"))]
    if cuda and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(cuda)
    name, position, has_gauss, cached = document["numpy"]
    np.random.set_state((name, tensors["rng/numpy"].numpy().astype(np.uint32), position,
                         has_gauss, cached))
    version, gauss = document["python"]
    random.setstate((version, tuple(int(v) for v in tensors["rng/python"].tolist()), gauss))


# -- optimizer state ----------------------------------------------------------------------------


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict]:
    """Split optimizer.state_dict() into tensors and a JSON document."""
    state = optimizer.state_dict()
    tensors, scalars = {}, {}
    for index, values in state["state"].items():
        for name, value in values.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optimizer/{index}/{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    groups = [
        {key: list(value) if isinstance(value, tuple) else value for key, value in group.items()}
        for group in state["param_groups"]
    ]
    tuple_keys = sorted({key for group in state["param_groups"] for key, value in group.items()
                         if isinstance(value, tuple)})
    return tensors, {"class": type(optimizer).__name__, "param_groups": groups,
                     "tuple_keys": tuple_keys, "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         document: dict) -> None:
    if document["class"] != type(optimizer).__name__:
        raise SnnDeployError(
            f"checkpoint holds {document['class']} state but the optimizer is "
            f"{type(optimizer).__name__}; resume with the same optimizer"
        )
    state: dict[int, dict] = {}
    for key, value in tensors.items():
        _, index, name = key.split("/", 2)
        state.setdefault(int(index), {})[name] = value
    for index, values in document["scalars"].items():
        state.setdefault(int(index), {}).update(values)
    groups = [
        {key: tuple(value) if key in document["tuple_keys"] else value for key, value in group.items()}
        for group in document["param_groups"]
    ]
    optimizer.load_state_dict({"state": state, "param_groups": groups})


# -- weights -------------------------------------------------------------------------------------

# Neuron state buffers: per-sample, shaped by the last batch, zeroed before every batch. They
# are not weights, so checkpoints leave them out.
STATE_BUFFERS = ("v_mem", "i_syn")


def _state_keys(model: torch.nn.Module) -> set[str]:
    return {
        f"{name}.{buffer}" if name else buffer
        for name, module in model.named_modules()
        if callable(getattr(module, "reset_states", None))
        for buffer in STATE_BUFFERS
    }


def model_weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """state_dict() without the neuron state buffers."""
    skip = _state_keys(model)
    return {key: value for key, value in model.state_dict().items() if key not in skip}


def load_model_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor],
                       source: "str | Path") -> None:
    """Load `weights` into `model`; every weight must be present and fit (state may be absent)."""
    try:
        missing, unexpected = model.load_state_dict(weights, strict=False)
    except RuntimeError as err:
        raise SnnDeployError(f"{source}: weights do not fit the network ({err})") from err
    missing = sorted(set(missing) - _state_keys(model))
    if missing or unexpected:
        raise SnnDeployError(
            f"{source}: weights do not fit the network (missing {missing}, unexpected "
            f"{sorted(unexpected)}); was it trained with another architecture?"
        )


# -- save / load ---------------------------------------------------------------------------------


def save_checkpoint(directory: "str | Path", epoch: int, model: torch.nn.Module,
                    model_spec: Optional[ModelSpec], optimizer: Optional[torch.optim.Optimizer] = None,
                    history: Optional[list] = None, options: Optional[dict] = None) -> Path:
    """Write ``epoch-NNNN.safetensors`` (+ ``.json``) atomically and return its path.

    Captures the current RNG states, so call it at the point training would continue from.
    """
    tensors = {f"model/{k}": v for k, v in model_weights(model).items()}
    document = {"format_version": FORMAT_VERSION, "epoch": epoch,
                "model": model_spec.to_json() if model_spec is not None else None, "options": options or {},
                "history": history or []}
    if optimizer is not None:
        optim_tensors, document["optimizer"] = optimizer_state(optimizer)
        tensors.update(optim_tensors)
    rng_tensors, document["rng"] = rng_state()
    tensors.update(rng_tensors)
    # safetensors refuses shared or non-contiguous storage: store independent CPU copies.
    tensors = {k: v.detach().to("cpu", copy=True).contiguous() for k, v in tensors.items()}
    path = checkpoint_path(directory, epoch)
    metadata = {METADATA_KEY: json.dumps(document)}
    write_atomically(path, lambda temp: save_file(tensors, str(temp), metadata=metadata))
    write_sidecar(path, document)
    return path


def write_sidecar(path: Path, document: dict) -> None:
    """The readable JSON next to checkpoint `path` (the document without RNG states)."""
    readable = {k: v for k, v in document.items() if k != "rng"}
    write_text_atomically(path.with_suffix(".json"), json.dumps(readable, indent=2) + "\n")


def load_checkpoint(path: "str | Path") -> Checkpoint:
    """Read a checkpoint written by `save_checkpoint` (tensors via safetensors, never pickle)."""
    path = Path(path)
    if path.is_dir():
        found = latest_checkpoint(path)
        if found is None:
            raise SnnDeployError(f"folder {path} holds no epoch-NNNN.safetensors checkpoint")
        path = found
    if not path.is_file():
        raise SnnDeployError(f"checkpoint {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = handle.metadata() or {}
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        document = json.loads(metadata[METADATA_KEY])
        epoch = int(document["epoch"])
        model_spec = ModelSpec.from_json(document["model"]) if document["model"] else None
    except (SafetensorError, OSError, KeyError, ValueError, TypeError) as err:
        raise SnnDeployError(
            f"checkpoint {path} is corrupt or not an snndeploy checkpoint ({type(err).__name__}: "
            f"{err}); use an epoch-NNNN.safetensors file written by `snndeploy train`"
        ) from err
    if document.get("format_version") != FORMAT_VERSION:
        raise SnnDeployError(
            f"checkpoint {path} has format version {document.get('format_version')}, this "
            f"snndeploy reads version {FORMAT_VERSION}"
        )
    model_state = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    return Checkpoint(path, epoch, model_spec, model_state, document, tensors)


def restore_training_state(checkpoint: Checkpoint, model: torch.nn.Module,
                           optimizer: Optional[torch.optim.Optimizer]) -> None:
    """Load weights, optimizer state and RNG states from `checkpoint` to continue exactly."""
    load_model_weights(model, checkpoint.model_state, checkpoint.path)
    if optimizer is not None and "optimizer" in checkpoint.document:
        optim_tensors = {k: v for k, v in checkpoint.tensors.items() if k.startswith("optimizer/")}
        load_optimizer_state(optimizer, optim_tensors, checkpoint.document["optimizer"])
    set_rng_state({k: v for k, v in checkpoint.tensors.items() if k.startswith("rng/")},
                  checkpoint.document["rng"])


def set_neuron_backend(model: torch.nn.Module, backend: Optional[str]) -> None:
    """Switch the training backend of every IAF / LIF / ExpLeak layer (None leaves them)."""
    if backend is None:
        return
    for layer in model.modules():
        if isinstance(layer, (IAF, LIF, ExpLeak)):
            layer.backend = backend


def model_from_checkpoint(checkpoint: Checkpoint, device: "str | torch.device" = "cpu",
                          backend: Optional[str] = None) -> torch.nn.Module:
    """The network a loaded checkpoint describes, with its weights, in eval mode."""
    if checkpoint.model_spec is None:
        raise SnnDeployError(
            f"checkpoint {checkpoint.path} stores weights but no model spec (it was trained "
            "without one); build the network yourself and load load_checkpoint(path).model_state"
        )
    model = checkpoint.model_spec.build()
    set_neuron_backend(model, backend)
    load_model_weights(model, checkpoint.model_state, f"checkpoint {checkpoint.path}")
    return model.to(device).eval()


def load_model(path: "str | Path", device: "str | torch.device" = "cpu",
               backend: Optional[str] = None) -> torch.nn.Module:
    """The trained network of a checkpoint (file, or folder: its latest epoch), in eval mode.

    Rebuilds the module from the stored model spec (architecture string or Python file) and
    loads the weights from safetensors; `backend` overrides the training backend of its
    neuron layers. The commands read their MODEL argument with `snndeploy.export.load_network`,
    which reads checkpoints this way and also takes .nir and quantized files.
    """
    return model_from_checkpoint(load_checkpoint(path), device, backend)
