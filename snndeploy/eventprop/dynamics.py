"""Exact solutions of the current-based LIF neuron and of its adjoint over an interval h.

Model (Wunderlich & Pehle 2021, table 1 of Nowotny et al. 2022), per neuron:

    τm dV/dt = −V + I        τs dI/dt = −I
    spike when V crosses ϑ from below; then V ← 0 (I keeps its value)
    a presynaptic spike of neuron i at time u: I_j ← I_j + w_ji

Discretisation convention: genn_eventprop's (not ml_genn's). The synaptic current enters V
unscaled, and V, I advance over any interval h exactly:

    V(t+h) = αm(h)·V(t) + κ(h)·I(t),   I(t+h) = αs(h)·I(t)
    αm(h) = e^{−h/τm},  αs(h) = e^{−h/τs},
    κ(h)  = τs/(τm − τs)·(e^{−h/τm} − e^{−h/τs})      (τm ≠ τs)
          = h/τs · e^{−h/τs}                          (τm = τs)

The adjoint used here is a = (a_V, a_I) = (∂L/∂V(t), ∂L/∂I(t)): the derivative of the loss with
respect to a perturbation of the state at time t. Between events it evolves backwards with the
transpose of the same linear map,

    a_V(t) = αm(h)·a_V(t+h),   a_I(t) = κ(h)·a_V(t+h) + αs(h)·a_I(t+h),

which is the exact solution of da_V/dt = a_V/τm, da_I/dt = −a_V/τm + a_I/τs. Paper 003's
λ_V, λ_I are λ_V = −a_V/τm, λ_I = −a_I/τs; its in-step update (eq. 74) is the same map.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from snndeploy.errors import SnnDeployError


@dataclass(frozen=True)
class NeuronConstants:
    """Time constants, threshold and step of one EventProp layer (plain floats, not trained)."""

    tau_mem: float
    tau_syn: float
    threshold: float
    dt: float

    def __post_init__(self):
        for name in ("tau_mem", "tau_syn", "threshold", "dt"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
                raise SnnDeployError(
                    f"EventProp layer: {name}={value!r} must be a positive finite number"
                )

    @property
    def equal_taus(self) -> bool:
        return abs(self.tau_mem - self.tau_syn) <= 1e-12 * self.tau_mem

    def decay_mem(self, h: torch.Tensor) -> torch.Tensor:
        return torch.exp(-h / self.tau_mem)

    def decay_syn(self, h: torch.Tensor) -> torch.Tensor:
        return torch.exp(-h / self.tau_syn)

    def kappa(self, h: torch.Tensor) -> torch.Tensor:
        """V(t+h) caused by a unit current I(t) = 1 with V(t) = 0 (the PSP kernel)."""
        if self.equal_taus:
            return h / self.tau_syn * torch.exp(-h / self.tau_syn)
        return self.tau_syn / (self.tau_mem - self.tau_syn) * (
            torch.exp(-h / self.tau_mem) - torch.exp(-h / self.tau_syn)
        )


def advance_state(v, i, h, c: NeuronConstants):
    """(V, I) after an interval h ≥ 0 without events (elementwise; h broadcasts)."""
    return c.decay_mem(h) * v + c.kappa(h) * i, c.decay_syn(h) * i


def retreat_adjoint(a_v, a_i, h, c: NeuronConstants):
    """(a_V, a_I) an interval h ≥ 0 earlier, without events: the transpose of `advance_state`."""
    return c.decay_mem(h) * a_v, c.kappa(h) * a_v + c.decay_syn(h) * a_i
