"""EventProp networks in the ordinary training loop (`snndeploy.train.fit`).

`EventPropNetwork` takes the tensors data loaders give — a (batch, steps, *features) 0/1
raster (spikes at step starts) or (batch, features) latency-coded spike times — turns them into
a `SpikeTrain`, runs its EventProp layers, and returns a tensor: the readout trace
(batch, steps, classes) or first spike times (batch, classes). `EventPropLoss` is a loss object
with the `predict` method the loop uses for accuracy.

    net = build_eventprop_network([5, 100, 3], loss="first_spike", dt=1.0, num_steps=40)
    fit(net, loader, EventPropLoss("first_spike", dt=1.0), epochs=30, lr=5e-3)
"""

from __future__ import annotations

from typing import Optional, Sequence

import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.eventprop.layers import EventPropLIF, EventPropReadout, FirstSpikeTime
from snndeploy.eventprop.losses import loss_spec
from snndeploy.eventprop.spikes import SpikeTrain


class EventPropNetwork(nn.Module):
    """EventProp layers behind a tensor interface (see the module docstring).

    num_steps: trial length in steps for spike-time inputs (raster inputs bring their own).
    """

    backend = "eventprop"

    def __init__(self, layers: Sequence[nn.Module], dt: float, num_steps: Optional[int] = None):
        super().__init__()
        self.layers = nn.Sequential(*layers)
        self.dt = float(dt)
        self.num_steps = num_steps

    def spikes_from(self, x: torch.Tensor) -> SpikeTrain:
        if x.dim() == 2:
            if self.num_steps is None:
                raise SnnDeployError(
                    "EventPropNetwork: spike-time inputs (batch, features) need num_steps "
                    "(the trial length in steps) set on the network"
                )
            return SpikeTrain.from_times(x, self.num_steps, self.dt)
        if x.dim() >= 3:
            return SpikeTrain.from_raster(x.reshape(x.shape[0], x.shape[1], -1), self.dt)
        raise SnnDeployError(
            f"EventPropNetwork: expected (batch, features) spike times or a (batch, steps, "
            f"*features) raster, got shape {tuple(x.shape)}"
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.spikes_from(x))


class EventPropLoss:
    """A loss of `snndeploy.eventprop.losses.LOSSES` as a (outputs, labels) -> loss object."""

    def __init__(self, name: str, dt: float):
        self.spec = loss_spec(name)
        self.name = name
        self.dt = float(dt)

    def __call__(self, outputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return self.spec.compute(outputs, labels, self.dt)

    def predict(self, outputs: torch.Tensor) -> torch.Tensor:
        return self.spec.predict(outputs, self.dt)


def build_eventprop_network(sizes: Sequence[int], loss: str = "sum_exp", dt: float = 1.0,
                            num_steps: Optional[int] = None, tau_mem: float = 20.0,
                            tau_syn: float = 5.0, threshold: float = 1.0,
                            recurrent: bool = False, hidden_weight_mean: float = 0.0,
                            hidden_weight_std: Optional[float] = None,
                            regularisation_strength: float = 0.0,
                            regularisation_target: float = 0.0,
                            output_weight_mean: float = 0.0,
                            output_weight_std: Optional[float] = None) -> EventPropNetwork:
    """sizes = [inputs, hidden…, classes]. The output is a spiking layer with first-spike
    readout for loss "first_spike", else a non-spiking leaky readout. Weights are drawn from
    N(mean, std²), std defaulting to 1/√fan_in."""
    if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
        raise SnnDeployError(
            f"build_eventprop_network: sizes {list(sizes)} must be ≥ 2 positive layer widths "
            "[inputs, hidden…, classes]"
        )
    spec = loss_spec(loss)
    layers: list[nn.Module] = []
    for n_in, n_out in zip(sizes[:-2], sizes[1:-1]):
        layers.append(EventPropLIF(n_in, n_out, tau_mem, tau_syn, threshold, recurrent,
                                   regularisation_strength, regularisation_target,
                                   hidden_weight_mean, hidden_weight_std))
    if spec.spiking_output:
        layers += [EventPropLIF(sizes[-2], sizes[-1], tau_mem, tau_syn, threshold,
                                weight_mean=output_weight_mean, weight_std=output_weight_std),
                   FirstSpikeTime()]
    else:
        layers.append(EventPropReadout(sizes[-2], sizes[-1], tau_mem, tau_syn,
                                       output_weight_mean, output_weight_std))
    return EventPropNetwork(layers, dt, num_steps)
