"""Forward propagation (paper 001): exact simulation, exact gradients vs finite differences (float64)."""

import numpy as np
import pytest
import torch

import snndeploy.fp.gradients as fp_gradients
from snndeploy.errors import SnnDeployError
from snndeploy.fp import (
    FPNetwork,
    NeuronParameters,
    first_spike_loss,
    network_gradients,
    next_crossing,
    simulate_network,
    weight_gradients,
)

PARAMS = NeuronParameters(alpha=1.0, beta=0.5, theta=1.0)


def potential(t, input_times, input_weights, own_times, p):
    """V(t) straight from the kernel sum (independent of the a/b bookkeeping of the simulator)."""
    total = np.zeros_like(t)
    for time, weight in zip(input_times, input_weights):
        s = np.clip(t - time, 0.0, None)
        total += weight * (np.exp(-p.beta * s) - np.exp(-p.alpha * s)) / (p.alpha - p.beta)
    for own in own_times:
        total -= np.where(t > own, p.theta * np.exp(-p.beta * np.clip(t - own, 0.0, None)), 0.0)
    return total


def random_network(seed, sizes, means, batch=3):
    """Inputs in [0, 2) and weights N(mean, mean / 3) per layer."""
    rng = np.random.default_rng(seed)
    inputs = rng.uniform(0.0, 2.0, (batch, sizes[0]))
    weights = [rng.normal(mean, mean / 3, (a, b)) for mean, a, b in zip(means, sizes[:-1], sizes[1:])]
    return inputs, weights


def total_time_objective(layers, coefficients):
    return sum(np.where(np.isfinite(l.times), l.times * c, 0.0).sum() for l, c in zip(layers, coefficients))


def gradient_and_finite_differences(inputs, weights, caps, keep_all_terms=True, step=1e-5, engine="numba"):
    layers = simulate_network(inputs, weights, PARAMS, caps, engine=engine)
    rng = np.random.default_rng(123)
    coefficients = [rng.normal(size=layer.times.shape) for layer in layers]
    derivatives = network_gradients(inputs, layers, weights, PARAMS, keep_all_terms, engine)
    analytic = [np.zeros_like(w) for w in weights]
    for index in range(len(layers)):
        for k, g in enumerate(weight_gradients(coefficients[index], derivatives, index)):
            analytic[k] += g

    def objective(perturbed):
        result = simulate_network(inputs, perturbed, PARAMS, caps, engine=engine)
        for new, old in zip(result, layers):
            assert np.array_equal(new.counts, old.counts), "perturbation changed a spike count"
        return total_time_objective(result, coefficients)

    numeric = [np.zeros_like(w) for w in weights]
    for k, w in enumerate(weights):
        for index in np.ndindex(w.shape):
            plus = [x.copy() for x in weights]
            minus = [x.copy() for x in weights]
            plus[k][index] += step
            minus[k][index] -= step
            numeric[k][index] = (objective(plus) - objective(minus)) / (2 * step)
    return layers, analytic, numeric


def relative_error(analytic, numeric):
    a = np.concatenate([g.ravel() for g in analytic])
    n = np.concatenate([g.ravel() for g in numeric])
    return np.linalg.norm(a - n) / np.linalg.norm(n)


def test_crossing_inside_interval_is_found_although_the_end_is_below_threshold():
    # V rises above ϑ and falls back below before the interval ends: endpoint checks miss it
    p = PARAMS
    a, b = np.array([-4.0]), np.array([4.0])  # one input of weight 2 at s = 0 (w/(β−α) = −4)
    peak_time = np.log(p.alpha / p.beta) / (p.alpha - p.beta)
    end = 20.0
    assert potential(np.array([end]), [0.0], [2.0], [], p)[0] < p.theta
    found, s = next_crossing(a, b, np.array([end]), p)
    assert found[0] and 0 < s[0] < peak_time
    assert abs(potential(s, [0.0], [2.0], [], p)[0] - p.theta) < 1e-14
    grid = np.linspace(0.0, s[0], 10_001)[:-1]
    assert np.all(potential(grid, [0.0], [2.0], [], p) < p.theta)


def test_crossing_after_a_minimum_and_none_when_below():
    p = PARAMS
    # starts decreasing (strong negative b-part), then an excitatory a-part lifts it over ϑ late
    a, b = np.array([-3.0, -1.0]), np.array([2.5, 0.5])
    found, s = next_crossing(a, b, np.array([5.0, 5.0]), p)
    values = a[:, None] * np.exp(-p.alpha * np.linspace(0, 5, 5001)) + b[:, None] * np.exp(
        -p.beta * np.linspace(0, 5, 5001)
    )
    for row in range(2):
        crosses = values[row] >= p.theta
        assert found[row] == crosses.any()
        if found[row]:
            first_grid = np.linspace(0, 5, 5001)[np.argmax(crosses)]
            assert first_grid - 1e-3 <= s[row] <= first_grid


def test_simulated_spikes_satisfy_threshold_and_no_crossing_is_missed():
    inputs, weights = random_network(0, [5, 6, 3], [1.2, 0.3])
    cap = 16
    layers = simulate_network(inputs, weights, PARAMS, [cap, cap])
    assert layers[0].counts.max() >= 2 and all(layer.saturated == 0 for layer in layers)
    previous_times = inputs[:, :, None]
    for layer, w in zip(layers, weights):
        for sample in range(inputs.shape[0]):
            pre = previous_times[sample]
            sources, slots = np.nonzero(np.isfinite(pre))
            in_times, in_weights_all = pre[sources, slots], w[sources]
            for neuron in range(w.shape[1]):
                own = layer.times[sample, neuron][np.isfinite(layer.times[sample, neuron])]
                args = (in_times, in_weights_all[:, neuron])
                for n, spike in enumerate(own):
                    value = potential(np.array([spike]), *args, own[:n], PARAMS)[0]
                    assert abs(value - PARAMS.theta) < 1e-12
                grid = np.linspace(0.0, 30.0, 30_001)
                values = potential(grid, *args, own, PARAMS)  # own spikes act only after they occur
                # between spikes V stays below ϑ (grid points within 1e-9 of a spike excepted)
                near = np.min(np.abs(grid[:, None] - np.append(own, np.inf)[None]), axis=1) < 1e-9
                assert np.all((values < PARAMS.theta + 1e-12) | near)
        previous_times = layer.times


@pytest.mark.parametrize("engine", ["numba", "numpy"])
@pytest.mark.parametrize(
    "sizes, means, seed", [([5, 6, 3], [1.0, 0.3], 0), ([3, 4, 4, 2], [1.5, 0.4, 0.2], 3)]
)
def test_gradients_equal_finite_differences_with_multi_spike_hidden_neurons(sizes, means, seed, engine):
    inputs, weights = random_network(seed, sizes, means)
    caps = [8] * (len(sizes) - 1)
    layers, analytic, numeric = gradient_and_finite_differences(inputs, weights, caps, engine=engine)
    hidden = np.concatenate([layer.counts.ravel() for layer in layers[:-1]])
    assert hidden.min() >= 2 and hidden.max() <= 5, hidden
    assert all(layer.saturated == 0 for layer in layers)
    assert relative_error(analytic, numeric) < 1e-6
    for a, n in zip(analytic, numeric):
        assert np.allclose(a, n, rtol=1e-5, atol=1e-7 * np.abs(n).max())


def test_public_code_simplification_disagrees_with_finite_differences():
    """Dropping inputs before the previous spike and the own-spike terms (the paper's public code)
    is wrong once hidden neurons fire more than once; keeping every term matches the numbers."""
    inputs, weights = random_network(0, [5, 6, 3], [1.0, 0.3])
    caps = [8, 8]
    _, exact, numeric = gradient_and_finite_differences(inputs, weights, caps)
    _, simplified, _ = gradient_and_finite_differences(inputs, weights, caps, keep_all_terms=False,
                                                       engine="numpy")
    assert relative_error(exact, numeric) < 1e-6
    assert relative_error(simplified, numeric) > 1e-2


def test_simplification_is_exact_when_every_neuron_fires_once():
    inputs, weights = random_network(3, [4, 5, 2], [1.0, 0.5])
    caps = [1, 1]
    _, exact, numeric = gradient_and_finite_differences(inputs, weights, caps)
    _, simplified, _ = gradient_and_finite_differences(inputs, weights, caps, keep_all_terms=False,
                                                       engine="numpy")
    assert relative_error(exact, numeric) < 1e-6
    for a, b in zip(exact, simplified):
        assert np.allclose(a, b, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_zero_slope_fallback_zeroes_the_spike_derivative_and_counts_it(monkeypatch, engine):
    inputs, weights = random_network(0, [5, 6, 3], [1.0, 0.3])
    layers = simulate_network(inputs, weights, PARAMS, [8, 8])
    monkeypatch.setattr(fp_gradients, "MIN_RELATIVE_SLOPE", 1e6)
    result = network_gradients(inputs, layers, weights, PARAMS, engine=engine)
    assert result.degenerate == sum(int(layer.counts.sum()) for layer in layers)
    assert all(not np.any(d) for per_layer in result.derivatives for d in per_layer)


def test_torch_loss_gradient_equals_finite_differences():
    torch.manual_seed(0)
    params = NeuronParameters(alpha=1.0, beta=0.9, theta=1.0)
    net = FPNetwork([4, 7, 3], params, hidden_init=[(2.0, 1.0)], output_init=(1.5, 0.3), max_spikes=[8, 1], seed=2)
    inputs = torch.rand(6, 4, dtype=torch.float64) * 4.0
    labels = torch.tensor([0, 1, 2, 0, 1, 2])

    def loss_value():
        return first_spike_loss(net(inputs), labels, tau0=1.0, tau1=2.0, gamma=0.1, no_spike_time=20.0)

    loss = loss_value()
    loss.backward()
    assert net.last_stats["spike_counts"][0].max() >= 2
    step = 1e-6
    for weight in net.weights:
        numeric = torch.zeros_like(weight)
        with torch.no_grad():
            for index in np.ndindex(tuple(weight.shape)):
                weight[index] += step
                up = loss_value().item()
                weight[index] -= 2 * step
                down = loss_value().item()
                weight[index] += step
                numeric[index] = (up - down) / (2 * step)
        assert torch.linalg.norm(weight.grad - numeric) / torch.linalg.norm(numeric) < 1e-6


def test_first_spike_loss_formula_and_silent_outputs():
    f = torch.tensor([[1.0, 2.0, float("inf")]], dtype=torch.float64, requires_grad=True)
    loss = first_spike_loss(f, torch.tensor([0]), tau0=0.5, tau1=2.0, gamma=0.1, no_spike_time=3.0)
    logits = -torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64) / 0.5
    expected = -torch.log_softmax(logits, 0)[0] + 0.1 * (np.exp(1.0 / 2.0) - 1.0)
    assert torch.isclose(loss, expected)
    loss.backward()
    assert f.grad[0, 2] == 0 and f.grad[0, 0] != 0


def test_bad_parameters_raise():
    with pytest.raises(SnnDeployError, match="alpha != beta"):
        NeuronParameters(alpha=1.0, beta=1.0)
    with pytest.raises(SnnDeployError, match="positive"):
        NeuronParameters(alpha=-1.0, beta=1.0)
    with pytest.raises(SnnDeployError, match="inputs"):
        simulate_network(np.zeros((1, 3)), [np.ones((4, 2))], PARAMS, [1])
    with pytest.raises(SnnDeployError, match="hidden_init"):
        FPNetwork([2, 3, 2], PARAMS, hidden_init=[], output_init=(1.0, 0.1))
