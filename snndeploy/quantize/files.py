"""Models and calibration data from files, for `snndeploy quantize` / `snndeploy map` (no pickle).

- A float model is a training checkpoint (`snndeploy train` output: safetensors weights plus
  the architecture string or model file in its metadata) or a .nir file, read by
  `snndeploy.export.load_network`. Its input shape comes from the architecture string
  (`34x34x2-...` -> (2, 34, 34)), the NIR graph's Input node, or, for a model file, the shape
  recorded at training or given.
- A quantized model is a `.safetensors` written by `QuantizedModel.save`.
- Calibration data is a registered dataset name (`digits`, ...; its first N training samples
  as frames) or a `.npy` file of frames (batch, time, c, h, w) loaded with allow_pickle=False.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Optional

import numpy as np
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.quantize.model import FILE_FORMAT, QuantizedModel


def is_quantized_file(path: "str | Path") -> bool:
    """True when `path` is a safetensors file written by QuantizedModel.save."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        with open(path, "rb") as stream:
            size = int.from_bytes(stream.read(8), "little")
            if size > 100_000_000:
                return False
            header = json.loads(stream.read(size))
    except (OSError, ValueError):
        return False
    return header.get("__metadata__", {}).get("format") == FILE_FORMAT


def load_float_model(path: "str | Path", input_shape: Optional[tuple] = None) -> tuple[torch.nn.Module, tuple]:
    """(model, input shape) of a float MODEL (training folder / checkpoint or .nir file), read by
    `snndeploy.export.load_network`."""
    from snndeploy.export import load_network

    network = load_network(path, float_only=True)
    shape = tuple(input_shape) if input_shape is not None else network.input_shape
    if shape is None:
        raise SnnDeployError(f"{path}: the model comes from a Python file; give its input shape with --input-shape C,H,W")
    return network.model, shape


def load_calibration(source: str, samples: int = 16, dt_us: Optional[int] = None) -> torch.Tensor:
    """Frames (batch, time, c, h, w) from a dataset name or a .npy file."""
    if source.endswith(".npy"):
        try:
            frames = np.load(source, allow_pickle=False)
        except (OSError, ValueError) as err:
            raise SnnDeployError(f"cannot read calibration frames {source}: {err}") from None
        if frames.ndim not in (3, 5):
            raise SnnDeployError(f"calibration frames {source} have shape {frames.shape}; expected (batch, time, c, h, w) or (batch, time, features)")
        return torch.from_numpy(np.ascontiguousarray(frames)).float()
    from snndeploy.data.registry import get_dataset

    options = {} if dt_us is None else {"dt_us": dt_us}
    dataset = get_dataset(source, "train", **options)
    count = min(samples, len(dataset))
    return torch.stack([dataset[i][0] for i in range(count)]).float()


def load_quantized_or_quantize(path: "str | Path", target, input_shape: Optional[tuple] = None,
                               calibration: Optional[torch.Tensor] = None, strict: bool = False) -> QuantizedModel:
    """A QuantizedModel file as it is, or a float MODEL (checkpoint, .nir) quantized for `target`."""
    if is_quantized_file(path):
        return QuantizedModel.load(path)
    from snndeploy.quantize.quantizer import quantize

    model, shape = load_float_model(path, input_shape)
    return quantize(model, target, calibration, input_shape=shape, strict=strict)
