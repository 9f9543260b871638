"""Exactness of the scan gradients in float64, the Triton kernels against the CPU kernels, and
the layer API (state, squeeze, backends)."""

import pytest
import torch

from snndeploy import layers as sd
from snndeploy.errors import SnnDeployError
from snndeploy.kernels import CpuScan, ScanParams, ScanSpec, TritonScan

torch.set_default_dtype(torch.float32)


def _run_chunks(layer, inputs, v0, weights):
    layer.v_mem = v0
    loss = 0.0
    for x, w in zip(inputs, weights):
        layer(x)
        loss = loss + (layer.recordings["v_mem"] * w).sum()
    return loss


def _loss_fn(make, x_chunks, v0, weights):
    layer = make()
    return _run_chunks(layer, x_chunks, v0, weights)


@pytest.mark.parametrize("config", ["slayer-subtract", "exodus-reset-zero", "exodus-leak"])
def test_gradient_equals_finite_differences_float64(config):
    """Where the loss is a piecewise-smooth function of the inputs, the gradient is exact.

    Loss through v_mem: with reset to zero the surrogate never enters the v_mem path, and SLAYER
    drops the reset term, so both backends must give the true derivative of the piecewise-smooth
    forward (spikes locally constant). Central differences with h = 1e-6 flip no spike.
    """
    gen = torch.Generator().manual_seed(7)
    backend, kind = config.split("-", 1)
    alpha = torch.rand(5, generator=gen, dtype=torch.float64) * 0.3 + 0.6

    def make():
        if kind == "leak":
            layer = sd.ExpLeak(tau_mem=1.0, train_alphas=True, min_v_mem=-0.4,
                               record_states=True, backend=backend)
        else:
            reset = sd.MembraneSubtract() if kind == "subtract" else sd.MembraneReset()
            layer = sd.LIF(tau_mem=1.0, train_alphas=True, norm_input=False, min_v_mem=-0.5,
                           reset_fn=reset, record_states=True, backend=backend)
        layer.alpha_mem = torch.nn.Parameter(alpha_var.clone())
        return layer.double()

    x_chunks = [torch.randn(2, 10, 5, generator=gen, dtype=torch.float64) * 0.7 + 0.2
                for _ in range(3)]
    weights = [torch.randn(2, 10, 5, generator=gen, dtype=torch.float64) for _ in range(3)]
    v0 = torch.rand(2, 5, generator=gen, dtype=torch.float64) * 0.5

    alpha_var = alpha
    xs = [x.clone().requires_grad_() for x in x_chunks]
    v0_var = v0.clone().requires_grad_()
    layer = make()
    loss = _run_chunks(layer, xs, v0_var, weights)
    loss.backward()
    analytic = torch.cat([x.grad.flatten() for x in xs] + [v0_var.grad.flatten(),
                                                           layer.alpha_mem.grad.flatten()])

    def loss_at(flat):
        nonlocal alpha_var
        sizes = [x.numel() for x in x_chunks]
        parts = list(torch.split(flat, sizes + [v0.numel(), alpha.numel()]))
        chunks = [p.reshape(x.shape) for p, x in zip(parts, x_chunks)]
        alpha_var = parts[-1].clone()
        with torch.no_grad():
            return _loss_fn(make, chunks, parts[-2].reshape(v0.shape), weights).item()

    flat = torch.cat([x.flatten() for x in x_chunks] + [v0.flatten(), alpha.flatten()])
    h = 1e-6
    numeric = torch.empty_like(flat)
    for i in range(flat.numel()):
        e = torch.zeros_like(flat)
        e[i] = h
        numeric[i] = (loss_at(flat + e) - loss_at(flat - e)) / (2 * h)
    assert (analytic - numeric).abs().max() < 1e-8


@pytest.mark.parametrize("surrogate", ["SingleExponential", "PeriodicExponential", "Heaviside"])
@pytest.mark.parametrize("reset", [sd.MembraneSubtract(), sd.MembraneReset()])
def test_exodus_equals_bptt_float64(surrogate, reset):
    """EXODUS' reverse scan is BPTT with the reset term: equal to rounding in float64."""
    torch.manual_seed(11)
    x = (torch.randn(3, 40, 8, dtype=torch.float64) * 0.6 + 0.3)
    w_s, w_v = torch.randn_like(x), torch.randn_like(x)
    tau = torch.rand(8) * 10 + 2
    grads = {}
    for backend in ("bptt", "exodus"):
        layer = sd.LIF(tau_mem=tau.clone(), min_v_mem=-0.7, reset_fn=reset,
                       surrogate_grad_fn=getattr(sd, surrogate)(), record_states=True,
                       backend=backend).double()
        xi = x.clone().requires_grad_()
        out = layer(xi)
        ((out * w_s).sum() + (layer.recordings["v_mem"] * w_v).sum()).backward()
        grads[backend] = (xi.grad, layer.tau_mem.grad)
    for a, b in zip(grads["exodus"], grads["bptt"]):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


def test_slayer_drops_the_reset_term():
    """SLAYER's gradient equals BPTT through a reset whose spikes are detached."""
    torch.manual_seed(5)
    x = torch.randn(2, 30, 6, dtype=torch.float64) * 0.8 + 0.3
    layer = sd.IAF(backend="slayer", surrogate_grad_fn=sd.SingleExponential()).double()
    xi = x.clone().requires_grad_()
    layer(xi).sum().backward()

    surrogate = sd.SingleExponential()
    xr = x.clone().requires_grad_()
    v = torch.zeros(2, 6, dtype=torch.float64)
    total = 0.0
    for t in range(30):
        p = v + xr[:, t]
        s = (p > 0) * torch.div(p, 1.0, rounding_mode="trunc")
        s = s.detach() + surrogate(p, torch.tensor(1.0)) * (p - p.detach())
        total = total + s.sum()
        v = p - s.detach()
    total.backward()
    torch.testing.assert_close(xi.grad, xr.grad, rtol=1e-12, atol=1e-12)
    bptt = sd.IAF(backend="bptt").double()
    xb = x.clone().requires_grad_()
    bptt(xb).sum().backward()
    assert not torch.allclose(xb.grad, xi.grad), "the reset term must matter in this case"


@pytest.mark.parametrize("spec", [
    ScanSpec(None, True, True, True, sd.SingleExponential()),
    ScanSpec(1, False, False, False, sd.PeriodicExponential()),
    ScanSpec(2, True, False, True, sd.Heaviside(), keep_reset_term=False),
    ScanSpec(0, True, True, True, sd.SingleExponential()),
], ids=["multi-min-record", "single-zero", "max2-slayer", "leak"])
def test_triton_kernels_match_cpu(spec):
    """The Triton kernels (interpreted on CPU) compute what the numba kernels compute."""
    gen = torch.Generator().manual_seed(2)
    batch, steps, neurons = 2, 9, 150  # two blocks of 128, the second masked
    x = torch.randn(batch, steps, neurons, generator=gen) * 0.8 + 0.3
    v0 = torch.rand(batch, neurons, generator=gen) - 0.5
    prm = ScanParams(alpha=torch.rand(neurons, generator=gen) * 0.5 + 0.5,
                     threshold=torch.rand(neurons, generator=gen) + 0.5,
                     reset_amount=torch.rand(neurons, generator=gen) + 0.3,
                     min_v=-torch.rand(neurons, generator=gen))
    cpu_out = CpuScan().forward(x, v0, prm, spec)
    tri_out = TritonScan().forward(x, v0, prm, spec)
    for a, b in zip(cpu_out, tri_out):
        if a is None:
            assert b is None
        else:
            torch.testing.assert_close(b, a, rtol=1e-6, atol=1e-6)
    p, s = cpu_out[0], cpu_out[1]
    grad_s = torch.randn(batch, steps, neurons, generator=gen)
    grad_v = torch.randn(batch, steps, neurons, generator=gen) if spec.record else None
    grad_final = torch.randn(batch, neurons, generator=gen)
    cpu_grads = CpuScan().backward(p, s, grad_s, grad_v, grad_final, v0, prm, spec)
    tri_grads = TritonScan().backward(p, s, grad_s, grad_v, grad_final, v0, prm, spec)
    for a, b in zip(cpu_grads, tri_grads):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


def test_state_carries_over_and_resets():
    layer = sd.IAF(spike_threshold=10.0)
    x = torch.ones(2, 5, 3)
    layer(x)
    torch.testing.assert_close(layer.v_mem, torch.full((2, 3), 5.0))
    layer(x)
    torch.testing.assert_close(layer.v_mem, torch.zeros(2, 3))  # 10 reached: one spike, v −= 10
    layer.v_mem = torch.full((2, 3), 9.5)
    assert layer(torch.ones(2, 1, 3)).sum() == 6
    layer.reset_states()
    assert layer.v_mem.abs().sum() == 0
    layer(torch.ones(4, 2, 3))  # a new batch size starts from zeros
    assert layer.v_mem.shape == (4, 3)


def test_squeeze_layers_equal_unsqueezed():
    torch.manual_seed(0)
    x = torch.randn(3, 7, 2, 4, 4)
    plain = sd.LIF(tau_mem=5.0)(x)
    by_batch = sd.LIFSqueeze(tau_mem=5.0, batch_size=3)(x.flatten(0, 1))
    by_steps = sd.LIFSqueeze(tau_mem=5.0, num_timesteps=7)(x.flatten(0, 1))
    assert torch.equal(by_batch.reshape_as(plain), plain)
    assert torch.equal(by_steps.reshape_as(plain), plain)
    with pytest.raises(SnnDeployError, match="batch_size"):
        sd.IAFSqueeze()
    with pytest.raises(SnnDeployError, match="not a multiple"):
        sd.IAFSqueeze(batch_size=4)(torch.ones(6, 3))


def test_bad_backend_and_surrogate_named():
    with pytest.raises(SnnDeployError, match="unknown backend 'cuda-magic'"):
        sd.IAF(backend="cuda-magic")

    class MySurrogate:
        def __call__(self, v, threshold):
            return torch.ones_like(v)

    with pytest.raises(SnnDeployError, match="MySurrogate"):
        sd.IAF(surrogate_grad_fn=MySurrogate())
    sd.IAF(surrogate_grad_fn=MySurrogate(), backend="bptt")  # fine with autograd


def test_max_spike_cap_and_single_spike_rule():
    layer = sd.IAF(spike_fn=sd.MaxSpike(3), backend="exodus")
    out = layer(torch.tensor([[[7.5]]]))
    assert out.item() == 3 and layer.v_mem.item() == 4.5
    single = sd.IAF(spike_fn=sd.SingleSpike())
    out = single(torch.tensor([[[1.0], [0.999], [2.5]]]).transpose(0, 1).reshape(1, 3, 1))
    assert out.flatten().tolist() == [1.0, 0.0, 1.0]


@pytest.mark.parametrize("backend", ["exodus", "bptt"])
def test_reset_undershooting_the_floor_is_clamped_after_the_reset(backend):
    """The documented choice (sinabs' order): spike on the unclamped p, then reset, then floor.

    p = 2.5 with θ = 1 and a reset amount of 4: one spike (single-spike), q = −1.5, floored to
    min_v_mem = −1. EXODUS' order (floor before the spike) would give the same spike but keep −1.5.
    """
    layer = sd.IAF(spike_fn=sd.SingleSpike(), reset_fn=sd.MembraneSubtract(subtract_value=4.0),
                   min_v_mem=-1.0, backend=backend, record_states=True)
    out = layer(torch.tensor([[[2.5], [0.5]]]))
    assert out.flatten().tolist() == [1.0, 0.0]
    assert layer.recordings["v_mem"].flatten().tolist() == [-1.0, -0.5]
