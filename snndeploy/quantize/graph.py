"""Intake: a torch model (nn.Sequential or any module torch.fx can trace) -> `LayerGraph`.

A `LayerGraph` is the chip's view of a network: a list of `FloatLayer`s, each one core's work
(convolution -> neuron), in an order where every layer comes after its sources. Each layer
lists its `Source`s: the network input (index -1) or an earlier layer, with the sum pooling
applied to that source's spikes on the way (the chip pools per destination). Two sources =
a merge (their spikes add up); a layer read by two later layers = fan-out.

What is folded on the way in (float arithmetic, no spike changes):
- BatchNorm after a conv / linear: w' = w·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β.
- AvgPool2d(k) -> SumPool2d(k) and the next layer's weights ÷ k².
- Linear on a (c, h, w) map -> a conv whose kernel covers the map (h = w required); on the
  flat input of a dense net -> a 1x1 conv on (features, 1, 1).
- Dropout, Identity, Flatten: nothing on the chip.
- MaxPool2d -> sum pooling (a different function: its fidelity is measured and reported),
  or refused under strict=True.
Sources of layers are found by attribute names, so sinabs and snndeploy layers are read alike.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Callable, Optional

import torch
import torch.fx
from torch import nn

from snndeploy.errors import SnnDeployError

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class Source:
    """Spikes of layer `layer` (-1: the network input), sum-pooled by `pooling`."""

    layer: int
    pooling: int = 1


@dataclass
class NeuronParams:
    """The neuron after a conv, in float units. `alpha` < 1: a LIF (v ← α v + input·(1−α if
    norm_input else 1)); `alpha` = 1: IAF. `min_v_mem` None = no floor."""

    threshold: float
    min_v_mem: Optional[float]
    reset: str
    spike_fn: str
    alpha: float = 1.0
    norm_input: bool = False
    module_name: str = ""


@dataclass
class FloatLayer:
    name: str
    weight: torch.Tensor  # (c_out, c_in, k, k), float64
    bias: Optional[torch.Tensor]  # (c_out,) float64
    stride: int
    padding: int
    input_shape: Shape
    neuron: NeuronParams
    sources: list[Source]

    @property
    def kernel_size(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def neuron_shape(self) -> Shape:
        c_out = int(self.weight.shape[0])
        _, h, w = self.input_shape
        k, s, p = self.kernel_size, self.stride, self.padding
        return (c_out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1)


@dataclass
class LayerGraph:
    input_shape: Shape
    layers: list[FloatLayer]
    output: Source  # the output layer's spikes, with any pooling after it
    output_flat: bool = False  # the float model returns (..., features) rather than maps
    warnings: list[str] = field(default_factory=list)
    max_pools: list[str] = field(default_factory=list)  # module names deployed as sum pooling

    def readers(self, index: int) -> list[int]:
        return [i for i, layer in enumerate(self.layers) if any(s.layer == index for s in layer.sources)]


# ---- what a value in the traced graph is ---------------------------------------------------


@dataclass
class _Spikes:
    """Spikes (or input events) from sources, each pooled; shape after pooling; a weight factor
    (1/k² per AvgPool) that the next conv absorbs; flat = flattened for a Linear."""

    sources: list[Source]
    shape: Shape
    factor: float = 1.0
    flat: bool = False


@dataclass
class _Pending:
    """A conv / linear output waiting for its neuron layer."""

    name: str
    weight: torch.Tensor
    bias: Optional[torch.Tensor]
    stride: int
    padding: int
    input: _Spikes
    flat: bool = False  # a Linear: its output (and its neurons') is a flat vector


def _pair_value(value, what: str, name: str) -> int:
    if isinstance(value, (tuple, list)):
        if len(set(int(v) for v in value)) != 1:
            raise SnnDeployError(f"layer {name!r}: non-square {what} {tuple(value)}; the chip needs square {what}s (e.g. {what}={value[0]})")
        return int(value[0])
    return int(value)


def is_neuron(module: nn.Module) -> bool:
    return (getattr(module, "spike_threshold", None) is not None and callable(getattr(module, "reset_states", None))
            and getattr(module, "spiking", True))


def _fn_name(fn) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def neuron_params(module: nn.Module, name: str) -> NeuronParams:
    """Read threshold, floor, reset, spike function and leak of a sinabs or snndeploy neuron."""
    if getattr(module, "rec_connect", None) is not None:
        raise SnnDeployError(f"layer {name!r}: recurrent connections cannot run on the chip (cores are feed-forward); remove the recurrence")
    if getattr(module, "tau_syn", None) is not None:
        raise SnnDeployError(f"layer {name!r}: synaptic currents (tau_syn) do not exist on the chip; use tau_syn=None")
    reset_fn = module.reset_fn
    reset_name = _fn_name(reset_fn)
    if reset_name == "MembraneSubtract":
        if getattr(reset_fn, "subtract_value", None) is not None:
            raise SnnDeployError(f"layer {name!r}: MembraneSubtract(subtract_value=...) is not the chip's rule; the chip subtracts the threshold (subtract_value=None)")
        reset = "subtract"
    elif reset_name == "MembraneReset":
        if float(getattr(reset_fn, "reset_value", 0.0)) != 0.0:
            raise SnnDeployError(f"layer {name!r}: MembraneReset(reset_value={reset_fn.reset_value}) is not possible; the chip resets to 0 (reset_value=0)")
        reset = "zero"
    else:
        raise SnnDeployError(f"layer {name!r}: reset function {reset_name} is not a chip reset; use MembraneSubtract or MembraneReset")
    alpha = float(torch.as_tensor(module.alpha_mem_calculated).detach()) if hasattr(module, "alpha_mem_calculated") else 1.0
    min_v = module.min_v_mem
    return NeuronParams(
        threshold=float(torch.as_tensor(module.spike_threshold).detach()),
        min_v_mem=None if min_v is None else float(min_v),
        reset=reset,
        spike_fn=_fn_name(module.spike_fn),
        alpha=alpha,
        norm_input=bool(getattr(module, "norm_input", False)) and alpha < 1.0,
        module_name=name,
    )


def _pool_kind(module: nn.Module) -> Optional[str]:
    """'sum' / 'avg' / 'max' for pooling layers of torch, sinabs and snndeploy."""
    name = type(module).__name__
    if name == "SumPool2d":
        return "sum"
    if isinstance(module, nn.AvgPool2d) or name == "AvgPool2d":
        return "avg"
    if isinstance(module, nn.MaxPool2d) or name == "MaxPool2d":
        return "max"
    return None


class _Tracer(torch.fx.Tracer):
    """Stops at every module that is not a plain container, so neuron layers stay whole."""

    def is_leaf_module(self, module: nn.Module, qualified_name: str) -> bool:
        return not isinstance(module, (nn.Sequential, nn.ModuleList)) and (
            len(list(module.children())) == 0 or is_neuron(module) or _pool_kind(module) is not None
            or type(module).__module__.startswith(("sinabs", "snndeploy.layers", "torch.nn"))
        )


def trace(model: nn.Module) -> torch.fx.Graph:
    try:
        return _Tracer().trace(model)
    except Exception as err:  # fx raises many types; the user needs the one sentence below
        raise SnnDeployError(
            f"cannot trace the model's forward with torch.fx ({type(err).__name__}: {err}); "
            "write it as an nn.Sequential or a forward without data-dependent control flow"
        ) from None


class _Builder:
    def __init__(self, input_shape: Shape, strict: bool):
        self.layers: list[FloatLayer] = []
        self.strict = strict
        self.warnings: list[str] = []
        self.max_pools: list[str] = []
        self.input_shape = input_shape

    # -- modules ---------------------------------------------------------------------------
    def conv(self, module: nn.Conv2d, name: str, value) -> _Pending:
        spikes = self._spikes(value, name, "Conv2d")
        if spikes.flat:
            raise SnnDeployError(f"layer {name!r}: Conv2d after Flatten; convolve before flattening")
        if module.groups != 1:
            raise SnnDeployError(f"layer {name!r}: grouped convolution (groups={module.groups}) is not possible on the chip; use groups=1")
        if _pair_value(module.dilation, "dilation", name) != 1:
            raise SnnDeployError(f"layer {name!r}: dilation {module.dilation} is not possible on the chip; use dilation=1")
        if isinstance(module.padding, str):
            raise SnnDeployError(f"layer {name!r}: padding={module.padding!r}; give the padding as an integer")
        kernel = module.weight.shape[-2:]
        if kernel[0] != kernel[1]:
            raise SnnDeployError(f"layer {name!r}: non-square kernel {tuple(kernel)}; the chip needs square kernels (e.g. kernel_size={kernel[0]})")
        if module.padding_mode != "zeros":
            raise SnnDeployError(f"layer {name!r}: padding_mode={module.padding_mode!r}; the chip pads with zeros")
        stride = _pair_value(module.stride, "stride", name)
        padding = _pair_value(module.padding, "padding", name)
        if module.in_channels != spikes.shape[0]:
            raise SnnDeployError(f"layer {name!r}: expects {module.in_channels} input channels, gets {spikes.shape[0]}")
        weight = module.weight.detach().double() * spikes.factor
        bias = None if module.bias is None else module.bias.detach().double().clone()
        return _Pending(name, weight, bias, stride, padding, spikes)

    def linear(self, module: nn.Linear, name: str, value) -> _Pending:
        spikes = self._spikes(value, name, "Linear")
        c, h, w = spikes.shape
        if c * h * w != module.in_features:
            raise SnnDeployError(f"layer {name!r}: Linear expects {module.in_features} inputs, gets {c}x{h}x{w} = {c * h * w}")
        if h != w:
            raise SnnDeployError(
                f"layer {name!r}: a Linear becomes a conv covering its {h}x{w} input, which must be square; "
                "crop or pool the map to a square first"
            )
        weight = module.weight.detach().double().reshape(module.out_features, c, h, w) * spikes.factor
        bias = None if module.bias is None else module.bias.detach().double().clone()
        return _Pending(name, weight, bias, 1, 0, _Spikes(spikes.sources, spikes.shape), flat=True)

    def batchnorm(self, module, name: str, value) -> _Pending:
        if not isinstance(value, _Pending):
            raise SnnDeployError(f"layer {name!r}: BatchNorm must follow a Conv2d or Linear (it is folded into it)")
        if module.running_mean is None:
            raise SnnDeployError(f"layer {name!r}: BatchNorm without running statistics cannot be folded; use track_running_stats=True")
        scale = module.weight.detach().double() if module.affine else torch.ones_like(module.running_mean, dtype=torch.float64)
        shift = module.bias.detach().double() if module.affine else torch.zeros_like(scale)
        gain = scale / torch.sqrt(module.running_var.double() + module.eps)
        bias = value.bias if value.bias is not None else torch.zeros(value.weight.shape[0], dtype=torch.float64)
        value.weight = value.weight * gain[:, None, None, None]
        value.bias = (bias - module.running_mean.double()) * gain + shift
        return value

    def neuron(self, module: nn.Module, name: str, value) -> _Spikes:
        if not isinstance(value, _Pending):
            raise SnnDeployError(
                f"layer {name!r}: a neuron layer must follow a Conv2d or Linear (a chip core is conv -> neurons); "
                "add a conv (e.g. 1x1 identity) before it"
            )
        params = neuron_params(module, name)
        layer = FloatLayer(
            name=value.name, weight=value.weight, bias=value.bias, stride=value.stride, padding=value.padding,
            input_shape=value.input.shape, neuron=params, sources=value.input.sources,
        )
        self.layers.append(layer)
        return _Spikes([Source(len(self.layers) - 1)], layer.neuron_shape, flat=value.flat)

    def pool(self, module: nn.Module, name: str, value) -> _Spikes:
        kind = _pool_kind(module)
        spikes = self._spikes(value, name, type(module).__name__)
        kernel = _pair_value(module.kernel_size, "pooling kernel", name)
        stride = _pair_value(module.stride if module.stride is not None else kernel, "pooling stride", name)
        if stride != kernel:
            raise SnnDeployError(f"layer {name!r}: pooling stride {stride} differs from its kernel {kernel}; the chip pools with stride = kernel")
        if getattr(module, "padding", 0) not in (0, (0, 0)):
            raise SnnDeployError(f"layer {name!r}: padded pooling is not possible on the chip; use padding=0")
        if kind == "max":
            if self.strict:
                raise SnnDeployError(f"layer {name!r}: MaxPool2d has no chip equivalent (strict=True); use SumPool2d or AvgPool2d")
            self.max_pools.append(name)
            self.warnings.append(f"{name}: MaxPool2d({kernel}) deployed as sum pooling (see the fidelity report)")
        c, h, w = spikes.shape
        factor = spikes.factor / (kernel * kernel) if kind == "avg" else spikes.factor
        sources = [Source(s.layer, s.pooling * kernel) for s in spikes.sources]
        return _Spikes(sources, (c, h // kernel, w // kernel), factor, spikes.flat)

    # -- functions ---------------------------------------------------------------------------
    def add(self, name: str, a, b) -> _Spikes:
        for v in (a, b):
            if isinstance(v, _Pending):
                raise SnnDeployError(
                    f"node {name!r}: adds a conv output before its neuron layer; on the chip a residual sum merges "
                    "spikes (two cores sending to one), so add the outputs of neuron (or pooling) layers"
                )
            if not isinstance(v, _Spikes):
                raise SnnDeployError(f"node {name!r}: can only add two spike tensors, got a constant")
        if a.shape != b.shape or a.flat != b.flat:
            raise SnnDeployError(f"node {name!r}: residual sum of different shapes {a.shape} and {b.shape}")
        if a.factor != b.factor:
            raise SnnDeployError(f"node {name!r}: residual sum of branches with different average-pooling scales; use SumPool2d in both")
        return _Spikes(a.sources + b.sources, a.shape, a.factor, a.flat)

    def flatten(self, value, name: str) -> _Spikes:
        spikes = self._spikes(value, name, "Flatten")
        return _Spikes(spikes.sources, spikes.shape, spikes.factor, True)

    def _spikes(self, value, name: str, what: str) -> _Spikes:
        if isinstance(value, _Pending):
            raise SnnDeployError(
                f"layer {name!r}: {what} follows the conv/linear {value.name!r} without a neuron layer in between; "
                "a chip core is conv -> neurons, so add a spiking layer after each conv / linear"
            )
        if not isinstance(value, _Spikes):
            raise SnnDeployError(f"layer {name!r}: unexpected input {value!r}")
        return value


def _call_module(builder: _Builder, module: nn.Module, name: str, value):
    """Dispatch on the module: one handler per kind of layer."""
    if is_neuron(module):
        return builder.neuron(module, name, value)
    if _pool_kind(module) is not None:
        return builder.pool(module, name, value)
    for kind, handler in MODULE_HANDLERS:
        if isinstance(module, kind):
            return handler(builder, module, name, value)
    hint = MODULE_HINTS.get(type(module).__name__, "use Conv2d / Linear / BatchNorm / pooling / IAF layers")
    raise SnnDeployError(f"layer {name!r}: {type(module).__name__} cannot run on the chip; {hint}")


MODULE_HANDLERS: tuple[tuple[type, Callable], ...] = (
    (nn.Conv2d, lambda b, m, n, v: b.conv(m, n, v)),
    (nn.Linear, lambda b, m, n, v: b.linear(m, n, v)),
    ((nn.BatchNorm1d, nn.BatchNorm2d), lambda b, m, n, v: b.batchnorm(m, n, v)),
    (nn.Flatten, lambda b, m, n, v: b.flatten(v, n)),
    ((nn.Dropout, nn.Dropout2d, nn.Identity), lambda b, m, n, v: v),
)

MODULE_HINTS = {
    "ExpLeak": "a leaky integrator without spikes has no chip equivalent; use IAF or LIF",
    "ExpLeakSqueeze": "a leaky integrator without spikes has no chip equivalent; use IAF or LIF",
    "RNN": "recurrent loops cannot be mapped (cores are feed-forward)",
    "LSTM": "recurrent loops cannot be mapped (cores are feed-forward)",
    "GRU": "recurrent loops cannot be mapped (cores are feed-forward)",
    "ReLU": "a rate network must be converted to spiking layers first (replace ReLU by IAF)",
}

FUNCTION_HANDLERS: dict[object, Callable] = {
    operator.add: lambda b, name, args: b.add(name, *args[:2]),
    torch.add: lambda b, name, args: b.add(name, *args[:2]),
    torch.flatten: lambda b, name, args: b.flatten(args[0], name),
}
METHOD_HANDLERS: dict[str, Callable] = {
    "add": lambda b, name, args: b.add(name, *args[:2]),
    "flatten": lambda b, name, args: b.flatten(args[0], name),
}


def _sequential_leaves(model: nn.Sequential, prefix: str = ""):
    for name, child in model.named_children():
        if isinstance(child, nn.Sequential):
            yield from _sequential_leaves(child, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", child


def _sequential(builder: _Builder, model: nn.Sequential, value):
    """A Sequential (or a subclass such as SpikingSequential) is a chain: no tracing needed."""
    for name, module in _sequential_leaves(model):
        value = _call_module(builder, module, name, value)
    return value


def _traced(builder: _Builder, model: nn.Module, input_shape: Shape):
    graph = trace(model)
    modules = dict(model.named_modules())
    values: dict[str, object] = {}
    output = None
    placeholders = [node for node in graph.nodes if node.op == "placeholder"]
    if len(placeholders) != 1:
        raise SnnDeployError(f"the model's forward takes {len(placeholders)} inputs; it must take one tensor")
    for node in graph.nodes:
        args = [values[a.name] if isinstance(a, torch.fx.Node) else a for a in node.args]
        if node.op == "placeholder":
            values[node.name] = _Spikes([Source(-1)], input_shape)
        elif node.op == "call_module":
            values[node.name] = _call_module(builder, modules[node.target], node.target, args[0])
        elif node.op == "call_function" and node.target in FUNCTION_HANDLERS:
            values[node.name] = FUNCTION_HANDLERS[node.target](builder, node.name, args)
        elif node.op == "call_method" and node.target in METHOD_HANDLERS:
            values[node.name] = METHOD_HANDLERS[node.target](builder, node.name, args)
        elif node.op == "output":
            output = args[0]
        else:
            what = getattr(node.target, "__name__", str(node.target))
            raise SnnDeployError(f"node {node.name!r}: operation {what} ({node.op}) cannot run on the chip; use layers (modules) the chip supports")
    return output


def build_graph(model: nn.Module, input_shape: Shape, strict: bool = False) -> LayerGraph:
    """LayerGraph of `model` (a Sequential is read as a chain, anything else traced with torch.fx)
    for input frames of shape (c, h, w) or (features,)."""
    input_shape = tuple(int(v) for v in input_shape)
    if len(input_shape) == 1:
        input_shape = (input_shape[0], 1, 1)
    if len(input_shape) != 3:
        raise SnnDeployError(f"input_shape must be (channels, height, width) or (features,), got {input_shape}")
    builder = _Builder(input_shape, strict)
    if isinstance(model, nn.Sequential):
        output = _sequential(builder, model, _Spikes([Source(-1)], input_shape))
    else:
        output = _traced(builder, model, input_shape)
    if isinstance(output, _Pending):
        raise SnnDeployError(f"the model ends with {output.name!r} without a neuron layer; the chip outputs spikes, add a spiking layer")
    if not isinstance(output, _Spikes) or len(output.sources) != 1 or output.sources[0].layer < 0:
        raise SnnDeployError("the model's output must be the spikes of one neuron layer")
    if not builder.layers:
        raise SnnDeployError("the model has no conv / linear -> neuron layer to deploy")
    return LayerGraph(input_shape, builder.layers, output.sources[0], output.flat, builder.warnings, builder.max_pools)


def check_graph(graph: LayerGraph, target) -> None:
    """Refuse before any work what the target cannot do: one message per first problem."""
    limits = target.limits
    c, h, w = graph.input_shape
    if max(h, w) > limits.max_input_size or c > limits.max_channels:
        raise SnnDeployError(f"input {graph.input_shape} exceeds {target.name}'s input size {limits.max_input_size}x{limits.max_input_size}; crop or pool the input")
    for index, layer in enumerate(graph.layers):
        name = layer.name
        c_out, h_out, w_out = layer.neuron_shape
        c_in, h_in, w_in = layer.input_shape
        rules = (
            (layer.kernel_size <= limits.max_kernel_size, f"kernel {layer.kernel_size} exceeds the maximum {limits.max_kernel_size}", "use a smaller kernel"),
            (layer.stride in limits.strides, f"stride {layer.stride} is not one of {list(limits.strides)}", f"use stride {max(s for s in limits.strides if s <= max(layer.stride, 1))}"),
            (layer.padding <= limits.max_padding, f"padding {layer.padding} exceeds the maximum {limits.max_padding}", f"use padding <= {limits.max_padding}"),
            (c_out <= limits.max_channels, f"{c_out} output channels exceed the maximum {limits.max_channels}", f"use at most {limits.max_channels} channels"),
            (c_in <= limits.max_channels, f"{c_in} input channels exceed the maximum {limits.max_channels}", f"use at most {limits.max_channels} channels"),
            (max(h_in, w_in) <= limits.max_input_size, f"input map {h_in}x{w_in} exceeds {limits.max_input_size}x{limits.max_input_size}", "pool or stride earlier"),
            (max(h_out, w_out) <= limits.max_feature_map, f"feature map {h_out}x{w_out} exceeds {limits.max_feature_map}x{limits.max_feature_map}", "add stride or pooling before this layer"),
        )
        for ok, rule, fix in rules:
            if not ok:
                raise SnnDeployError(f"layer {name!r} cannot run on {target.name}: {rule}; {fix}")
        for source in layer.sources:
            if source.pooling not in limits.poolings:
                raise SnnDeployError(
                    f"layer {name!r}: its input is sum-pooled by {source.pooling} in total, the chip pools by one of "
                    f"{list(limits.poolings)} per destination; combine or split pooling layers"
                )
        if len(layer.sources) > limits.fan_in:
            raise SnnDeployError(f"layer {name!r} merges {len(layer.sources)} inputs, {target.name} allows {limits.fan_in}")
        readers = graph.readers(index)
        if len(readers) > limits.fan_out:
            names = [graph.layers[r].name for r in readers]
            raise SnnDeployError(f"layer {name!r} feeds {len(readers)} layers {names}, {target.name} allows fan-out {limits.fan_out}")
    if len([s for layer in graph.layers for s in layer.sources if s.layer == -1]) > limits.fan_out:
        raise SnnDeployError(f"the input feeds more than {limits.fan_out} layers")
    if graph.output.pooling not in limits.poolings:
        raise SnnDeployError(f"the output is pooled by {graph.output.pooling}; allowed: {list(limits.poolings)}")
    if len(graph.layers) > len(target.cores):
        raise SnnDeployError(
            f"the network has {len(graph.layers)} conv/linear layers but {target.name} has {len(target.cores)} cores; "
            "merge or remove layers"
        )
