"""EventProp layers: modules that chain in `nn.Sequential` and train in any ordinary loop.

    model = nn.Sequential(EventPropLIF(5, 30), EventPropLIF(30, 3), FirstSpikeTime())
    times = model(SpikeTrain.from_times(input_times, num_steps=30, dt=1.0))
    loss = first_spike_loss(times, labels); loss.backward()   # exact EventProp gradients

`EventPropLIF` owns its input weights (EventProp needs them inside the adjoint: the jump at a
spike reads the postsynaptic adjoints through them), takes a `SpikeTrain` and returns one.
`EventPropReadout` is the non-spiking leaky readout: it returns V at every step end, (batch,
steps, out_features), for the voltage losses. Equations and convention: `dynamics`, `core`.
Time is in the units of `dt` and the time constants (ms in the papers).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.eventprop.core import EventPropFunction, LayerSpec, Regularisation
from snndeploy.eventprop.dynamics import NeuronConstants
from snndeploy.eventprop.spikes import SpikeTrain, first_spike_times


class _EventPropLayer(nn.Module):
    backend = "eventprop"
    spiking = True

    def __init__(self, in_features: int, out_features: int, tau_mem: float, tau_syn: float,
                 threshold: float, weight_mean: float, weight_std: Optional[float]):
        super().__init__()
        if in_features < 1 or out_features < 1:
            raise SnnDeployError(
                f"{type(self).__name__}: in_features={in_features}, out_features={out_features} "
                "must both be ≥ 1"
            )
        self.in_features, self.out_features = in_features, out_features
        self.tau_mem, self.tau_syn = float(tau_mem), float(tau_syn)
        self.threshold = float(threshold)
        NeuronConstants(self.tau_mem, self.tau_syn, self.threshold, 1.0)  # validates
        std = 1.0 / math.sqrt(in_features) if weight_std is None else weight_std
        self.weight = nn.Parameter(torch.randn(out_features, in_features) * std + weight_mean)

    def _check_input(self, spikes) -> None:
        if not isinstance(spikes, SpikeTrain):
            raise SnnDeployError(
                f"{type(self).__name__}: input must be a SpikeTrain (build one with "
                f"SpikeTrain.from_times or SpikeTrain.from_raster), got {type(spikes).__name__}"
            )
        if spikes.num_neurons != self.in_features:
            raise SnnDeployError(
                f"{type(self).__name__}: input has {spikes.num_neurons} neurons, the layer "
                f"expects in_features={self.in_features}"
            )

    def _run(self, spikes: SpikeTrain, recurrent_weight, regularisation):
        self._check_input(spikes)
        spec = LayerSpec(NeuronConstants(self.tau_mem, self.tau_syn, self.threshold, spikes.dt),
                         spikes.num_steps, self.spiking, regularisation)
        times = spikes.times.to(self.weight.dtype)
        return EventPropFunction.apply(times, self.weight, recurrent_weight, spikes.sample,
                                       spikes.neuron, spikes.step_offsets(), spikes.batch_size,
                                       spec)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"tau_mem={self.tau_mem}, tau_syn={self.tau_syn}, threshold={self.threshold}")


class EventPropLIF(_EventPropLayer):
    """Spiking LIF layer with exponential synapses, reset to 0, trained by EventProp.

    recurrent: add trainable (out, out) recurrent weights (self-connections included).
    regularisation_strength / regularisation_target: the hidden spike-count regulariser
    (k_reg, ν of Nowotny et al. 2022 eq. 13); off when the strength is 0.
    `last_spike_counts` holds the (batch, out) counts of the last forward pass.
    """

    def __init__(self, in_features: int, out_features: int, tau_mem: float = 20.0,
                 tau_syn: float = 5.0, threshold: float = 1.0, recurrent: bool = False,
                 regularisation_strength: float = 0.0, regularisation_target: float = 0.0,
                 weight_mean: float = 0.0, weight_std: Optional[float] = None,
                 recurrent_std: Optional[float] = None):
        super().__init__(in_features, out_features, tau_mem, tau_syn, threshold, weight_mean,
                         weight_std)
        if recurrent:
            std = 1.0 / math.sqrt(out_features) if recurrent_std is None else recurrent_std
            self.recurrent_weight = nn.Parameter(torch.randn(out_features, out_features) * std)
        else:
            self.recurrent_weight = None
        if regularisation_strength < 0:
            raise SnnDeployError(
                f"EventPropLIF: regularisation_strength={regularisation_strength} must be ≥ 0"
            )
        self.regularisation = (Regularisation(float(regularisation_strength),
                                              float(regularisation_target))
                               if regularisation_strength > 0 else None)
        self.last_spike_counts: Optional[torch.Tensor] = None

    def forward(self, spikes: SpikeTrain) -> SpikeTrain:
        times, end_times, _, sample, neuron, step, current = self._run(
            spikes, self.recurrent_weight, self.regularisation)
        out = SpikeTrain(times, sample, neuron, step, spikes.batch_size, self.out_features,
                         spikes.num_steps, spikes.dt, end_times, current)
        self.last_spike_counts = out.counts()
        return out

    def regularisation_loss(self) -> torch.Tensor:
        """½ k_reg Σ (n̄ − ν)² of the last forward pass (for logging; its gradient is applied
        inside the backward pass)."""
        if self.regularisation is None or self.last_spike_counts is None:
            return torch.zeros(())
        mean = self.last_spike_counts.float().mean(0)
        return 0.5 * self.regularisation.strength * ((mean - self.regularisation.target) ** 2).sum()


class EventPropReadout(_EventPropLayer):
    """Non-spiking leaky readout (the same V, I dynamics, no threshold): returns V at every
    step end, (batch, steps, out_features), for the voltage losses of `losses`."""

    spiking = False

    def __init__(self, in_features: int, out_features: int, tau_mem: float = 20.0,
                 tau_syn: float = 5.0, weight_mean: float = 0.0,
                 weight_std: Optional[float] = None):
        super().__init__(in_features, out_features, tau_mem, tau_syn, 1.0, weight_mean,
                         weight_std)

    def forward(self, spikes: SpikeTrain) -> torch.Tensor:
        return self._run(spikes, None, None)[2]


class FirstSpikeTime(nn.Module):
    """SpikeTrain → (batch, neurons) first spike times (trial end when silent; phantom spike
    gradient for silent neurons when `phantom`)."""

    def __init__(self, phantom: bool = True):
        super().__init__()
        self.phantom = phantom

    def forward(self, spikes: SpikeTrain) -> torch.Tensor:
        return first_spike_times(spikes, self.phantom)
