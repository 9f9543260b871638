"""Quantization-aware training: `QuantizationAware(model, target, input_shape)`.

The wrapper reads the model once (the same intake as `quantize`, strict: no approximations)
and owns the trainable float weights and biases of each layer. Its forward runs exactly the
integer network that `quantize` will produce, computed in float64 tensors:

    s      = layer_scale(w, b, θ, min_v_mem)                (the PTQ rule, not differentiated)
    w_int  = clip(round(w·s))   forward;   d w_int / d w = s   (straight-through estimator)
    b_int  likewise; θ_int, θ_low from the PTQ rule (thresholds are not trained)
    then the QuantizedModel rule per step (saturation, multi-spike, reset, floor), with a
    surrogate gradient for the spike count: d n / d v = exp(−|v − θ_int| / θ_int) / θ_int.

Every value is an integer below 2^53, so float64 holds it exactly and the forward equals
`quantize(wrapper, target)`'s QuantizedModel spike for spike: after training, quantizing
changes nothing. `quantize(wrapper, target)` (or `wrapper.to_quantized()`) builds it.
Input: (batch, time, c, h, w) spike counts; output as QuantizedModel's.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.quantize.graph import build_graph, check_graph
from snndeploy.quantize.model import QuantizedModel, gather_inputs, sum_pool
from snndeploy.quantize.quantizer import QuantizationReport, integer_thresholds, layer_scale, quantize_layer, signed_max
from snndeploy.targets import load_target


class _SpikeCount(torch.autograd.Function):
    """n = floor(v / θ) where v ≥ θ else 0; surrogate exp(−|v − θ| / θ) / θ backwards."""

    @staticmethod
    def forward(ctx, v, threshold: float):
        ctx.save_for_backward(v)
        ctx.threshold = threshold
        return torch.where(v >= threshold, torch.floor(v / threshold), torch.zeros_like(v))

    @staticmethod
    def backward(ctx, grad):
        (v,) = ctx.saved_tensors
        theta = ctx.threshold
        return grad * torch.exp(-(v - theta).abs() / theta) / theta, None


def _fake_quant(values: torch.Tensor, scale: float, bits: int) -> torch.Tensor:
    """clip(round(values·s)) in the forward (exactly), gradient s (straight through)."""
    scaled = values * scale
    limit = signed_max(bits)
    return torch.round(scaled.detach()).clamp(-limit - 1, limit) + (scaled - scaled.detach())


class QuantizationAware(nn.Module):
    """Trainable wrapper whose forward is the target's integer network (module docstring)."""

    def __init__(self, model: nn.Module, target, input_shape):
        super().__init__()
        self.target = load_target(target)
        self.graph = build_graph(model, tuple(input_shape), strict=True)
        check_graph(self.graph, self.target)
        for layer in self.graph.layers:
            if layer.neuron.alpha < 1.0:
                raise SnnDeployError(f"layer {layer.name!r}: QAT supports IAF layers; convert LIF first (quantize reports the approximation)")
        self.weights = nn.ParameterList(nn.Parameter(layer.weight.clone()) for layer in self.graph.layers)
        self.biases = nn.ParameterList(
            nn.Parameter(layer.bias.clone() if layer.bias is not None else torch.zeros(0, dtype=torch.float64))
            for layer in self.graph.layers
        )

    def _bias(self, index: int) -> Optional[torch.Tensor]:
        return self.biases[index] if self.graph.layers[index].bias is not None else None

    def _scale(self, index: int) -> float:
        layer = self.graph.layers[index]
        bias = self._bias(index)
        return layer_scale(self.weights[index], bias, layer.neuron.threshold, layer.neuron.min_v_mem, self.target)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        target, graph = self.target, self.graph
        if x.dim() == 3:
            x = x.reshape(*x.shape, 1, 1)
        batch, steps = x.shape[:2]
        counts = x.double().reshape(batch * steps, *graph.input_shape)
        lo, hi = target.range(target.state_bits)
        spikes: list[torch.Tensor] = []
        for index, layer in enumerate(graph.layers):
            scale = self._scale(index)
            inputs = gather_inputs(layer.sources, layer.input_shape, lambda i: counts if i < 0 else spikes[i], torch.float64)
            weight = _fake_quant(self.weights[index], scale, target.weight_bits)
            bias = self._bias(index)
            bias = None if bias is None else _fake_quant(bias, scale, target.bias_bits)
            drive = F.conv2d(inputs, weight, bias, stride=layer.stride, padding=layer.padding)
            drive = drive.reshape(batch, steps, *drive.shape[1:])
            high, low = integer_thresholds(layer.neuron.threshold, layer.neuron.min_v_mem, scale, target)
            v = torch.zeros_like(drive[:, 0])
            out = []
            for t in range(steps):
                v = torch.clamp(v + drive[:, t], lo, hi)
                n = _SpikeCount.apply(v, float(high))
                if layer.neuron.reset == "zero":
                    v = torch.where(n > 0, torch.zeros_like(v), v)
                else:
                    v = v - n * high
                v = torch.clamp(v, min=low)
                out.append(n)
            spikes.append(torch.stack(out, 1).reshape(batch * steps, *layer.neuron_shape))
        result = sum_pool(spikes[graph.output.layer], graph.output.pooling)
        result = result.reshape(batch, steps, *result.shape[1:])
        return result.reshape(batch, steps, -1) if graph.output_flat else result

    def to_quantized(self) -> QuantizedModel:
        """The QuantizedModel of the current weights (the PTQ rule on them)."""
        layers, reports = [], []
        for index, layer in enumerate(self.graph.layers):
            bias = self._bias(index)
            q, report = quantize_layer(layer, self.weights[index].detach().cpu(), None if bias is None else bias.detach().cpu(),
                                       self._scale(index), self.target, None)
            layers.append(q)
            reports.append(report)
        model = QuantizedModel(layers, self.graph.input_shape, self.graph.output, target=self.target.name,
                               state_bits=self.target.state_bits, weight_bits=self.target.weight_bits,
                               output_flat=self.graph.output_flat)
        model.report = QuantizationReport(self.target.name, reports, [], {})
        return model
