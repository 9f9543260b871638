"""Spike generation, reset and surrogate gradients as small pluggable objects.

The names and defaults are those sinabs users know (`MultiSpike`, `MembraneSubtract`,
`SingleExponential`, ...). Each object carries the numbers the compiled scans need, so the
kernels never branch on strings:

* a spike function gives `max_spikes` (the cap K on spikes per step; `None` = unlimited,
  0 = the layer never spikes),
* a reset gives `subtracts` and its amount / value,
* a surrogate gives its torch formula (`__call__`), its index in the compiled kernels'
  `surrogate_scalar` (`kernel_id`) with its parameter vector (`params`), and a scalar Triton
  function of the same formula (looked up in `snndeploy.kernels.triton_scan`).

Spike count for a pre-spike membrane value v and threshold θ (the sinabs rules, bit for bit):

* `SingleSpike`: s = 1 if v − θ ≥ 0 else 0
* `MultiSpike`:  s = trunc(v / θ) if v > 0 else 0
* `MaxSpike(k)`: s = min(trunc(v / θ), k) if v > 0 else 0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Optional

import numba
import numpy as np
import torch


@dataclass(frozen=True)
class SingleSpike:
    """At most one spike per time step: s = 1[v ≥ θ]."""

    max_spikes: ClassVar[Optional[int]] = 1


@dataclass(frozen=True)
class MultiSpike:
    """As many spikes as thresholds fit: s = trunc(v/θ) for v > 0 (the chip's time-binned view)."""

    max_spikes: ClassVar[Optional[int]] = None


@dataclass(frozen=True)
class MaxSpike:
    """Multi-spike capped at `max_num_spikes_per_bin` spikes per step."""

    max_num_spikes_per_bin: int = 1

    def __post_init__(self) -> None:
        if int(self.max_num_spikes_per_bin) < 1:
            raise ValueError(
                f"MaxSpike(max_num_spikes_per_bin={self.max_num_spikes_per_bin}): the cap must be "
                "a positive integer"
            )

    @property
    def max_spikes(self) -> int:
        return int(self.max_num_spikes_per_bin)


def spike_count(v: torch.Tensor, threshold: torch.Tensor, max_spikes: Optional[int]) -> torch.Tensor:
    """Spikes emitted by pre-spike membrane `v` (torch formula shared by the bptt backend)."""
    if max_spikes == 0:
        return torch.zeros_like(v)
    if max_spikes == 1:
        return (v - threshold >= 0).to(v.dtype)
    spikes = (v > 0) * torch.div(v, threshold, rounding_mode="trunc")
    if max_spikes is not None:
        spikes = spikes.clamp(max=max_spikes)
    return spikes.to(v.dtype)


@dataclass(frozen=True)
class MembraneSubtract:
    """Reset by subtraction: v ← v − a·s with a = `subtract_value` (θ when None)."""

    subtract_value: Optional[float] = None
    subtracts: ClassVar[bool] = True


@dataclass(frozen=True)
class MembraneReset:
    """Reset to a value: v ← `reset_value` where the neuron spiked, unchanged elsewhere.

    The reset is a mask: no gradient flows through the spike into the reset (as in sinabs).
    """

    reset_value: float = 0.0
    subtracts: ClassVar[bool] = False


# --- surrogate gradients -------------------------------------------------------------------
# Each scalar function takes (v, θ, params) and returns dS/dv at the pre-spike membrane v.


@numba.njit(cache=True, inline="always")
def _single_exponential_scalar(v, threshold, params):
    width = threshold * params[0]
    return params[1] / width * math.exp(-abs(v - threshold) / width)


@numba.njit(cache=True, inline="always")
def _periodic_exponential_scalar(v, threshold, params):
    if v < threshold:
        shifted = v - threshold
    else:
        normalised = v / threshold - params[2]
        shifted = threshold * (2 * (normalised - math.floor(normalised)) - params[3])
    return params[1] * math.exp(-abs(shifted) / params[0])


@numba.njit(cache=True, inline="always")
def _heaviside_scalar(v, threshold, params):
    if v >= threshold - params[0]:
        return params[1] / threshold
    return params[2]


@numba.njit(cache=True, inline="always")
def surrogate_scalar(kernel_id, v, threshold, params):
    """The surrogate with `kernel_id` at one membrane value (an integer switch keeps the
    compiled kernels cacheable across processes, which a function argument does not)."""
    if kernel_id == 0:
        return _single_exponential_scalar(v, threshold, params)
    if kernel_id == 1:
        return _periodic_exponential_scalar(v, threshold, params)
    return _heaviside_scalar(v, threshold, params)


@dataclass(frozen=True)
class SingleExponential:
    """σ(v) = scale / (w θ) · exp(−|v − θ| / (w θ)), w = `grad_width` (Shrestha & Orchard 2018)."""

    grad_width: float = 0.5
    grad_scale: float = 1.0
    kernel_id: ClassVar[int] = 0

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        width = threshold * self.grad_width
        return self.grad_scale / width * torch.exp(-torch.abs(v - threshold) / width)

    @property
    def params(self) -> tuple[float, ...]:
        return (self.grad_width, self.grad_scale)


@dataclass(frozen=True)
class PeriodicExponential:
    """Periodic exponential of Weidel & Sheik 2021: peaks at every multiple of θ above threshold.

    Below θ: σ = scale·exp(−|v − θ| / w). From θ up: with n = v/θ − ½,
    σ = scale·exp(−|θ(2(n − ⌊n⌋) − 1)| / w).
    """

    grad_width: float = 0.5
    grad_scale: float = 1.0
    kernel_id: ClassVar[int] = 1

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        normalised = v / threshold - 0.5
        periodic = threshold * (2 * (normalised - torch.floor(normalised)) - 1)
        shifted = torch.where(v < threshold, v - threshold, periodic)
        return self.grad_scale * torch.exp(-torch.abs(shifted) / self.grad_width)

    @property
    def params(self) -> tuple[float, ...]:
        # ½ and 1 travel as parameters so that float32 kernels never promote to float64.
        return (self.grad_width, self.grad_scale, 0.5, 1.0)


@dataclass(frozen=True)
class Heaviside:
    """σ(v) = 1/θ where v ≥ θ − `window`, else 0 (a straight-through box)."""

    window: float = 1.0
    kernel_id: ClassVar[int] = 2

    def __call__(self, v: torch.Tensor, threshold: torch.Tensor) -> torch.Tensor:
        return (v >= threshold - self.window).to(v.dtype) / threshold

    @property
    def params(self) -> tuple[float, ...]:
        return (self.window, 1.0, 0.0)


def surrogate_params(surrogate, dtype: np.dtype) -> np.ndarray:
    """The surrogate's parameter vector in the kernel's dtype."""
    return np.asarray(surrogate.params, dtype=dtype)


SURROGATES = {cls.__name__: cls for cls in (SingleExponential, PeriodicExponential, Heaviside)}
SPIKE_FUNCTIONS = {cls.__name__: cls for cls in (SingleSpike, MultiSpike, MaxSpike)}
RESETS = {cls.__name__: cls for cls in (MembraneSubtract, MembraneReset)}
