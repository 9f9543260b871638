"""Swap sinabs neuron layers for snndeploy's and back, one call for a whole model.

`from_sinabs(model, backend="exodus")` returns a copy of `model` in which every sinabs IAF / LIF /
ExpLeak (and their Squeeze variants) is the snndeploy layer with the same parameters, state and
forward behaviour; `to_sinabs(model)` goes back. Other modules are copied unchanged. sinabs is
imported only by `to_sinabs` (and only its `sinabs.layers`, never the dynapcnn backend).
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.layers import activation, neurons

_OUR_CLASS_FOR = {
    "IAF": neurons.IAF, "IAFSqueeze": neurons.IAFSqueeze,
    "LIF": neurons.LIF, "LIFSqueeze": neurons.LIFSqueeze,
    "ExpLeak": neurons.ExpLeak, "ExpLeakSqueeze": neurons.ExpLeakSqueeze,
}
_UNSUPPORTED = ("IAFRecurrent", "LIFRecurrent")


def _is_sinabs(module: nn.Module) -> bool:
    return type(module).__module__.startswith("sinabs.")


def _translate(obj, registry: dict):
    """An activation object of one library as the same-named object of another."""
    if obj is None:
        return None
    cls = obj if isinstance(obj, type) else type(obj)
    target = registry.get(cls.__name__)
    if target is None:
        return obj  # e.g. a custom surrogate: kept as is (usable with backend="bptt")
    fields = {} if isinstance(obj, type) else {
        f.name: getattr(obj, f.name) for f in dataclasses.fields(obj) if f.init
    }
    return target(**fields)


def _squeeze_kwargs(layer) -> dict:
    if not hasattr(layer, "batch_size"):
        return {}
    unset = lambda v: None if v is None or v < 0 else int(v)  # noqa: E731  (sinabs uses −1)
    return {"batch_size": unset(layer.batch_size), "num_timesteps": unset(layer.num_timesteps)}


def _tau_kwargs(layer) -> dict:
    if getattr(layer, "train_alphas", False):
        tau = -1.0 / torch.log(layer.alpha_mem.detach())
    else:
        tau = layer.tau_mem.detach()
    return {"tau_mem": tau.clone(), "train_alphas": bool(layer.train_alphas)}


def _copy_state(src: nn.Module, dst: nn.Module) -> None:
    """Parameters, then the neuron state (v_mem, i_syn) as it stands."""
    with torch.no_grad():
        if getattr(src, "train_alphas", False):
            dst.alpha_mem.copy_(src.alpha_mem)
    for name in ("v_mem", "i_syn"):
        value = getattr(src, name, None)
        if value is not None and value.numel() > 0 and getattr(dst, name, None) is not None:
            setattr(dst, name, value.detach().clone())


def _to_ours(layer: nn.Module, backend: str) -> nn.Module:
    name = type(layer).__name__
    cls = _OUR_CLASS_FOR[name]
    common = dict(record_states=bool(layer.record_states), backend=backend,
                  min_v_mem=layer.min_v_mem, **_squeeze_kwargs(layer))
    if name.startswith("ExpLeak"):
        ours = cls(norm_input=bool(layer.norm_input), **_tau_kwargs(layer), **common)
    else:
        spiking = dict(
            spike_threshold=layer.spike_threshold.detach().clone(),
            spike_fn=_translate(layer.spike_fn, activation.SPIKE_FUNCTIONS),
            reset_fn=_translate(layer.reset_fn, activation.RESETS),
            surrogate_grad_fn=_translate(layer.surrogate_grad_fn, activation.SURROGATES),
            tau_syn=_tau_syn(layer),
        )
        if name.startswith("IAF"):
            ours = cls(**spiking, **common)
        else:
            ours = cls(norm_input=bool(layer.norm_input), **_tau_kwargs(layer), **spiking, **common)
    _copy_state(layer, ours)
    return ours.to(layer.spike_threshold.device if layer.spike_threshold is not None else "cpu")


def _tau_syn(layer):
    tau_syn = getattr(layer, "tau_syn", None)
    if tau_syn is None and getattr(layer, "alpha_syn", None) is not None:
        tau_syn = -1.0 / torch.log(layer.alpha_syn.detach())
    return None if tau_syn is None else torch.as_tensor(tau_syn).detach().clone()


def _copy(model: nn.Module) -> nn.Module:
    """deepcopy that takes neuron state still attached to an autograd graph as detached values."""
    memo = {id(buf): buf.detach().clone() for buf in model.buffers() if not buf.is_leaf}
    return copy.deepcopy(model, memo)


def _replace(model: nn.Module, convert, should_convert) -> nn.Module:
    if should_convert(model):
        return convert(model)
    for child_name, child in model.named_children():
        setattr(model, child_name, _replace(child, convert, should_convert))
    return model


def from_sinabs(model: nn.Module, backend: str = "exodus") -> nn.Module:
    """A copy of `model` whose sinabs neuron layers are snndeploy layers with `backend`."""
    for name, module in model.named_modules():
        if _is_sinabs(module) and type(module).__name__ in _UNSUPPORTED:
            raise SnnDeployError(
                f"from_sinabs: layer '{name}' is a {type(module).__name__} (recurrent), which has "
                "no snndeploy equivalent yet; unroll the recurrence into an explicit layer or "
                "keep the sinabs layer"
            )

    def should_convert(module: nn.Module) -> bool:
        return _is_sinabs(module) and type(module).__name__ in _OUR_CLASS_FOR

    return _replace(_copy(model), lambda m: _to_ours(m, backend), should_convert)


def to_sinabs(model: nn.Module) -> nn.Module:
    """A copy of `model` whose snndeploy neuron layers are sinabs layers (needs sinabs)."""
    try:
        import sinabs.activation as sinabs_activation
        import sinabs.layers as sinabs_layers
    except ImportError as err:
        raise SnnDeployError("to_sinabs needs sinabs: pip install sinabs") from err
    sinabs_registries = {
        "spike": {n: getattr(sinabs_activation, n) for n in activation.SPIKE_FUNCTIONS},
        "reset": {n: getattr(sinabs_activation, n) for n in activation.RESETS},
        "surrogate": {n: getattr(sinabs_activation, n) for n in activation.SURROGATES},
    }

    def convert(layer: nn.Module) -> nn.Module:
        name = type(layer).__name__
        cls = getattr(sinabs_layers, name)
        common = dict(record_states=layer.record_states, min_v_mem=layer.min_v_mem,
                      **{k: v for k, v in _squeeze_kwargs(layer).items() if v is not None})
        if not layer.spiking:
            theirs = cls(norm_input=layer.norm_input, **_tau_kwargs(layer), **common)
        else:
            spike_fn = _translate(layer.spike_fn, sinabs_registries["spike"])
            if type(layer.spike_fn).__name__ in ("SingleSpike", "MultiSpike"):
                spike_fn = type(spike_fn)  # sinabs expects these two as classes
            spiking = dict(
                spike_threshold=layer.spike_threshold.detach().clone(),
                spike_fn=spike_fn,
                reset_fn=_translate(layer.reset_fn, sinabs_registries["reset"]),
                surrogate_grad_fn=_translate(layer.surrogate_grad_fn, sinabs_registries["surrogate"]),
                tau_syn=_tau_syn(layer),
            )
            if isinstance(layer, neurons.IAF):
                theirs = cls(**spiking, **common)
            else:
                theirs = cls(norm_input=layer.norm_input, **_tau_kwargs(layer), **spiking, **common)
        _copy_state(layer, theirs)
        return theirs.to(layer.spike_threshold.device)

    return _replace(_copy(model), convert, lambda m: isinstance(m, neurons.NEURON_LAYERS))
