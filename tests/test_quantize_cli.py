"""CLI: snndeploy quantize / map / targets on a checkpoint made with the training code."""

import json

import numpy as np
import torch
from click.testing import CliRunner

from snndeploy.cli import app
from snndeploy.mapping import ChipConfig
from snndeploy.quantize import QuantizedModel
from snndeploy.train.architecture import ModelSpec
from snndeploy.train.checkpoint import save_checkpoint


def checkpoint(tmp_path):
    torch.manual_seed(0)
    spec = ModelSpec.from_source("8x8x2-4c3-2p-6", neuron="iaf", backend="bptt")
    model = spec.build()
    return save_checkpoint(tmp_path / "run", 1, model, spec)


def run(*args):
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result


def test_quantize_then_map(tmp_path):
    ckpt = checkpoint(tmp_path)
    frames = np.random.default_rng(0).poisson(0.3, size=(4, 6, 2, 8, 8)).astype(np.float32)
    np.save(tmp_path / "calib.npy", frames)
    q_path = tmp_path / "q.safetensors"
    result = run("quantize", str(ckpt), "--target", "speck2f", "--calibration", str(tmp_path / "calib.npy"),
                 "-o", str(q_path), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)["report"]
    assert [layer["name"] for layer in report["layers"]] == ["0", "4"]
    q = QuantizedModel.load(q_path)
    assert q.input_shape == (2, 8, 8)
    chip = tmp_path / "chip.json"
    result = run("map", str(q_path), "--target", "speck2f", "-o", str(chip), "--plot", str(tmp_path / "memory.png"))
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and "SynOps/s" in result.output
    assert (tmp_path / "memory.png").read_bytes()[:4] == b"\x89PNG"
    config = ChipConfig.from_json(chip)
    assert [c.layer_name for c in config.cores] == ["0", "4"]
    # a checkpoint maps directly (quantized on the fly)
    result = run("map", str(ckpt), "-o", str(tmp_path / "direct.json"), "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.output)["cores"]) == {"0", "4"}


def test_targets_listing_and_errors(tmp_path):
    result = run("targets", "--json")
    assert {"speck2f", "speck2e", "dynapcnn"} <= set(json.loads(result.output))
    result = run("targets", "examples/targets/lif_bitshift.toml")
    assert "neuron: lif" in result.output
    from snndeploy.cli import main
    import pytest

    with pytest.raises(SystemExit) as info:
        main(["targets", "nochip"])
    assert info.value.code == 1
    with pytest.raises(SystemExit) as info:
        main(["map", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "x.json")])
    assert info.value.code == 1
