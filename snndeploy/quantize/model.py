"""`QuantizedModel`: the integer network, run time-stepped exactly as the chip's cores compute.

Per time step t and per layer (in graph order, so spikes of step t reach later layers in the
same step), all in int64:

    input   = sum over sources of sum_pool(spikes_source[t], pooling)   (address // pooling;
              a partial window at the border is dropped, as the chip drops addresses outside
              the destination's input)
    x       = conv2d(input, weights, stride, padding)  (+ biases when the layer has them: the
              chip's leak, added once per slow-clock tick = once per step)
    v       = v - (v >> decay_shift)                   (only on a LIF target: arithmetic shift)
    v       = clamp(v + x, -2^(b-1), 2^(b-1) - 1)      (b = state bits: saturate, never wrap)
    n       = floor(v / threshold_high) if v >= threshold_high else 0     (multi-spike)
    v       = 0 if (reset == "zero" and n > 0) else v - n * threshold_high
    v       = max(v, threshold_low)

Neurons start from `initial_state` (zeros when None). This is `snndeploy.sim`'s time-stepped
mode (dt = one step): the two must agree spike for spike. The chip itself is event-driven and
fires at most one spike per synaptic update; `snndeploy.sim` measures that difference.

Input: (batch, time, c, h, w) spike counts, or (batch, time, features) for a dense input.
Output: the output layer's spike counts (batch, time, c, h, w), or (batch, time, c·h·w) when
the float model flattened its output; float32 tensors holding exact integers, on the input's
device (CPU or CUDA).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically
from snndeploy.quantize.graph import Source

FILE_FORMAT = "snndeploy.quantized-model"
FILE_VERSION = 1

Shape = tuple[int, int, int]


@dataclass
class QuantizedLayer:
    """One core's integer parameters. weights[c_out][c_in][ky][kx], torch cross-correlation."""

    name: str
    weights: torch.Tensor  # int64 (c_out, c_in, k, k)
    biases: Optional[torch.Tensor]  # int64 (c_out,), added once per step
    stride: int
    padding: int
    input_shape: Shape
    threshold_high: int
    threshold_low: int
    reset: str
    sources: list[Source]
    scale: float = 1.0  # integer units per float unit (report only)
    decay_shift: Optional[int] = None
    initial_state: Optional[torch.Tensor] = None  # int64 neuron_shape

    @property
    def kernel_size(self) -> int:
        return int(self.weights.shape[-1])

    @property
    def neuron_shape(self) -> Shape:
        c_out = int(self.weights.shape[0])
        _, h, w = self.input_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (c_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)

    def describe(self) -> dict:
        return {
            "name": self.name, "stride": self.stride, "padding": self.padding, "input_shape": list(self.input_shape),
            "threshold_high": self.threshold_high, "threshold_low": self.threshold_low, "reset": self.reset,
            "sources": [[s.layer, s.pooling] for s in self.sources], "scale": self.scale,
            "decay_shift": self.decay_shift, "has_biases": self.biases is not None,
            "has_initial_state": self.initial_state is not None,
        }


def sum_pool(spikes: torch.Tensor, pooling: int) -> torch.Tensor:
    """(N, c, h, w) -> (N, c, h // p, w // p) window sums (exact for integer tensors)."""
    if pooling == 1:
        return spikes
    n, c, h, w = spikes.shape
    h2, w2 = h // pooling, w // pooling
    cropped = spikes[:, :, : h2 * pooling, : w2 * pooling]
    return cropped.reshape(n, c, h2, pooling, w2, pooling).sum((3, 5))


def gather_inputs(sources: list[Source], input_shape: Shape, spikes_of, dtype: torch.dtype) -> torch.Tensor:
    """A layer's input (N, c, h, w): the sum over its sources of their sum-pooled spikes
    `spikes_of(source.layer)` (N, ...), cropped to `input_shape` (the chip drops addresses
    outside the destination's input). Differentiable when the spikes are."""
    total = None
    for source in sources:
        pooled = sum_pool(spikes_of(source.layer), source.pooling).to(dtype)
        if total is None:
            total = torch.zeros((pooled.shape[0], *input_shape), dtype=dtype, device=pooled.device)
        c, h, w = (min(a, b) for a, b in zip(pooled.shape[1:], input_shape))
        total[:, :c, :h, :w] += pooled[:, :c, :h, :w]
    return total


def integer_conv(inputs: torch.Tensor, weights: torch.Tensor, stride: int, padding: int) -> torch.Tensor:
    """Exact integer convolution: float64 holds every integer below 2^53 exactly."""
    out = F.conv2d(inputs.double(), weights.to(inputs.device).double(), stride=stride, padding=padding)
    return out.round().to(torch.int64)


def iaf_step(v, x, threshold_high: int, threshold_low: int, reset_to_zero: bool, lo: int, hi: int, decay_shift=None):
    """One step of the module docstring's rule on int64 tensors; returns (v, spike counts)."""
    if decay_shift is not None:
        v = v - torch.bitwise_right_shift(v, decay_shift)
    v = torch.clamp(v + x, lo, hi)
    spikes = torch.where(v >= threshold_high, torch.div(v, threshold_high, rounding_mode="floor"), torch.zeros_like(v))
    if reset_to_zero:
        v = torch.where(spikes > 0, torch.zeros_like(v), v)
    else:
        v = v - spikes * threshold_high
    return torch.clamp(v, min=threshold_low), spikes


class IntegerNeurons(nn.Module):
    """The neurons of one layer; a separate module so hooks see each layer's spikes.

    forward(drive (B, T, c, h, w) int64) -> spikes (B, T, c, h, w) float32. The state `v_mem`
    persists across calls until `reset_states()` (back to the initial state)."""

    def __init__(self, layer: QuantizedLayer, state_bits: int):
        super().__init__()
        self.layer = layer
        self.spike_threshold = layer.threshold_high
        self.min_v_mem = layer.threshold_low
        self.lo, self.hi = -(2 ** (state_bits - 1)), 2 ** (state_bits - 1) - 1
        self.v_mem: Optional[torch.Tensor] = None

    def reset_states(self) -> None:
        self.v_mem = None

    def forward(self, drive: torch.Tensor) -> torch.Tensor:
        batch = drive.shape[0]
        if self.v_mem is None or self.v_mem.shape[0] != batch:
            initial = self.layer.initial_state
            start = torch.zeros(self.layer.neuron_shape, dtype=torch.int64) if initial is None else initial
            self.v_mem = start.to(drive.device).expand(batch, *start.shape).clone()
        v = self.v_mem
        out = torch.empty_like(drive)
        reset_to_zero = self.layer.reset == "zero"
        for t in range(drive.shape[1]):
            v, out[:, t] = iaf_step(v, drive[:, t], self.layer.threshold_high, self.layer.threshold_low,
                                    reset_to_zero, self.lo, self.hi, self.layer.decay_shift)
        self.v_mem = v
        return out.to(torch.float32)


class QuantizedModel(nn.Module):
    """The integer network (see the module docstring for the exact rule)."""

    def __init__(self, layers: list[QuantizedLayer], input_shape: Shape, output: Source, *, target: str,
                 state_bits: int = 16, weight_bits: int = 8, output_flat: bool = False, report=None):
        super().__init__()
        self.layers = layers
        self.input_shape = tuple(int(v) for v in input_shape)
        self.output = output
        self.output_flat = output_flat
        self.target = target
        self.state_bits = state_bits
        self.weight_bits = weight_bits
        self.report = report
        self.neurons = nn.ModuleList(IntegerNeurons(layer, state_bits) for layer in layers)

    def reset_states(self) -> None:
        for neurons in self.neurons:
            neurons.reset_states()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 3:
            x = x.reshape(*x.shape, 1, 1)
        if x.dim() != 5 or tuple(x.shape[2:]) != self.input_shape:
            raise SnnDeployError(f"QuantizedModel expects (batch, time, {', '.join(map(str, self.input_shape))}) input, got {tuple(x.shape)}")
        if not torch.equal(x, x.round()) or bool((x < 0).any()):
            raise SnnDeployError("QuantizedModel input must be spike counts (non-negative integers per pixel and step)")
        batch, steps = x.shape[:2]
        counts = x.to(torch.int64).reshape(batch * steps, *self.input_shape)
        spikes: list[torch.Tensor] = []
        for layer, neurons in zip(self.layers, self.neurons):
            inputs = gather_inputs(layer.sources, layer.input_shape, lambda i: counts if i < 0 else spikes[i], torch.int64)
            drive = integer_conv(inputs, layer.weights, layer.stride, layer.padding)
            if layer.biases is not None:
                drive = drive + layer.biases.to(drive.device)[None, :, None, None]
            out = neurons(drive.reshape(batch, steps, *drive.shape[1:]))
            spikes.append(out.reshape(batch * steps, *out.shape[2:]).to(torch.int64))
        result = sum_pool(spikes[self.output.layer], self.output.pooling).to(torch.float32)
        result = result.reshape(batch, steps, *result.shape[1:])
        return result.reshape(batch, steps, -1) if self.output_flat else result

    # ---- files -------------------------------------------------------------------------
    def save(self, path: "str | os.PathLike") -> Path:
        """Write a .safetensors file (integer tensors + the structure as JSON metadata), atomically."""
        from safetensors.torch import save_file

        tensors = {}
        for index, layer in enumerate(self.layers):
            tensors[f"{index}.weights"] = layer.weights.contiguous()
            if layer.biases is not None:
                tensors[f"{index}.biases"] = layer.biases.contiguous()
            if layer.initial_state is not None:
                tensors[f"{index}.initial_state"] = layer.initial_state.contiguous()
        structure = {
            "input_shape": list(self.input_shape), "output": [self.output.layer, self.output.pooling],
            "output_flat": self.output_flat, "target": self.target, "state_bits": self.state_bits,
            "weight_bits": self.weight_bits, "layers": [layer.describe() for layer in self.layers],
        }
        metadata = {"format": FILE_FORMAT, "version": str(FILE_VERSION), "structure": json.dumps(structure)}
        return write_atomically(path, lambda temp: save_file(tensors, str(temp), metadata=metadata))

    @classmethod
    def load(cls, path: "str | os.PathLike") -> "QuantizedModel":
        from safetensors import safe_open

        path = Path(path)
        try:
            with safe_open(str(path), framework="pt") as handle:
                metadata = handle.metadata() or {}
                tensors = {key: handle.get_tensor(key) for key in handle.keys()}
        except Exception as err:  # safetensors raises its own error types for broken files
            raise SnnDeployError(f"cannot read quantized model {path}: {err}") from None
        if metadata.get("format") != FILE_FORMAT:
            raise SnnDeployError(f"{path} is not a quantized model (made by `snndeploy quantize`); its metadata lacks format={FILE_FORMAT}")
        if metadata.get("version") != str(FILE_VERSION):
            raise SnnDeployError(f"{path}: quantized-model version {metadata.get('version')}, this snndeploy reads {FILE_VERSION}")
        structure = json.loads(metadata["structure"])
        layers = []
        for index, item in enumerate(structure["layers"]):
            layers.append(QuantizedLayer(
                name=item["name"], weights=tensors[f"{index}.weights"],
                biases=tensors.get(f"{index}.biases"), stride=item["stride"], padding=item["padding"],
                input_shape=tuple(item["input_shape"]), threshold_high=item["threshold_high"],
                threshold_low=item["threshold_low"], reset=item["reset"],
                sources=[Source(a, b) for a, b in item["sources"]], scale=item["scale"],
                decay_shift=item["decay_shift"], initial_state=tensors.get(f"{index}.initial_state"),
            ))
        return cls(layers, tuple(structure["input_shape"]), Source(*structure["output"]), target=structure["target"],
                   state_bits=structure["state_bits"], weight_bits=structure["weight_bits"], output_flat=structure["output_flat"])
