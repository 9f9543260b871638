"""The compiled FP engine (snndeploy.kernels.fp_cpu) against the numpy reference engine."""

import numpy as np
import pytest
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.fp import FPNetwork, NeuronParameters, first_spike_loss, network_gradients, simulate_network

PARAMS = NeuronParameters(alpha=1.0, beta=0.5, theta=1.0)


def random_case(seed, sizes, means, batch=6):
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 2.0, (batch, sizes[0]))
    weights = [rng.normal(mean, mean / 3, (a, b)) for mean, a, b in zip(means, sizes[:-1], sizes[1:])]
    return inputs, weights


def assert_engines_agree(inputs, weights, params, caps, t_max=np.inf):
    reference = simulate_network(inputs, weights, params, caps, t_max, engine="numpy")
    compiled = simulate_network(inputs, weights, params, caps, t_max, engine="numba")
    for ref, fast in zip(reference, compiled):
        assert ref.times.shape == fast.times.shape
        assert np.array_equal(np.isfinite(ref.times), np.isfinite(fast.times))
        fired = np.isfinite(ref.times)
        assert np.allclose(ref.times[fired], fast.times[fired], rtol=0, atol=1e-12)
        assert ref.saturated == fast.saturated
    slow = network_gradients(inputs, reference, weights, params, engine="numpy")
    fast = network_gradients(inputs, reference, weights, params, engine="numba")
    assert slow.degenerate == fast.degenerate
    for slow_layer, fast_layer in zip(slow.derivatives, fast.derivatives):
        assert len(slow_layer) == len(fast_layer)
        for a, b in zip(slow_layer, fast_layer):
            assert a.shape == b.shape
            assert np.allclose(a, b, rtol=1e-10, atol=1e-12 * max(np.abs(a).max(), 1.0))
    return reference


@pytest.mark.parametrize(
    "sizes, means, seed",
    [([5, 6, 3], [1.0, 0.3], 0), ([3, 4, 4, 2], [1.5, 0.4, 0.2], 3), ([4, 9, 7, 5, 3], [1.5, 0.5, 0.4, 0.3], 5)],
)
def test_compiled_engine_equals_the_reference_on_multi_spike_networks(sizes, means, seed):
    inputs, weights = random_case(seed, sizes, means)
    layers = assert_engines_agree(inputs, weights, PARAMS, [8] * (len(sizes) - 1))
    assert layers[0].counts.max() >= 3  # hidden neurons fire several times


def test_engines_agree_with_saturation_t_max_padding_and_silent_samples():
    inputs, weights = random_case(1, [4, 6, 3], [1.6, 0.5], batch=5)
    inputs = np.stack([inputs, inputs + 0.7], axis=2)  # two spikes per input neuron
    inputs[0, 1, 1] = np.inf  # padding
    inputs[2] = np.inf  # a sample without any input spike
    layers = assert_engines_agree(inputs, weights, PARAMS, [3, 2])
    assert layers[0].saturated > 0 and not np.isfinite(layers[0].times[2]).any()
    assert_engines_agree(inputs, weights, PARAMS, [3, 2], t_max=2.5)


def test_engines_agree_on_the_near_degenerate_yinyang_time_constants():
    params = NeuronParameters(alpha=0.999, beta=1.0, theta=1.0)  # 1/(β − α) = 1000: cancellation
    rng = np.random.default_rng(7)
    inputs = rng.uniform(0.15, 2.0, (4, 5))
    weights = [rng.normal(1.5, 0.8, (5, 20)), rng.normal(2.0, 0.1, (20, 3))]
    layers = assert_engines_agree(inputs, weights, params, [16, 1])
    assert layers[0].counts.max() >= 2


def test_torch_network_gives_the_same_loss_gradient_with_either_engine():
    params = NeuronParameters(alpha=1.0, beta=0.9, theta=1.0)
    inputs = torch.rand(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1)) * 4.0
    labels = torch.tensor([0, 1, 2, 0, 1])
    grads = {}
    for engine in ("numba", "numpy"):
        net = FPNetwork([4, 7, 3], params, hidden_init=[(2.0, 1.0)], output_init=(1.5, 0.3), seed=2, engine=engine)
        first_spike_loss(net(inputs), labels, 1.0, 2.0, 0.1, 20.0).backward()
        grads[engine] = [w.grad for w in net.weights]
    for a, b in zip(grads["numba"], grads["numpy"]):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-14)


def test_unknown_engine_and_simplification_on_the_compiled_engine_are_refused():
    inputs, weights = random_case(0, [3, 4, 2], [1.0, 0.5])
    with pytest.raises(SnnDeployError, match="unknown FP engine 'cuda'"):
        simulate_network(inputs, weights, PARAMS, [4, 1], engine="cuda")
    layers = simulate_network(inputs, weights, PARAMS, [4, 1])
    with pytest.raises(SnnDeployError, match="engine='numpy'"):
        network_gradients(inputs, layers, weights, PARAMS, keep_all_terms=False, engine="numba")
    with pytest.raises(SnnDeployError, match="max_spikes must be at least 1"):
        simulate_network(inputs, weights, PARAMS, [0, 1])
    with pytest.raises(SnnDeployError, match="unknown FP engine"):
        FPNetwork([3, 4, 2], PARAMS, hidden_init=[(1.0, 0.1)], output_init=(1.0, 0.1), engine="gpu")
