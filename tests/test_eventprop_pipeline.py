"""EventProp networks through the pipeline: `snndeploy train --backend eventprop` (checkpoint
reloads from its ModelSpec), quantize's refusal with the reasons, NIR export via export_nir."""

import json

import pytest
import torch
from click.testing import CliRunner

from snndeploy.cli import app
from snndeploy.errors import SnnDeployError


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
