"""Export to the community's formats: NIR (`export_nir` / `import_nir`) and ONNX (`export_onnx`).

`load_network(path)` is how every command that takes MODEL (train --init aside: evaluate, verify,
quantize, map, export) reads it: a training checkpoint (folder or epoch-NNNN.safetensors), a NIR
file (.nir, through `import_nir`), or a quantized model (.safetensors made by `snndeploy quantize`).
`export_model` writes one of them in one of `FORMATS`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from snndeploy.errors import SnnDeployError
from snndeploy.export.nir import export_nir, import_nir, nir_input_shape
from snndeploy.export.onnx import OPSET, export_onnx


@dataclass
class LoadedNetwork:
    """A network read from MODEL: the module, its sample shape (None when unknown), what it was
    ("checkpoint", "nir" or "quantized"), and for a checkpoint the checkpoint itself (training
    options, epoch)."""

    model: object
    input_shape: Optional[tuple[int, ...]]
    kind: str
    checkpoint: Optional[object] = None


def _is_nir(path: Path) -> bool:
    return path.suffix.lower() == ".nir"


def _is_quantized(path: Path) -> bool:
    from snndeploy.quantize.files import is_quantized_file

    return is_quantized_file(path)


def _load_nir(path: Path, backend: Optional[str]) -> LoadedNetwork:
    from snndeploy.train.checkpoint import set_neuron_backend

    model = import_nir(path)
    set_neuron_backend(model, backend)
    return LoadedNetwork(model, nir_input_shape(path), "nir")


def _load_quantized(path: Path, backend: Optional[str]) -> LoadedNetwork:
    from snndeploy.quantize.model import QuantizedModel

    model = QuantizedModel.load(path)
    return LoadedNetwork(model, tuple(model.input_shape), "quantized")


def _load_checkpoint(path: Path, backend: Optional[str]) -> LoadedNetwork:
    from snndeploy.train import load_checkpoint, parse_architecture
    from snndeploy.train.checkpoint import model_from_checkpoint

    checkpoint = load_checkpoint(path)
    model = model_from_checkpoint(checkpoint, backend=backend)
    spec = checkpoint.model_spec
    if spec.architecture is not None:
        shape = tuple(parse_architecture(spec.architecture).input.shape)
    else:  # a model() file: the sample shape `snndeploy train` recorded, if any
        shape = tuple(spec.input_shape) if spec.input_shape else None
    return LoadedNetwork(model, shape, "checkpoint", checkpoint)


# (recognises the path, loads it), first match wins; a checkpoint is the fallback
LOADERS: tuple[tuple[Callable[[Path], bool], Callable[[Path, Optional[str]], LoadedNetwork]], ...] = (
    (_is_nir, _load_nir),
    (_is_quantized, _load_quantized),
    (lambda path: True, _load_checkpoint),
)


def load_network(path: "str | os.PathLike", *, backend: Optional[str] = "bptt",
                 float_only: bool = False) -> LoadedNetwork:
    """Read MODEL, whatever the user gave: a training run folder or checkpoint, a .nir file, or a
    quantized .safetensors. Every command that takes MODEL reads it here.

    backend: training backend set on the float network's neuron layers (default "bptt": plain
    autograd, no kernel compilation; None keeps the one trained with). float_only: refuse a
    quantized model (for commands that need the float network).
    """
    path = Path(path)
    if not path.exists():
        raise SnnDeployError(f"model {path} does not exist (give a training run folder, a checkpoint, "
                             "a .nir file or a quantized .safetensors file)")
    load = next(load for recognises, load in LOADERS if recognises(path))
    network = load(path, backend)
    if float_only and network.kind == "quantized":
        raise SnnDeployError(f"{path} is a quantized model; this command needs the float network "
                             "(a training run folder, checkpoint or .nir file)")
    return network


def _write_nir(network: LoadedNetwork, out: Path, num_steps: int, shape, dt_seconds) -> Path:
    if network.kind == "quantized":
        raise SnnDeployError("NIR has no integer chip semantics: export the float model (the training "
                             "checkpoint) to NIR, or the quantized model to ONNX")
    return export_nir(network.model, out, shape, dt_seconds=dt_seconds)


def _write_onnx(network: LoadedNetwork, out: Path, num_steps: int, shape, dt_seconds) -> Path:
    return export_onnx(network.model, out, num_steps, shape)


FORMATS: dict[str, Callable[..., Path]] = {"nir": _write_nir, "onnx": _write_onnx}


def export_model(model_path: "str | os.PathLike", out: "str | os.PathLike", fmt: str, *, num_steps: int = 100,
                 input_shape: Optional[tuple[int, ...]] = None, dt_seconds: Optional[float] = None) -> Path:
    """Read MODEL and write it as `fmt` ("nir" or "onnx"; ONNX unrolled over num_steps)."""
    if fmt not in FORMATS:
        raise SnnDeployError(f"unknown export format {fmt!r}; choose one of {sorted(FORMATS)}")
    network = load_network(model_path)
    shape = tuple(input_shape) if input_shape else network.input_shape
    if shape is None:
        raise SnnDeployError(f"{model_path}: the sample shape is not recorded (a model() file); "
                             "give it with --input-shape C,H,W")
    return FORMATS[fmt](network, Path(out), num_steps, shape, dt_seconds)


__all__ = ["FORMATS", "LOADERS", "OPSET", "LoadedNetwork", "export_model", "export_nir", "export_onnx",
           "import_nir", "load_network", "nir_input_shape"]
