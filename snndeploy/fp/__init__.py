"""Forward propagation of exact gradients (Lee, Haghighatshoar, Karbasi; paper 001), correct for
neurons that fire any number of times.

    from snndeploy.fp import FPNetwork, NeuronParameters, first_spike_loss, train_fp, PRESETS
    result = train_fp("iris", epochs=100, seed=0)

- `snndeploy.fp.simulate`: exact event-driven LIF simulation with exponential synapses.
- `snndeploy.fp.gradients`: d(spike times)/dW by forward substitution, all terms kept.
- `snndeploy.fp.network`: torch autograd wrapper, first-spike loss, paper init.
- `snndeploy.fp.trainer`: the paper's XOR / Iris / Yin-Yang presets and training loop.
"""

from snndeploy.fp.gradients import NetworkGradients, layer_partials, network_gradients, weight_gradients
from snndeploy.fp.network import ExactSpikeTimes, FirstSpikeTimeLoss, FPNetwork, first_spike_loss, predict
from snndeploy.fp.simulate import LayerSpikes, NeuronParameters, next_crossing, simulate_layer, simulate_network
from snndeploy.fp.trainer import (
    PRESETS, FPPreset, FPResult, WeightBump, accuracy, build_network, preset_loss, train_fp,
)

__all__ = [
    "PRESETS", "ExactSpikeTimes", "FPNetwork", "FirstSpikeTimeLoss", "FPPreset", "FPResult", "LayerSpikes",
    "NetworkGradients", "NeuronParameters", "accuracy", "build_network", "first_spike_loss",
    "layer_partials", "network_gradients", "next_crossing", "predict", "simulate_layer",
    "preset_loss", "simulate_network", "train_fp", "WeightBump", "weight_gradients",
]
