"""Losses for spiking classifiers whose output is (batch, time, classes).

Notation: o[b, t, k] is output k of sample b at time step t (spikes of the output neurons, or
any per-step readout), y_b the label, T the number of time steps, B the batch size, and
CE(z, y) = −z_y + log Σ_k exp(z_k) the cross-entropy of logits z.

* `SumOverTimeCrossEntropy`: L = (1/B) Σ_b CE(Σ_t o[b, t, :], y_b) (spike counts as logits).
* `MaxOverTimeCrossEntropy`: L = (1/B) Σ_b CE(max_t o[b, t, :], y_b) (EXODUS paper, SHD / SSC).
  The gradient reaches the time step of each class's maximum only (the first such step on ties).
* `SpikeCountMSE`: c[b, k] = Σ_t o[b, t, k], target n[b, k] = desired_rate·T if k = y_b else
  undesired_rate·T, L = (1/B) Σ_b Σ_k (c[b, k] − n[b, k])² / (2T), so that
  ∂L/∂c = (c − n)/(T·B): the spike-count error δ = (Σ_t o − N_target)/T of paper 004.

Each loss also says how it predicts a class (`predict`), so accuracy follows the loss's reading
of the output. LOSSES maps the CLI names to the classes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snndeploy.errors import SnnDeployError


def _check(outputs: torch.Tensor, labels: torch.Tensor) -> None:
    if outputs.dim() != 3:
        raise SnnDeployError(
            f"losses expect model outputs of shape (batch, time, classes), got {tuple(outputs.shape)}"
        )
    if labels.shape != outputs.shape[:1]:
        raise SnnDeployError(
            f"labels of shape {tuple(labels.shape)} do not match a batch of {outputs.shape[0]} outputs"
        )


class SumOverTimeCrossEntropy:
    """Cross-entropy of the spike counts: L = mean_b CE(Σ_t o[b, t, :], y_b)."""

    def __call__(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(outputs, labels)
        return F.cross_entropy(outputs.sum(dim=1), labels)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """The class with the most output spikes (lowest index on ties)."""
        return outputs.sum(dim=1).argmax(dim=1)


class MaxOverTimeCrossEntropy:
    """Cross-entropy of the per-class maximum over time: L = mean_b CE(max_t o[b, t, :], y_b)."""

    def __call__(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(outputs, labels)
        return F.cross_entropy(outputs.max(dim=1).values, labels)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """The class with the largest maximum over time (lowest index on ties)."""
        return outputs.max(dim=1).values.argmax(dim=1)


class SpikeCountMSE:
    """Squared spike-count error against target counts: L = mean_b Σ_k (c − n)² / (2T).

    Targets are rates times T: the labelled class should fire `desired_rate`·T spikes, the
    others `undesired_rate`·T.
    """

    def __init__(self, desired_rate: float = 0.5, undesired_rate: float = 0.0) -> None:
        if desired_rate < 0 or undesired_rate < 0:
            raise SnnDeployError(
                f"SpikeCountMSE: target rates must be ≥ 0 (desired {desired_rate}, "
                f"undesired {undesired_rate})"
            )
        self.desired_rate = desired_rate
        self.undesired_rate = undesired_rate

    def targets(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """n[b, k]: desired_rate·T for the labelled class, undesired_rate·T for the others."""
        steps = outputs.shape[1]
        chosen = F.one_hot(labels, outputs.shape[2]).to(outputs.dtype)
        return steps * (self.undesired_rate + (self.desired_rate - self.undesired_rate) * chosen)

    def __call__(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        _check(outputs, labels)
        counts = outputs.sum(dim=1)
        error = counts - self.targets(outputs, labels)
        return (error**2).sum(dim=1).mean() / (2 * outputs.shape[1])

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        """The class with the most output spikes (lowest index on ties)."""
        return outputs.sum(dim=1).argmax(dim=1)


LOSSES = {
    "sum-ce": SumOverTimeCrossEntropy,
    "max-ce": MaxOverTimeCrossEntropy,
    "count-mse": SpikeCountMSE,
}


def get_loss(name: str):
    """A loss object by its CLI name (a key of LOSSES)."""
    if name not in LOSSES:
        raise SnnDeployError(f"unknown loss {name!r}; choose one of {', '.join(LOSSES)}")
    return LOSSES[name]()
