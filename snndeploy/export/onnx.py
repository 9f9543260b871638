"""ONNX export: the network unrolled over a fixed number of time steps, spiking as plain ops.

Opset 17 (`OPSET`), default domain only, graph built node by node (no tracing), so every op
is the one named here. Input "input": (batch, T, *sample shape) float32, batch dynamic; output
"output": (batch, T, *output shape). Neuron state starts at zero (float) or at the layers'
initial state (integer) in every run.

Float network (`nn.Sequential` of Conv2d / Linear / Flatten / SumPool2d / AvgPool2d /
MaxPool2d / IAF / LIF / ExpLeak): per step t, x_t = Gather(input, t, axis=1), each layer in
order, the neuron rule of `snndeploy.layers.functional` in its order of operations:

    i = a_syn*i + a_syn*x (with tau_syn);  x = x*(1 - a) (LIF norm_input);  p = a*v + x
    multi-spike s = Floor(Relu(p) / thr) [Min(s, K) for MaxSpike(K)];  single s = (p - thr >= 0)
    q = p - s*subtract (subtract) or Where(s > 0, reset_value, p) (reset);  v = Relu(q - m) + m (floor m)

in float32, the same operations torch runs, so spikes equal the torch model's whenever the
layers' sums are the same numbers (exactly when weights and thresholds are dyadic; otherwise
summation order inside Conv / Gemm can move a value by an ulp).

QuantizedModel (integer semantics, `snndeploy.quantize.model`): per step, sum pooling and
convolution are float32 Conv ops on integers (exact while every partial sum stays below 2^24:
the exporter writes the largest safe input count per step, `max_exact_input_count`, into the
model's metadata), then the state arithmetic in float64 (exact for the 16-bit state):

    v = v - Floor(v / 2^shift) (LIF target);  v = Clip(v + x [+ bias], lo, hi)
    n = Where(v >= thr, Floor(v / thr), 0);  v = Where(n > 0, 0, v) (zero) or v - n*thr;  v = Max(v, thr_low)

which equals `QuantizedModel` and the simulator's time-stepped mode spike for spike.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically
from snndeploy.layers import IAF, LIF, ExpLeak
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d

OPSET = 17
EXACT_FLOAT32 = 2 ** 24


def _onnx():
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    return onnx, TensorProto, helper, numpy_helper


@dataclass
class GraphBuilder:
    """Collects nodes and constants; names are unique by construction."""

    nodes: list = field(default_factory=list)
    initializers: list = field(default_factory=list)
    count: int = 0
    constants: dict = field(default_factory=dict)

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value, dtype, hint: str = "c") -> str:
        """An initializer holding `value`; equal values share one (the T unrolled steps reuse
        each layer's weights instead of storing them T times)."""
        _, _, _, numpy_helper = _onnx()
        array = np.array(value, dtype=dtype, order="C")  # (ascontiguousarray would make scalars 1-D)
        key = (array.dtype.str, array.shape, array.tobytes())
        if key not in self.constants:
            name = self.name(hint)
            self.initializers.append(numpy_helper.from_array(array, name))
            self.constants[key] = name
        return self.constants[key]

    def op(self, op_type: str, *inputs: str, hint: str | None = None, **attributes) -> str:
        _, _, helper, _ = _onnx()
        out = self.name(hint or op_type.lower())
        self.nodes.append(helper.make_node(op_type, list(inputs), [out], **attributes))
        return out


# ==== float network ========================================================================
def _f32(value) -> np.ndarray:
    return np.asarray(torch.as_tensor(value).detach().cpu(), dtype=np.float32)


@dataclass
class _NeuronState:
    v: str | None = None
    i: str | None = None


def _zeros_like(g: GraphBuilder, x: str) -> str:
    return g.op("Mul", x, g.const(0.0, np.float32), hint="zeros")


def _neuron_step(g: GraphBuilder, layer, state: _NeuronState, x: str) -> str:
    if state.v is None:
        state.v = _zeros_like(g, x)
    if layer.tau_syn is not None:
        if state.i is None:
            state.i = _zeros_like(g, x)
        a_syn = g.const(_f32(layer.alpha_syn_calculated), np.float32, "alpha_syn")
        state.i = g.op("Add", g.op("Mul", a_syn, state.i), g.op("Mul", a_syn, x), hint="i_syn")
        x = state.i
    alpha = _f32(layer.alpha_mem_calculated)
    if layer.norm_input:
        x = g.op("Mul", x, g.const(np.float32(1.0) - alpha, np.float32, "one_minus_alpha"))
    p = g.op("Add", g.op("Mul", g.const(alpha, np.float32, "alpha"), state.v), x, hint="p")
    if not layer.spiking:
        out, q = p, p
    else:
        threshold = g.const(_f32(layer.spike_threshold), np.float32, "threshold")
        cap = layer.spike_fn.max_spikes
        if cap == 1:
            out = g.op("Cast", g.op("GreaterOrEqual", g.op("Sub", p, threshold), g.const(0.0, np.float32)),
                       to=_onnx()[1].FLOAT, hint="spikes")
        else:
            out = g.op("Floor", g.op("Div", g.op("Relu", p), threshold), hint="spikes")
            if cap is not None:
                out = g.op("Min", out, g.const(float(cap), np.float32, "max_spikes"))
        if layer.reset_fn.subtracts:
            amount = layer.reset_fn.subtract_value
            amount_name = threshold if amount is None else g.const(_f32(amount), np.float32, "subtract")
            q = g.op("Sub", p, g.op("Mul", out, amount_name))
        else:
            fired = g.op("Greater", out, g.const(0.0, np.float32))
            q = g.op("Where", fired, g.const(_f32(layer.reset_fn.reset_value), np.float32, "reset_value"), p)
    if layer.min_v_mem is not None:
        floor = g.const(_f32(layer.min_v_mem), np.float32, "min_v_mem")
        q = g.op("Add", g.op("Relu", g.op("Sub", q, floor)), floor, hint="v")
    state.v = q
    return out


def _conv(g, layer: nn.Conv2d, x, shape):
    if isinstance(layer.padding, str):
        raise SnnDeployError(f"{layer}: padding='{layer.padding}' has no ONNX export here; give pixels")
    inputs = [x, g.const(_f32(layer.weight), np.float32, "weight")]
    if layer.bias is not None:
        inputs.append(g.const(_f32(layer.bias), np.float32, "bias"))
    ph, pw = layer.padding
    return g.op("Conv", *inputs, strides=list(layer.stride), pads=[ph, pw, ph, pw],
                dilations=list(layer.dilation), group=layer.groups)


def _linear(g, layer: nn.Linear, x, shape):
    if len(shape) != 1:
        raise SnnDeployError(f"{layer} receives shape {shape}; flatten before a Linear layer")
    bias = _f32(layer.bias) if layer.bias is not None else np.zeros(layer.out_features, np.float32)
    return g.op("Gemm", x, g.const(_f32(layer.weight), np.float32, "weight"), g.const(bias, np.float32, "bias"),
                transB=1)


def _flatten(g, layer: nn.Flatten, x, shape):
    if layer.start_dim != 1 or layer.end_dim != -1:
        raise SnnDeployError(f"{layer}: only Flatten(start_dim=1, end_dim=-1) is exported")
    return g.op("Flatten", x, axis=1)


def _window_sum(g, x, channels: int, kernel, stride):
    """Sum over each window as a depthwise Conv with a ones kernel (exact on small integers)."""
    ones = np.ones((channels, 1, *kernel), np.float32)
    return g.op("Conv", x, g.const(ones, np.float32, "ones"), strides=list(stride), group=channels)


def _sumpool(g, layer, x, shape):
    return _window_sum(g, x, shape[0], layer.kernel_size, layer.stride)


def _avgpool(g, layer, x, shape):
    return g.op("AveragePool", x, kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


def _maxpool(g, layer, x, shape):
    return g.op("MaxPool", x, kernel_shape=list(layer.kernel_size), strides=list(layer.stride))


STATELESS_BUILDERS: dict[type, Callable] = {
    nn.Conv2d: _conv,
    nn.Linear: _linear,
    nn.Flatten: _flatten,
    SumPool2d: _sumpool,
    AvgPool2d: _avgpool,
    MaxPool2d: _maxpool,
}
NEURONS = (IAF, LIF, ExpLeak)


def _builder_for(layer) -> Callable:
    for cls in type(layer).__mro__:
        if cls in STATELESS_BUILDERS:
            return STATELESS_BUILDERS[cls]
    raise SnnDeployError(f"layer {type(layer).__name__} has no ONNX export; supported: "
                         f"{', '.join(sorted(c.__name__ for c in (*STATELESS_BUILDERS, *NEURONS)))}")


def _float_graph(model: nn.Sequential, input_shape: tuple[int, ...], num_steps: int):
    if not isinstance(model, nn.Sequential):
        raise SnnDeployError(f"ONNX export takes a sequential network or a QuantizedModel, got {type(model).__name__}")
    g = GraphBuilder()
    shapes = [tuple(input_shape)]
    probe = torch.zeros(1, *input_shape)
    with torch.no_grad():
        for layer in model:
            if not isinstance(layer, NEURONS):
                _builder_for(layer)
                probe = layer(probe)
            shapes.append(tuple(probe.shape[1:]))
    states = [_NeuronState() for _ in model]
    outputs = []
    for t in range(num_steps):
        x = g.op("Gather", "input", g.const(t, np.int64, "step"), axis=1, hint=f"x_t{t}")
        for index, layer in enumerate(model):
            if isinstance(layer, NEURONS):
                x = _neuron_step(g, layer, states[index], x)
            else:
                x = _builder_for(layer)(g, layer, x, shapes[index])
        outputs.append(g.op("Unsqueeze", x, g.const([1], np.int64, "axis")))
    return g, outputs, shapes[-1], np.float32, {}


# ==== QuantizedModel ========================================================================
def _max_exact_count(qmodel) -> int:
    """The largest per-step input count per address for which every float32 Conv sum is exact."""
    worst = 1
    for layer in qmodel.layers:
        row = int(layer.weights.abs().sum(dim=(1, 2, 3)).max()) if layer.weights.numel() else 0
        pool = max([s.pooling for s in layer.sources] + [1])
        worst = max(worst, row * pool * pool * max(1, len(layer.sources)))
    return (EXACT_FLOAT32 - 1) // worst


def _crop_pad(g, x: str, shape: tuple[int, int, int], target: tuple[int, int, int]) -> str:
    """x (B, *shape) cropped and zero-padded to (B, *target), as QuantizedModel adds sources."""
    keep = [min(a, b) for a, b in zip(shape, target)]
    if keep != list(shape):
        x = g.op("Slice", x, g.const([0, 0, 0], np.int64, "starts"), g.const(keep, np.int64, "ends"),
                 g.const([1, 2, 3], np.int64, "axes"))
    pad = [b - k for b, k in zip(target, keep)]
    if any(pad):
        x = g.op("Pad", x, g.const([0, 0, 0, 0, 0] + pad, np.int64, "pads"))
    return x


def _pooled(g, x: str, shape, pooling: int):
    if pooling == 1:
        return x, shape
    c, h, w = shape
    return _window_sum(g, x, c, (pooling, pooling), (pooling, pooling)), (c, h // pooling, w // pooling)


def _quantized_graph(qmodel, input_shape, num_steps: int):
    onnx, TensorProto, _, _ = _onnx()
    g = GraphBuilder()
    lo, hi = -(2 ** (qmodel.state_bits - 1)), 2 ** (qmodel.state_bits - 1) - 1
    shapes = [layer.neuron_shape for layer in qmodel.layers]
    states: list[str | None] = [None] * len(qmodel.layers)
    outputs = []
    for t in range(num_steps):
        x_t = g.op("Round", g.op("Gather", "input", g.const(t, np.int64, "step"), axis=1), hint=f"x_t{t}")
        x_t = g.op("Reshape", x_t, g.const([0, *qmodel.input_shape], np.int64, "shape"))
        spikes: list[str] = []
        for index, layer in enumerate(qmodel.layers):
            parts = []
            for source in layer.sources:
                src, shape = (x_t, qmodel.input_shape) if source.layer < 0 else (spikes[source.layer], shapes[source.layer])
                pooled, shape = _pooled(g, src, shape, source.pooling)
                parts.append(_crop_pad(g, pooled, shape, layer.input_shape))
            inputs = parts[0]
            for part in parts[1:]:
                inputs = g.op("Add", inputs, part)
            s, p = layer.stride, layer.padding
            drive = g.op("Conv", inputs, g.const(layer.weights.numpy().astype(np.float32), np.float32, "weights"),
                         strides=[s, s], pads=[p, p, p, p])
            drive = g.op("Cast", drive, to=TensorProto.DOUBLE)
            if layer.biases is not None:
                drive = g.op("Add", drive, g.const(layer.biases.numpy().astype(np.float64).reshape(-1, 1, 1), np.float64, "bias"))
            v = states[index]
            if v is None:
                initial = (np.zeros(layer.neuron_shape) if layer.initial_state is None
                           else layer.initial_state.numpy())
                v = g.op("Add", g.op("Mul", drive, g.const(0.0, np.float64)),
                         g.const(np.asarray(initial, np.float64), np.float64, "initial_state"))
            if layer.decay_shift is not None:
                v = g.op("Sub", v, g.op("Floor", g.op("Div", v, g.const(float(2 ** layer.decay_shift), np.float64))))
            v = g.op("Max", g.op("Min", g.op("Add", v, drive), g.const(float(hi), np.float64)), g.const(float(lo), np.float64))
            thr = g.const(float(layer.threshold_high), np.float64, "threshold_high")
            n = g.op("Where", g.op("GreaterOrEqual", v, thr), g.op("Floor", g.op("Div", v, thr)),
                     g.const(0.0, np.float64), hint="spikes")
            if layer.reset == "zero":
                v = g.op("Where", g.op("Greater", n, g.const(0.0, np.float64)), g.const(0.0, np.float64), v)
            else:
                v = g.op("Sub", v, g.op("Mul", n, thr))
            states[index] = g.op("Max", v, g.const(float(layer.threshold_low), np.float64, "threshold_low"))
            spikes.append(g.op("Cast", n, to=TensorProto.FLOAT))
        out, shape = _pooled(g, spikes[qmodel.output.layer], shapes[qmodel.output.layer], qmodel.output.pooling)
        if qmodel.output_flat:
            out, shape = g.op("Flatten", out, axis=1), (int(np.prod(shape)),)
        outputs.append(g.op("Unsqueeze", out, g.const([1], np.int64, "axis")))
    metadata = {"max_exact_input_count": str(_max_exact_count(qmodel)), "target": str(qmodel.target)}
    return g, outputs, shape, np.float32, metadata


def _is_quantized(model) -> bool:
    from snndeploy.quantize.model import QuantizedModel

    return isinstance(model, QuantizedModel)


def model_to_onnx(model, num_steps: int, input_shape: tuple[int, ...] | None = None):
    """The onnx.ModelProto of `model` unrolled over `num_steps` steps (see the module docstring)."""
    onnx, TensorProto, helper, _ = _onnx()
    if int(num_steps) < 1:
        raise SnnDeployError(f"num_steps must be at least 1, got {num_steps}")
    if _is_quantized(model):
        input_shape = tuple(model.input_shape) if input_shape is None else tuple(input_shape)
        g, outputs, out_shape, _, metadata = _quantized_graph(model, input_shape, int(num_steps))
        kind = "quantized (integer semantics)"
    else:
        if input_shape is None:
            raise SnnDeployError("input_shape is needed to export a float network (the sample shape, e.g. (2, 34, 34))")
        g, outputs, out_shape, _, metadata = _float_graph(model, tuple(input_shape), int(num_steps))
        kind = "float"
    g.nodes.append(helper.make_node("Concat", outputs, ["output"], axis=1))
    graph = helper.make_graph(
        g.nodes, "snndeploy",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", int(num_steps), *input_shape])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, ["batch", int(num_steps), *out_shape])],
        g.initializers,
    )
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="snndeploy")
    metadata = {"num_steps": str(int(num_steps)), "network": kind, "opset": str(OPSET), **metadata}
    helper.set_model_props(proto, metadata)
    onnx.checker.check_model(proto)
    return proto


def export_onnx(model, path: "str | os.PathLike", num_steps: int, input_shape: tuple[int, ...] | None = None) -> Path:
    """Write `model` (float nn.Sequential or QuantizedModel) as ONNX unrolled over `num_steps`
    steps, atomically. Returns the path."""
    proto = model_to_onnx(model, num_steps, input_shape)
    return write_atomically(path, lambda temp: temp.write_bytes(proto.SerializeToString()))


__all__ = ["OPSET", "export_onnx", "model_to_onnx"]
