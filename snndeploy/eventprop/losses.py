"""The loss family of Nowotny, Turner & Knight (2022), as functions of ordinary tensors.

Voltage losses take the readout trace v (batch, steps, classes) of `EventPropReadout`, sampled
at the step ends t_n = (n+1)·dt, and integer labels (batch,); integrals over the trial are the
right-endpoint sums Σ_n dt·(...), so they converge to the paper's integrals as dt → 0 with
slope 1. Their autograd gradient ∂L/∂v reaches the readout's backward pass as jumps of a_V at
the step ends, which is the paper's drive term of λ_V (eq. 7, 32, 37) on the sampled time grid.

* "sum":          cross-entropy of ∫ V dt                         (eq. 4)
* "sum_exp":      cross-entropy of ∫ e^{−t/T} V dt, T the trial   (eq. 12, best on SHD)
* "max":          cross-entropy of max_n V(t_n)                    (eq. 10)
* "per_step_ce":  ∫ cross-entropy(V(t)) dt                         (eq. 1, the negative result)
* "first_spike":  spiking output, times (batch, classes) from `FirstSpikeTime`:
                  cross-entropy of −t/τ0 plus α(e^{t_label/τ1} − 1)  (eq. 11)

All are means over the batch. `LOSSES` maps each name to its function; `classify` maps each to
the prediction rule that goes with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from snndeploy.errors import SnnDeployError


def _check(v: torch.Tensor, labels: torch.Tensor, name: str) -> None:
    if v.dim() != 3:
        raise SnnDeployError(
            f"{name} loss: expected the readout trace (batch, steps, classes), got shape "
            f"{tuple(v.shape)}"
        )
    if labels.shape != (v.shape[0],):
        raise SnnDeployError(
            f"{name} loss: labels must have shape ({v.shape[0]},), got {tuple(labels.shape)}"
        )


def sum_logits(v: torch.Tensor, dt: float) -> torch.Tensor:
    return v.sum(1) * dt


def sum_exp_logits(v: torch.Tensor, dt: float) -> torch.Tensor:
    steps = v.shape[1]
    t = (torch.arange(steps, dtype=v.dtype, device=v.device) + 1) * dt
    weights = torch.exp(-t / (steps * dt))
    return (v * weights[None, :, None]).sum(1) * dt


def max_logits(v: torch.Tensor, dt: float) -> torch.Tensor:
    return v.max(1).values


def sum_loss(v, labels, dt: float) -> torch.Tensor:
    _check(v, labels, "sum")
    return F.cross_entropy(sum_logits(v, dt), labels)


def sum_exp_loss(v, labels, dt: float) -> torch.Tensor:
    _check(v, labels, "sum_exp")
    return F.cross_entropy(sum_exp_logits(v, dt), labels)


def max_loss(v, labels, dt: float) -> torch.Tensor:
    _check(v, labels, "max")
    return F.cross_entropy(max_logits(v, dt), labels)


def per_step_cross_entropy_loss(v, labels, dt: float) -> torch.Tensor:
    _check(v, labels, "per_step_ce")
    batch, steps, classes = v.shape
    per_step = F.cross_entropy(v.reshape(-1, classes), labels.repeat_interleave(steps),
                               reduction="none")
    return per_step.sum() * dt / batch


def first_spike_loss(times, labels, tau0: float = 0.5, tau1: float = 6.4,
                     alpha: float = 3e-3) -> torch.Tensor:
    """Time-to-first-spike loss; `times` (batch, classes) from `FirstSpikeTime`."""
    if times.dim() != 2 or labels.shape != (times.shape[0],):
        raise SnnDeployError(
            f"first_spike loss: expected times (batch, classes) and labels (batch,), got "
            f"{tuple(times.shape)} and {tuple(labels.shape)}"
        )
    label_time = times.gather(1, labels[:, None])[:, 0]
    cross_entropy = F.cross_entropy(-times / tau0, labels)
    return cross_entropy + alpha * (torch.exp(label_time / tau1) - 1).mean()


@dataclass(frozen=True)
class LossSpec:
    """A loss and the prediction that goes with it (largest logit / earliest spike)."""

    compute: Callable
    predict: Callable
    spiking_output: bool


LOSSES = {
    "sum": LossSpec(lambda out, y, dt: sum_loss(out, y, dt),
                    lambda out, dt: sum_logits(out, dt).argmax(1), False),
    "sum_exp": LossSpec(lambda out, y, dt: sum_exp_loss(out, y, dt),
                        lambda out, dt: sum_exp_logits(out, dt).argmax(1), False),
    "max": LossSpec(lambda out, y, dt: max_loss(out, y, dt),
                    lambda out, dt: max_logits(out, dt).argmax(1), False),
    "per_step_ce": LossSpec(lambda out, y, dt: per_step_cross_entropy_loss(out, y, dt),
                            lambda out, dt: sum_logits(out, dt).argmax(1), False),
    "first_spike": LossSpec(lambda out, y, dt: first_spike_loss(out, y),
                            lambda out, dt: out.argmin(1), True),
}


def loss_spec(name: str) -> LossSpec:
    try:
        return LOSSES[name]
    except KeyError:
        raise SnnDeployError(
            f"unknown EventProp loss '{name}'; choose one of {sorted(LOSSES)}"
        ) from None
