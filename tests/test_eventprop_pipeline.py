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
                     "--tau-mem", "2", "--tau-syn", "0.5", "--hidden-weights", "1.5", "1.5",
                     "--recurrent", "--spike-regularisation", "0.01", "1",
                     "--limit", "24", "--epochs", "1", "--batch-size", "12",
                     "--out", str(out), "--json")
    assert result.exit_code == 0, result.output
    trained = json.loads(result.output)
    assert trained["epochs"] == 1
    spec = json.loads((out / "epoch-0001.json").read_text())["model"]
    assert spec["backend"] == "eventprop"
    assert spec["neuron_options"]["loss"] == "first_spike"
    assert spec["neuron_options"]["hidden_weight_mean"] == 1.5
    assert spec["neuron_options"]["tau_syn"] == 0.5
    net = load_model(out)
    assert isinstance(net, EventPropNetwork)
    assert net.dt == 0.1 and net.num_steps == 30 and net.layers[0].tau_mem == 2.0
    assert net.layers[0].recurrent_weight is not None
    assert net.layers[0].regularisation is not None
    assert [layer.out_features for layer in net.layers[:2]] == [8, 3]
    evaluated = run_cli("evaluate", str(out), "--limit", "24", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    report = json.loads(evaluated.output)
    assert 0.0 <= report["accuracy"] <= 1.0
    assert report["samples"] == 24  # yinyang takes --limit


@pytest.mark.parametrize("args, message", [
    (["--backend", "eventprop", "--loss", "sum-ce"], "not an EventProp loss"),
    (["--loss", "first_spike"], "add --backend eventprop"),
    (["--backend", "eventprop"], "needs --steps"),
    (["--backend", "eventprop", "--steps", "5", "--neuron", "lif"], "--neuron lif cannot"),
    (["--steps", "5", "--hidden-weights", "1", "1"], "--steps, --hidden-weights: EventProp"),
    (["--recurrent"], "--recurrent: EventProp options"),
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


def test_export_nir_writes_cubalif_nodes_equal_to_the_layers(tmp_path):
    import nir
    import numpy as np

    from snndeploy.eventprop import build_eventprop_network
    from snndeploy.export.nir import export_nir

    torch.manual_seed(1)
    net = build_eventprop_network([5, 7, 3], loss="first_spike", dt=0.5, num_steps=40,
                                  recurrent=True, tau_mem=20.0, tau_syn=5.0, threshold=1.5)
    graph = nir.read(str(export_nir(net, tmp_path / "net.nir", (5,))))
    hidden, output = net.layers[0], net.layers[1]
    for name, layer in (("cubalif", hidden), ("cubalif_1", output)):
        node = graph.nodes[name]
        assert isinstance(node, nir.CubaLIF)
        np.testing.assert_allclose(node.tau_mem, layer.tau_mem * 1e-3, rtol=1e-6)
        np.testing.assert_allclose(node.tau_syn, layer.tau_syn * 1e-3, rtol=1e-6)
        np.testing.assert_allclose(node.w_in, layer.tau_syn * 1e-3, rtol=1e-6)
        np.testing.assert_allclose(node.v_threshold, layer.threshold)
        np.testing.assert_allclose(node.r, 1.0)
        np.testing.assert_allclose(node.v_leak, 0.0)
        assert node.metadata["dt"] == pytest.approx(0.5e-3)
    np.testing.assert_allclose(graph.nodes["linear"].weight, hidden.weight.detach().numpy(),
                               rtol=1e-6)
    np.testing.assert_allclose(graph.nodes["layer0_recurrent"].weight,
                               hidden.recurrent_weight.detach().numpy(), rtol=1e-6)
    assert {("cubalif", "layer0_recurrent"), ("layer0_recurrent", "cubalif"),
            ("cubalif", "linear_1"), ("cubalif_1", "output")} <= set(graph.edges)
    assert graph.metadata["dt"] == pytest.approx(0.5e-3)
    assert graph.metadata["readout"] == "first_spike"
    assert graph.metadata["trainer"] == "eventprop"


def test_export_cli_writes_an_eventprop_readout_network(tmp_path):
    import nir

    from snndeploy.eventprop import build_eventprop_network
    from snndeploy.export.nir import import_nir
    from snndeploy.train.architecture import ModelSpec
    from snndeploy.train.checkpoint import save_checkpoint

    options = {"loss": "sum", "dt": 1.0, "tau_mem": 10.0, "tau_syn": 2.0}
    net = build_eventprop_network([4, 6, 2], **options)
    spec = ModelSpec(architecture="4-6-2", backend="eventprop", neuron_options=options,
                     input_shape=[4])
    save_checkpoint(tmp_path / "run", 1, net, spec)
    out = tmp_path / "net.nir"
    result = run_cli("export", str(tmp_path / "run"), "--format", "nir", "-o", str(out))
    assert result.exit_code == 0, result.output
    graph = nir.read(str(out))
    synapse, membrane = graph.nodes["li"], graph.nodes["li_1"]
    assert isinstance(synapse, nir.LI) and isinstance(membrane, nir.LI)
    assert float(synapse.tau[0]) == pytest.approx(2e-3) and float(synapse.r[0]) == pytest.approx(2e-3)
    assert float(membrane.tau[0]) == pytest.approx(10e-3)
    assert ("li_1", "output") in graph.edges and graph.metadata["readout"] == "voltage"
    with pytest.raises(SnnDeployError, match="EventProp graph"):
        import_nir(out)
