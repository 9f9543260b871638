"""NIR export and import (nir 1.0.x): one registry of layer exporters, one of node importers.

Time convention of the files snndeploy writes
---------------------------------------------
NIR describes continuous time and leaves dt open. snndeploy networks are discrete: one
update per time step. The graph metadata states the convention explicitly:

    dt = 1.0, time_unit = "time step"   time constants (tau) are counted in time steps;
    dt_seconds                           the physical length of a step, when known;
    discretization = "exp"               alpha = exp(-dt / tau);
                                         v_t = alpha * v_{t-1} + r * x_t   (r = the input gain:
                                         1, or 1 - alpha for LIF with norm_input=True);
    spike rule                           spikes when v >= v_threshold (NIR writes v > v_thr)

and each neuron node's metadata names its exact rule: spikes per step ("multi", "single",
"max:K"), reset ("subtract" or "zero" with its value), floor (min_v_mem, absent = none),
norm_input (the synaptic time constant is CubaLIF's tau_syn field). These are the numbers
sinabs reads (tau in steps, v_threshold), so `sinabs.from_nir` loads IAF networks, and LIF
with norm_input=False, with equal spikes (sinabs ignores r, so a LIF with norm_input=True
differs there; sinabs also floors IF neurons at -v_threshold, so export IAF with
min_v_mem = -threshold for equal spikes).

EventProp networks
------------------
An `snndeploy.eventprop.EventPropNetwork` integrates exactly in continuous time (spikes at exact
times inside steps), so its graph states NIR's own continuous-time convention instead: graph
metadata dt (seconds), time_unit "s", spike_times "exact", trainer "eventprop", readout, and
time constants in seconds (the layers use ms); every neuron node's metadata repeats dt.

* EventPropLIF(W [, W_rec]) -> Linear(W) -> CubaLIF(tau_syn, tau_mem, r = 1, v_leak = 0, v_threshold,
  w_in = tau_syn) (+ Linear(W_rec) from the CubaLIF back into it). NIR's synapse
  tau_syn dI/dt = -I + w_in S jumps by w_in / tau_syn per input spike, so w_in = tau_syn gives
  EventProp's jump I += w. NIR's reset subtracts v_threshold, which equals EventProp's reset to 0
  because V = v_threshold exactly at an exact crossing time.
* EventPropReadout(W) -> Linear(W) -> LI(tau_syn, r = tau_syn, v_leak = 0) (the synaptic current)
  -> LI(tau_mem, r = 1, v_leak = 0) (the membrane).
* FirstSpikeTime is a reading of the output, not a node: graph metadata readout "first_spike"
  (else "voltage").

A simulator of such a graph must keep exact spike times for the trained behaviour to carry
over; on a time grid the results differ by the discretisation. These graphs are not imported
(snndeploy's layers are time-stepped).

Import
------
`import_nir(path)` reads feed-forward chains (Input -> ... -> Output) of Affine, Linear,
Conv2d, SumPool2d, AvgPool2d, Flatten, IF, LIF, CubaLIF, LI. Files written by snndeploy are
read with their metadata (exact). Other files are read under a `convention` (CONVENTIONS):
"sinabs" (what sinabs' to_nir writes: tau in steps, alpha = exp(-1/tau), input gain 1,
as many spikes per step as thresholds fit, no floor: the writer's default min_v_mem=None;
note that `sinabs.from_nir` itself floors IF neurons at -v_threshold) or "euler" (snnTorch, Norse: forward Euler at `dt`, alpha = 1 - dt/tau, input
gain r*dt/tau, synaptic gain w_in*dt/tau_syn, one spike per step, no floor). Input gains other
than the target layer's own are folded into the preceding Affine / Conv2d weights and bias.
Per-neuron parameters collapse to one value per layer when all equal; when they differ they are
kept per neuron, or with `per_layer=True` (what the chip needs) replaced by their mean with a
warning naming the node.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import numpy as np
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically
from snndeploy.eventprop.layers import EventPropLIF, EventPropReadout, FirstSpikeTime
from snndeploy.eventprop.network import EventPropNetwork
from snndeploy.layers import IAF, LIF, ExpLeak
from snndeploy.layers.activation import MaxSpike, MembraneReset, MembraneSubtract, MultiSpike, SingleSpike
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d

WRITER = "snndeploy"


def _nir():
    import nir

    return nir


# ==== export =============================================================================
def _array(value, shape) -> np.ndarray:
    return np.broadcast_to(np.asarray(torch.as_tensor(value).detach().cpu(), np.float32), shape).copy()


def _spike_rule(layer) -> str:
    cap = layer.spike_fn.max_spikes
    return {None: "multi", 1: "single"}.get(cap, f"max:{cap}")


def _neuron_metadata(layer) -> dict:
    meta = {"writer": WRITER, "spikes_per_step": _spike_rule(layer), "spike_rule": "v >= v_threshold",
            "norm_input": int(bool(layer.norm_input))}
    if layer.reset_fn.subtracts:
        meta["reset"] = "subtract"
        if layer.reset_fn.subtract_value is not None:
            meta["subtract_value"] = float(layer.reset_fn.subtract_value)
    else:
        meta["reset"] = "zero"
        meta["reset_value"] = float(layer.reset_fn.reset_value)
    if layer.min_v_mem is not None:
        meta["min_v_mem"] = float(torch.as_tensor(layer.min_v_mem))
    return meta


def _export_iaf(layer, shape, nir):
    if layer.tau_syn is not None:
        raise SnnDeployError("IAF with tau_syn has no NIR node (CubaLIF needs a membrane leak); "
                             "export it without a synaptic time constant")
    return nir.IF(r=np.ones(shape, np.float32), v_threshold=_array(layer.spike_threshold, shape),
                  metadata=_neuron_metadata(layer))


def _leaky_shape(layer) -> tuple[int, ...]:
    """Leaky nodes carry their parameters in the parameters' own (at least 1-D) shape, as sinabs
    writes and reads them (sinabs.from_nir cannot read LIF parameters of the layer's shape)."""
    params = [layer.tau_mem_calculated, layer.spike_threshold] + ([layer.tau_syn] if layer.tau_syn is not None else [])
    return tuple(torch.broadcast_shapes(*(torch.atleast_1d(p.detach()).shape for p in params)))


def _export_lif(layer, shape, nir):
    shape = _leaky_shape(layer)
    tau = _array(layer.tau_mem_calculated, shape)
    alpha = np.exp(-1.0 / tau)
    r = (1.0 - alpha) if layer.norm_input else np.ones(shape, np.float32)
    common = dict(r=r.astype(np.float32), v_leak=np.zeros(shape, np.float32),
                  v_threshold=_array(layer.spike_threshold, shape), metadata=_neuron_metadata(layer))
    if layer.tau_syn is None:
        return nir.LIF(tau=tau, **common)
    tau_syn = _array(layer.tau_syn, shape)
    # snndeploy's synapse: i_t = a_syn (i_{t-1} + x_t), i.e. input weight a_syn
    return nir.CubaLIF(tau_mem=tau, tau_syn=tau_syn, w_in=np.exp(-1.0 / tau_syn).astype(np.float32), **common)


def _export_expleak(layer, shape, nir):
    shape = _leaky_shape(layer)
    tau = _array(layer.tau_mem_calculated, shape)
    r = (1.0 - np.exp(-1.0 / tau)) if layer.norm_input else np.ones(shape, np.float32)
    return nir.LI(tau=tau, r=r.astype(np.float32), v_leak=np.zeros(shape, np.float32),
                  metadata=_neuron_metadata(layer) | {"spikes_per_step": "none"})


def _bias(layer, count: int) -> np.ndarray:
    return (np.zeros(count, np.float32) if layer.bias is None
            else layer.bias.detach().cpu().numpy().astype(np.float32))


def _export_linear(layer, shape, nir):
    weight = layer.weight.detach().cpu().numpy().astype(np.float32)
    return nir.Affine(weight=weight, bias=_bias(layer, weight.shape[0]))


def _export_conv2d(layer, shape, nir):
    if isinstance(layer.padding, str):
        raise SnnDeployError(f"{layer}: padding='{layer.padding}' has no NIR form; give the padding in pixels")
    weight = layer.weight.detach().cpu().numpy().astype(np.float32)
    return nir.Conv2d(input_shape=tuple(shape[-2:]), weight=weight, stride=tuple(layer.stride),
                      padding=tuple(layer.padding), dilation=tuple(layer.dilation), groups=layer.groups,
                      bias=_bias(layer, weight.shape[0]))


def _pool_args(layer):
    return dict(kernel_size=np.array(layer.kernel_size), stride=np.array(layer.stride), padding=np.array((0, 0)))


def _export_sumpool(layer, shape, nir):
    return nir.SumPool2d(**_pool_args(layer))


def _export_avgpool(layer, shape, nir):
    return nir.AvgPool2d(**_pool_args(layer))


def _export_maxpool(layer, shape, nir):
    raise SnnDeployError("MaxPool2d: NIR 1.0 has no max-pooling node; train with sum or average "
                         "pooling ('2p' / '2a' in the architecture) to export to NIR")


def _export_flatten(layer, shape, nir):
    # snndeploy applies Flatten to (batch*time, ...): NIR counts dimensions without that one
    start = layer.start_dim - 1 if layer.start_dim > 0 else layer.start_dim
    end = layer.end_dim - 1 if layer.end_dim > 0 else layer.end_dim
    return nir.Flatten(input_type={"input": np.array(shape)}, start_dim=start, end_dim=end)


@dataclass(frozen=True)
class NirSegment:
    """What an exporter returns when one layer becomes several NIR nodes (or none): `chain` in
    signal order (the first takes the layer's input, the last feeds the next layer), `side`
    (name, node) pairs off that path (written as "layer<index>_<name>"), and `loops`, edges (from, to) that close a recurrence, counting
    positions in chain + side."""

    chain: tuple = ()
    side: tuple = ()
    loops: tuple = ()


MS = 1e-3  # EventProp layers count time in ms; their graphs use seconds


def _export_eventprop_lif(layer, shape, nir):
    size = (layer.out_features,)
    tau_syn = _array(layer.tau_syn * MS, size)
    cuba = nir.CubaLIF(tau_syn=tau_syn, tau_mem=_array(layer.tau_mem * MS, size),
                       r=np.ones(size, np.float32), v_leak=np.zeros(size, np.float32),
                       v_threshold=_array(layer.threshold, size), w_in=tau_syn,
                       metadata={"reset": "to 0 at the exact crossing time"})
    chain = (nir.Linear(weight=_array(layer.weight, layer.weight.shape)), cuba)
    if layer.recurrent_weight is None:
        return NirSegment(chain)
    recurrent = nir.Linear(weight=_array(layer.recurrent_weight, layer.recurrent_weight.shape))
    return NirSegment(chain, side=(("recurrent", recurrent),), loops=((1, 2), (2, 1)))


def _export_eventprop_readout(layer, shape, nir):
    size = (layer.out_features,)
    tau_syn = _array(layer.tau_syn * MS, size)
    zeros = np.zeros(size, np.float32)
    return NirSegment((nir.Linear(weight=_array(layer.weight, layer.weight.shape)),
                       nir.LI(tau=tau_syn, r=tau_syn, v_leak=zeros),
                       nir.LI(tau=_array(layer.tau_mem * MS, size), r=np.ones(size, np.float32),
                              v_leak=zeros)))


def _export_first_spike_time(layer, shape, nir):
    return NirSegment()  # a reading of the output spikes: graph metadata "readout"


EXPORTERS: dict[type, Callable] = {
    IAF: _export_iaf,
    LIF: _export_lif,
    ExpLeak: _export_expleak,
    nn.Linear: _export_linear,
    nn.Conv2d: _export_conv2d,
    SumPool2d: _export_sumpool,
    AvgPool2d: _export_avgpool,
    MaxPool2d: _export_maxpool,
    nn.Flatten: _export_flatten,
    EventPropLIF: _export_eventprop_lif,
    EventPropReadout: _export_eventprop_readout,
    FirstSpikeTime: _export_first_spike_time,
}

# Layers whose output shape is not found by running a zero tensor through them (EventProp
# layers take spike-time lists): layer type -> (layer, input shape) -> output shape.
OUTPUT_SHAPES: dict[type, Callable] = {
    EventPropLIF: lambda layer, shape: (layer.out_features,),
    EventPropReadout: lambda layer, shape: (layer.out_features,),
    FirstSpikeTime: lambda layer, shape: shape,
}


def _exporter(layer: nn.Module) -> Callable:
    for cls in type(layer).__mro__:
        if cls in EXPORTERS:
            return EXPORTERS[cls]
    raise SnnDeployError(
        f"layer {type(layer).__name__} has no NIR export; supported: "
        f"{', '.join(sorted(c.__name__ for c in EXPORTERS))}"
    )


def _is_neuron(layer) -> bool:
    return isinstance(layer, (IAF, LIF, ExpLeak))


def _time_stepped_metadata(model: nn.Sequential, dt_seconds: Optional[float]) -> dict:
    metadata = {"writer": WRITER, "dt": 1.0, "time_unit": "time step", "discretization": "exp",
                "rule": "alpha = exp(-dt/tau); v_t = alpha v_{t-1} + r x_t; spike when v >= v_threshold"}
    if dt_seconds is not None:
        metadata["dt_seconds"] = float(dt_seconds)
    return metadata


def _eventprop_metadata(model: EventPropNetwork, dt_seconds: Optional[float]) -> dict:
    dt = model.dt * MS
    if dt_seconds is not None and not np.isclose(dt_seconds, dt, rtol=1e-9, atol=0.0):
        raise SnnDeployError(f"the EventProp network was trained with dt = {model.dt} ms; "
                             f"dt_seconds={dt_seconds} contradicts it (leave it out)")
    readout = "first_spike" if any(isinstance(m, FirstSpikeTime) for m in model.layers) else "voltage"
    return {"writer": WRITER, "dt": dt, "time_unit": "s", "spike_times": "exact",
            "trainer": "eventprop", "readout": readout}


def _layers_and_metadata(model: nn.Module, dt_seconds: Optional[float]) -> tuple[nn.Sequential, dict]:
    if isinstance(model, EventPropNetwork):
        return model.layers, _eventprop_metadata(model, dt_seconds)
    if not isinstance(model, nn.Sequential):
        raise SnnDeployError(f"NIR export takes a sequential network (nn.Sequential) or an "
                             f"EventPropNetwork, got {type(model).__name__}")
    if any(isinstance(layer, tuple(OUTPUT_SHAPES)) for layer in model):
        raise SnnDeployError("EventProp layers are exported inside their EventPropNetwork (it "
                             "holds the step dt); wrap them: EventPropNetwork(layers, dt)")
    return model, _time_stepped_metadata(model, dt_seconds)


def _output_shape(layer: nn.Module, shape: tuple, probe: torch.Tensor) -> tuple[tuple, torch.Tensor]:
    rule = OUTPUT_SHAPES.get(type(layer))
    if rule is not None:
        shape = tuple(rule(layer, shape))
        return shape, torch.zeros(1, *shape)
    if _is_neuron(layer):
        return shape, probe
    probe = layer(probe)
    return tuple(probe.shape[1:]), probe


def model_to_nir(model: nn.Module, input_shape: tuple[int, ...], dt_seconds: Optional[float] = None):
    """The NIRGraph of a sequential snndeploy network (or an EventPropNetwork) whose samples have
    shape `input_shape` (without batch and time, e.g. (2, 34, 34))."""
    nir = _nir()
    layers, metadata = _layers_and_metadata(model, dt_seconds)
    shape = tuple(int(v) for v in input_shape)
    nodes, owners = [nir.Input(input_type={"input": np.array(shape)})], [None]
    side: dict[str, object] = {}
    loops: list[tuple] = []  # (from, to): a chain position (int) or a side node's name
    probe = torch.zeros(1, *shape)
    with torch.no_grad():
        for index, layer in enumerate(layers):
            try:
                exported = _exporter(layer)(layer, shape, nir)
            except SnnDeployError as err:
                raise SnnDeployError(f"layer {index}: {err}") from None
            segment = exported if isinstance(exported, NirSegment) else NirSegment((exported,))
            side_names = [f"layer{index}_{name}" for name, _ in segment.side]
            side.update(zip(side_names, (node for _, node in segment.side)))
            ends = [len(nodes) + k for k in range(len(segment.chain))] + side_names
            loops += [(ends[a], ends[b]) for a, b in segment.loops]
            nodes += segment.chain
            owners += [layer] * len(segment.chain)
            shape, probe = _output_shape(layer, shape, probe)
    nodes.append(nir.Output(output_type={"output": np.array(shape)}))
    chain = nir.NIRGraph.from_list(*nodes)
    names = list(chain.nodes)
    name_of = lambda end: names[end] if isinstance(end, int) else end  # noqa: E731
    graph = nir.NIRGraph(nodes={**chain.nodes, **side}, metadata=metadata,
                         edges=chain.edges + [(name_of(a), name_of(b)) for a, b in loops])
    for name, node, layer in zip(names, chain.nodes.values(), owners):
        if isinstance(node, nir.AvgPool2d):
            graph.metadata[f"{name}.adjusted"] = int(bool(layer.adjusted))
        if metadata["time_unit"] == "s" and isinstance(node, (nir.CubaLIF, nir.LI)):
            node.metadata = {**(node.metadata or {}), "dt": metadata["dt"]}
    return graph


def export_nir(model: nn.Module, path: "str | os.PathLike", input_shape: tuple[int, ...],
               dt_seconds: Optional[float] = None) -> Path:
    """Write `model` as a NIR (HDF5) file, atomically. See the module docstring for the
    time convention written into the metadata. Returns the path."""
    nir = _nir()
    graph = model_to_nir(model, input_shape, dt_seconds)
    return write_atomically(path, lambda temp: nir.write(str(temp), graph))


# ==== import =============================================================================
@dataclass(frozen=True)
class Convention:
    """How a foreign file's continuous-time parameters become one update per step."""

    description: str
    alpha: Callable[[np.ndarray, float], np.ndarray]          # (tau, dt) -> per-step decay
    leaky_gain: Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (r, tau, dt) -> input gain
    if_gain: Callable[[np.ndarray, float], np.ndarray]        # (r, dt) -> IF input gain
    synapse_gain: Callable[[np.ndarray, np.ndarray, float], np.ndarray]  # (w_in, tau_syn, dt)
    spike_fn: object


CONVENTIONS: dict[str, Convention] = {
    "sinabs": Convention(
        "tau in steps, alpha = exp(-1/tau), input gain 1 (r ignored), multi-spike, no floor",
        alpha=lambda tau, dt: np.exp(-dt / tau),
        leaky_gain=lambda r, tau, dt: np.ones_like(tau),
        if_gain=lambda r, dt: np.ones_like(r),
        synapse_gain=lambda w_in, tau_syn, dt: np.asarray(w_in),
        spike_fn=MultiSpike()),
    "euler": Convention(
        "forward Euler at dt: alpha = 1 - dt/tau, input gain r dt/tau, one spike per step, no floor",
        alpha=lambda tau, dt: 1.0 - dt / tau,
        leaky_gain=lambda r, tau, dt: r * dt / tau,
        if_gain=lambda r, dt: r * dt,
        synapse_gain=lambda w_in, tau_syn, dt: w_in * dt / tau_syn,
        spike_fn=SingleSpike()),
}


class _Importer:
    """Builds the layer list of one graph; holds the options and the pending input gain."""

    def __init__(self, graph, convention: Optional[str], dt: Optional[float], per_layer: bool):
        self.graph = graph
        self.meta = {k: _plain(v) for k, v in (graph.metadata or {}).items()}
        self.ours = self.meta.get("writer") == WRITER
        name = "sinabs" if convention is None else convention
        if name not in CONVENTIONS:
            raise SnnDeployError(f"unknown NIR convention {name!r}; choose one of {sorted(CONVENTIONS)}")
        self.convention = CONVENTIONS[name]
        self.dt = float(self.meta.get("dt", 1.0) if dt is None else dt)
        self.per_layer = per_layer
        self.layers: list[nn.Module] = []

    # -- parameters --------------------------------------------------------------------
    def value(self, array, field: str, node_name: str):
        array = np.asarray(array, np.float64)
        if array.size == 0:
            raise SnnDeployError(f"NIR node {node_name}: {field} is empty")
        if np.all(array == array.flat[0]):
            return float(array.flat[0])
        if self.per_layer:
            warnings.warn(f"NIR node {node_name}: {field} differs across neurons "
                          f"({array.min():.4g} .. {array.max():.4g}); using the mean {array.mean():.4g} for the whole layer",
                          stacklevel=3)
            return float(array.mean())
        return torch.as_tensor(array, dtype=torch.float)

    def fold_gain(self, gain, node_name: str) -> None:
        """Multiply the preceding Affine / Conv2d output by `gain` (scalar or per channel)."""
        gain = np.asarray(gain, np.float64)
        if np.allclose(gain, 1.0, rtol=0, atol=1e-7):
            return
        target = next((l for l in reversed(self.layers) if isinstance(l, (nn.Linear, nn.Conv2d))), None)
        between = self.layers[self.layers.index(target) + 1:] if target is not None else []
        if target is None or any(_is_neuron(l) for l in between):
            raise SnnDeployError(f"NIR node {node_name}: its input gain (r / w_in) is not 1 and no "
                                 "Affine or Conv2d precedes it to carry the gain")
        per_channel = gain.reshape(gain.shape[0], -1) if gain.ndim > 1 else gain.reshape(-1, 1)
        if gain.ndim > 0 and not np.allclose(per_channel, per_channel[:, :1]):
            raise SnnDeployError(f"NIR node {node_name}: input gain varies within a channel; cannot fold it")
        scale = torch.as_tensor(per_channel[:, 0] if gain.ndim > 0 else gain, dtype=torch.float)
        with torch.no_grad():
            shape = (-1,) + (1,) * (target.weight.dim() - 1)
            target.weight.mul_(scale.reshape(shape) if scale.dim() else scale)
            if target.bias is not None:
                target.bias.mul_(scale)

    def neuron_options(self, node) -> dict:
        meta = {k: _plain(v) for k, v in (node.metadata or {}).items()}
        if self.ours or meta.get("writer") == WRITER:
            spike = meta.get("spikes_per_step", "multi")
            spike_fn = {"multi": MultiSpike(), "single": SingleSpike()}.get(spike) or MaxSpike(int(spike.split(":")[1]))
            reset = (MembraneSubtract(meta.get("subtract_value")) if meta.get("reset") == "subtract"
                     else MembraneReset(meta.get("reset_value", 0.0)))
            return dict(spike_fn=spike_fn, reset_fn=reset, min_v_mem=meta.get("min_v_mem"))
        return dict(spike_fn=self.convention.spike_fn, reset_fn=MembraneSubtract(), min_v_mem=None)

    def own(self, node) -> bool:
        return self.ours or _plain((node.metadata or {}).get("writer")) == WRITER


def _plain(value):
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, np.ndarray) and value.shape == ():
        return value.item()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _import_affine(node, name, imp: _Importer):
    weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=True)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float).reshape(-1))
    return [layer]


def _import_linear(node, name, imp: _Importer):
    weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float)
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False)
    with torch.no_grad():
        layer.weight.copy_(weight)
    return [layer]


def _pair(value) -> tuple[int, int]:
    array = np.atleast_1d(np.asarray(value)).astype(int)
    return (int(array[0]), int(array[-1]))


def _import_conv2d(node, name, imp: _Importer):
    if isinstance(node.padding, str):
        raise SnnDeployError(f"NIR node {name}: padding '{node.padding}' is not supported; give pixels")
    weight = torch.as_tensor(np.asarray(node.weight), dtype=torch.float)
    layer = nn.Conv2d(weight.shape[1] * int(node.groups), weight.shape[0], tuple(weight.shape[2:]),
                      stride=_pair(node.stride), padding=_pair(node.padding), dilation=_pair(node.dilation),
                      groups=int(node.groups), bias=True)
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.bias.copy_(torch.as_tensor(np.asarray(node.bias), dtype=torch.float).reshape(-1))
    return [layer]


def _check_no_padding(node, name):
    if np.any(np.asarray(node.padding) != 0):
        raise SnnDeployError(f"NIR node {name}: pooling with padding {node.padding} is not supported")


def _import_sumpool(node, name, imp: _Importer):
    _check_no_padding(node, name)
    return [SumPool2d(_pair(node.kernel_size), _pair(node.stride))]


def _import_avgpool(node, name, imp: _Importer):
    _check_no_padding(node, name)
    adjusted = bool(imp.meta.get(f"{name}.adjusted", 1))
    return [AvgPool2d(_pair(node.kernel_size), _pair(node.stride), adjusted=adjusted)]


def _import_flatten(node, name, imp: _Importer):
    start = node.start_dim + 1 if node.start_dim >= 0 else node.start_dim
    end = node.end_dim + 1 if node.end_dim >= 0 else node.end_dim
    return [nn.Flatten(start, end)]


def _import_if(node, name, imp: _Importer):
    threshold = imp.value(node.v_threshold, "v_threshold", name)
    options = imp.neuron_options(node)
    if not imp.own(node):
        imp.fold_gain(imp.convention.if_gain(np.asarray(node.r, np.float64), imp.dt), name)
    return [IAF(spike_threshold=threshold, **options)]


def _leak_parameters(node, name, imp: _Importer, tau_field: str):
    tau = np.asarray(getattr(node, tau_field), np.float64)
    if np.any(np.asarray(node.v_leak) != 0):
        raise SnnDeployError(f"NIR node {name}: v_leak != 0 has no snndeploy equivalent (the rest potential is 0)")
    if imp.own(node):
        tau_steps = tau
    else:
        alpha = imp.convention.alpha(tau, imp.dt)
        if np.any((alpha <= 0) | (alpha >= 1)):
            raise SnnDeployError(f"NIR node {name}: {tau_field} with dt={imp.dt} gives a decay outside (0, 1); "
                                 "pass the dt the file was written for (import_nir(..., dt=...))")
        tau_steps = -1.0 / np.log(alpha)
    return tau_steps


def _import_lif(node, name, imp: _Importer):
    tau_steps = _leak_parameters(node, name, imp, "tau")
    threshold = imp.value(node.v_threshold, "v_threshold", name)
    options = imp.neuron_options(node)
    if imp.own(node):
        norm = bool(_plain(node.metadata.get("norm_input", 0)))
    else:
        imp.fold_gain(imp.convention.leaky_gain(np.asarray(node.r, np.float64), np.asarray(node.tau, np.float64), imp.dt), name)
        norm = False
    return [LIF(tau_mem=imp.value(tau_steps, "tau", name), spike_threshold=threshold, norm_input=norm, **options)]


def _import_cubalif(node, name, imp: _Importer):
    tau_steps = _leak_parameters(node, name, imp, "tau_mem")
    tau_syn = np.asarray(node.tau_syn, np.float64)
    threshold = imp.value(node.v_threshold, "v_threshold", name)
    options = imp.neuron_options(node)
    if imp.own(node):
        syn_steps = tau_syn
        norm = bool(_plain(node.metadata.get("norm_input", 0)))
    else:
        alpha_syn = imp.convention.alpha(tau_syn, imp.dt)
        syn_steps = -1.0 / np.log(alpha_syn)
        # snndeploy's synapse: i_t = a_syn (i_{t-1} + x_t): the file's synaptic gain divided by a_syn
        gain = (imp.convention.synapse_gain(np.asarray(node.w_in, np.float64), tau_syn, imp.dt) / alpha_syn
                * imp.convention.leaky_gain(np.asarray(node.r, np.float64), np.asarray(node.tau_mem, np.float64), imp.dt))
        imp.fold_gain(gain, name)
        norm = False
    return [LIF(tau_mem=imp.value(tau_steps, "tau_mem", name), tau_syn=imp.value(syn_steps, "tau_syn", name),
                spike_threshold=threshold, norm_input=norm, **options)]


def _import_li(node, name, imp: _Importer):
    tau_steps = _leak_parameters(node, name, imp, "tau")
    if imp.own(node):
        norm = bool(_plain(node.metadata.get("norm_input", 0)))
        floor = _plain(node.metadata.get("min_v_mem"))
    else:
        imp.fold_gain(imp.convention.leaky_gain(np.asarray(node.r, np.float64), np.asarray(node.tau, np.float64), imp.dt), name)
        norm, floor = False, None
    return [ExpLeak(tau_mem=imp.value(tau_steps, "tau", name), norm_input=norm, min_v_mem=floor)]


def _import_passthrough(node, name, imp: _Importer):
    return []


def _importers() -> dict[type, Callable]:
    nir = _nir()
    return {
        nir.Input: _import_passthrough,
        nir.Output: _import_passthrough,
        nir.Affine: _import_affine,
        nir.Linear: _import_linear,
        nir.Conv2d: _import_conv2d,
        nir.SumPool2d: _import_sumpool,
        nir.AvgPool2d: _import_avgpool,
        nir.Flatten: _import_flatten,
        nir.IF: _import_if,
        nir.LIF: _import_lif,
        nir.CubaLIF: _import_cubalif,
        nir.LI: _import_li,
    }


def _chain(graph, source: str) -> list[str]:
    """Node names from the single Input to the single Output; anything else is refused."""
    nir = _nir()
    successors: dict[str, list[str]] = {}
    for a, b in graph.edges:
        successors.setdefault(a, []).append(b)
    inputs = [n for n, node in graph.nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise SnnDeployError(f"{source}: expected one Input node, found {len(inputs)}; only feed-forward "
                             "chains (MLPs and CNNs without branches) are imported")
    order, current = [], inputs[0]
    while True:
        order.append(current)
        following = successors.get(current, [])
        if not following:
            break
        if len(following) > 1 or following[0] in order:
            raise SnnDeployError(f"{source}: node {current!r} has edges to {following}; only feed-forward "
                                 "chains without branches or recurrence are imported")
        current = following[0]
    if len(order) != len(graph.nodes):
        rest = sorted(set(graph.nodes) - set(order))
        raise SnnDeployError(f"{source}: nodes {rest} are not on the chain from the input to the output "
                             "(branches, recurrence or unconnected nodes are not imported)")
    return order


def graph_to_model(graph, convention: Optional[str] = None, dt: Optional[float] = None,
                   per_layer: bool = False, source: str = "NIR graph"):
    """A `snndeploy.train.SpikingSequential` from a NIRGraph (see the module docstring)."""
    from snndeploy.train import SpikingSequential

    if _plain((graph.metadata or {}).get("trainer")) == "eventprop":
        raise SnnDeployError(f"{source}: an EventProp graph (continuous time, exact spike times) "
                             "cannot be imported as time-stepped layers; use the EventProp "
                             "training checkpoint it was exported from")
    importers = _importers()
    imp = _Importer(graph, convention, dt, per_layer)
    for name in _chain(graph, source):
        node = graph.nodes[name]
        builder = importers.get(type(node))
        if builder is None:
            raise SnnDeployError(
                f"{source}: node {name!r} of type {type(node).__name__} cannot be imported; supported: "
                f"{', '.join(sorted(t.__name__ for t in importers))}"
            )
        imp.layers.extend(builder(node, name, imp))
    model = SpikingSequential(*imp.layers)
    model.eval()
    return model


def import_nir(path, convention: Optional[str] = None, dt: Optional[float] = None,
               per_layer: bool = False):
    """Read a NIR file (or a `nir.NIRGraph` in memory) into a snndeploy network
    (`SpikingSequential`, eval mode).

    convention: how to read files not written by snndeploy ("sinabs", default, or "euler");
    dt: the step length in the file's time unit (default: the file's metadata "dt", else 1);
    per_layer: replace per-neuron parameters that differ by their mean (with a warning).
    """
    nir = _nir()
    if isinstance(path, nir.NIRGraph):
        return graph_to_model(path, convention, dt, per_layer)
    path = Path(path)
    if not path.is_file():
        raise SnnDeployError(f"NIR file {path} does not exist")
    try:
        graph = nir.read(str(path))
    except Exception as err:  # h5py / nir raise many types for a damaged or foreign file
        raise SnnDeployError(f"{path}: not a readable NIR file ({type(err).__name__}: {err})") from None
    if not isinstance(graph, nir.NIRGraph):
        graph = nir.NIRGraph.from_list(graph)
    return graph_to_model(graph, convention, dt, per_layer, source=str(path))


def nir_input_shape(path: "str | os.PathLike") -> tuple[int, ...]:
    """The sample shape (without batch and time) of a NIR file's Input node."""
    nir = _nir()
    graph = nir.read(str(path))
    for node in graph.nodes.values():
        if isinstance(node, nir.Input):
            return tuple(int(v) for v in np.asarray(node.input_type["input"]).reshape(-1))
    raise SnnDeployError(f"{path}: the graph has no Input node")


__all__ = ["CONVENTIONS", "EXPORTERS", "NirSegment", "OUTPUT_SHAPES", "export_nir", "graph_to_model", "import_nir", "model_to_nir", "nir_input_shape"]
