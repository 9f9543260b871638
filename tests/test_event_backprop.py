"""Event-driven backprop (paper 004): forward rules, closed-form gradient, conservation invariant
per layer on random nets (float64), tricks, deployment conversion."""

import math

import pytest
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.layers import IAF, IAFSqueeze
from snndeploy.layers.activation import MembraneReset, SingleSpike
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d
from snndeploy.layers.srm import (
    SRM,
    EventIAF,
    EventIAFSqueeze,
    SRMSqueeze,
    event_to_iaf,
    standardize_weights,
)
from snndeploy.train.losses import SpikeCountMSE


def _srm_reference(currents, tau_m, tau_s, threshold):
    """The forward written from the closed form: u_t = Σ_window I_t' κ(t − t'), reset forgets."""
    theta_m, theta_s = 1 / tau_m, 1 / tau_s

    def kappa(delta):
        return theta_s / (theta_s - theta_m) * ((1 - theta_m) ** (delta + 1) - (1 - theta_s) ** (delta + 1))

    spikes, start = [], 0
    for t in range(len(currents)):
        u = sum(currents[k] * kappa(t - k) for k in range(start, t + 1))
        spikes.append(1.0 if u >= threshold else 0.0)
        if spikes[-1]:
            start = t + 1
    return spikes


def test_srm_forward_matches_closed_form_kernel():
    generator = torch.Generator().manual_seed(0)
    currents = torch.rand(3, 30, generator=generator, dtype=torch.float64) * 1.5 - 0.2
    out = SRM(tau_mem=7.0, tau_syn=4.0)(currents.unsqueeze(-1)).squeeze(-1)
    for row, spikes in zip(currents, out):
        assert spikes.tolist() == _srm_reference(row.tolist(), 7.0, 4.0, 1.0)
    assert out.sum() > 5


@pytest.mark.parametrize("min_v_mem", [None, -0.5, 0.25])
@pytest.mark.parametrize("multi_spike", [False, True])
def test_event_iaf_forward_is_snndeploy_iaf_with_reset_to_zero(min_v_mem, multi_spike):
    x = torch.randn(2, 25, 3, 4, generator=torch.Generator().manual_seed(1)) * (2.5 if multi_spike else 0.8)
    layer = EventIAF(spike_threshold=1.0, min_v_mem=min_v_mem, multi_spike=multi_spike)
    ours = layer(x)
    assert torch.equal(ours, layer.to_iaf()(x))
    if multi_spike:
        assert ours.max() >= 2
    else:
        theirs = IAF(spike_threshold=1.0, spike_fn=SingleSpike(), reset_fn=MembraneReset(), min_v_mem=min_v_mem)(x)
        assert torch.equal(ours, theirs)
    squeezed = EventIAFSqueeze(batch_size=2, min_v_mem=min_v_mem, multi_spike=multi_spike)(x.reshape(50, 3, 4))
    assert torch.equal(squeezed, ours.reshape(50, 3, 4))


def test_one_neuron_two_inputs_one_spike_matches_closed_form():
    """Input a spikes at t=0, b at t=2; the SRM neuron fires once, at t_k; eqs. 12-14 with h."""
    tau_m, tau_s, tau_g, steps = 7.0, 4.0, 3.5, 10
    weights = torch.tensor([[1.2, 1.0]], dtype=torch.float64, requires_grad=True)
    x = torch.zeros(1, steps, 2, dtype=torch.float64)
    x[0, 0, 0] = 1.0
    x[0, 2, 1] = 1.0
    x.requires_grad_(True)
    spikes = SRM(tau_m, tau_s, tau_g)(x @ weights.T)
    t_k = _srm_reference((x.detach() @ weights.detach().T)[0, :, 0].tolist(), tau_m, tau_s, 1.0).index(1.0)
    assert t_k == 3 and spikes.sum().item() == 1.0 and spikes[0, t_k, 0].item() == 1.0

    grad_spike = -0.37
    spikes.backward(torch.full_like(spikes, grad_spike))

    def h(delta):
        return (1 - 1 / tau_g) ** (delta + 1)

    w_a, w_b = 1.2, 1.0
    denominator = w_a * h(t_k - 0) + w_b * h(t_k - 2)
    # ∂L/∂x_j,t = w_j G h(t_k − t) / denominator for t ≤ t_k (0 after the spike); at the two
    # input spikes these are paper eq. 13, and they sum to G (eq. 6)
    expected_x = torch.zeros_like(x)
    for t in range(t_k + 1):
        expected_x[0, t] = weights.detach()[0] * grad_spike * h(t_k - t) / denominator
    assert math.isclose(expected_x[0, 0, 0] + expected_x[0, 2, 1], grad_spike)
    torch.testing.assert_close(x.grad, expected_x, rtol=1e-14, atol=1e-15)
    expected_w = torch.tensor([[grad_spike * h(t_k) / denominator, grad_spike * h(t_k - 2) / denominator]],
                              dtype=torch.float64)
    torch.testing.assert_close(weights.grad, expected_w, rtol=1e-14, atol=1e-15)


def _frames(t):
    return t.reshape(-1, *t.shape[2:])


def _seq(t, batch):
    return t.reshape(batch, -1, *t.shape[1:])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_conservation_per_layer_on_random_conv_net(seed):
    """Σ over input events (amplitude × gradient) = Σ over output spikes of the gradient, per
    neuron layer; Σ over spiking inputs = Σ over spiking windows, per pooling layer."""
    torch.manual_seed(seed)
    batch, steps = 3, 16
    conv1 = nn.Conv2d(2, 4, 3, padding=1, bias=False).double()
    conv2 = nn.Conv2d(4, 6, 3, padding=1, bias=False).double()
    fc = nn.Linear(6 * 2 * 2, 5, bias=False).double()
    for layer, gain in ((conv1, 1.5), (conv2, 2.0), (fc, 2.0)):
        nn.init.normal_(layer.weight, mean=0.1, std=gain / math.sqrt(layer.weight[0].numel()))
    x = (torch.rand(batch, steps, 2, 8, 8, dtype=torch.float64) < 0.3).double().requires_grad_(True)

    i1 = _seq(conv1(_frames(x)), batch)
    s1 = SRM()(i1)
    p1 = MaxPool2d(2)(s1)
    i2 = _seq(conv2(_frames(p1)), batch)
    s2 = EventIAF(min_v_mem=-1.0, multi_spike=True)(i2)
    p2 = AvgPool2d(2, adjusted=True)(s2)
    i3 = fc(p2.flatten(2))
    s3 = SRM(tau_mem=5.0, tau_syn=2.0, tau_grad=2.0)(i3)
    tensors = (i1, s1, p1, i2, s2, p2, i3, s3)
    for tensor in tensors:
        tensor.retain_grad()
    labels = torch.randint(0, 5, (batch,))
    SpikeCountMSE(desired_rate=0.5, undesired_rate=0.1)(s3, labels).backward()
    for spikes in (s1, s2, s3):
        assert spikes.sum() > 10, "the random net must be active for the check to mean anything"
    assert s2.max() >= 2, "the multi-spike layer must fire several spikes in a step somewhere"

    def close(a, b):
        assert abs(b) > 1e-6
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-15)

    # neuron layers (weight layer + neuron): input events weighted by their amplitude
    close((x * x.grad).sum(), (s1 * s1.grad).sum())
    close((i1 * i1.grad).sum(), (s1 * s1.grad).sum())
    close((p1 * p1.grad).sum(), (s2 * s2.grad).sum())
    close((p2 * p2.grad).sum(), (s3 * s3.grad).sum())
    # pooling layers
    close(s1.grad[s1 != 0].sum(), p1.grad[p1 != 0].sum())
    close(s2.grad[s2 != 0].sum(), p2.grad[p2 != 0].sum())


def test_gradient_at_steps_without_output_spike_is_ignored():
    x = torch.rand(2, 20, 6, dtype=torch.float64) * 0.6
    layer = SRM()
    spikes = layer(x)
    assert 0 < spikes.sum() < spikes.numel()
    grads = []
    for noise in (0.0, 5.0):
        xg = x.clone().requires_grad_(True)
        out = layer(xg)
        g = torch.ones_like(out) + noise * (out == 0)
        out.backward(g)
        grads.append(xg.grad)
    torch.testing.assert_close(grads[0], grads[1], rtol=0, atol=0)


def test_grad_factor_scales_and_clip_caps():
    x = torch.rand(2, 30, 8, dtype=torch.float64) * 0.5

    def grad(**options):
        xg = x.clone().requires_grad_(True)
        SRM(**options)(xg).sum().backward()
        return xg.grad

    plain = grad()
    torch.testing.assert_close(grad(grad_factor=0.85), 0.85 * plain, rtol=1e-15, atol=0)
    clipped = grad(clip_dt_du=0.5)
    assert clipped.abs().max() < plain.abs().max()
    # clipped |1/norm| ≤ 0.5 and h ≤ decay_g: every input gradient is bounded by 0.5 · decay_g
    assert clipped.abs().max() <= 0.5 * (1 - 1 / 3.5) + 1e-15


def test_squeezed_srm_equals_sequence_layout():
    x = torch.rand(2, 12, 3, 4, 4, dtype=torch.float64, requires_grad=True)
    out = SRM()(x)
    xs = x.detach().reshape(24, 3, 4, 4).requires_grad_(True)
    out_s = SRMSqueeze(num_timesteps=12)(xs)
    assert torch.equal(out.reshape(24, 3, 4, 4), out_s)
    out.sum().backward()
    out_s.sum().backward()
    assert torch.equal(x.grad.reshape(24, 3, 4, 4), xs.grad)


def test_event_to_iaf_swaps_layers_for_deployment_and_refuses_srm():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), EventIAFSqueeze(batch_size=1, min_v_mem=-1.0),
                        nn.Sequential(nn.Flatten(), nn.Linear(8, 2, bias=False), EventIAF()))
    converted = event_to_iaf(net)
    assert isinstance(converted[1], IAFSqueeze) and isinstance(converted[2][2], IAF)
    assert converted[1].min_v_mem == -1.0 and isinstance(converted[1].reset_fn, MembraneReset)
    assert isinstance(net[1], EventIAFSqueeze), "the original model is left untouched"
    x = torch.rand(5, 1, 4, 4) * 2
    assert torch.equal(net(x), converted(x))
    with pytest.raises(SnnDeployError, match="SRM"):
        event_to_iaf(nn.Sequential(nn.Linear(2, 2), SRM()))


def test_standardize_weights_trick():
    net = standardize_weights(nn.Sequential(nn.Linear(6, 3), nn.Conv2d(2, 4, 3)))
    for layer in net:
        w = layer.weight.reshape(layer.weight.shape[0], -1)
        torch.testing.assert_close(w.mean(1), torch.zeros(w.shape[0]), atol=1e-6, rtol=0)
        torch.testing.assert_close(w.std(1, unbiased=False), torch.ones(w.shape[0]), atol=1e-4, rtol=0)


def test_bad_options_name_the_layer():
    with pytest.raises(SnnDeployError, match="SRM: tau_mem and tau_syn must differ"):
        SRM(tau_mem=4.0, tau_syn=4.0)
    with pytest.raises(SnnDeployError, match="EventIAF: unknown backend"):
        EventIAF(backend="exodus")
    with pytest.raises(SnnDeployError, match="tau_grad"):
        EventIAF(tau_grad=0.5)
    with pytest.raises(SnnDeployError, match="grad_factor"):
        SRM(grad_factor=-1)
    with pytest.raises(SnnDeployError, match="batch, time"):
        SRM()(torch.zeros(3))


def test_force_last_step_adds_a_spike_with_gradient_to_its_window():
    x = torch.full((2, 10, 3), 0.01, dtype=torch.float64, requires_grad=True)  # too weak to fire
    layer = EventIAF()
    mask = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
    layer.force_last_step(mask)
    out = layer(x)
    assert torch.equal(out[:, -1], mask) and out[:, :-1].sum() == 0
    out.sum().backward()
    # the forced spike's window is the whole sequence: Σ_t I_t ∂L/∂I_t = 1 for each forced neuron
    torch.testing.assert_close((x * x.grad).sum(1), mask, rtol=1e-12, atol=1e-15)
    assert layer(x.detach()).sum() == 0, "the mask is used once"
    layer.force_last_step(torch.ones(3))
    with pytest.raises(SnnDeployError, match="force_last_step"):
        layer(x.detach())
