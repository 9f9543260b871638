"""Pooling layers: forward values, both layouts, and the backward rules of paper 004 §3.2."""

import pytest
import torch
import torch.nn.functional as F

from snndeploy.errors import SnnDeployError
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d


def _spikes(shape, seed=0, rate=0.3, dtype=torch.float64):
    generator = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=generator, dtype=dtype) < rate).to(dtype)


def _input_and_grad(layer, x, seed=1):
    x = x.clone().requires_grad_(True)
    out = layer(x)
    grad_out = torch.randn(out.shape, generator=torch.Generator().manual_seed(seed), dtype=x.dtype)
    out.backward(grad_out)
    return out, grad_out, x.grad


def test_sum_pool_equals_sinabs():
    sinabs_layers = pytest.importorskip("sinabs.layers")
    x = torch.rand(6, 3, 9, 8, dtype=torch.float64) * 3 - 1
    for kernel, stride in ((2, None), (3, 2), ((2, 3), (1, 2))):
        ours = SumPool2d(kernel, stride)(x)
        theirs = sinabs_layers.SumPool2d(kernel, stride)(x)
        torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-12)


@pytest.mark.parametrize("layer", [SumPool2d(2), AvgPool2d(2), AvgPool2d(2, adjusted=False), MaxPool2d(2)])
def test_sequence_and_squeezed_layouts_agree(layer):
    x = _spikes((2, 5, 3, 6, 6))
    out5, _, grad5 = _input_and_grad(layer, x)
    out4, _, grad4 = _input_and_grad(layer, x.reshape(10, 3, 6, 6))
    assert out5.shape == (2, 5, 3, 3, 3)
    torch.testing.assert_close(out5.reshape(10, 3, 3, 3), out4, rtol=0, atol=0)
    torch.testing.assert_close(grad5.reshape(10, 3, 6, 6), grad4, rtol=0, atol=0)


def test_forward_values():
    x = _spikes((4, 2, 7, 6), seed=3) * torch.randint(1, 4, (4, 2, 7, 6)).double()
    torch.testing.assert_close(SumPool2d(2)(x), F.avg_pool2d(x, 2) * 4, rtol=0, atol=1e-12)
    torch.testing.assert_close(AvgPool2d(2)(x), F.avg_pool2d(x, 2), rtol=0, atol=0)
    torch.testing.assert_close(MaxPool2d(3, 2)(x), F.max_pool2d(x, 3, 2), rtol=0, atol=0)


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, None), (2, 1), ((2, 3), (2, 2))])
def test_adjusted_average_conserves_gradient_sum(kernel, stride):
    x = _spikes((3, 4, 2, 8, 9), seed=5)
    layer = AvgPool2d(kernel, stride, adjusted=True)
    out, grad_out, grad_in = _input_and_grad(layer, x)
    spiking_windows = F.avg_pool2d(x.reshape(12, 2, 8, 9), layer.kernel_size, layer.stride,
                                   divisor_override=1).reshape(out.shape) > 0
    assert (grad_in[x == 0] == 0).all()
    total_in = grad_in[x != 0].sum()
    total_out = grad_out[spiking_windows].sum()
    torch.testing.assert_close(total_in, total_out, rtol=1e-13, atol=1e-13)


def test_adjusted_average_hand_example():
    x = torch.tensor([[[[1.0, 0.0], [1.0, 1.0]]]], dtype=torch.float64, requires_grad=True)
    out = AvgPool2d(2)(x)
    assert out.item() == 0.75
    out.backward(torch.tensor([[[[0.6]]]], dtype=torch.float64))
    torch.testing.assert_close(x.grad, torch.tensor([[[[0.2, 0.0], [0.2, 0.2]]]], dtype=torch.float64))


def test_plain_average_sends_grad_over_k_squared_to_all():
    x = _spikes((5, 2, 6, 6), seed=2)
    _, grad_out, grad_in = _input_and_grad(AvgPool2d(3, adjusted=False), x)
    expected = grad_out.repeat_interleave(3, -1).repeat_interleave(3, -2) / 9
    torch.testing.assert_close(grad_in, expected, rtol=0, atol=1e-15)


@pytest.mark.parametrize("kernel,stride", [(2, None), (3, 2), (2, 1)])
def test_max_conserves_gradient_sum_and_picks_one_spiking_input(kernel, stride):
    x = _spikes((2, 3, 2, 9, 8), seed=7, rate=0.4)
    layer = MaxPool2d(kernel, stride)
    out, grad_out, grad_in = _input_and_grad(layer, x)
    torch.testing.assert_close(grad_in[x != 0].sum(), grad_out[out != 0].sum(), rtol=1e-13, atol=1e-13)
    if stride is None:  # windows do not overlap: one input per window carries g, all others 0
        receivers = F.avg_pool2d((grad_in != 0).double().reshape(6, 2, 9, 8), kernel,
                                 divisor_override=1).reshape(out.shape)
        assert (receivers == (grad_out != 0).double()).all()


def test_max_tie_breaking_is_first_in_row_major_order():
    x = torch.tensor([[[[0.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [0.0, 0.0]]]], dtype=torch.float64,
                     requires_grad=True)
    MaxPool2d(2)(x).backward(torch.tensor([[[[2.0]], [[3.0]]]], dtype=torch.float64))
    expected = torch.tensor([[[[0.0, 2.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 0.0]]]], dtype=torch.float64)
    torch.testing.assert_close(x.grad, expected, rtol=0, atol=0)


def test_bad_input_names_layer():
    with pytest.raises(SnnDeployError, match="MaxPool2d"):
        MaxPool2d(2)(torch.zeros(3, 4))
    with pytest.raises(SnnDeployError, match="kernel_size"):
        AvgPool2d(0)
    with pytest.raises(SnnDeployError, match="smaller than kernel_size"):
        SumPool2d(4)(torch.zeros(1, 1, 3, 3))


def test_max_and_sum_are_the_chain_rule_where_it_exists():
    x = torch.rand(2, 2, 2, 6, 6, dtype=torch.float64, requires_grad=True)  # no ties
    assert torch.autograd.gradcheck(MaxPool2d(3, 2), (x,))
    assert torch.autograd.gradcheck(SumPool2d(2), (x,))


def test_pooling_trains_inside_a_spiking_net():
    from snndeploy.layers import IAF

    torch.manual_seed(0)
    net = torch.nn.Sequential(AvgPool2d(2), MaxPool2d(2), torch.nn.Flatten(2), torch.nn.Linear(8, 3),
                              IAF(backend="bptt"))
    x = _spikes((2, 4, 2, 8, 8), rate=0.6, dtype=torch.float32)
    net(x).sum().backward()
    assert net[3].weight.grad.abs().sum() > 0
