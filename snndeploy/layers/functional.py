"""Pure functions of the IF/LIF/leaky-integrator neuron and its training backends.

Update rule (sinabs' order, per neuron, time t = 0..T−1, x_t the input already weighted and,
for LIF with `norm_input`, already multiplied by (1 − α)):

    p_t = α · v_{t−1} + x_t                      (v_{−1} = v_init; α = 1 for IAF)
    s_t = spike_fn(p_t, θ)                       (see `activation`: single / multi / max-k)
    q_t = p_t − a · s_t                          (reset by subtraction, a = θ or the set amount)
        = r       where s_t > 0, else p_t        (reset to value r)
    v_t = max(q_t − m, 0) + m,  m = min_v_mem   (only when set; = max(q_t, m) up to the
                                                 rounding sinabs also applies)

The floor is applied after the reset, exactly as sinabs does (EXODUS' kernel clamps before the
spike; the two differ only when a reset undershoots min_v_mem). A leaky integrator (ExpLeak)
never spikes and outputs p_t. The state carried to the next call is v_{T−1}.

Backends compute the same forward and these gradients (the floor passes gradient where
q_t − m > 0):

* "bptt": torch autograd through a Python loop over time (the reference).
* "exodus": a fused forward scan and an O(T) reverse scan (`snndeploy.kernels`), no
  per-step autograd graph; gradients equal BPTT's, the reset term included
  (EXODUS, Bauer et al. 2023, eqs. 15–16).
* "slayer": the same scan with the reset term dropped from the gradient, the approximation
  EXODUS corrects; kept for comparison.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import torch

from snndeploy.kernels import ScanParams, ScanSpec, implementation_for
from snndeploy.layers.activation import spike_count


class _SurrogateSpike(torch.autograd.Function):
    """Spike count forward, surrogate derivative backward."""

    @staticmethod
    def forward(ctx, p, threshold, max_spikes, surrogate):
        ctx.save_for_backward(p, threshold)
        ctx.surrogate = surrogate
        return spike_count(p, threshold, max_spikes)

    @staticmethod
    def backward(ctx, grad):
        p, threshold = ctx.saved_tensors
        return grad * ctx.surrogate(p, threshold), None, None, None


def bptt_scan(x, v0, prm: ScanParams, spec: ScanSpec):
    """Reference scan with plain autograd; returns (output, state trace or None, final state)."""
    if not spec.keep_reset_term:
        raise ValueError("bptt always differentiates through the reset")
    state = v0
    outputs, trace = [], []
    for t in range(x.shape[1]):
        p = prm.alpha * state + x[:, t]
        if spec.max_spikes == 0:
            out, q = p, p
        else:
            out = _SurrogateSpike.apply(p, prm.threshold, spec.max_spikes, spec.surrogate)
            if spec.subtracts:
                q = p - out * prm.reset_amount
            else:
                q = torch.where(out.detach() > 0, prm.reset_amount, p)
        state = torch.relu(q - prm.min_v) + prm.min_v if spec.has_min else q
        outputs.append(out)
        if spec.record:
            trace.append(state)
    return torch.stack(outputs, 1), (torch.stack(trace, 1) if spec.record else None), state


class _ScanFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, v0, alpha, threshold, reset_amount, min_v, spec: ScanSpec):
        prm = ScanParams(alpha.detach(), threshold.detach(), reset_amount.detach(), min_v.detach())
        x, v0 = x.detach().contiguous(), v0.detach().contiguous()
        impl = implementation_for(x)
        p, s, trace, v_final = impl.forward(x, v0, prm, spec)
        ctx.save_for_backward(p, s, v0, prm.alpha, prm.threshold, prm.reset_amount, prm.min_v)
        ctx.spec = spec
        ctx.impl = impl
        out = p if spec.max_spikes == 0 else s
        if trace is None:
            return out, v_final
        return out, v_final, trace

    @staticmethod
    def backward(ctx, grad_out, grad_v_final, grad_trace=None):
        p, s, v0, alpha, threshold, reset_amount, min_v = ctx.saved_tensors
        spec = ctx.spec
        prm = ScanParams(alpha, threshold, reset_amount, min_v)
        grad_out = _dense(grad_out, p)
        grad_v_final = _dense(grad_v_final, v0)
        grad_trace = None if grad_trace is None else grad_trace.contiguous()
        needs_alpha = ctx.needs_input_grad[2]
        grad_p, grad_v0, grad_alpha = ctx.impl.backward(
            p, s, grad_out, grad_trace, grad_v_final, v0, prm, spec, needs_alpha
        )
        return grad_p, grad_v0, grad_alpha.sum(0) if needs_alpha else None, None, None, None, None


def _dense(grad: Optional[torch.Tensor], like: torch.Tensor) -> torch.Tensor:
    return torch.zeros_like(like) if grad is None else grad.contiguous()


def exodus_scan(x, v0, prm: ScanParams, spec: ScanSpec):
    """Fused scan with the exact reverse-scan gradient (or SLAYER's when keep_reset_term=False)."""
    result = _ScanFunction.apply(x, v0, prm.alpha, prm.threshold, prm.reset_amount, prm.min_v, spec)
    if spec.record:
        out, v_final, trace = result
        return out, trace, v_final
    out, v_final = result
    return out, None, v_final


@dataclass(frozen=True)
class Backend:
    """A way to train the neuron: its scan and whether its gradient keeps the reset term."""

    name: str
    scan: Callable
    keeps_reset_term: bool


BACKENDS = {
    backend.name: backend
    for backend in (
        Backend("bptt", bptt_scan, True),
        Backend("exodus", exodus_scan, True),
        Backend("slayer", exodus_scan, False),
    )
}
