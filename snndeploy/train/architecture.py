"""Networks from architecture strings in the papers' notation, or from a user's Python file.

Notation (tokens joined by `-`; the first token is the input, the others are layers):

=============  ==============================================================================
``HxWxC``      input frames of height H, width W and C channels (``34x34x2``); a conv net
``N``          first token only: N input features (``700``); a dense net
``NcK``        convolution with N output channels and a K×K kernel, stride 1, no padding;
               ``NcKsS`` sets stride S, ``NcKpP`` zero padding P, ``NcKsSpP`` both
``Kp``         sum pooling over K×K windows (stride K)
``Ka``         adjusted-average pooling over K×K windows (paper 004 §3.2: the backward pass
               sends grad/n_spike to each spiking input of a window)
``Km``         spiking max pooling over K×K windows (gradient to one spiking input)
``N``          later tokens: a dense (linear) layer with N outputs; ``Nl`` means the same
               (the DVS Gesture net of the EXODUS paper is written ``...-16c3-11l``)
=============  ==============================================================================

Every convolution and dense layer is followed by a spiking neuron layer (``iaf`` or ``lif``,
with the chosen training backend), the output layer included: the network's output is the
output neurons' spikes, as on the chip. A dense layer after a conv or pooling layer flattens
its input first. Weights have no bias (chip-friendly); ``bias=True`` adds one. A dense net (``700-...``)
starts with a Flatten, so it takes samples of any shape holding N features.

    34x34x2-8c3-2p-16c3-2p-10   ->  Conv2d(2,8,3) IAF SumPool2d(2) Conv2d(8,16,3) IAF
                                    SumPool2d(2) Flatten Linear(784,10) IAF

The network is a `SpikingSequential`: it takes (batch, time, *features) and returns
(batch, time, outputs). Stateless layers (conv, pooling, linear) see (batch·time, ...),
neuron layers (batch, time, ...), so the same modules run on any number of time steps.

A `ModelSpec` (architecture string or Python file, neuron, backend, options) is what
checkpoints store, so `snndeploy.train.load_model(path)` rebuilds the module and loads its
weights without pickle.
"""

from __future__ import annotations

import hashlib
import importlib.util
import inspect
import math
import re
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Optional

import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.layers import IAF, LIF, ExpLeak, MultiSpike, SingleSpike
from snndeploy.layers.neurons import ExpLeakSqueeze, IAFSqueeze, LIFSqueeze

# --------------------------------------------------------------------------------------------
# Parsing


@dataclass(frozen=True)
class InputSpec:
    """The network input: (channels, height, width) for frames or (features,) for vectors."""

    shape: tuple[int, ...]


@dataclass(frozen=True)
class ConvSpec:
    out_channels: int
    kernel_size: int
    stride: int = 1
    padding: int = 0


@dataclass(frozen=True)
class PoolSpec:
    kind: str  # a key of POOLING
    kernel_size: int


@dataclass(frozen=True)
class DenseSpec:
    out_features: int


_INPUT_FRAMES = re.compile(r"(\d+)x(\d+)x(\d+)")
_INPUT_VECTOR = re.compile(r"(\d+)")
_CONV = re.compile(r"(\d+)c(\d+)(?:s(\d+))?(?:p(\d+))?")
_POOL = re.compile(r"(\d+)([pam])")
_DENSE = re.compile(r"(\d+)l?")


def _conv(match: re.Match) -> ConvSpec:
    channels, kernel, stride, padding = match.groups()
    return ConvSpec(int(channels), int(kernel), int(stride or 1), int(padding or 0))


def _pool(match: re.Match) -> PoolSpec:
    kernel, kind = match.groups()
    return PoolSpec(kind, int(kernel))


def _dense(match: re.Match) -> DenseSpec:
    return DenseSpec(int(match.group(1)))


# Layer token grammar: tried in order, the first full match wins.
LAYER_TOKENS: tuple[tuple[re.Pattern, Callable[[re.Match], object]], ...] = (
    (_CONV, _conv),
    (_POOL, _pool),
    (_DENSE, _dense),
)

TOKEN_HELP = (
    "use NcK (conv, optional sS stride and pP padding: 8c3s2p1), Kp (sum pool), "
    "Ka (adjusted-average pool), Km (max pool) or N (dense)"
)


@dataclass(frozen=True)
class Architecture:
    """A parsed architecture string: the input and the layers in order."""

    text: str
    input: InputSpec
    layers: tuple


def parse_architecture(text: str) -> Architecture:
    """Parse ``34x34x2-8c3-2p-16c3-2p-10`` or ``700-128-128-20`` (see the module docstring)."""
    tokens = [token.strip() for token in text.strip().split("-")]
    if len(tokens) < 2 or not all(tokens):
        raise SnnDeployError(
            f"architecture {text!r}: expected an input and at least one layer joined by '-', "
            "e.g. 34x34x2-8c3-2p-10 or 700-128-20"
        )
    first = tokens[0]
    frames = _INPUT_FRAMES.fullmatch(first)
    vector = _INPUT_VECTOR.fullmatch(first)
    if frames:
        height, width, channels = (int(g) for g in frames.groups())
        input_spec = InputSpec((channels, height, width))
    elif vector:
        input_spec = InputSpec((int(first),))
    else:
        raise SnnDeployError(
            f"architecture {text!r}: input token {first!r} is neither HxWxC (34x34x2) nor a "
            "number of features (700)"
        )
    layers = []
    for position, token in enumerate(tokens[1:], start=2):
        spec = next(
            (build(m) for pattern, build in LAYER_TOKENS if (m := pattern.fullmatch(token))), None
        )
        if spec is None:
            raise SnnDeployError(
                f"architecture {text!r}: token {position} {token!r} is not a layer; {TOKEN_HELP}"
            )
        layers.append(spec)
    architecture = Architecture(text.strip(), input_spec, tuple(layers))
    _shapes(architecture)  # validates sizes before anything is built
    return architecture


# --------------------------------------------------------------------------------------------
# Shapes


def _conv_shape(arch: Architecture, spec: ConvSpec, shape: tuple) -> tuple:
    if len(shape) != 3:
        raise SnnDeployError(
            f"architecture {arch.text!r}: conv layer {spec.out_channels}c{spec.kernel_size} "
            "follows a dense layer; convolutions need HxWxC input and must come before dense layers"
        )
    if spec.kernel_size < 1 or spec.stride < 1 or spec.out_channels < 1:
        raise SnnDeployError(f"architecture {arch.text!r}: conv sizes must be positive ({spec})")
    channels, height, width = shape

    def out(size: int) -> int:
        return (size + 2 * spec.padding - spec.kernel_size) // spec.stride + 1

    if out(height) < 1 or out(width) < 1:
        raise SnnDeployError(
            f"architecture {arch.text!r}: conv {spec.out_channels}c{spec.kernel_size} does not "
            f"fit its {height}x{width} input; use a smaller kernel or padding (pP)"
        )
    return (spec.out_channels, out(height), out(width))


def _pool_shape(arch: Architecture, spec: PoolSpec, shape: tuple) -> tuple:
    if len(shape) != 3:
        raise SnnDeployError(
            f"architecture {arch.text!r}: pooling {spec.kernel_size}{spec.kind} needs HxWxC "
            "input; it cannot follow a dense layer"
        )
    channels, height, width = shape
    if spec.kernel_size < 1 or height // spec.kernel_size < 1 or width // spec.kernel_size < 1:
        raise SnnDeployError(
            f"architecture {arch.text!r}: pooling {spec.kernel_size}{spec.kind} does not fit its "
            f"{height}x{width} input"
        )
    return (channels, height // spec.kernel_size, width // spec.kernel_size)


def _dense_shape(arch: Architecture, spec: DenseSpec, shape: tuple) -> tuple:
    if spec.out_features < 1:
        raise SnnDeployError(f"architecture {arch.text!r}: dense layers need at least 1 output")
    return (spec.out_features,)


_SHAPE_RULES = {ConvSpec: _conv_shape, PoolSpec: _pool_shape, DenseSpec: _dense_shape}


def _shapes(arch: Architecture) -> list[tuple]:
    """Feature shape after the input and after each layer."""
    shapes = [arch.input.shape]
    for spec in arch.layers:
        shapes.append(_SHAPE_RULES[type(spec)](arch, spec, shapes[-1]))
    return shapes


def check_data_fits(arch: Architecture, feature_shape: tuple, num_classes: Optional[int]) -> None:
    """Raise unless samples of `feature_shape` (without time) and `num_classes` labels fit `arch`.

    Conv nets need (C, H, W) equal to the input token; dense nets need the same number of
    features (they flatten their input); the last layer needs one output per class.
    """
    feature_shape = tuple(feature_shape)
    expected = arch.input.shape
    dense_input = len(expected) == 1
    fits = (math.prod(feature_shape) == expected[0]) if dense_input else feature_shape == expected
    if not fits:
        shown = "x".join(map(str, feature_shape))
        layout = "features" if len(feature_shape) == 1 else "channel x height x width"
        raise SnnDeployError(
            f"architecture {arch.text!r} expects input {arch.text.split('-')[0]} but the data's "
            f"samples are {shown} ({layout}); change the input token"
        )
    outputs = _shapes(arch)[-1]
    if num_classes is not None and outputs != (num_classes,):
        raise SnnDeployError(
            f"architecture {arch.text!r} ends in {outputs} outputs but the data has {num_classes} "
            f"classes; make the last token {num_classes}"
        )


# --------------------------------------------------------------------------------------------
# Building


class SpikingSequential(nn.Sequential):
    """A sequence of layers over (batch, time, *features) tensors.

    Stateless layers (convolution, pooling, flatten, linear) are applied to the
    (batch·time, *features) view; neuron layers (snndeploy IAF / LIF / ExpLeak, not their
    Squeeze variants) get (batch, time, *features) so they scan over time. Output:
    (batch, time, *features of the last layer).
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise SnnDeployError(
                f"SpikingSequential expects (batch, time, *features) input, got shape {tuple(x.shape)}"
            )
        batch, steps = x.shape[:2]
        flat = x.reshape(batch * steps, *x.shape[2:])
        for layer in self:
            if is_temporal(layer):
                flat = layer(flat.reshape(batch, steps, *flat.shape[1:])).reshape(
                    batch * steps, *flat.shape[1:]
                )
            else:
                flat = layer(flat)
        return flat.reshape(batch, steps, *flat.shape[1:])


def is_temporal(layer: nn.Module) -> bool:
    """True for neuron layers that scan (batch, time, ...) tensors themselves."""
    return isinstance(layer, (IAF, LIF, ExpLeak)) and not isinstance(
        layer, (IAFSqueeze, LIFSqueeze, ExpLeakSqueeze)
    )


SPIKE_FUNCTIONS = {"multi": MultiSpike, "single": SingleSpike}


def _iaf(backend: str, spike_threshold: float = 1.0, min_v_mem: Optional[float] = None,
         spike_fn: str = "multi") -> nn.Module:
    return IAF(spike_threshold=spike_threshold, min_v_mem=min_v_mem,
               spike_fn=_spike_function(spike_fn), backend=backend)


def _lif(backend: str, tau_mem: float = 20.0, spike_threshold: float = 1.0,
         min_v_mem: Optional[float] = None, spike_fn: str = "multi") -> nn.Module:
    # norm_input=False: v_t = α v_{t−1} + x_t, so lif and iaf nets share weight scales (with
    # the (1 − α) input scaling a freshly initialised lif net is silent and does not learn).
    return LIF(tau_mem=tau_mem, spike_threshold=spike_threshold, min_v_mem=min_v_mem,
               spike_fn=_spike_function(spike_fn), norm_input=False, backend=backend)


def _spike_function(name: str):
    if name not in SPIKE_FUNCTIONS:
        raise SnnDeployError(f"unknown spike function {name!r}; choose one of {sorted(SPIKE_FUNCTIONS)}")
    return SPIKE_FUNCTIONS[name]()


# Neuron name -> factory(backend, **options). Options are JSON values (stored in checkpoints).
NEURONS: dict[str, Callable[..., nn.Module]] = {"iaf": _iaf, "lif": _lif}


def _pooling_layers() -> dict[str, Callable[[int], nn.Module]]:
    """Pooling token letter -> factory(kernel_size), from snndeploy.layers.pooling."""
    from snndeploy.layers import pooling

    return {
        "p": lambda k: pooling.SumPool2d(k),
        "a": lambda k: pooling.AvgPool2d(k, adjusted=True),
        "m": lambda k: pooling.MaxPool2d(k),
    }


def build_model(architecture: "str | Architecture", neuron: str = "iaf", backend: str = "exodus",
                bias: bool = False, **neuron_options) -> SpikingSequential:
    """A `SpikingSequential` for an architecture string (see the module docstring).

    `neuron` is a key of NEURONS ("iaf", "lif"); `neuron_options` go to its factory
    (spike_threshold, min_v_mem, spike_fn "multi"/"single", tau_mem for lif). The network's
    `model_spec` attribute says how to rebuild it (what checkpoints store).
    """
    arch = parse_architecture(architecture) if isinstance(architecture, str) else architecture
    if neuron not in NEURONS:
        raise SnnDeployError(f"unknown neuron {neuron!r}; choose one of {sorted(NEURONS)}")
    make_neuron = NEURONS[neuron]
    accepted = [name for name in inspect.signature(make_neuron).parameters if name != "backend"]
    unknown = sorted(set(neuron_options) - set(accepted))
    if unknown:
        raise SnnDeployError(
            f"neuron {neuron!r} does not take option(s) {', '.join(unknown)}; it takes "
            f"{', '.join(accepted)}"
        )
    shapes = _shapes(arch)
    pools = _pooling_layers() if any(isinstance(s, PoolSpec) for s in arch.layers) else {}
    layers: list[nn.Module] = []
    if len(arch.input.shape) == 1:
        layers.append(nn.Flatten())  # dense nets take any sample whose features number N
    for spec, before in zip(arch.layers, shapes):
        if isinstance(spec, ConvSpec):
            layers += [nn.Conv2d(before[0], spec.out_channels, spec.kernel_size, spec.stride,
                                 spec.padding, bias=bias),
                       make_neuron(backend, **neuron_options)]
        elif isinstance(spec, PoolSpec):
            layers.append(pools[spec.kind](spec.kernel_size))
        else:
            if len(before) > 1:
                layers.append(nn.Flatten())
            layers += [nn.Linear(math.prod(before), spec.out_features, bias=bias),
                       make_neuron(backend, **neuron_options)]
    network = SpikingSequential(*layers)
    # How to rebuild it: `fit` stores this in checkpoints so that `load_model` works.
    network.model_spec = ModelSpec(architecture=arch.text, neuron=neuron, backend=backend,
                                   bias=bias, neuron_options=dict(neuron_options))
    return network


# --------------------------------------------------------------------------------------------
# Python files defining model()


def load_model_file(path: "str | Path") -> nn.Module:
    """Import `path` and return `model()` from it: the user's own module factory.

    `model()` must return an nn.Module taking (batch, time, *features) and returning
    (batch, time, outputs); build it from snndeploy layers (a `SpikingSequential` does the
    layout for you).
    """
    path = Path(path)
    if not path.is_file():
        raise SnnDeployError(f"model file {path} does not exist")
    module_name = f"snndeploy_user_model_{hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:12]}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SnnDeployError(f"model file {path} is not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as err:  # the user's code: report which file failed and why
        del sys.modules[module_name]
        raise SnnDeployError(f"model file {path} failed to import: {type(err).__name__}: {err}") from err
    factory = getattr(module, "model", None)
    if not callable(factory):
        raise SnnDeployError(f"model file {path} defines no function model() returning the network")
    network = factory()
    if not isinstance(network, nn.Module):
        raise SnnDeployError(
            f"model file {path}: model() returned {type(network).__name__}, not a torch nn.Module"
        )
    return network


# --------------------------------------------------------------------------------------------
# What checkpoints store


def dense_layer_sizes(architecture: str, backend: str) -> list[int]:
    """[inputs, hidden…, outputs] of a dense architecture string ("5-100-3"), for the backends that
    build a network of their own; frame inputs and conv / pooling layers are refused, naming
    `backend`."""
    arch = parse_architecture(architecture)
    if len(arch.input.shape) != 1 or not all(isinstance(s, DenseSpec) for s in arch.layers):
        raise SnnDeployError(
            f"backend {backend!r} trains dense networks only; {arch.text!r} has a frame input or "
            "conv / pooling layers: write inputs-hidden…-classes with the flattened input size "
            f"(e.g. {math.prod(arch.input.shape)}-100-10)"
        )
    return [arch.input.shape[0]] + [spec.out_features for spec in arch.layers]


def build_eventprop_from_architecture(architecture: str, **options) -> nn.Module:
    """`build_eventprop_network` for a dense architecture string ("5-100-3")."""
    from snndeploy.eventprop import build_eventprop_network

    return build_eventprop_network(dense_layer_sizes(architecture, "eventprop"), **options)


def build_fp_from_architecture(architecture: str, alpha: float, beta: float, theta: float,
                               hidden_init: list, output_init: list,
                               max_hidden_spikes: int) -> nn.Module:
    """`snndeploy.fp.FPNetwork` for a dense architecture string ("4-10-3").

    alpha = 1/τs, beta = 1/τm, theta the threshold (`snndeploy.fp.NeuronParameters`);
    `hidden_init` holds one [mean, std] per hidden layer, `output_init` the output layer's
    (initial weights N(mean, std²)); each hidden neuron keeps at most `max_hidden_spikes` spikes,
    each output neuron 1 (the first-spike-time loss reads first spikes only). The weights'
    generator is seeded from the torch RNG, so `torch.manual_seed` fixes them as for the other
    networks.
    """
    from snndeploy.fp import FPNetwork, NeuronParameters

    sizes = dense_layer_sizes(architecture, "fp")
    hidden_layers = len(sizes) - 2
    if len(hidden_init) != hidden_layers:
        raise SnnDeployError(
            f"fp network {architecture!r} has {hidden_layers} hidden layer(s) but "
            f"{len(hidden_init)} hidden weight init(s) (mean, std) were given; give one for every "
            "hidden layer, or one for all"
        )
    if max_hidden_spikes < 1:
        raise SnnDeployError(f"fp network: max_hidden_spikes must be at least 1, got {max_hidden_spikes}")
    seed = int(torch.randint(0, 2**62, ()).item())
    return FPNetwork(sizes, NeuronParameters(alpha, beta, theta),
                     hidden_init=[(float(m), float(s)) for m, s in hidden_init],
                     output_init=(float(output_init[0]), float(output_init[1])),
                     max_spikes=[int(max_hidden_spikes)] * hidden_layers + [1], seed=seed)


# Backends that are network types of their own (not a backend= of IAF / LIF layers):
# backend name -> builder(architecture string, **options).
SEPARATE_NETWORK_BACKENDS: dict[str, Callable[..., nn.Module]] = {
    "eventprop": build_eventprop_from_architecture,
    "fp": build_fp_from_architecture,
}


@dataclass
class ModelSpec:
    """Everything needed to rebuild a network without pickle (stored in checkpoints as JSON).

    With backend "eventprop" the architecture string is a dense net whose sizes go to
    `snndeploy.eventprop.build_eventprop_network` (neuron_options are its keyword arguments:
    loss, dt, num_steps, tau_mem, tau_syn, threshold): EventProp fuses the weights into its
    neuron layers, so it is a network type of its own rather than a backend of IAF / LIF.
    With backend "fp" the dense net is a `snndeploy.fp.FPNetwork` (exact event simulation,
    forward-propagated gradients; neuron_options are the keyword arguments of
    `build_fp_from_architecture`: alpha, beta, theta, hidden_init, output_init,
    max_hidden_spikes).

    Exactly one of `architecture` (a string in the notation above) and `python_file` (a file
    defining `model()`; its sha256 is recorded to notice later edits) is set. With
    `qat_target` the network is wrapped for quantization-aware training on that chip target
    (`snndeploy.quantize.QuantizationAware`, which needs the sample shape `input_shape`
    without time).
    """

    architecture: Optional[str] = None
    python_file: Optional[str] = None
    python_sha256: Optional[str] = None
    neuron: str = "iaf"
    backend: str = "exodus"
    bias: bool = False
    neuron_options: dict = field(default_factory=dict)
    qat_target: Optional[str] = None
    input_shape: Optional[list] = None

    @classmethod
    def from_source(cls, source: str, neuron: str = "iaf", backend: str = "exodus",
                    bias: bool = False, qat_target: Optional[str] = None,
                    input_shape: Optional[tuple] = None, **neuron_options) -> "ModelSpec":
        """`source` is an architecture string or the path of a ``.py`` file defining model()."""
        common = dict(neuron=neuron, backend=backend, bias=bias, neuron_options=neuron_options,
                      qat_target=qat_target,
                      input_shape=None if input_shape is None else list(input_shape))
        if qat_target is not None and input_shape is None:
            raise SnnDeployError("quantization-aware training needs the input shape of a sample")
        if source.endswith(".py"):
            path = Path(source)
            if not path.is_file():
                raise SnnDeployError(f"model file {path} does not exist")
            return cls(python_file=str(path.resolve()), python_sha256=_sha256(path), **common)
        return cls(architecture=parse_architecture(source).text, **common)

    def build(self, float_weights: Optional[dict] = None) -> nn.Module:
        """A freshly initialised network (weights from the current torch RNG).

        `float_weights` (a state dict, e.g. of a float checkpoint) replace the float network's
        initial weights before any quantization-aware wrapping.
        """
        network = self._build_float()
        if float_weights is not None:
            from snndeploy.train.checkpoint import load_model_weights

            load_model_weights(network, float_weights, "initial weights")
        if self.qat_target is None:
            return network
        from snndeploy.quantize import QuantizationAware

        return QuantizationAware(network, self.qat_target, tuple(self.input_shape))

    def _build_float(self) -> nn.Module:
        if self.architecture is not None and self.backend in SEPARATE_NETWORK_BACKENDS:
            return SEPARATE_NETWORK_BACKENDS[self.backend](self.architecture,
                                                            **self.neuron_options)
        if self.architecture is not None:
            return build_model(self.architecture, self.neuron, self.backend, self.bias,
                               **self.neuron_options)
        if self.python_file is None:
            raise SnnDeployError("model spec names neither an architecture nor a Python file")
        path = Path(self.python_file)
        if path.is_file() and self.python_sha256 and _sha256(path) != self.python_sha256:
            raise SnnDeployError(
                f"model file {path} changed since the checkpoint was written (sha256 differs); "
                "restore the file the network was trained with"
            )
        return load_model_file(path)

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "ModelSpec":
        try:
            return cls(**data)
        except TypeError as err:
            raise SnnDeployError(f"model spec in checkpoint is not valid: {err}") from err


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
