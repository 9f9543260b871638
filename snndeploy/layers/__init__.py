"""Neuron and pooling layers (sinabs-compatible names, selectable training backends)."""

from snndeploy.layers.activation import (
    Heaviside,
    MaxSpike,
    MembraneReset,
    MembraneSubtract,
    MultiSpike,
    PeriodicExponential,
    SingleExponential,
    SingleSpike,
)
from snndeploy.layers.functional import BACKENDS
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d
from snndeploy.layers.srm import SRM, EventIAF, EventIAFSqueeze, SRMSqueeze, event_to_iaf
from snndeploy.layers.neurons import (
    IAF,
    LIF,
    NEURON_LAYERS,
    ExpLeak,
    ExpLeakSqueeze,
    IAFSqueeze,
    LIFSqueeze,
)

__all__ = [
    "BACKENDS", "ExpLeak", "ExpLeakSqueeze", "Heaviside", "IAF", "IAFSqueeze", "LIF",
    "LIFSqueeze", "MaxSpike", "MembraneReset", "MembraneSubtract", "MultiSpike",
    "NEURON_LAYERS", "PeriodicExponential", "SingleExponential", "SingleSpike",
    "AvgPool2d", "MaxPool2d", "SumPool2d",
    "SRM", "SRMSqueeze", "EventIAF", "EventIAFSqueeze", "event_to_iaf",
]
