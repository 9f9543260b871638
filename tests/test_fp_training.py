"""FP trainer: the paper's XOR task, and FPNetwork inside snndeploy.train.fit."""

import torch

from snndeploy.data.xor import XorDataset
from snndeploy.fp import PRESETS, build_network, preset_loss, train_fp
from snndeploy.train import evaluate, fit, make_loader


def test_xor_2_4_2_reaches_full_accuracy():
    result = train_fp("xor", epochs=100, seed=0, evaluate_every=100)
    assert result.history[-1]["test_acc"] == 1.0  # seed 0; 9 of 10 seeds do (benchmarks/README.md)
    assert result.history[-1]["loss"] < result.history[0]["loss"]


def test_iris_preset_fits_iris_within_250_full_batch_steps():
    # seed 0: train 99.2 %, test 93.3 % at step 250 (split 0: a 1-NN gets 90 % test on it);
    # Table 2 as printed ("iris_table2") stays at 66.7 %, without the reference spike 81 % train
    result = train_fp("iris", epochs=250, seed=0, evaluate_every=250)
    assert result.network.sizes == [5, 10, 3]  # 4 features + the reference spike
    assert result.history[-1]["train_acc"] >= 0.95
    assert result.history[-1]["test_acc"] >= 0.9


def test_iris_preset_classifies_every_test_flower_of_split_1():
    # the paper's 100 % test accuracy; split 1 is the one of ten where FP does so on all 5 seeds
    # (as every yardstick there, 1-NN included; 3 of 5 seeds on split 2; mean over splits 0-9
    # 94.5 %: benchmarks/fp_iris_splits.py). Seeds 0-4 reach it between epochs 160 and 240.
    preset = PRESETS["iris"]
    result = train_fp(preset, seed=0, evaluate_every=preset.epochs,
                      dataset_options={**preset.dataset_options, "seed": 1})
    assert result.history[-1]["test_acc"] == 1.0


def test_fp_network_trains_in_the_generic_fit_loop(tmp_path):
    preset = PRESETS["xor"]
    data = XorDataset()
    network = build_network(preset, 3, 2, seed=0)
    loss_fn = preset_loss(preset)
    before = [w.detach().clone() for w in network.weights]
    history = fit(network, make_loader(data, 4, seed=0), loss_fn, epochs=5, lr=preset.learning_rate,
                  seed=0, progress=False)
    assert len(history) == 5 and history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(not torch.equal(a, b) for a, b in zip(before, network.weights))
    report = evaluate(network, make_loader(data, 4, shuffle=False), loss_fn)
    assert report["samples"] == 4 and 0.0 <= report["accuracy"] <= 1.0


def test_yinyang_preset_runs_minibatches_with_the_paper_encoding():
    result = train_fp("yinyang", epochs=1, seed=0, dataset_options={"size": 40}, batch_size=20)
    row = result.history[0]
    assert row["epoch"] == 0 and 0.0 <= row["test_acc"] <= 1.0
    assert result.network.sizes == [5, 150, 3]
    assert result.network.last_stats["spike_counts"][0].shape == (40, 150)


def test_weight_bump_raises_exactly_the_incoming_weights_of_neurons_at_the_edge_of_silence():
    import pytest

    from snndeploy.errors import SnnDeployError
    from snndeploy.fp import FPNetwork, NeuronParameters, WeightBump

    net = FPNetwork([3, 4, 2], NeuronParameters(1.0, 0.5), hidden_init=[(2.0, 0.1)], output_init=(1.5, 0.1), seed=0)
    with torch.no_grad():
        net.weights[0][:, 1] = -5.0  # hidden neuron 1 never fires
        net.weights[1][:, 0] = 0.01  # output 0 never fires
    times = torch.rand(6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    with pytest.raises(SnnDeployError, match="has not run a forward pass"):
        WeightBump(0.5, 0.1, 1.0).apply(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    WeightBump(0.25, 0.1, 1.0).attach(net, optimizer)
    before = [w.detach().clone() for w in net.weights]
    net(times).sum()  # forward records the spike counts; the hook reads them after the step
    counts = net.last_stats["spike_counts"]
    assert (counts[0][:, 1] == 0).all() and (counts[0][:, [0, 2, 3]] > 0).all()
    assert (counts[1][:, 0] == 0).all() and (counts[1][:, 1] > 0).all()
    optimizer.step()
    expected_hidden = before[0].clone()
    expected_hidden[:, 1] += 0.25
    expected_output = before[1].clone()
    expected_output[:, 0] += 0.25
    assert torch.equal(net.weights[0].detach(), expected_hidden)
    assert torch.equal(net.weights[1].detach(), expected_output)
    # counts are those of the last forward: hidden 1 and output 0 silent on all 6 samples
    assert WeightBump(0.25, 0.0, 1.0).apply(net) == 1  # output 0 only
    assert WeightBump(0.25, 0.5, 0.0).apply(net) == 1  # hidden 1 only
    assert WeightBump(0.25, 0.0, 0.0).apply(net) == 0
    for bad in ((0.0, 0.1, 0.1), (0.1, -0.1, 0.5), (0.1, 0.5, 1.5)):
        with pytest.raises(SnnDeployError, match="weight bump"):
            WeightBump(*bad)


def test_yinyang_picks_the_reported_epoch_on_the_validation_split_not_the_test_split():
    result = train_fp("yinyang", epochs=3, seed=0, dataset_options={"size": 60}, batch_size=20)
    rows = result.history
    assert all(row["val_acc"] is not None for row in rows)
    assert result.selected is max(rows, key=lambda row: row["val_acc"])  # first of equal maxima
    assert set(result.selected_state) == set(result.network.state_dict())
    no_validation = train_fp("xor", epochs=2, seed=0)
    assert no_validation.selected is None and "val_acc" not in no_validation.history[0]


def test_weight_bump_threshold_is_strict_fewer_than_the_fraction():
    import numpy as np

    from snndeploy.fp import FPNetwork, NeuronParameters, WeightBump

    net = FPNetwork([3, 4, 2], NeuronParameters(1.0, 0.5), hidden_init=[(2.0, 0.1)], output_init=(1.5, 0.1), seed=0)
    hidden = np.ones((6, 4), dtype=np.int64)
    hidden[:3, 2] = 0  # hidden neuron 2 fires on 3 of 6 samples: fraction 0.5
    net.last_stats["spike_counts"] = [hidden, np.ones((6, 2), dtype=np.int64)]
    before = net.weights[0].detach().clone()
    assert WeightBump(0.1, 0.5, 0.0).apply(net) == 0  # 0.5 is not fewer than 0.5
    assert torch.equal(net.weights[0].detach(), before)
    assert WeightBump(0.1, 0.51, 0.0).apply(net) == 1
    assert torch.equal(net.weights[0].detach()[:, 2], before[:, 2] + 0.1)
    assert torch.equal(net.weights[0].detach()[:, [0, 1, 3]], before[:, [0, 1, 3]])
