"""Time-stepped simulation of `map_to_chip(qmodel)` == the QuantizedModel, spike for spike in
every layer, on the quantize stage's random networks (chains, pooling, merges, biases, both
resets, floors, initial states); and verify() end to end on a float model."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from snndeploy.quantize import run_float_model
from snndeploy.quantize.random_nets import frames_to_events, random_case
from snndeploy.sim import Monitor, simulate
from snndeploy.sim.verify import verify


def layer_spikes_of_model(model, frames):
    names = [f"neurons.{i}" for i in range(len(model.layers))]
    _, recorded = run_float_model(model, frames, names)
    return [recorded[name][0].round().to(torch.int64).numpy() for name in names]


@settings(max_examples=25, deadline=None, derandomize=True)
@given(seed=st.integers(0, 10**6))
def test_timestep_simulation_equals_quantized_model(seed):
    case = random_case(seed)
    steps = case.frames.shape[1]
    events = frames_to_events(case.frames, case.dt_us)
    result = simulate(case.config, events, "timestep", Monitor(cores=tuple(c.core for c in case.config.cores)),
                      duration_us=steps * case.dt_us, dt_us=case.dt_us)
    expected = layer_spikes_of_model(case.model, case.frames)
    core_of = {c.layer_name: c.core for c in case.config.cores}
    for layer, spikes in zip(case.model.layers, expected):
        core = core_of[layer.name]
        got = np.zeros(spikes.shape, np.int64)
        mine = result.spikes[result.spikes["core"] == core]
        np.add.at(got, (mine["t"] // case.dt_us, mine["p"], mine["y"], mine["x"]), 1)
        assert np.array_equal(got, spikes), f"seed {seed}, layer {layer.name} on core {core}"
        assert np.array_equal(result.counts[core], spikes.sum((0, 2, 3)))


def test_random_networks_are_not_silent():
    """Guard against a vacuous equality: most random cases spike in their last layer."""
    spiking = 0
    for seed in range(10):
        case = random_case(seed)
        spiking += int(layer_spikes_of_model(case.model, case.frames)[-1].sum() > 0)
    assert spiking >= 5


def test_verify_end_to_end_with_the_public_pipeline():
    sinabs_layers = pytest.importorskip("sinabs.layers")
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(2, 8, 3, stride=2), sinabs_layers.IAFSqueeze(batch_size=1), sinabs_layers.SumPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(8 * 8 * 8, 10), sinabs_layers.IAFSqueeze(batch_size=1),
    ).eval()
    report = verify(model, "speck2f", "digits", limit=3, use_cache=False)
    assert [row.name for row in report.rows] == ["float", "quantized", "timestep", "event"]
    assert report.rows[2].first_divergence is None and report.rows[2].agreement == 1.0
    assert report.passed


def test_cli_verify_on_a_checkpoint(tmp_path):
    pytest.importorskip("sinabs.layers")
    import json

    from click.testing import CliRunner

    from snndeploy.cli import app
    from snndeploy.train.architecture import ModelSpec
    from snndeploy.train.checkpoint import save_checkpoint

    source = tmp_path / "net.py"
    source.write_text(
        "import torch\nimport sinabs.layers as sl\n\n\ndef model():\n"
        "    return torch.nn.Sequential(torch.nn.Conv2d(2, 4, 3, stride=2), sl.IAFSqueeze(batch_size=1),\n"
        "        sl.SumPool2d(2), torch.nn.Flatten(), torch.nn.Linear(4 * 8 * 8, 10), sl.IAFSqueeze(batch_size=1))\n"
    )
    spec = ModelSpec.from_source(str(source))
    torch.manual_seed(1)
    checkpoint = save_checkpoint(tmp_path / "run", 1, spec.build(), spec)
    runner = CliRunner()
    out = runner.invoke(app, ["verify", str(checkpoint), "--data", "digits", "--limit", "2", "--json"],
                        env={"SNNDEPLOY_CACHE_DIR": str(tmp_path / "cache")})
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert report["passed"] and report["samples"] == 2
    assert report["stages"][2]["first_divergence"] is None
    text = runner.invoke(app, ["verify", str(checkpoint), "--data", "digits", "--limit", "2"],
                         env={"SNNDEPLOY_CACHE_DIR": str(tmp_path / "cache")})
    assert text.exit_code == 0 and "PASSED" in text.output
