"""Spike trains as event lists: what EventProp layers pass to each other.

A `SpikeTrain` holds one record per spike (sample, neuron, step, exact time), sorted by step,
so its memory grows with the number of spikes, never with the number of time steps. `times` is
a differentiable tensor: the gradient a layer receives on it is ∂L/∂t_k, and EventProp turns it
into the jump of the adjoint at that spike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from snndeploy.errors import SnnDeployError


@dataclass
class SpikeTrain:
    """Spikes of `num_neurons` neurons in `batch_size` trials of `num_steps` steps of `dt`.

    times: (K,) absolute spike times in [step·dt, (step+1)·dt]. sample, neuron, step: (K,) long.
    Records are sorted by step. end_times: (batch, neurons) tensor equal to the trial end
    num_steps·dt; its gradient is the 'phantom spike' drive of a silent neuron (see
    `first_spike_times`); None for input trains. current: (K,) synaptic current I at each
    spike (I − ϑ = τm·dV/dt there), None for input trains.
    """

    times: torch.Tensor
    sample: torch.Tensor
    neuron: torch.Tensor
    step: torch.Tensor
    batch_size: int
    num_neurons: int
    num_steps: int
    dt: float
    end_times: Optional[torch.Tensor] = None
    current: Optional[torch.Tensor] = None

    @property
    def duration(self) -> float:
        return self.num_steps * self.dt

    def __len__(self) -> int:
        return int(self.times.numel())

    def counts(self) -> torch.Tensor:
        """(batch, neurons) number of spikes of each neuron in each trial."""
        flat = torch.zeros(self.batch_size * self.num_neurons, dtype=torch.long,
                           device=self.times.device)
        flat.index_add_(0, self.sample * self.num_neurons + self.neuron,
                        torch.ones_like(self.sample))
        return flat.view(self.batch_size, self.num_neurons)

    def to_raster(self) -> torch.Tensor:
        """(batch, steps, neurons) spike counts per step (for plots and comparisons only)."""
        raster = torch.zeros(self.batch_size, self.num_steps, self.num_neurons,
                             dtype=self.times.dtype, device=self.times.device)
        raster.index_put_((self.sample, self.step, self.neuron),
                          torch.ones_like(self.times), accumulate=True)
        return raster

    @classmethod
    def from_times(cls, times: torch.Tensor, num_steps: int, dt: float) -> "SpikeTrain":
        """One spike per entry of a (batch, neurons) time tensor (latency codes); entries that
        are inf or NaN, or not inside [0, num_steps·dt), are no spike."""
        if times.dim() != 2:
            raise SnnDeployError(
                f"SpikeTrain.from_times: expected (batch, neurons) spike times, got shape "
                f"{tuple(times.shape)}"
            )
        batch, neurons = times.shape
        valid = torch.isfinite(times) & (times >= 0) & (times < num_steps * dt)
        sample, neuron = valid.nonzero(as_tuple=True)
        return cls.from_records(times[sample, neuron], sample, neuron, batch, neurons,
                                num_steps, dt)

    @classmethod
    def from_raster(cls, raster: torch.Tensor, dt: float) -> "SpikeTrain":
        """Spikes of a (batch, steps, neurons) 0/1 raster at the start of their step."""
        if raster.dim() != 3:
            raise SnnDeployError(
                f"SpikeTrain.from_raster: expected (batch, steps, neurons), got shape "
                f"{tuple(raster.shape)}"
            )
        if ((raster != 0) & (raster != 1)).any():
            raise SnnDeployError(
                "SpikeTrain.from_raster: the raster must hold 0 or 1 per step (EventProp inputs "
                "are single spikes; split multi-spike counts over neurons or steps)"
            )
        batch, steps, neurons = raster.shape
        sample, step, neuron = raster.nonzero(as_tuple=True)
        times = step.to(raster.dtype if raster.is_floating_point() else torch.float32) * dt
        return cls.from_records(times, sample, neuron, batch, neurons, steps, dt)

    @classmethod
    def from_records(cls, times, sample, neuron, batch_size, num_neurons, num_steps, dt,
                     end_times=None) -> "SpikeTrain":
        """Build from unsorted records; the step of a spike at time t is floor(t/dt)."""
        step = torch.clamp(torch.floor(times.detach() / dt).long(), 0, num_steps - 1)
        order = torch.argsort(step, stable=True)
        return cls(times[order], sample[order], neuron[order], step[order], batch_size,
                   num_neurons, num_steps, dt, end_times)

    def step_offsets(self) -> list[int]:
        """Python list of num_steps + 1 record offsets: step n is records [o[n], o[n+1])."""
        counts = torch.bincount(self.step, minlength=self.num_steps)
        offsets = torch.zeros(self.num_steps + 1, dtype=torch.long)
        offsets[1:] = torch.cumsum(counts.cpu(), 0)
        return offsets.tolist()


def first_spike_times(spikes: SpikeTrain, phantom: bool = True) -> torch.Tensor:
    """(batch, neurons) time of each neuron's first spike; trial end for silent neurons.

    With `phantom`, a silent neuron's entry carries `end_times`, whose gradient reaches the
    layer's backward pass as a spike at the trial end ('phantom spike', Nowotny et al. 2022
    §4.1), so a loss on it still moves that neuron's input weights. Without it the entry is a
    constant.
    """
    batch, neurons = spikes.batch_size, spikes.num_neurons
    if spikes.end_times is None:
        end = torch.full((batch, neurons), spikes.duration, dtype=spikes.times.dtype,
                         device=spikes.times.device)
    else:
        end = spikes.end_times if phantom else spikes.end_times.detach()
    if len(spikes) == 0:
        return end
    key = spikes.sample * neurons + spikes.neuron
    order = torch.argsort(spikes.times.detach(), stable=True)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=order.device)
    first_rank = torch.full((batch * neurons,), order.numel(), dtype=torch.long,
                            device=order.device)
    first_rank.scatter_reduce_(0, key, rank, reduce="amin")
    spiked = first_rank < order.numel()
    first_record = order[first_rank.clamp(max=order.numel() - 1)]
    flat = torch.where(spiked, spikes.times[first_record], end.reshape(-1))
    return flat.view(batch, neurons)
