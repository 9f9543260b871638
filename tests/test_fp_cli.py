"""`snndeploy train --trainer fp` (exact forward-propagated gradients, paper 001) through the CLI:
checkpoint and metrics, the paper's presets as defaults that explicit options override, evaluate
reloading the checkpoint, exact resume, and refusals that name the culprit."""

import csv
import json
from dataclasses import replace

import pytest
import torch
from click.testing import CliRunner
from safetensors import safe_open

from snndeploy.cli import app
from snndeploy.errors import SnnDeployError
from snndeploy.fp import PRESETS, FPNetwork
from snndeploy.train import load_model

# 4 XOR samples, full batch: one exact simulation per epoch
XOR = ["3-4-2", "--data", "xor", "--trainer", "fp"]


def run_cli(*args, quiet=True):
    return CliRunner().invoke(app, ["-q", *args] if quiet else list(args))


def train_json(*args):
    result = run_cli("train", *args, "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def stored(folder, epoch):
    return json.loads((folder / f"epoch-{epoch:04d}.json").read_text())


def tensors(path):
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()
                if key.startswith(("model/", "optimizer/"))}


def test_train_fp_on_xor_writes_checkpoint_and_metrics_and_reports_accuracy(tmp_path):
    out = tmp_path / "xor"
    result = train_json(*XOR, "--epochs", "2", "--out", str(out))
    assert result["epochs"] == 2 and 0.0 <= result["val_accuracy"] <= 1.0
    for name in ("epoch-0001.safetensors", "epoch-0002.safetensors", "epoch-0002.json",
                 "metrics.csv", "metrics.jsonl", "learning_curve.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    assert [row["epoch"] for row in rows] == ["1", "2"]
    assert float(rows[-1]["val_accuracy"]) == result["val_accuracy"]
    document = stored(out, 2)
    assert document["model"]["backend"] == "fp" and document["model"]["architecture"] == "3-4-2"
    assert document["options"]["loss"] == "first_spike_time"
    assert document["options"]["batch_size"] == 4  # the preset's full batch: the whole split
    network = load_model(out)
    assert isinstance(network, FPNetwork) and network.sizes == [3, 4, 2]
    assert all(weight.dtype == torch.float64 for weight in network.weights)
    human = run_cli("train", *XOR, "--epochs", "1", "--out", str(tmp_path / "human"), quiet=False)
    assert human.exit_code == 0, human.output
    assert "fp preset xor (snndeploy.fp.PRESETS): --fp-alpha 1.0, --fp-beta 0.99," in human.stdout
    assert "--batch-size full-split, --epochs" not in human.stdout  # --epochs was given
    assert "test accuracy" in human.stdout


def test_trainer_and_backend_are_one_option(tmp_path):
    spelled = {}
    for flag in ("--trainer", "--backend"):
        out = tmp_path / flag.strip("-")
        train_json("3-4-2", "--data", "xor", flag, "fp", "--epochs", "1", "--out", str(out))
        spelled[flag] = tensors(out / "epoch-0001.safetensors")
    assert spelled["--trainer"].keys() == spelled["--backend"].keys()
    assert all(torch.equal(spelled["--trainer"][k], spelled["--backend"][k]) for k in spelled["--trainer"])


def test_preset_supplies_every_hyper_parameter_the_command_line_leaves_out(tmp_path):
    preset = PRESETS["iris"]
    out = tmp_path / "iris"
    result = train_json("5-10-3", "--data", "iris", "--trainer", "fp", "--epochs", "1",
                        "--out", str(out))
    document = stored(out, 1)
    network, options = document["model"]["neuron_options"], document["options"]
    assert network == {"alpha": preset.alpha, "beta": preset.beta, "theta": preset.theta,
                       "hidden_init": [list(pair) for pair in preset.hidden_init],
                       "output_init": list(preset.output_init),
                       "max_hidden_spikes": preset.max_hidden_spikes}
    assert options["fp_loss"] == {"tau0": preset.tau0, "tau1": preset.tau1, "gamma": preset.gamma,
                                  "no_spike_time": preset.no_spike_time}
    assert options["lr"] == preset.learning_rate and options["batch_size"] == 120
    assert options["epochs"] == 1 and "epochs" not in result["fp_preset"]  # given: not the preset's
    assert result["fp_preset"]["fp_beta"] == preset.beta


def test_explicit_options_override_the_preset(tmp_path):
    out = tmp_path / "iris"
    result = train_json("5-10-3", "--data", "iris", "--trainer", "fp", "--epochs", "1",
                        "--limit", "40", "--fp-alpha", "2.0", "--threshold", "1.5",
                        "--hidden-weights", "1.0", "0.5", "--output-weights", "1.5", "0.2",
                        "--fp-max-spikes", "3", "--fp-gamma", "0.5", "--fp-no-spike-time", "20",
                        "--lr", "0.01", "--batch-size", "16", "--out", str(out))
    document = stored(out, 1)
    network, options = document["model"]["neuron_options"], document["options"]
    assert network == {"alpha": 2.0, "beta": PRESETS["iris"].beta, "theta": 1.5,
                       "hidden_init": [[1.0, 0.5]], "output_init": [1.5, 0.2],
                       "max_hidden_spikes": 3}
    assert options["fp_loss"] == {"tau0": PRESETS["iris"].tau0, "tau1": PRESETS["iris"].tau1,
                                  "gamma": 0.5, "no_spike_time": 20.0}
    assert options["lr"] == 0.01 and options["batch_size"] == 16
    assert options["data_options"] == {"t_max": 4.0, "t_bias": 1.8, "limit": 40}
    assert set(result["fp_preset"]) == {"fp_beta", "fp_tau0", "fp_tau1", "dataset_options"}
    network = load_model(out)
    assert network.max_spikes == [3, 1] and network.params.alpha == 2.0
    assert network.params.theta == 1.5


def test_the_preset_is_read_from_snndeploy_fp_presets(tmp_path, monkeypatch):
    monkeypatch.setitem(PRESETS, "xor", replace(PRESETS["xor"], learning_rate=0.0123, epochs=1,
                                                gamma=0.7))
    out = tmp_path / "xor"
    result = train_json(*XOR, "--out", str(out))
    assert result["epochs"] == 1
    options = stored(out, 1)["options"]
    assert options["lr"] == 0.0123 and options["fp_loss"]["gamma"] == 0.7


def test_per_hidden_layer_weight_inits(tmp_path):
    out = tmp_path / "deep"
    train_json("3-4-5-2", "--data", "xor", "--trainer", "fp", "--epochs", "1",
               "--hidden-weights", "3", "1", "--hidden-weights", "1", "0.5", "--out", str(out))
    assert stored(out, 1)["model"]["neuron_options"]["hidden_init"] == [[3.0, 1.0], [1.0, 0.5]]
    assert load_model(out).sizes == [3, 4, 5, 2]


def test_evaluate_reloads_the_checkpoint_with_the_same_accuracy(tmp_path):
    out = tmp_path / "iris"
    trained = train_json("5-10-3", "--data", "iris", "--trainer", "fp", "--epochs", "2",
                         "--out", str(out))
    result = run_cli("evaluate", str(out), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["epoch"] == 2 and report["data"] == "iris" and report["samples"] == 30
    assert report["accuracy"] == trained["val_accuracy"]
    assert report["loss"] == pytest.approx(trained["val_loss"], rel=1e-12)
    human = run_cli("evaluate", str(out / "epoch-0001.safetensors"))
    assert human.exit_code == 0 and "accuracy" in human.stdout


def test_resume_continues_bit_identically(tmp_path):
    # yinyang minibatches: the shuffled order of epoch 2 must survive the restart too
    # low output weights and a strong bump: the bump acts in every step, so resume must carry it
    args = ["5-8-3", "--data", "yinyang", "--trainer", "fp", "--limit", "30", "--batch-size", "10",
            "--output-weights", "0.05", "0.01", "--fp-weight-bump", "0.05", "0.5", "1.0"]
    straight = train_json(*args, "--epochs", "2", "--out", str(tmp_path / "straight"))
    train_json(*args[:-4], "--fp-weight-bump", "0", "0", "0", "--epochs", "2", "--out", str(tmp_path / "off"))
    train_json(*args, "--epochs", "1", "--out", str(tmp_path / "split"))
    resumed = train_json(*args, "--epochs", "2", "--resume", "--out", str(tmp_path / "split"))
    first = tensors(tmp_path / "straight" / "epoch-0002.safetensors")
    second = tensors(tmp_path / "split" / "epoch-0002.safetensors")
    assert first.keys() == second.keys() and any(k.startswith("optimizer/") for k in first)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert resumed["train_loss"] == straight["train_loss"]
    without_bump = tensors(tmp_path / "off" / "epoch-0002.safetensors")
    assert not torch.equal(first["model/weights.1"], without_bump["model/weights.1"])
    changed = run_cli("train", *args, "--epochs", "3", "--resume", "--fp-gamma", "0.3",
                      "--out", str(tmp_path / "split"))
    assert changed.exit_code == 1 and "fp_loss" in str(changed.exception)


@pytest.mark.parametrize("args, message", [
    (["4x4x1-2c3-2", "--data", "xor", "--trainer", "fp"],
     "backend 'fp' trains dense networks only; '4x4x1-2c3-2'"),
    (["2-4-2", "--data", "xor", "--trainer", "fp"],
     "architecture '2-4-2' expects input 2 but the data's samples are 3 (features)"),
    (["3-4-3", "--data", "xor", "--trainer", "fp"], "the data has 2 classes"),
    (["3-4-2", "--data", "xor", "--trainer", "fp", "--loss", "max-ce"],
     "--loss max-ce does not apply to --trainer fp"),
    (["3-4-2", "--data", "xor", "--trainer", "fp", "--tau-mem", "5", "--neuron", "lif"],
     "--neuron lif, --tau-mem cannot be combined with --trainer fp"),
    (["3-4-4-2", "--data", "xor", "--trainer", "fp", "--hidden-weights", "1", "1",
      "--hidden-weights", "1", "1", "--hidden-weights", "1", "1"],
     "--hidden-weights given 3 times but [3, 4, 4, 2] has 2 hidden layer(s)"),
    (["3-4-2", "--data", "xor", "--fp-alpha", "2"], "--fp-alpha: FP options, they need --trainer fp"),
    (["2312-10", "--data", "digits", "--limit", "4", "--trainer", "fp"],
     "dataset 'digits' gives frames"),
    (["model.py", "--data", "xor", "--trainer", "fp"], "not from the model file model.py"),
    (["3-4-2", "--data", "xor", "--trainer", "fp", "--fp-no-spike-time", "nan"],
     "--fp-no-spike-time: values must be finite numbers"),
])
def test_bad_input_is_refused_naming_the_culprit(tmp_path, args, message):
    out = tmp_path / "run"
    result = run_cli("train", *args, "--epochs", "1", "--out", str(out))
    assert result.exit_code == 1
    assert isinstance(result.exception, SnnDeployError)
    assert message in str(result.exception)
    assert not out.exists()


def test_model_spec_builds_fp_networks_from_the_torch_rng():
    from snndeploy.train.architecture import ModelSpec

    options = {"alpha": 1.0, "beta": 0.9, "theta": 1.0, "hidden_init": [[3.0, 1.0]],
               "output_init": [2.0, 0.1], "max_hidden_spikes": 4}
    spec = ModelSpec(architecture="4-10-3", backend="fp", neuron_options=options)
    torch.manual_seed(5)
    first = spec.build()
    torch.manual_seed(5)
    again = spec.build()
    other = spec.build()
    assert all(torch.equal(a, b) for a, b in zip(first.weights, again.weights))
    assert not torch.equal(first.weights[0], other.weights[0])
    assert first.max_spikes == [4, 1] and first.params.beta == 0.9
    deeper = ModelSpec(architecture="4-10-10-3", backend="fp", neuron_options=options)
    with pytest.raises(SnnDeployError, match="2 hidden layer"):
        deeper.build()


def test_quantize_refuses_an_fp_checkpoint_naming_why(tmp_path):
    out = tmp_path / "xor"
    train_json(*XOR, "--epochs", "1", "--out", str(out))
    result = run_cli("quantize", str(out), "--target", "speck2f", "--out", str(tmp_path / "q.json"))
    assert result.exit_code == 1 and isinstance(result.exception, SnnDeployError)
    assert "the FP network (snndeploy.fp, 3-4-2) cannot be quantized for speck2f" in str(result.exception)
    assert "exponential synaptic current (tau_syn = 1/alpha = 1)" in str(result.exception)
    assert not (tmp_path / "q.json").exists()


def test_yinyang_preset_weight_bump_is_stored_and_can_be_turned_off(tmp_path):
    args = ["5-8-3", "--data", "yinyang", "--trainer", "fp", "--limit", "20", "--epochs", "1"]
    bump = PRESETS["yinyang"].weight_bump
    result = train_json(*args, "--out", str(tmp_path / "on"))
    assert result["fp_preset"]["fp_weight_bump"] == [bump.value, bump.hidden_min_firing, bump.output_min_firing]
    assert stored(tmp_path / "on", 1)["options"]["fp_weight_bump"] == {
        "value": bump.value, "hidden_min_firing": bump.hidden_min_firing,
        "output_min_firing": bump.output_min_firing}
    train_json(*args, "--fp-weight-bump", "0", "0", "0", "--out", str(tmp_path / "off"))
    assert stored(tmp_path / "off", 1)["options"]["fp_weight_bump"] is None
    refused = run_cli("train", "3-4-2", "--data", "xor", "--fp-weight-bump", "0.1", "0", "1",
                      "--out", str(tmp_path / "x"))
    assert refused.exit_code == 1 and "--fp-weight-bump" in str(refused.exception)
