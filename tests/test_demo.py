"""`snndeploy demo --fast` end to end, and the pieces of its summary."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from snndeploy.cli import app
from snndeploy.demo import PRESETS, DemoResult, _output_spike_train


@pytest.fixture(scope="module")
def fast_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    cache = tmp_path_factory.mktemp("cache")
    runner = CliRunner()
    result = runner.invoke(app, ["demo", "--fast", "--out", str(out), "--json"],
                           env={"SNNDEPLOY_CACHE_DIR": str(cache)}, catch_exceptions=False)
    return result, out


def test_demo_fast_end_to_end(fast_run):
    result, out = fast_run
    assert result.exit_code == 0, result.output
    document = json.loads(result.output)
    assert document["preset"] == "fast" and document["target"] == "speck2f"
    assert document["test_samples"] == PRESETS["fast"].test_limit
    assert 0.0 <= document["float_accuracy"] <= 1.0
    # The time-stepped chip simulation is defined to equal the QuantizedModel (snndeploy.sim):
    # the same predictions on every sample, and compare_stages found no divergence.
    assert document["chip_accuracy_timestep"] == document["quantized_accuracy"]
    assert document["verify_failures"] == []
    assert 0.0 <= document["chip_accuracy_event"] <= 1.0
    assert document["cores_used"] and set(document["memory_used"]) == {"kernel", "neuron", "bias"}
    assert document["synops_per_sample"] > 0 and document["over_bandwidth_samples"] >= 0
    for name in ("learning_curve", "raster", "memory"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((out / "chip.json").read_text())["target"] == "speck2f"
    assert json.loads((out / "result.json").read_text()) == document
    assert list(document["stage_seconds"]) == [
        "data", "train", "quantize", "map", "simulate + compare", "plots"]


def test_output_spike_train_puts_counts_at_bin_middles():
    counts = torch.tensor([[0.0, 2.0], [1.0, 0.0], [0.0, 0.0]])
    times, neurons = _output_spike_train(counts, dt_us=10)
    assert times.tolist() == [5, 5, 15] and neurons.tolist() == [1, 1, 0]


def test_table_lists_every_measured_row():
    result = DemoResult(
        target="speck2f", dataset="digits", preset="fast", architecture="34x34x2-8c3-10",
        settings=PRESETS["fast"], train_samples=10, test_samples=5, float_accuracy=0.9,
        stage_seconds={"data": 1.0, "train": 2.5},
    )
    table = result.table()
    assert "float accuracy" in table and "90.0 %" in table
    assert "time: train" in table and "time: total" in table and "3.5 s" in table
    assert np.all([len(line) > 0 for line in table.splitlines()])


RUN_CLI = "import sys; from snndeploy.cli import main; main(sys.argv[1:])"


@pytest.mark.parametrize("arguments, culprit", [
    (["--target", "speck9"], "speck9"),
    (["--dataset", "mnist"], "unknown dataset 'mnist'"),
    (["--dataset", "nmnist"], "NMNIST"),
    (["--dataset", "yinyang"], "no default network"),
])
def test_demo_bad_input_is_one_line_and_exit_1(tmp_path, arguments, culprit):
    out = tmp_path / "run"
    completed = subprocess.run(
        [sys.executable, "-c", RUN_CLI, "demo", "--out", str(out), *arguments],
        capture_output=True, text=True, timeout=300,
        env={**os.environ, "SNNDEPLOY_DATA_DIR": str(tmp_path / "data"),
             "SNNDEPLOY_CACHE_DIR": str(tmp_path / "cache")},
    )
    assert completed.returncode == 1
    errors = [line for line in completed.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and culprit in errors[0] and "Traceback" not in completed.stderr
    assert not out.exists()  # nothing written before the inputs were checked
