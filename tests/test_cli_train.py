"""`snndeploy train` / `snndeploy evaluate`: end to end, exact resume after SIGKILL, bad input."""

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors import safe_open

from snndeploy.cli import main
from snndeploy.train import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
# Tiny, numba-free settings: the shipped digits, first 30 samples, plain-autograd backend.
QUICK = ["34x34x2-10", "--data", "digits", "--limit", "30", "--dt-us", "50000",
         "--batch-size", "10", "--lr", "0.05", "--backend", "bptt", "--seed", "3"]


def run_cli(capsys, *args):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def _tensors(path):
    with safe_open(str(path), framework="pt") as handle:
        return {key: handle.get_tensor(key) for key in handle.keys()
                if key.startswith(("model/", "optimizer/"))}


def test_train_then_evaluate(tmp_path, capsys):
    code, out, err = run_cli(capsys, "-q", "train", *QUICK, "--epochs", "2",
                             "--out", str(tmp_path), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["epochs"] == 2 and 0 <= result["val_accuracy"] <= 1
    for name in ("epoch-0001.safetensors", "epoch-0002.json", "metrics.csv", "metrics.jsonl",
                 "learning_curve.png"):
        assert (tmp_path / name).is_file(), name
    assert (tmp_path / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, out, err = run_cli(capsys, "evaluate", str(tmp_path), "--limit", "20", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["epoch"] == 2 and report["samples"] == 20 and report["data"] == "digits"
    assert list(report["firing_rates"]) == ["2 IAF"]
    code, out, _ = run_cli(capsys, "evaluate", str(tmp_path / "epoch-0001.safetensors"),
                           "--limit", "20")
    assert code == 0 and "accuracy" in out and "2 IAF" in out


def test_help_has_an_example(capsys):
    for command in ("train", "evaluate"):
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0 and "Example" in out and f"snndeploy {command}" in out


# Runs the real CLI; announces its epoch-1 checkpoint on stdout, then stays inside training
# (sleeping in place of epoch 2's work) until the test signals it.
VICTIM = textwrap.dedent("""
    import sys
    import snndeploy.train.loop as loop
    from snndeploy.cli import main
    save = loop.save_checkpoint
    def announce(directory, epoch, *args, **kwargs):
        path = save(directory, epoch, *args, **kwargs)
        if epoch == 1:
            print("saved", path, flush=True)
            import time; time.sleep(120)
        return path
    loop.save_checkpoint = announce
    main(sys.argv[1:])
""")
ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def _interrupt_after_epoch_one(out, signal_number):
    process = subprocess.Popen(
        [sys.executable, "-c", VICTIM, "-q", "train", *QUICK, "--epochs", "3", "--out", str(out)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        line = process.stdout.readline()
        assert line.startswith("saved"), line + process.stderr.read()
    finally:
        process.send_signal(signal_number)
        _, stderr = process.communicate(timeout=60)
    return process.returncode, stderr


def test_ctrl_c_leaves_the_last_complete_checkpoint(tmp_path):
    code, stderr = _interrupt_after_epoch_one(tmp_path, signal.SIGINT)
    assert code == 130 and stderr.strip() == "aborted"
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "epoch-0001.json", "epoch-0001.safetensors", "metrics.csv", "metrics.jsonl"]
    assert load_checkpoint(tmp_path).epoch == 1


def test_sigkill_after_epoch_one_then_resume_equals_uninterrupted_run(tmp_path):
    """A real SIGKILL of a training process right after its epoch-1 checkpoint; `--resume`
    then ends with the same weights and optimizer state, bit for bit, as a run never killed."""
    env = ENV
    cli = [sys.executable, str(REPO / "cli.py"), "-q", "train", *QUICK, "--epochs", "3"]
    killed_dir = tmp_path / "killed"
    code, _ = _interrupt_after_epoch_one(killed_dir, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert sorted(p.name for p in killed_dir.glob("*.safetensors")) == ["epoch-0001.safetensors"]

    resumed = subprocess.run(cli + ["--out", str(killed_dir), "--resume", "--json"],
                             capture_output=True, text=True, env=env, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    straight_dir = tmp_path / "straight"
    straight = subprocess.run(cli + ["--out", str(straight_dir), "--json"],
                              capture_output=True, text=True, env=env, timeout=300)
    assert straight.returncode == 0, straight.stderr

    final_resumed = _tensors(killed_dir / "epoch-0003.safetensors")
    final_straight = _tensors(straight_dir / "epoch-0003.safetensors")
    assert final_resumed.keys() == final_straight.keys()
    assert any(key.startswith("optimizer/") for key in final_straight)
    for key, value in final_straight.items():
        assert torch.equal(final_resumed[key], value), key
    epochs = [json.loads(row)["epoch"] for row in
              (killed_dir / "metrics.jsonl").read_text().splitlines()]
    assert epochs == [1, 2, 3]


@pytest.mark.parametrize("args, culprit", [
    (["train", "34x34x2-8q3-10"], "token 2 '8q3' is not a layer"),
    (["train", "missing_model.py"], "model file missing_model.py does not exist"),
    (["train", "34x34x2-10", "--data", "cifar"], "unknown dataset 'cifar'"),
    (["train", "34x34x2-10", "--data", "nmnist", "--data-root", "{tmp}/none"],
     "dataset 'nmnist' (train split) is not on disk"),
    (["train", "34x34x2-10", "--device", "cuda"], "cuda"),
    (["train", "32x32x2-10", "--limit", "5"], "expects input 32x32x2"),
    (["train", "34x34x2-12", "--limit", "5"], "make the last token 10"),
    (["train", "34x34x2-10", "--limit", "5", "--qat", "nochip"], "unknown target 'nochip'"),
    (["train", "34x34x2-10", "--limit", "5", "--init", "{tmp}/nothing"], "does not exist"),
    (["evaluate", "{tmp}/epoch-0001.safetensors"], "does not exist"),
    (["evaluate", "{tmp}/corrupt.safetensors"], "is corrupt or not an snndeploy checkpoint"),
    (["evaluate", "{tmp}"], "holds no epoch-NNNN.safetensors checkpoint"),
])
def test_bad_input_is_one_line_and_exit_code_1(tmp_path, capsys, args, culprit):
    if args[0] == "train" and "cuda" in args and torch.cuda.is_available():
        pytest.skip("a CUDA GPU is present, so --device cuda is valid input here")
    (tmp_path / "corrupt.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\": broken")
    args = [arg.replace("{tmp}", str(tmp_path)) for arg in args]
    if args[0] == "train":
        args += ["--out", str(tmp_path / "run")]
    code, out, err = run_cli(capsys, *args)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith("error: ") and culprit in err
    assert "Traceback" not in err
    assert not (tmp_path / "run").exists()  # nothing written when the input is bad


def test_existing_run_needs_resume(tmp_path, capsys):
    code, _, err = run_cli(capsys, "-q", "train", *QUICK, "--epochs", "1", "--out", str(tmp_path))
    assert code == 0, err
    code, _, err = run_cli(capsys, "-q", "train", *QUICK, "--epochs", "2", "--out", str(tmp_path))
    assert code == 1 and "add --resume" in err and err.count("\n") == 1
    code, _, err = run_cli(capsys, "-q", "train", *QUICK[:-1], "4", "--epochs", "2",
                           "--out", str(tmp_path), "--resume")
    assert code == 1 and "options changed (seed: 3 -> 4)" in err


def test_train_a_python_model_file_and_reload_it(tmp_path, capsys):
    source = tmp_path / "net.py"
    source.write_text(textwrap.dedent("""
        from torch import nn
        from snndeploy.layers import IAF
        from snndeploy.train import SpikingSequential

        def model():
            return SpikingSequential(nn.Flatten(), nn.Linear(2 * 34 * 34, 10, bias=False),
                                     IAF(backend="bptt"))
    """))
    out = tmp_path / "run"
    code, stdout, err = run_cli(capsys, "-q", "train", str(source), *QUICK[1:], "--epochs", "1",
                                "--out", str(out), "--json")
    assert code == 0, err
    sidecar = json.loads((out / "epoch-0001.json").read_text())
    assert sidecar["model"]["python_file"] == str(source.resolve())
    code, stdout, err = run_cli(capsys, "evaluate", str(out), "--limit", "10", "--json")
    assert code == 0, err
    assert json.loads(stdout)["samples"] == 10


def test_quantization_aware_fine_tuning_from_a_float_run(tmp_path, capsys):
    from snndeploy.quantize import QuantizationAware, quantize
    from snndeploy.train import load_model

    float_run, qat_run = tmp_path / "float", tmp_path / "qat"
    conv_net = ["34x34x2-4c4s2-2p-10", *QUICK[1:]]  # a dense layer on 34x34 exceeds speck's kernels
    code, _, err = run_cli(capsys, "-q", "train", *conv_net, "--epochs", "1", "--out", str(float_run))
    assert code == 0, err
    code, out, err = run_cli(capsys, "-q", "train", *conv_net, "--epochs", "1", "--qat", "speck2f",
                             "--init", str(float_run), "--out", str(qat_run), "--json")
    assert code == 0, err
    sidecar = json.loads((qat_run / "epoch-0001.json").read_text())
    assert sidecar["model"]["qat_target"] == "speck2f"
    assert sidecar["options"]["init"] == str(float_run / "epoch-0001.safetensors")
    network = load_model(qat_run)
    assert isinstance(network, QuantizationAware)
    frames = torch.stack([torch.rand(4, 2, 34, 34).lt(0.05).double() for _ in range(2)])
    # What QAT trained is what quantize produces: the same integer network, spike for spike.
    assert torch.equal(network(frames), quantize(network, "speck2f")(frames).to(torch.float64))
    code, out, err = run_cli(capsys, "evaluate", str(qat_run), "--limit", "10")
    assert code == 0 and "no neuron layers" in out


def test_float_weights_seed_the_quantization_aware_network():
    from snndeploy.train import ModelSpec

    float_spec = ModelSpec.from_source("4x4x2-8-3")
    torch.manual_seed(0)
    trained = float_spec.build()
    qat_spec = ModelSpec.from_source("4x4x2-8-3", qat_target="speck2f", input_shape=(2, 4, 4))
    wrapper = qat_spec.build(float_weights=trained.state_dict())
    weights = [p for name, p in trained.named_parameters() if name.endswith("weight")]
    assert len(wrapper.weights) == len(weights)
    for wrapped, original in zip(wrapper.weights, weights):
        assert torch.equal(wrapped.reshape(original.shape).float(), original.detach())


# Two processes add the same per-sample gradients in another order (each rank averages its half
# batch, DDP averages the two halves): weights may differ by float32 rounding, amplified a little
# by Adam's division by sqrt(v). Measured: 7e-7 after 6 steps; allowed: 1e-5 (weights are ~0.2).
DDP_TOLERANCE = 1e-5


def _max_difference(first, second):
    assert first.keys() == second.keys()
    return max(float((first[k].double() - second[k].double()).abs().max()) for k in first)


def test_torchrun_two_processes_equal_one_process_and_resume_in_one(tmp_path, capsys):
    """A real `torchrun --nproc_per_node 2 snndeploy train` (gloo) ends its 2 epochs with the
    weights and Adam state of a 1-process run of the same global batch; its rank-0 checkpoint
    then resumes in 1 process and matches the 1-process run's epoch 3."""
    ddp_dir, single_dir = tmp_path / "ddp", tmp_path / "single"
    launched = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
         str(REPO / "cli.py"), "-q", "train", *QUICK, "--epochs", "2", "--out", str(ddp_dir),
         "--json"],
        capture_output=True, text=True, env=ENV, timeout=300)
    assert launched.returncode == 0, launched.stderr
    printed = [json.loads(line) for line in launched.stdout.splitlines() if line.startswith("{")]
    assert len(printed) == 1 and printed[0]["epochs"] == 2  # rank 0 alone reports
    stored = load_checkpoint(ddp_dir)
    assert stored.options["processes"] == 2 and stored.options["batch_size"] == 10

    code, out, err = run_cli(capsys, "-q", "train", *QUICK, "--epochs", "3", "--out",
                             str(single_dir), "--json")
    assert code == 0, err
    single_two = _tensors(single_dir / "epoch-0002.safetensors")
    assert _max_difference(_tensors(single_dir / "epoch-0001.safetensors"), single_two) > 1e-2
    assert _max_difference(_tensors(ddp_dir / "epoch-0002.safetensors"), single_two) < DDP_TOLERANCE
    ddp_rows = [json.loads(row) for row in (ddp_dir / "metrics.jsonl").read_text().splitlines()]
    single_rows = [json.loads(row) for row in (single_dir / "metrics.jsonl").read_text().splitlines()]
    for ddp_row, single_row in zip(ddp_rows, single_rows[:2]):
        assert ddp_row["train_loss"] == pytest.approx(single_row["train_loss"], rel=1e-5)
        assert ddp_row["train_accuracy"] == pytest.approx(single_row["train_accuracy"], abs=1e-9)

    code, out, err = run_cli(capsys, "-q", "train", *QUICK, "--epochs", "3", "--out",
                             str(ddp_dir), "--resume", "--json")
    assert code == 0, err
    assert json.loads(out)["epochs"] == 3
    single_three = _tensors(single_dir / "epoch-0003.safetensors")
    assert _max_difference(single_two, single_three) > 1e-2  # epoch 3 moved the weights on
    assert _max_difference(_tensors(ddp_dir / "epoch-0003.safetensors"), single_three) < DDP_TOLERANCE
    assert [json.loads(row)["epoch"] for row in
            (ddp_dir / "metrics.jsonl").read_text().splitlines()] == [1, 2, 3]
    assert load_checkpoint(ddp_dir).options["processes"] == 1
