"""The SNN losses against their documented formulas, written out by hand."""

import math

import pytest
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.train.losses import (
    LOSSES,
    MaxOverTimeCrossEntropy,
    SpikeCountMSE,
    SumOverTimeCrossEntropy,
    get_loss,
)


def _cross_entropy(logits, label):
    return -logits[label] + math.log(sum(math.exp(z) for z in logits))


@pytest.fixture
def outputs():
    generator = torch.Generator().manual_seed(3)
    return torch.randint(0, 3, (4, 6, 5), generator=generator).double()


LABELS = torch.tensor([0, 3, 4, 1])


def test_sum_over_time_cross_entropy(outputs):
    expected = sum(
        _cross_entropy([float(outputs[b, :, k].sum()) for k in range(5)], int(LABELS[b]))
        for b in range(4)
    ) / 4
    assert SumOverTimeCrossEntropy()(outputs, LABELS).item() == pytest.approx(expected, rel=1e-12)


def test_max_over_time_cross_entropy(outputs):
    expected = sum(
        _cross_entropy([float(outputs[b, :, k].max()) for k in range(5)], int(LABELS[b]))
        for b in range(4)
    ) / 4
    assert MaxOverTimeCrossEntropy()(outputs, LABELS).item() == pytest.approx(expected, rel=1e-12)


def test_max_over_time_gradient_reaches_only_the_argmax_step():
    outputs = torch.tensor([[[0.0, 1.0], [2.0, 0.5], [1.0, 0.0]]], requires_grad=True)
    MaxOverTimeCrossEntropy()(outputs, torch.tensor([0])).backward()
    nonzero = outputs.grad[0].ne(0)
    assert nonzero.tolist() == [[False, True], [True, False], [False, False]]


def test_spike_count_mse_value_and_gradient(outputs):
    loss = SpikeCountMSE(desired_rate=0.5, undesired_rate=1 / 6)
    outputs = outputs.clone().requires_grad_()
    steps = outputs.shape[1]
    counts = outputs.detach().sum(dim=1)
    targets = torch.full((4, 5), steps / 6, dtype=torch.double)
    targets[torch.arange(4), LABELS] = steps * 0.5
    expected = sum(
        float((counts[b, k] - targets[b, k]) ** 2) for b in range(4) for k in range(5)
    ) / (4 * 2 * steps)
    value = loss(outputs, LABELS)
    assert value.item() == pytest.approx(expected, rel=1e-12)
    value.backward()
    # dL/do[b, t, k] = (c − n)/(T·B) at every time step: paper 004's δ = (Σ_t o − N)/T per sample
    per_step = (counts - targets) / (steps * 4)
    assert torch.allclose(outputs.grad, per_step[:, None, :].expand_as(outputs), rtol=1e-12)


def test_predictions():
    outputs = torch.tensor([[[1.0, 0.0, 3.0], [1.0, 2.0, 0.0], [1.0, 2.0, 0.0]]])
    # counts 3, 4, 3 -> class 1; maxima 1, 2, 3 -> class 2
    assert SumOverTimeCrossEntropy().predict(outputs).tolist() == [1]
    assert SpikeCountMSE().predict(outputs).tolist() == [1]
    assert MaxOverTimeCrossEntropy().predict(outputs).tolist() == [2]


def test_registry_and_errors():
    assert set(LOSSES) == {"sum-ce", "max-ce", "count-mse"}
    assert isinstance(get_loss("max-ce"), MaxOverTimeCrossEntropy)
    with pytest.raises(SnnDeployError, match="unknown loss 'mse'"):
        get_loss("mse")
    with pytest.raises(SnnDeployError, match=r"\(batch, time, classes\)"):
        SumOverTimeCrossEntropy()(torch.zeros(4, 5), LABELS)
    with pytest.raises(SnnDeployError, match="do not match"):
        SumOverTimeCrossEntropy()(torch.zeros(3, 2, 5), LABELS)
    with pytest.raises(SnnDeployError, match="≥ 0"):
        SpikeCountMSE(desired_rate=-1)
