"""snndeploy's IAF/LIF layers against sinabs 3.x's own layers (the reference), over the grid of
the EXODUS equivalence tests: spikes bit-equal, v_mem rtol 1e-4, gradients for input, v_init and
α at rtol 1e-4 / atol 1e-6 in float32, state carried over 3 chained chunks."""

import itertools
import math

import pytest
import torch

sinabs_layers = pytest.importorskip("sinabs.layers")
import sinabs.activation as sinabs_act  # noqa: E402

from snndeploy import layers as sd  # noqa: E402

BATCH, STEPS, NEURONS, CHUNKS = 2, 12, 6, 3
SURROGATES = ["SingleExponential", "PeriodicExponential", "Heaviside"]


def _sinabs_and_ours(alpha, threshold, min_v_mem, reset_amount, surrogate, backend):
    reset = {"sinabs": sinabs_act.MembraneSubtract(subtract_value=reset_amount),
             "ours": sd.MembraneSubtract(subtract_value=reset_amount)}
    surr = {"sinabs": getattr(sinabs_act, surrogate)(), "ours": getattr(sd, surrogate)()}
    tau = -1.0 / torch.log(alpha)
    common = dict(spike_threshold=threshold, min_v_mem=min_v_mem, train_alphas=True,
                  norm_input=False, record_states=True)
    ref = sinabs_layers.LIF(tau_mem=tau.clone(), spike_fn=sinabs_act.MultiSpike,
                            reset_fn=reset["sinabs"], surrogate_grad_fn=surr["sinabs"], **common)
    ours = sd.LIF(tau_mem=tau.clone(), spike_fn=sd.MultiSpike(), reset_fn=reset["ours"],
                  surrogate_grad_fn=surr["ours"], backend=backend, **common)
    with torch.no_grad():
        ours.alpha_mem.copy_(ref.alpha_mem)
    return ref, ours


def _run(layer, inputs, v_init, weights_s, weights_v, through):
    layer.v_mem = v_init
    loss = 0.0
    spikes, states = [], []
    for x in inputs:
        out = layer(x)
        trace = layer.recordings["v_mem"]
        spikes.append(out)
        states.append(layer.v_mem)
        if "spikes" in through:
            loss = loss + (out * weights_s).sum()
        if "v_mem" in through:
            loss = loss + (trace * weights_v).sum()
    loss.backward()
    return spikes, states


GRID = list(itertools.product(
    ["zero", "random"],            # v_init
    ["0.9", "random"],             # α
    ["1", "random"],               # θ
    ["none", "-1", "random"],      # min_v_mem
    ["theta", "random"],           # reset amount
    SURROGATES,
    [("spikes",), ("v_mem",), ("spikes", "v_mem")],
))


@pytest.mark.parametrize("backend", ["exodus", "bptt"])
@pytest.mark.parametrize("case", range(len(GRID)), ids=lambda i: "-".join(
    "+".join(v) if isinstance(v, tuple) else v for v in GRID[i]))
def test_matches_sinabs(case, backend):
    v_init_kind, alpha_kind, theta_kind, min_kind, reset_kind, surrogate, through = GRID[case]
    gen = torch.Generator().manual_seed(case)
    rand = lambda *shape: torch.rand(*shape, generator=gen)  # noqa: E731
    alpha = torch.full((NEURONS,), 0.9) if alpha_kind == "0.9" else 0.5 + 0.49 * rand(NEURONS)
    threshold = 1.0 if theta_kind == "1" else float(0.5 + rand(1))
    min_v_mem = {"none": None, "-1": -1.0, "random": float(-0.2 - rand(1))}[min_kind]
    reset_amount = None if reset_kind == "theta" else float(0.3 + 1.5 * rand(1))
    v0 = torch.zeros(BATCH, NEURONS) if v_init_kind == "zero" else rand(BATCH, NEURONS) - 0.3
    inputs = [torch.randn(BATCH, STEPS, NEURONS, generator=gen) * 0.6 + 0.25 for _ in range(CHUNKS)]
    weights_s = torch.randn(BATCH, STEPS, NEURONS, generator=gen)
    weights_v = torch.randn(BATCH, STEPS, NEURONS, generator=gen)

    ref, ours = _sinabs_and_ours(alpha, threshold, min_v_mem, reset_amount, surrogate, backend)
    results = {}
    for name, layer in (("ref", ref), ("ours", ours)):
        xs = [x.clone().requires_grad_() for x in inputs]
        v_init = v0.clone().requires_grad_()
        spikes, states = _run(layer, xs, v_init, weights_s, weights_v, through)
        results[name] = (xs, v_init, spikes, states, layer.alpha_mem.grad)

    xs_r, v0_r, spikes_r, states_r, galpha_r = results["ref"]
    xs_o, v0_o, spikes_o, states_o, galpha_o = results["ours"]
    assert sum(s.sum() for s in spikes_r) > 0, "the grid case must spike"
    for s_r, s_o in zip(spikes_r, spikes_o):
        assert torch.equal(s_r, s_o)
    for v_r, v_o in zip(states_r, states_o):
        torch.testing.assert_close(v_o, v_r, rtol=1e-4, atol=1e-6)
    for x_r, x_o in zip(xs_r, xs_o):
        torch.testing.assert_close(x_o.grad, x_r.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(v0_o.grad, v0_r.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(galpha_o, galpha_r, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("backend", ["exodus", "bptt"])
@pytest.mark.parametrize("spike_fn", ["SingleSpike", "MultiSpike", "MaxSpike"])
@pytest.mark.parametrize("reset", ["subtract", "zero"])
@pytest.mark.parametrize("layer_kind", ["IAF", "LIF", "LIF-syn", "IAF-syn"])
def test_layer_variants_match_sinabs(backend, spike_fn, reset, layer_kind):
    """Spike functions, reset to zero, norm_input LIF, synaptic current: same spikes and grads."""
    torch.manual_seed(3)
    fns = {
        "SingleSpike": (sinabs_act.SingleSpike, sd.SingleSpike()),
        "MultiSpike": (sinabs_act.MultiSpike, sd.MultiSpike()),
        "MaxSpike": (sinabs_act.MaxSpike(2), sd.MaxSpike(2)),
    }[spike_fn]
    resets = {"subtract": (sinabs_act.MembraneSubtract(), sd.MembraneSubtract()),
              "zero": (sinabs_act.MembraneReset(), sd.MembraneReset())}[reset]
    tau_syn = 4.0 if layer_kind.endswith("syn") else None
    if layer_kind.startswith("IAF"):
        ref = sinabs_layers.IAF(spike_fn=fns[0], reset_fn=resets[0], tau_syn=tau_syn, min_v_mem=-1.0)
        ours = sd.IAF(spike_fn=fns[1], reset_fn=resets[1], tau_syn=tau_syn, min_v_mem=-1.0,
                      backend=backend)
        params = lambda layer: [] if tau_syn is None else [layer.tau_syn]  # noqa: E731
    else:
        ref = sinabs_layers.LIF(tau_mem=8.0, tau_syn=tau_syn, spike_fn=fns[0], reset_fn=resets[0])
        ours = sd.LIF(tau_mem=8.0, tau_syn=tau_syn, spike_fn=fns[1], reset_fn=resets[1],
                      backend=backend)
        params = lambda layer: [layer.tau_mem] + ([] if tau_syn is None else [layer.tau_syn])  # noqa: E731
    scale = 3.0 if layer_kind.startswith("LIF") else 1.0
    x = (torch.randn(3, 30, 7) * 0.8 + 0.3) * scale * (1.0 if tau_syn is None else 0.6)
    weights = torch.randn(3, 30, 7)
    outs, grads = [], []
    for layer in (ref, ours):
        xi = x.clone().requires_grad_()
        out = layer(xi)
        (out * weights).sum().backward()
        outs.append(out)
        grads.append([xi.grad] + [p.grad for p in params(layer)])
    assert outs[0].sum() > 0
    if tau_syn is None:
        assert torch.equal(outs[0], outs[1])
    else:
        # sinabs forms α(i + x), we form αi + αx: one rounding apart, so compare closely.
        assert (outs[0] != outs[1]).float().mean() < 0.01
    for g_ref, g_ours in zip(*grads):
        torch.testing.assert_close(g_ours, g_ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("backend", ["exodus", "bptt"])
def test_expleak_matches_sinabs(backend):
    torch.manual_seed(1)
    ref = sinabs_layers.ExpLeak(tau_mem=5.0, min_v_mem=-0.5)
    ours = sd.ExpLeak(tau_mem=5.0, min_v_mem=-0.5, backend=backend)
    x = torch.randn(2, 25, 4)
    outs, grads = [], []
    for layer in (ref, ours):
        xi = x.clone().requires_grad_()
        out = layer(xi)
        (out ** 2).sum().backward()
        outs.append(out)
        grads.append((xi.grad, layer.tau_mem.grad))
    torch.testing.assert_close(outs[1], outs[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grads[1][0], grads[0][0], rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(grads[1][1], grads[0][1], rtol=1e-4, atol=1e-6)


def test_alpha_gradient_with_clamp_at_first_step():
    """v is clamped at t = 0: the α gradient of step 0 must carry the clamp mask (c_0 · v_init)."""
    alpha = torch.full((3,), 0.8)
    v0 = torch.tensor([[-2.0, 0.5, -3.0]])
    x = torch.zeros(1, 4, 3)
    x[0, 0] = torch.tensor([-1.0, 0.2, 0.5])
    x[0, 2] = 1.5
    grads = []
    for make in (
        lambda: sinabs_layers.LIF(tau_mem=torch.full((3,), -1 / math.log(0.8)), train_alphas=True, norm_input=False,
                                  min_v_mem=-1.0, record_states=True),
        lambda: sd.LIF(tau_mem=torch.full((3,), -1 / math.log(0.8)), train_alphas=True, norm_input=False,
                       min_v_mem=-1.0, record_states=True, backend="exodus"),
    ):
        layer = make()
        with torch.no_grad():
            layer.alpha_mem.copy_(alpha)
        layer.v_mem = v0.clone()
        layer(x)
        layer.recordings["v_mem"].sum().backward()
        grads.append(layer.alpha_mem.grad)
    # Neuron 0 and 2 start clamped (α·v0 + x < −1): their step-0 term must vanish.
    torch.testing.assert_close(grads[1], grads[0], rtol=1e-5, atol=1e-7)
