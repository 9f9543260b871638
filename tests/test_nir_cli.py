"""`snndeploy export MODEL --format nir|onnx` from a training checkpoint and from a .nir file."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from snndeploy.cli import main
from snndeploy.export import load_network
from snndeploy.train import ModelSpec, SumOverTimeCrossEntropy, fit, make_loader

ARCH = "6x6x2-4c3-2p-5"


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("run")
    spec = ModelSpec.from_source(ARCH, backend="bptt")
    torch.manual_seed(0)
    model = spec.build()
    with torch.no_grad():  # livelier than the default initialisation: the comparisons see spikes
        for parameter in model.parameters():
            parameter.mul_(4.0)
    g = torch.Generator().manual_seed(1)
    data = torch.utils.data.TensorDataset((torch.rand(8, 5, 2, 6, 6, generator=g) < 0.5).float(),
                                          torch.randint(0, 5, (8,), generator=g))
    fit(model, make_loader(data, 4), SumOverTimeCrossEntropy(), epochs=1, checkpoint_dir=directory,
        model_spec=spec, progress=False)
    return directory


def _outputs(model, x):
    for layer in model.modules():
        if layer is not model and hasattr(layer, "reset_states"):
            layer.reset_states()
    with torch.no_grad():
        return model(x)


def test_export_checkpoint_to_nir_and_back(run_dir, tmp_path, capsys):
    code, out, _ = run_cli(capsys, "export", str(run_dir), "--format", "nir", "-o", str(tmp_path / "m.nir"),
                           "--dt-seconds", "0.001", "--json")
    assert code == 0 and json.loads(out)["file"].endswith("m.nir")
    original, loaded = load_network(run_dir), load_network(tmp_path / "m.nir")
    assert loaded.input_shape == original.input_shape == (2, 6, 6) and loaded.kind == "nir"
    for layer in loaded.model.modules():
        if hasattr(layer, "backend"):
            layer.backend = "bptt"
    x = (torch.rand(2, 7, 2, 6, 6, generator=torch.Generator().manual_seed(2)) < 0.6).float() * 3
    torch.testing.assert_close(_outputs(loaded.model, x), _outputs(original.model, x), rtol=0, atol=0)
    # a .nir file is accepted where MODEL is taken: export it on to ONNX
    code, out, _ = run_cli(capsys, "export", str(tmp_path / "m.nir"), "--format", "onnx", "--steps", "7",
                           "-o", str(tmp_path / "m.onnx"))
    assert code == 0 and "7 steps, opset 17" in out
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": x.numpy()})[0]
    expected = _outputs(original.model, x).numpy()
    assert expected.sum() > 20
    assert np.abs(got - expected).max() <= 1  # float weights: an ulp may move one spike count
    assert (got == expected).mean() > 0.95


def test_export_errors(run_dir, tmp_path, capsys):
    code, _, err = run_cli(capsys, "export", str(tmp_path), "--format", "nir", "-o", str(tmp_path / "x.nir"))
    assert code == 1 and "error:" in err
    code, _, err = run_cli(capsys, "export", str(run_dir), "--format", "onnx", "-o", str(tmp_path / "x.onnx"),
                           "--input-shape", "2,x")
    assert code == 1 and "--input-shape '2,x'" in err


def test_a_nir_file_goes_through_evaluate_quantize_map_and_verify(tmp_path, capsys):
    """MODEL = a .nir file written by `snndeploy export` works wherever a checkpoint does: every
    command reads MODEL with `load_network`, which routes .nir through `import_nir`."""
    run, nir_file = tmp_path / "run", tmp_path / "digits.nir"
    data = ["--limit", "20", "--dt-us", "50000"]
    code, _, err = run_cli(capsys, "-q", "train", "34x34x2-4c3-4p-10", "--data", "digits", *data,
                           "--backend", "bptt", "--batch-size", "10", "--lr", "0.05", "--epochs", "1",
                           "--out", str(run))
    assert code == 0, err
    code, _, err = run_cli(capsys, "export", str(run), "--format", "nir", "-o", str(nir_file))
    assert code == 0, err

    code, out, err = run_cli(capsys, "evaluate", str(nir_file), "--data", "digits", *data,
                             "--backend", "bptt", "--json")
    assert code == 0, err
    from_nir = json.loads(out)
    code, out, err = run_cli(capsys, "evaluate", str(run), *data, "--backend", "bptt", "--json")
    assert code == 0, err
    from_checkpoint = json.loads(out)
    assert from_nir["kind"] == "nir" and from_nir["epoch"] is None and from_nir["samples"] == 20
    assert from_nir["accuracy"] == from_checkpoint["accuracy"]
    assert from_nir["loss"] == pytest.approx(from_checkpoint["loss"], rel=1e-6)

    quantized = tmp_path / "q.safetensors"
    code, out, err = run_cli(capsys, "quantize", str(nir_file), "--target", "speck2f", "-o", str(quantized),
                             "--json")
    assert code == 0, err
    assert [layer["name"] for layer in json.loads(out)["report"]["layers"]] == ["0", "4"]
    for source, chip in ((nir_file, tmp_path / "direct.json"), (quantized, tmp_path / "chip.json")):
        code, out, err = run_cli(capsys, "map", str(source), "--target", "speck2f", "-o", str(chip), "--json")
        assert code == 0, err
        assert set(json.loads(out)["cores"]) == {"0", "4"}
    assert json.loads((tmp_path / "direct.json").read_text())["cores"] == \
        json.loads((tmp_path / "chip.json").read_text())["cores"]

    code, out, err = run_cli(capsys, "verify", str(nir_file), "--target", "speck2f", "--data", "digits",
                             "--limit", "2", "--dt-us", "50000", "--json")
    assert code == 0, err
    code, _, err = run_cli(capsys, "verify", str(quantized), "--data", "digits", "--limit", "2")
    assert code == 1 and "quantized model" in err and "float network" in err
