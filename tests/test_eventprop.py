"""EventProp: exact forward, exact adjoint, every loss against finite differences (float64)."""

import math

import pytest
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.eventprop import (
    LOSSES,
    EventPropLIF,
    EventPropReadout,
    FirstSpikeTime,
    NeuronConstants,
    SpikeTrain,
    advance_state,
    first_spike_loss,
    retreat_adjoint,
    sum_loss,
)

DT = 1.0
STEPS = 40
LABELS = torch.tensor([0, 1, 2])


@pytest.fixture(autouse=True)
def float64():
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(previous)


def _inputs(seed=0, batch=3, neurons=5, span=20.0, steps=STEPS, dt=DT):
    generator = torch.Generator().manual_seed(seed)
    times = torch.rand(batch, neurons, generator=generator, dtype=torch.float64) * span
    return SpikeTrain.from_times(times, steps, dt)


def _voltage_model(recurrent, seed=1, hidden=8):
    torch.manual_seed(seed)
    return nn.Sequential(
        EventPropLIF(5, hidden, weight_mean=1.5, weight_std=1.0, recurrent=recurrent,
                     recurrent_std=0.3),
        EventPropReadout(hidden, 3),
    )


def _spiking_model(recurrent, seed=1, hidden=8):
    torch.manual_seed(seed)
    return nn.Sequential(
        EventPropLIF(5, hidden, weight_mean=1.5, weight_std=1.0, recurrent=recurrent,
                     recurrent_std=0.3),
        EventPropLIF(hidden, 3, weight_mean=2.0, weight_std=0.5),
        FirstSpikeTime(phantom=False),
    )


def _run(model, x):
    """Output and the event structure (sample, neuron, step of every spike of every layer)."""
    structure = []
    out = x
    for layer in model:
        out = layer(out)
        if isinstance(out, SpikeTrain):
            structure.append(torch.stack([out.sample, out.neuron, out.step]).tolist())
    return out, structure


def _finite_difference_error(model, x, loss_fn, entries=6, eps=1e-6):
    """max over parameter tensors of ‖g − g_fd‖/‖g_fd‖ on `entries` entries of each."""
    model.zero_grad()
    out, structure = _run(model, x)
    loss_fn(out).backward()
    worst = 0.0
    for parameter in model.parameters():
        flat = parameter.data.view(-1)
        picks = torch.linspace(0, flat.numel() - 1, min(entries, flat.numel())).long()
        exact = parameter.grad.view(-1)[picks]
        numeric = torch.zeros_like(exact)
        for k, index in enumerate(picks.tolist()):
            original = flat[index].item()
            values = []
            for sign in (1, -1):
                flat[index] = original + sign * eps
                with torch.no_grad():
                    shifted, shifted_structure = _run(model, x)
                    values.append(loss_fn(shifted).item())
                assert shifted_structure == structure, "perturbation created or deleted a spike"
            flat[index] = original
            numeric[k] = (values[0] - values[1]) / (2 * eps)
        assert numeric.norm() > 0
        worst = max(worst, ((exact - numeric).norm() / numeric.norm()).item())
    return worst


# -- exact in-step integration -------------------------------------------------------------

def _rk4(derivative, state, h, steps):
    dh = h / steps
    for _ in range(steps):
        k1 = derivative(state)
        k2 = derivative([s + dh / 2 * k for s, k in zip(state, k1)])
        k3 = derivative([s + dh / 2 * k for s, k in zip(state, k2)])
        k4 = derivative([s + dh * k for s, k in zip(state, k3)])
        state = [s + dh / 6 * (a + 2 * b + 2 * c + d)
                 for s, a, b, c, d in zip(state, k1, k2, k3, k4)]
    return state


@pytest.mark.parametrize("tau_syn", [5.0, 20.0])
def test_forward_step_equals_ode_integration(tau_syn):
    c = NeuronConstants(20.0, tau_syn, 1.0, DT)
    v, i = torch.tensor([0.3, -0.2]), torch.tensor([1.7, 0.4])
    h = torch.tensor(2.5)
    exact = advance_state(v, i, h, c)
    numeric = _rk4(lambda s: [(-s[0] + s[1]) / c.tau_mem, -s[1] / c.tau_syn], [v, i], 2.5, 2000)
    for a, b in zip(exact, numeric):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("tau_syn", [5.0, 20.0])
def test_in_step_adjoint_equals_ode_integration(tau_syn):
    """a' = −Aᵀa backwards in time: da_V/dt = a_V/τm, da_I/dt = −a_V/τm + a_I/τs."""
    c = NeuronConstants(20.0, tau_syn, 1.0, DT)
    a_v, a_i = torch.tensor([0.8, -1.1]), torch.tensor([0.25, 2.0])
    exact = retreat_adjoint(a_v, a_i, torch.tensor(3.0), c)
    # integrate in reversed time s = −t: d/ds = −d/dt
    numeric = _rk4(lambda s: [-s[0] / c.tau_mem, s[0] / c.tau_mem - s[1] / c.tau_syn],
                   [a_v, a_i], 3.0, 2000)
    for a, b in zip(exact, numeric):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_adjoint_step_is_paper_003_update_in_lambda_units():
    """λ_I(t) = τm/(τm−τs)·λ_V·(e^{−h/τm} − e^{−h/τs}) + λ_I·e^{−h/τs}, λ = −a/τ (eq. 74)."""
    c = NeuronConstants(20.0, 5.0, 1.0, DT)
    a_v, a_i, h = torch.tensor(0.7), torch.tensor(-0.4), torch.tensor(1.3)
    lam_v, lam_i = -a_v / c.tau_mem, -a_i / c.tau_syn
    paper_i = (c.tau_mem / (c.tau_mem - c.tau_syn) * lam_v
               * (torch.exp(-h / c.tau_mem) - torch.exp(-h / c.tau_syn))
               + lam_i * torch.exp(-h / c.tau_syn))
    new_v, new_i = retreat_adjoint(a_v, a_i, h, c)
    torch.testing.assert_close(-new_i / c.tau_syn, paper_i)
    torch.testing.assert_close(-new_v / c.tau_mem, lam_v * torch.exp(-h / c.tau_mem))


def test_spike_times_do_not_depend_on_the_step():
    """Events sit at their exact times: the step only partitions the work."""
    times = torch.rand(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20
    x_fine, x_coarse = (SpikeTrain.from_times(times, 160, 0.25),
                        SpikeTrain.from_times(times, 40, 1.0))
    layer = _voltage_model(False)[0]
    fine, coarse = layer(x_fine), layer(x_coarse)
    key = lambda s: sorted(zip(s.sample.tolist(), s.neuron.tolist(), s.times.tolist()))
    assert len(fine) == len(coarse) > 5
    for a, b in zip(key(fine), key(coarse)):
        assert a[:2] == b[:2] and abs(a[2] - b[2]) < 1e-10


def test_forward_matches_fine_rk4_simulation():
    """An independent reference: RK4 with 1e-3 substeps, threshold crossing interpolated."""
    times = torch.tensor([[1.0, 3.5, 7.25, 12.0, 4.0]])
    weights = [[6.0, 4.5, 7.5, 10.0, 1.5], [12.5, -2.5, 5.0, 5.0, 0.0]]
    layer = EventPropLIF(5, 2, weight_std=0.0)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor(weights))
    out = layer(SpikeTrain.from_times(times, 30, 1.0))
    h = 1e-3
    arrivals = {round(t / h): k for k, t in enumerate(times[0].tolist())}
    reference = []
    for j in range(2):
        v = i = 0.0
        for n in range(int(30 / h)):
            if n in arrivals:
                i += weights[j][arrivals[n]]
            (v_new, i_new), = [_rk4(lambda s: [(-s[0] + s[1]) / 20.0, -s[1] / 5.0], [v, i], h, 1)]
            if v_new >= 1.0:
                fraction = (1.0 - v) / (v_new - v)
                reference.append((j, (n + fraction) * h))
                v_new = i_new * (1 - fraction) * h / 20.0  # restart from 0 at the crossing
            v, i = v_new, i_new
    ours = sorted(zip(out.neuron.tolist(), out.times.tolist()))
    assert len(ours) == len(reference) >= 3
    for (j1, t1), (j2, t2) in zip(ours, sorted(reference)):
        assert j1 == j2 and abs(t1 - t2) < 1e-4


# -- gradients against finite differences -------------------------------------------------

@pytest.mark.parametrize("recurrent", [False, True])
@pytest.mark.parametrize("loss", ["sum", "sum_exp", "max", "per_step_ce"])
def test_voltage_loss_gradients_equal_finite_differences(loss, recurrent):
    model = _voltage_model(recurrent)
    x = _inputs()
    error = _finite_difference_error(model, x, lambda v: LOSSES[loss].compute(v, LABELS, DT))
    assert error < 1e-5


@pytest.mark.parametrize("recurrent", [False, True])
def test_first_spike_loss_gradients_equal_finite_differences(recurrent):
    model = _spiking_model(recurrent)
    x = _inputs()
    out, _ = _run(model, x)
    assert (out < STEPS * DT).all(), "every output neuron must spike for an exact gradient"
    error = _finite_difference_error(model, x, lambda t: first_spike_loss(t, LABELS))
    assert error < 1e-5


def test_coincident_spikes_and_inputs_on_step_boundaries():
    """Input spikes exactly at step starts, two hidden neurons with identical weights spiking
    at the same instant, and several neurons spiking within one step."""
    generator = torch.Generator().manual_seed(3)
    raster = (torch.rand(3, STEPS, 5, generator=generator) < 0.08).double()
    x = SpikeTrain.from_raster(raster, DT)
    assert torch.equal(x.times, x.step.double() * DT)
    model = _voltage_model(False)
    with torch.no_grad():
        model[0].weight[1] = model[0].weight[0]
    hidden = model[0](x)
    same_step = torch.unique(torch.stack([hidden.sample, hidden.step]), dim=1,
                             return_counts=True)[1]
    assert (same_step > 1).any()
    pairs = {}
    for b, j, t in zip(hidden.sample.tolist(), hidden.neuron.tolist(), hidden.times.tolist()):
        pairs.setdefault((b, t), set()).add(j)
    assert any({0, 1} <= neurons for neurons in pairs.values())
    error = _finite_difference_error(model, x, lambda v: sum_loss(v, LABELS, DT), entries=6)
    assert error < 1e-5


def test_gradient_converges_as_dt_shrinks_with_slope_one():
    """Spike times are exact for any dt; the voltage integral is a right-endpoint sum over
    steps, so |dL/dw(dt) − dL/dw(dt_ref)| shrinks like dt (least-squares slope ≈ 1 in log-log;
    spike-time-dependent O(dt) terms make single ratios wobble)."""
    times = torch.rand(3, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 20

    def gradient(dt):
        model = _voltage_model(False)
        v = model(SpikeTrain.from_times(times, int(round(40 / dt)), dt))
        sum_loss(v, LABELS, dt).backward()
        return torch.cat([p.grad.view(-1) for p in model.parameters()])

    reference = gradient(1 / 128)
    steps = torch.tensor([0.5, 0.25, 0.125, 0.0625])
    errors = torch.tensor([(gradient(dt) - reference).norm().item() for dt in steps.tolist()])
    x, y = steps.log(), errors.log()
    slope = (((x - x.mean()) * (y - y.mean())).sum() / ((x - x.mean()) ** 2).sum()).item()
    assert 0.9 < slope < 1.2, (slope, errors.tolist())


# -- regularisation, phantom spikes, memory -------------------------------------------------

def test_regularisation_drive_is_the_papers_jump():
    """The jump λ_V −= k(n̄ − ν)/(Nϑ) equals an extra time loss Σ_k −k(n̄−ν)/(Nϑ)·(I−ϑ)_k·t_k."""
    x = _inputs()
    strength, target = 0.05, 0.5
    torch.manual_seed(1)
    regularised = nn.Sequential(EventPropLIF(5, 8, weight_mean=1.5, weight_std=1.0,
                                             regularisation_strength=strength,
                                             regularisation_target=target),
                                EventPropReadout(8, 3))
    hidden = regularised[0](x)
    sum_loss(regularised[1](hidden), LABELS, DT).backward()
    plain = _voltage_model(False)
    hidden = plain[0](x)
    mean_counts = hidden.counts().double().mean(0)
    per_neuron = strength * (mean_counts - target) / (3 * 1.0)
    extra = -(per_neuron[hidden.neuron] * (hidden.current - 1.0) * hidden.times).sum()
    (sum_loss(plain[1](hidden), LABELS, DT) + extra).backward()
    for a, b in zip(regularised.parameters(), plain.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-10, atol=1e-12)
    assert regularised[0].regularisation_loss() > 0


def test_phantom_spike_drives_a_silent_label_neuron():
    x = _inputs()
    torch.manual_seed(1)
    hidden = EventPropLIF(5, 8, weight_mean=1.5, weight_std=1.0)
    output = EventPropLIF(8, 3, weight_mean=0.05, weight_std=0.0)
    grads = {}
    for phantom in (True, False):
        output.zero_grad()
        times = FirstSpikeTime(phantom)(output(hidden(x)))
        assert (times == STEPS * DT).all()
        assert times.requires_grad == phantom
        if phantom:
            first_spike_loss(times, LABELS).backward()
            grads[phantom] = output.weight.grad.clone()
    # each label neuron's input weights from active hidden neurons must grow (negative
    # gradient), the weights of hidden neurons silent in all trials stay
    active = hidden(x).counts().sum(0) > 0
    assert (~active).any() and active.any()
    for label in LABELS.tolist():
        assert (grads[True][label, active] < 0).all()
        assert (grads[True][label, ~active] == 0).all()


def test_backward_keeps_no_time_axis():
    steps = 500
    x = _inputs(steps=steps, span=20.0)
    model = _voltage_model(True)
    hidden = model[0](x)
    for tensor in hidden.times.grad_fn.saved_tensors:
        if tensor is not None:
            assert steps not in tensor.shape
            assert tensor.numel() <= max(len(hidden), len(x), 8 * 8, 3 * 8)


# -- interface ---------------------------------------------------------------------------------

def test_bad_inputs_raise_clear_errors():
    layer = EventPropLIF(5, 4)
    with pytest.raises(SnnDeployError, match="SpikeTrain"):
        layer(torch.zeros(2, 10, 5))
    with pytest.raises(SnnDeployError, match="in_features=5"):
        layer(SpikeTrain.from_times(torch.zeros(2, 3), 10, 1.0))
    with pytest.raises(SnnDeployError, match="tau_syn"):
        EventPropLIF(5, 4, tau_syn=-1.0)
    with pytest.raises(SnnDeployError, match="unknown EventProp loss"):
        from snndeploy.eventprop import loss_spec
        loss_spec("mse")
    with pytest.raises(SnnDeployError, match="0 or 1"):
        SpikeTrain.from_raster(torch.full((1, 3, 2), 2.0), 1.0)


def test_training_lowers_the_loss():
    """Smoke test: a few Adam steps of a small network on a fixed batch."""
    x = _inputs(batch=6)
    labels = torch.tensor([0, 1, 2, 0, 1, 2])
    model = _voltage_model(False)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.02)
    losses = []
    for _ in range(6):
        optimizer.zero_grad()
        loss = LOSSES["sum"].compute(model(x), labels, DT)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0]


# -- the ordinary training loop ------------------------------------------------------------

def test_fit_trains_an_eventprop_network_on_yinyang_times():
    from snndeploy.data.yinyang import YinYangDataset
    from snndeploy.eventprop import EventPropLoss, build_eventprop_network
    from snndeploy.train import fit

    torch.set_default_dtype(torch.float32)
    data = YinYangDataset("train", size=96, seed=3, t_early=0.0, t_late=20.0, t_bias=0.0)
    loader = torch.utils.data.DataLoader(data, batch_size=32)
    torch.manual_seed(0)
    net = build_eventprop_network([5, 30, 3], loss="first_spike", dt=1.0, num_steps=40,
                                  hidden_weight_mean=1.5, hidden_weight_std=1.5,
                                  output_weight_mean=0.3, output_weight_std=0.3)
    before = [p.detach().clone() for p in net.parameters()]
    history = fit(net, loader, EventPropLoss("first_spike", dt=1.0), epochs=2, lr=5e-3,
                  progress=False)
    assert len(history) == 2 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(not torch.equal(a, b) for a, b in zip(before, net.parameters()))


def test_network_takes_rasters_for_voltage_losses():
    from snndeploy.eventprop import EventPropLoss, build_eventprop_network

    net = build_eventprop_network([6, 10, 3], loss="sum_exp", dt=1.0)
    raster = (torch.rand(4, 25, 2, 3, generator=torch.Generator().manual_seed(0)) < 0.2).double()
    out = net.double()(raster)
    assert out.shape == (4, 25, 3)
    loss = EventPropLoss("sum_exp", dt=1.0)
    loss(out, torch.tensor([0, 1, 2, 0])).backward()
    assert loss.predict(out).shape == (4,)
    assert all(p.grad is not None for p in net.parameters())


def test_deployment_blockers_explain_iaf_and_lif_targets():
    import tomllib
    from pathlib import Path

    from snndeploy.eventprop import build_eventprop_network, deployment_blockers
    from snndeploy.eventprop.deployment import nearest_decay_shift

    root = Path(__file__).resolve().parents[1]
    speck = tomllib.loads((root / "hw_targets" / "speck2e.toml").read_text())
    net = build_eventprop_network([5, 8, 3], loss="first_spike", tau_mem=20.0, tau_syn=5.0)
    blockers = deployment_blockers(net, speck)
    assert any("layer 0" in b and "tau_syn=5.0" in b for b in blockers)
    assert any("layer 1" in b and "integrate-and-fire" in b for b in blockers)
    lif_target = tomllib.loads((root / "examples" / "targets" / "lif_bitshift.toml").read_text())
    shift, tau = nearest_decay_shift(20.0, 1.0, 1, 12)
    assert shift == 4 and tau == pytest.approx(-1.0 / math.log(1 - 1 / 16))
    suggestion = [b for b in deployment_blockers(net, lif_target) if "bit-shift" in b]
    assert len(suggestion) == 2 and f"tau_mem={tau:.3f} ms" in suggestion[0]
    fitted = build_eventprop_network([5, 8, 3], loss="first_spike", tau_mem=tau, tau_syn=5.0)
    remaining = deployment_blockers(fitted, lif_target)
    assert not any("bit-shift" in b for b in remaining)
    assert len(remaining) == 2 and all("tau_syn" in b for b in remaining)
