"""FP trainer: the paper's XOR task, and FPNetwork inside snndeploy.train.fit."""

import torch

from snndeploy.data.xor import XorDataset
from snndeploy.fp import PRESETS, build_network, preset_loss, train_fp
from snndeploy.train import evaluate, fit, make_loader


def test_xor_2_4_2_reaches_full_accuracy():
    result = train_fp("xor", epochs=100, seed=0, evaluate_every=100)
    assert result.history[-1]["test_acc"] == 1.0  # seed 0; 9 of 10 seeds do (benchmarks/README.md)
    assert result.history[-1]["loss"] < result.history[0]["loss"]


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
