"""EventProp networks through the pipeline: `snndeploy train --backend eventprop` (checkpoint
reloads from its ModelSpec), quantize's refusal with the reasons, NIR export via export_nir."""

import json
from pathlib import Path

import pytest
import torch
from click.testing import CliRunner

from snndeploy.cli import app
from snndeploy.errors import SnnDeployError

LIF_TARGET = Path(__file__).resolve().parents[1] / "examples" / "targets" / "lif_bitshift.toml"


def run_cli(*args):
    return CliRunner().invoke(app, list(args))


def test_train_eventprop_on_yinyang_reloads_and_evaluates(tmp_path):
    from snndeploy.eventprop import EventPropNetwork
    from snndeploy.train import load_model

    out = tmp_path / "run"
    result = run_cli("train", "5-8-3", "--data", "yinyang", "--backend", "eventprop",
                     "--loss", "first_spike", "--step-ms", "0.1", "--steps", "30",
                     "--limit", "24", "--epochs", "1", "--batch-size", "12",
                     "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.output)
    assert trained["epochs"] == 1
    spec = json.loads((out / "epoch-0001.json").read_text())["model"]
    assert spec["backend"] == "eventprop"
    assert spec["neuron_options"]["loss"] == "first_spike"
    net = load_model(out)
    assert isinstance(net, EventPropNetwork)
    assert net.dt == 0.1 and net.num_steps == 30
    assert [layer.out_features for layer in net.layers[:2]] == [8, 3]
    evaluated = run_cli("evaluate", str(out), "--limit", "24", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert 0.0 <= json.loads(evaluated.output)["accuracy"] <= 1.0


@pytest.mark.parametrize("args, message", [
    (["--backend", "eventprop", "--loss", "sum-ce"], "not an EventProp loss"),
    (["--loss", "first_spike"], "add --backend eventprop"),
    (["--backend", "eventprop"], "needs --steps"),
    (["--backend", "eventprop", "--steps", "5", "--neuron", "lif"], "--neuron lif cannot"),
])
def test_train_refuses_invalid_eventprop_combinations(tmp_path, args, message):
    result = run_cli("train", "5-8-3", "--data", "yinyang", "--limit", "4",
                     "--out", str(tmp_path / "run"), *args)
    assert isinstance(result.exception, SnnDeployError)
    assert message in str(result.exception)


def test_eventprop_architecture_must_be_dense():
    from snndeploy.train.architecture import ModelSpec

    spec = ModelSpec.from_source("4x4x1-2c3-3", backend="eventprop")
    with pytest.raises(SnnDeployError, match="dense networks only"):
        spec.build()


def _first_spike_net():
    from snndeploy.eventprop import build_eventprop_network

    torch.manual_seed(0)
    return build_eventprop_network([5, 7, 3], loss="first_spike", dt=0.5, num_steps=20,
                                   tau_mem=20.0, tau_syn=5.0)


def test_quantize_refuses_eventprop_with_the_reasons_for_each_target():
    from snndeploy.quantize import quantize

    net = _first_spike_net()
    with pytest.raises(SnnDeployError) as iaf_error:
        quantize(net, "speck2f", input_shape=(5,))
    message = str(iaf_error.value)
    assert "cannot be quantized for speck2f" in message
    assert "layer 0 (EventPropLIF): exponential synaptic current (tau_syn=5.0 ms)" in message
    assert "integrate-and-fire (v += input, no decay)" in message
    with pytest.raises(SnnDeployError) as lif_error:
        quantize(net, LIF_TARGET, input_shape=(5,))
    message = str(lif_error.value)
    assert "cannot be quantized for lif_bitshift" in message
    assert "the nearest, shift=4, gives tau_mem=15.495 ms: retrain with that tau_mem" in message
    assert "integrate-and-fire" not in message


def test_quantize_cli_names_the_blockers(tmp_path):
    from snndeploy.train.checkpoint import save_checkpoint
    from snndeploy.train.architecture import ModelSpec

    net = _first_spike_net()
    spec = ModelSpec(architecture="5-7-3", backend="eventprop",
                     neuron_options={"loss": "first_spike", "dt": 0.5, "num_steps": 20})
    save_checkpoint(tmp_path / "run", 1, net, spec)
    result = run_cli("quantize", str(tmp_path / "run"), "--target", "speck2f",
                     "-o", str(tmp_path / "q.safetensors"))
    assert isinstance(result.exception, SnnDeployError)
    assert "membrane leak (tau_mem=20.0 ms) — speck2f neurons are integrate-and-fire" in str(
        result.exception)
    assert not (tmp_path / "q.safetensors").exists()
