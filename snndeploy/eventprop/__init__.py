"""EventProp: exact adjoint gradients of current-based LIF networks (Wunderlich & Pehle 2021),
with exact in-step integration (paper 003) and the loss family of Nowotny et al. (2022).

Memory of a forward+backward pass grows with the number of spikes, not with the number of
time steps: layers exchange `SpikeTrain` event lists and keep only spike records for backward.
NIR export: `snndeploy.export_nir(network, path, (inputs,))` (CubaLIF nodes, dt in metadata;
the mapping is in snndeploy.export.nir).
"""

from snndeploy.eventprop.core import EventPropFunction, LayerSpec, Regularisation
from snndeploy.eventprop.deployment import deployment_blockers
from snndeploy.eventprop.dynamics import NeuronConstants, advance_state, retreat_adjoint
from snndeploy.eventprop.layers import EventPropLIF, EventPropReadout, FirstSpikeTime
from snndeploy.eventprop.losses import (
    LOSSES,
    first_spike_loss,
    loss_spec,
    max_loss,
    per_step_cross_entropy_loss,
    sum_exp_loss,
    sum_loss,
)
from snndeploy.eventprop.network import EventPropLoss, EventPropNetwork, build_eventprop_network
from snndeploy.eventprop.spikes import SpikeTrain, first_spike_times

__all__ = [
    "EventPropFunction", "EventPropLIF", "EventPropLoss", "EventPropNetwork", "EventPropReadout",
    "FirstSpikeTime", "LOSSES", "build_eventprop_network", "deployment_blockers",
    "LayerSpec", "NeuronConstants", "Regularisation", "SpikeTrain", "advance_state",
    "first_spike_loss", "first_spike_times", "loss_spec", "max_loss",
    "per_step_cross_entropy_loss", "retreat_adjoint", "sum_exp_loss", "sum_loss",
]
