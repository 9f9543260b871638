"""Neurons trained by event-driven backpropagation with time-based gradients (paper 004, Zhu et al.).

Tensors are (batch, time, *features); the ``*Squeeze`` variants take (batch·time, *features).
Every call is one whole sequence that starts from rest (all traces 0); no state is carried
between calls. Output spikes are 0/1, one spike per step at most.

Forward rule per neuron and time step t (θx = 1/τx, decay_x = 1 − θx, input current I_t):

`SRM` (leaky, two time constants)::

    syn_m = (syn_m + I_t)·decay_m;  syn_s = (syn_s + I_t)·decay_s;  syn_g = (syn_g + I_t)·decay_g
    u_t   = (syn_m − syn_s)·θs/(θs − θm)
    spike_t = 1 if u_t − θ ≥ 0;  on a spike syn_m, syn_s, syn_g ← 0 (earlier input is forgotten)

so u_t = Σ_{t' in window} I_t' κ(t − t'), κ(Δ) = θs/(θs−θm)(decay_m^(Δ+1) − decay_s^(Δ+1)), the
discrete double-exponential kernel; the window starts after the previous output spike.

`EventIAF` (non-leaky integrate-and-fire, reset to zero; the Speck neuron)::

    v = v + I_t;  syn_g = (syn_g + I_t)·decay_g
    spike_t = 1 if v − θ ≥ 0;  on a spike v, syn_g ← 0;  then, with min_v_mem m set,
    v ← max(v − m, 0) + m   (the floor after the reset, as snndeploy's IAF)

which is bit for bit `snndeploy.layers.IAF(spike_fn=SingleSpike(), reset_fn=MembraneReset(),
min_v_mem=m)` (see `EventIAF.to_iaf`). ``multi_spike=True`` emits n_t = floor(v/θ) spikes
instead of one (then v ← 0), which is Speck's rule (IAF with MultiSpike()); in the backward each
of the n_k spikes at t_k distributes its gradient G_k over the window, i.e. G_k becomes n_k·G_k.

Event-driven backward (``backend="event"``), a reverse scan: with G_k = ∂L/∂spike_k the
gradient arriving at output spike k (gradients at steps without a spike are ignored) and t_k
the first output spike at or after t,

    ∂L/∂I_t = G_k · h(t_k − t) / Σ_{t' in window of k} I_t' h(t_k − t'),   h(Δ) = decay_g^(Δ+1)

(a discrete e^{−Δ/τ_grad}); the denominator is syn_g at t_k before its reset (the kernels keep
syn_g of every step, so a spike forced at a step has its normaliser too). Inputs after the
last output spike get 0; a spike whose denominator is exactly 0 passes no gradient. Hence the
invariant of paper 004 eq. 8: Σ_t I_t ∂L/∂I_t = Σ_k n_k G_k per neuron, and through a weight layer
without bias Σ_j,t x_j,t ∂L/∂x_j,t = Σ_k G_k (for 0/1 input spikes: the sum of gradients over
input spikes equals the sum over output spikes). A weight's gradient is the chain rule through
the weight layer, Σ_t ∂L/∂I_t x_t, i.e. paper eq. 14 with the forward kernel ε replaced by the
same normalised h as the input path (the reference code uses κ there; a separate weight path
would need the weight layer and the neuron fused into one module).

The reference code's tricks are options, all off by default:

* ``grad_factor`` (paper code: 0.85): multiplies the input gradient of every such layer, which
  damps gradients growing with depth; breaks the invariant by that factor per layer.
* ``clip_dt_du`` (paper code: 4.0): caps |1/denominator| (= |∂t/∂u|), bounding the gradient of
  spikes reached by a near-cancelling input sum.
* `standardize_weights(model)`: reparametrises every Conv/Linear weight to zero mean and unit
  variance per output unit, which keeps firing rates from collapsing as weights move.
* `force_last_step(mask)` (paper: supervisory signal): the labelled output neuron fires at the
  last step, so a silent output neuron still receives gradient.
* gradient-norm clipping is an optimiser step option (``torch.nn.utils.clip_grad_norm_``), used
  by ``benchmarks``/``examples`` scripts through their ``--grad-clip`` flag.
"""

from __future__ import annotations

from typing import Optional

import torch
from torch import nn
from torch.nn.utils import parametrize

from snndeploy.errors import SnnDeployError
from snndeploy.kernels.event_scan import EventConstants, implementation_for
from snndeploy.layers.neurons import _Squeeze

BACKENDS = ("event",)


class _EventScan(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, constants: EventConstants, forced_last: Optional[torch.Tensor]):
        spikes, norm, _ = implementation_for(x).forward(x, constants)
        if forced_last is not None:
            spikes[:, -1] = torch.maximum(spikes[:, -1], forced_last.to(spikes.dtype))
        ctx.save_for_backward(spikes, norm)
        ctx.constants = constants
        return spikes

    @staticmethod
    def backward(ctx, grad_spikes):
        spikes, norm = ctx.saved_tensors
        grad_x = implementation_for(spikes).backward(grad_spikes.contiguous(), spikes, norm,
                                                     ctx.constants)
        return grad_x, None, None


def event_scan(x: torch.Tensor, constants: EventConstants,
               forced_last: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Spikes of (batch, time, *features) currents with the event-driven backward; forced_last
    (batch, *features) of 0/1 adds a spike at the last step (supervisory signal)."""
    if x.dim() < 2:
        raise SnnDeployError(f"event-driven neurons expect (batch, time, ...) inputs, got {tuple(x.shape)}")
    flat = x.reshape(x.shape[0], x.shape[1], -1).contiguous()
    if forced_last is not None:
        if forced_last.shape != (x.shape[0], *x.shape[2:]):
            raise SnnDeployError(
                f"force_last_step: mask of shape {tuple(forced_last.shape)} does not match "
                f"(batch, *features) = {(x.shape[0], *x.shape[2:])} of the layer's input"
            )
        forced_last = forced_last.reshape(x.shape[0], -1).to(x.device)
    return _EventScan.apply(flat, constants, forced_last).reshape(x.shape)


def _decay(tau: float, name: str, layer: str) -> float:
    if not tau > 1:
        raise SnnDeployError(f"{layer}: {name} must be > 1 time step (decay 1 − 1/τ), got {tau!r}")
    return 1.0 - 1.0 / float(tau)


class _EventNeuron(nn.Module):
    def _init_common(self, spike_threshold, tau_grad, backend, grad_factor, clip_dt_du):
        name = type(self).__name__
        if backend not in BACKENDS:
            raise SnnDeployError(
                f"{name}: unknown backend {backend!r}; choose one of {BACKENDS} (for EXODUS / BPTT "
                "training use snndeploy.layers.IAF / LIF)"
            )
        if not spike_threshold > 0:
            raise SnnDeployError(f"{name}: spike_threshold must be > 0, got {spike_threshold!r}")
        if grad_factor is not None and not grad_factor > 0:
            raise SnnDeployError(f"{name}: grad_factor must be > 0 (paper code: 0.85), got {grad_factor!r}")
        if clip_dt_du is not None and not clip_dt_du > 0:
            raise SnnDeployError(f"{name}: clip_dt_du must be > 0 (paper code: 4.0), got {clip_dt_du!r}")
        self.spike_threshold = float(spike_threshold)
        self.tau_grad = float(tau_grad)
        self.backend = backend
        self.grad_factor = grad_factor
        self.clip_dt_du = clip_dt_du
        _decay(tau_grad, "tau_grad", name)
        self._forced_last = None

    def force_last_step(self, mask: torch.Tensor) -> None:
        """Paper-code trick (supervisory signal, paper 004 §4.1): the next forward call adds a
        spike at its last step wherever `mask` (batch, *features) is 1, so a silent output neuron
        of the labelled class still passes gradient to its last window's inputs. Used once."""
        self._forced_last = mask

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        forced, self._forced_last = self._forced_last, None
        return event_scan(x, self.constants(), forced)


class SRM(_EventNeuron):
    """Spike response model neuron with τm, τs and reset of all traces on a spike (module doc)."""

    def __init__(self, tau_mem: float = 7.0, tau_syn: float = 4.0, tau_grad: float = 3.5,
                 spike_threshold: float = 1.0, backend: str = "event",
                 grad_factor: Optional[float] = None, clip_dt_du: Optional[float] = None):
        super().__init__()
        self._init_common(spike_threshold, tau_grad, backend, grad_factor, clip_dt_du)
        _decay(tau_mem, "tau_mem", type(self).__name__)
        _decay(tau_syn, "tau_syn", type(self).__name__)
        if float(tau_mem) == float(tau_syn):
            raise SnnDeployError(f"{type(self).__name__}: tau_mem and tau_syn must differ (θs/(θs − θm))")
        self.tau_mem = float(tau_mem)
        self.tau_syn = float(tau_syn)

    def constants(self) -> EventConstants:
        theta_m, theta_s = 1.0 / self.tau_mem, 1.0 / self.tau_syn
        return EventConstants(True, 1 - theta_m, 1 - theta_s, 1 - 1 / self.tau_grad,
                              theta_s / (theta_s - theta_m), self.spike_threshold, None,
                              1.0 if self.grad_factor is None else self.grad_factor, self.clip_dt_du)

    def extra_repr(self) -> str:
        return (f"tau_mem={self.tau_mem}, tau_syn={self.tau_syn}, tau_grad={self.tau_grad}, "
                f"spike_threshold={self.spike_threshold}, backend={self.backend!r}")


class EventIAF(_EventNeuron):
    """Non-leaky integrate-and-fire neuron, reset to zero, event-driven backward (module doc)."""

    def __init__(self, spike_threshold: float = 1.0, tau_grad: float = 3.5,
                 min_v_mem: Optional[float] = None, backend: str = "event",
                 grad_factor: Optional[float] = None, clip_dt_du: Optional[float] = None,
                 multi_spike: bool = False):
        super().__init__()
        self._init_common(spike_threshold, tau_grad, backend, grad_factor, clip_dt_du)
        self.multi_spike = bool(multi_spike)
        if min_v_mem is not None and not min_v_mem < spike_threshold:
            raise SnnDeployError(f"{type(self).__name__}: min_v_mem {min_v_mem} must be below "
                                 f"spike_threshold {spike_threshold}")
        self.min_v_mem = None if min_v_mem is None else float(min_v_mem)

    def constants(self) -> EventConstants:
        return EventConstants(False, 1.0, 1.0, 1 - 1 / self.tau_grad, 1.0, self.spike_threshold,
                              self.min_v_mem,
                              1.0 if self.grad_factor is None else self.grad_factor, self.clip_dt_du,
                              self.multi_spike)

    def to_iaf(self, backend: str = "exodus") -> nn.Module:
        """The snndeploy IAF with the same forward (for quantize / mapping / EXODUS fine-tuning)."""
        from snndeploy.layers import IAF
        from snndeploy.layers.activation import MembraneReset

        return IAF(spike_threshold=self.spike_threshold, spike_fn=self._spike_fn(),
                   reset_fn=MembraneReset(), min_v_mem=self.min_v_mem, backend=backend)

    def _spike_fn(self):
        from snndeploy.layers.activation import MultiSpike, SingleSpike

        return MultiSpike() if self.multi_spike else SingleSpike()

    def extra_repr(self) -> str:
        return (f"spike_threshold={self.spike_threshold}, tau_grad={self.tau_grad}, "
                f"min_v_mem={self.min_v_mem}, multi_spike={self.multi_spike}, backend={self.backend!r}")


class SRMSqueeze(_Squeeze, SRM):
    """SRM on (batch·time, *features) tensors."""

    def __init__(self, batch_size: Optional[int] = None, num_timesteps: Optional[int] = None, **kwargs):
        SRM.__init__(self, **kwargs)
        self._init_squeeze(batch_size, num_timesteps)


class EventIAFSqueeze(_Squeeze, EventIAF):
    """EventIAF on (batch·time, *features) tensors."""

    def __init__(self, batch_size: Optional[int] = None, num_timesteps: Optional[int] = None, **kwargs):
        EventIAF.__init__(self, **kwargs)
        self._init_squeeze(batch_size, num_timesteps)

    def to_iaf(self, backend: str = "exodus") -> nn.Module:
        """The snndeploy IAFSqueeze with the same forward."""
        from snndeploy.layers import IAFSqueeze
        from snndeploy.layers.activation import MembraneReset

        return IAFSqueeze(batch_size=self.batch_size, num_timesteps=self.num_timesteps,
                          spike_threshold=self.spike_threshold, spike_fn=self._spike_fn(),
                          reset_fn=MembraneReset(), min_v_mem=self.min_v_mem, backend=backend)


EVENT_LAYERS = (SRM, EventIAF, SRMSqueeze, EventIAFSqueeze)


def event_to_iaf(model: nn.Module, backend: str = "exodus") -> nn.Module:
    """A copy of `model` whose EventIAF(Squeeze) layers are the equivalent snndeploy IAF(Squeeze)
    layers, ready for `snndeploy.quantize` and the chip mapping. SRM layers have two time
    constants, which the chip's IAF neuron cannot express: they raise."""
    import copy

    model = copy.deepcopy(model)
    for name, child in list(model.named_children()):
        if isinstance(child, (SRM, SRMSqueeze)):
            raise SnnDeployError(
                f"layer {name!r} is an SRM neuron (τm, τs): Speck's IAF neuron has no leak and no "
                "synaptic trace; train with EventIAF to deploy"
            )
        if isinstance(child, (EventIAF, EventIAFSqueeze)):
            setattr(model, name, child.to_iaf(backend))
        else:
            setattr(model, name, event_to_iaf(child, backend))
    return model


class _Standardized(nn.Module):
    def __init__(self, eps: float):
        super().__init__()
        self.eps = eps

    def forward(self, weight: torch.Tensor) -> torch.Tensor:
        flat = weight.reshape(weight.shape[0], -1)
        mean = flat.mean(dim=1, keepdim=True)
        std = flat.std(dim=1, keepdim=True, unbiased=False)
        return ((flat - mean) / (std + self.eps)).reshape(weight.shape)


def standardize_weights(model: nn.Module, eps: float = 1e-5) -> nn.Module:
    """Paper-code trick (off unless called): every Conv/Linear weight becomes (w − mean)/(std + eps)
    per output unit through torch parametrization (in place; returns `model`)."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            parametrize.register_parametrization(module, "weight", _Standardized(eps))
    return model
