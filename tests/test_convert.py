"""from_sinabs / to_sinabs: one call swaps the neuron layers, forward behaviour unchanged."""

import pytest
import torch
from torch import nn

sl = pytest.importorskip("sinabs.layers")
import sinabs.activation as sa  # noqa: E402

from snndeploy import layers as sd  # noqa: E402
from snndeploy.errors import SnnDeployError  # noqa: E402
from snndeploy.layers.convert import from_sinabs, to_sinabs  # noqa: E402

BATCH, STEPS = 2, 6


def _sinabs_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False),
        sl.IAFSqueeze(batch_size=BATCH, min_v_mem=-1.0, spike_fn=sa.SingleSpike),
        nn.AvgPool2d(2),
        nn.Conv2d(4, 4, 3),
        sl.LIFSqueeze(tau_mem=6.0, num_timesteps=STEPS, reset_fn=sa.MembraneReset(),
                      surrogate_grad_fn=sa.PeriodicExponential()),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5),
        sl.ExpLeakSqueeze(tau_mem=4.0, batch_size=BATCH),
    )


def test_from_sinabs_same_forward_and_gradients():
    model = _sinabs_model()
    ours = from_sinabs(model, backend="exodus")
    kinds = [type(m) for m in ours]
    assert kinds[1] is sd.IAFSqueeze and kinds[4] is sd.LIFSqueeze and kinds[7] is sd.ExpLeakSqueeze
    assert isinstance(ours[1].spike_fn, sd.SingleSpike)
    assert isinstance(ours[4].reset_fn, sd.MembraneReset)
    assert type(model[1]) is sl.IAFSqueeze, "the original model is left alone"
    x = torch.rand(BATCH * STEPS, 2, 8, 8) * 3
    xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out_ours = model(xa), ours(xb)
    torch.testing.assert_close(out_ours, out_ref, rtol=1e-5, atol=1e-6)
    out_ref.square().sum().backward()
    out_ours.square().sum().backward()
    torch.testing.assert_close(xb.grad, xa.grad, rtol=1e-4, atol=1e-6)
    torch.testing.assert_close(ours[0].weight.grad, model[0].weight.grad, rtol=1e-4, atol=1e-6)


def test_round_trip_keeps_state_and_behaviour():
    model = from_sinabs(_sinabs_model(), backend="bptt")
    x = torch.rand(BATCH * STEPS, 2, 8, 8) * 3
    model(x)  # leaves state behind
    back = to_sinabs(model)
    assert type(back[1]) is sl.IAFSqueeze and type(back[4]) is sl.LIFSqueeze
    torch.testing.assert_close(back[1].v_mem, model[1].v_mem)
    torch.testing.assert_close(back(x), model(x), rtol=1e-5, atol=1e-6)


def test_trainable_alphas_and_synaptic_current_carry_over():
    layer = sl.LIF(tau_mem=torch.tensor([3.0, 9.0]), tau_syn=2.0, train_alphas=True,
                   spike_fn=sa.MaxSpike(2))
    with torch.no_grad():
        layer.alpha_mem.copy_(torch.tensor([0.7, 0.95]))
    ours = from_sinabs(nn.Sequential(layer))[0]
    torch.testing.assert_close(ours.alpha_mem.detach(), torch.tensor([0.7, 0.95]))
    assert ours.spike_fn == sd.MaxSpike(2)
    x = torch.rand(1, 20, 2) * 4
    assert (layer(x) != ours(x)).float().mean() < 0.05


def test_recurrent_layers_refused_with_a_reason():
    with pytest.raises(SnnDeployError, match="IAFRecurrent"):
        from_sinabs(nn.Sequential(sl.IAFRecurrent(rec_connect=nn.Linear(3, 3))))
