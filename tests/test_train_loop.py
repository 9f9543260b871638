"""The training loop: learning, seeded order, exact resume, metric files, evaluation."""

import csv
import json

import pytest
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.train import (
    EpochShuffleSampler,
    ModelSpec,
    SumOverTimeCrossEntropy,
    evaluate,
    fit,
    latest_checkpoint,
    make_loader,
    seed_everything,
)

SPEC = ModelSpec.from_source("4x4x2-12-3", neuron="iaf", backend="exodus")


def tiny_task(samples=48, steps=6, seed=0):
    """Three classes of random spike frames; class k fires mostly in row k of a 4x4 grid."""
    generator = torch.Generator().manual_seed(seed)
    labels = torch.arange(samples) % 3
    rates = torch.full((samples, 1, 2, 4, 4), 0.05)
    rates[torch.arange(samples), :, :, labels, :] = 0.6
    frames = (torch.rand(samples, steps, 2, 4, 4, generator=generator) < rates).float()
    return torch.utils.data.TensorDataset(frames, labels)


def _net(seed=0, spec=SPEC):
    seed_everything(seed)
    return spec.build()


def _weights(net):
    return {k: v.clone() for k, v in net.state_dict().items() if not k.endswith("v_mem")}


def test_fit_learns_the_tiny_task(tmp_path):
    net = _net()
    data = tiny_task()
    seen = []
    history = fit(net, make_loader(data, 8, seed=1), SumOverTimeCrossEntropy(), 6, lr=0.05,
                  val_loader=make_loader(data, 16, shuffle=False), checkpoint_dir=tmp_path,
                  model_spec=SPEC, progress=False, callbacks=[lambda row, model: seen.append(row)])
    assert [row["epoch"] for row in history] == [1, 2, 3, 4, 5, 6] and seen == history
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert history[-1]["val_accuracy"] >= 0.9
    with open(tmp_path / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5, 6]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == history
    assert latest_checkpoint(tmp_path).name == "epoch-0006.safetensors"


def test_epoch_order_depends_on_seed_and_epoch_only():
    sampler = EpochShuffleSampler(20, seed=4)
    sampler.set_epoch(1)
    first = list(sampler)
    torch.rand(100)  # other consumers of the global generator do not matter
    assert list(sampler) == first and sorted(first) == list(range(20))
    sampler.set_epoch(2)
    assert list(sampler) != first
    assert list(EpochShuffleSampler(20, seed=5)) != list(EpochShuffleSampler(20, seed=4))


@pytest.mark.parametrize("spec", [
    SPEC, ModelSpec.from_source("4x4x2-2c3-12-3", neuron="lif", backend="exodus", tau_mem=5.0)
], ids=["iaf-dense", "lif-conv-trainable-tau"])
def test_resume_continues_exactly(tmp_path, spec):
    data = tiny_task()
    common = dict(lr=0.05, progress=False, model_spec=spec, seed=3)
    straight = _net(spec=spec)
    fit(straight, make_loader(data, 8, seed=3), SumOverTimeCrossEntropy(), 3,
        checkpoint_dir=tmp_path / "straight", **common)
    interrupted = _net(spec=spec)
    fit(interrupted, make_loader(data, 8, seed=3), SumOverTimeCrossEntropy(), 1,
        checkpoint_dir=tmp_path / "split", **common)
    (tmp_path / "split" / "epoch-0001.json").unlink()  # as if killed between the two files
    resumed = _net(seed=42, spec=spec)  # other initial weights: the checkpoint overwrites them
    history = fit(resumed, make_loader(data, 8, seed=3), SumOverTimeCrossEntropy(), 3,
                  checkpoint_dir=tmp_path / "split", resume=True, **common)
    assert [row["epoch"] for row in history] == [1, 2, 3]
    for name, value in _weights(straight).items():
        assert torch.equal(_weights(resumed)[name], value), name
    rows = (tmp_path / "split" / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(row)["epoch"] for row in rows] == [1, 2, 3]
    assert json.loads((tmp_path / "split" / "epoch-0001.json").read_text())["epoch"] == 1


def test_existing_checkpoints_need_resume_and_same_options(tmp_path):
    data = tiny_task(12)
    fit(_net(), make_loader(data, 6), SumOverTimeCrossEntropy(), 1, checkpoint_dir=tmp_path,
        progress=False, options={"lr": 0.01})
    with pytest.raises(SnnDeployError, match="already holds checkpoints"):
        fit(_net(), make_loader(data, 6), SumOverTimeCrossEntropy(), 2, checkpoint_dir=tmp_path,
            progress=False)
    with pytest.raises(SnnDeployError, match=r"options changed \(lr: 0.01 -> 0.02\)"):
        fit(_net(), make_loader(data, 6), SumOverTimeCrossEntropy(), 2, checkpoint_dir=tmp_path,
            resume=True, progress=False, options={"lr": 0.02, "epochs": 2})


def test_bad_arguments():
    data = tiny_task(6)
    with pytest.raises(SnnDeployError, match="epochs must be at least 1"):
        fit(_net(), make_loader(data, 2), SumOverTimeCrossEntropy(), 0, progress=False)
    with pytest.raises(SnnDeployError, match="resume needs checkpoint_dir"):
        fit(_net(), make_loader(data, 2), SumOverTimeCrossEntropy(), 1, resume=True,
            progress=False)
    with pytest.raises(SnnDeployError, match="batch size"):
        make_loader(data, 0)


def test_evaluate_reports_accuracy_and_firing_rates():
    net = _net()
    with torch.no_grad():
        net[1].weight.fill_(0.0)
        for k in range(3):  # class k <- the 8 inputs of row k (both polarities)
            mask = torch.zeros(2, 4, 4)
            mask[:, k, :] = 1.0
            net[1].weight[4 * k:4 * k + 4] = mask.flatten() * 0.5
        net[3].weight.fill_(0.0)
        for k in range(3):
            net[3].weight[k, 4 * k:4 * k + 4] = 1.0
    data = tiny_task(30)
    result = evaluate(net, make_loader(data, 7, shuffle=False), SumOverTimeCrossEntropy())
    assert result["accuracy"] >= 0.9 and result["samples"] == 30
    rates = result["firing_rates"]
    assert list(rates) == ["2 IAF", "4 IAF"]
    # Recompute the rate of the hidden layer by hand over the whole set.
    frames = torch.stack([data[i][0] for i in range(30)])
    hidden_in = frames.flatten(2) @ net[1].weight.T
    net[2].reset_states()
    spikes = net[2](hidden_in)
    assert rates["2 IAF"] == pytest.approx(spikes.mean().item(), rel=1e-6)
    assert 0 < rates["4 IAF"]
