"""Checkpoints: what they hold, exact restore, atomic writes, corrupt files."""

import json
import os
import random
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.train import (
    ModelSpec,
    latest_checkpoint,
    load_checkpoint,
    load_model,
    save_checkpoint,
)
from snndeploy.files import write_atomically
from snndeploy.train.checkpoint import restore_training_state

SPEC = ModelSpec.from_source("4-6-3", neuron="iaf", backend="bptt")


def _trained(steps=3):
    torch.manual_seed(0)
    net = SPEC.build()
    optimizer = torch.optim.Adam(net.parameters(), lr=0.1)
    for _ in range(steps):
        net[2].reset_states()
        net[4].reset_states()
        loss = net(torch.rand(2, 5, 4) * 3).sum() + net[1].weight.square().sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return net, optimizer


def test_round_trip_restores_weights_optimizer_and_rng(tmp_path):
    net, optimizer = _trained()
    random.seed(5)
    np.random.seed(6)
    torch.manual_seed(7)
    path = save_checkpoint(tmp_path, 3, net, SPEC, optimizer, history=[{"epoch": 3}],
                           options={"lr": 0.1})
    expected_draws = (random.random(), np.random.rand(), torch.rand(3))
    assert path.name == "epoch-0003.safetensors" and latest_checkpoint(tmp_path) == path
    sidecar = json.loads(path.with_suffix(".json").read_text())
    assert sidecar["model"]["architecture"] == "4-6-3" and sidecar["options"] == {"lr": 0.1}
    assert sidecar["optimizer"]["class"] == "Adam"

    torch.manual_seed(99)
    fresh = SPEC.build()
    fresh_optimizer = torch.optim.Adam(fresh.parameters(), lr=0.5)
    checkpoint = load_checkpoint(tmp_path)
    restore_training_state(checkpoint, fresh, fresh_optimizer)
    for name, value in net.state_dict().items():
        if not name.endswith("v_mem"):
            assert torch.equal(fresh.state_dict()[name], value), name
    saved, loaded = optimizer.state_dict(), fresh_optimizer.state_dict()
    assert loaded["param_groups"] == saved["param_groups"]
    for index, state in saved["state"].items():
        for key, value in state.items():
            assert torch.equal(loaded["state"][index][key], value)
    assert (random.random(), np.random.rand()) == expected_draws[:2]
    assert torch.equal(torch.rand(3), expected_draws[2])
    assert checkpoint.history == [{"epoch": 3}] and checkpoint.epoch == 3


def test_load_model_rebuilds_the_network(tmp_path):
    net, optimizer = _trained()
    save_checkpoint(tmp_path, 1, net, SPEC, optimizer)
    loaded = load_model(tmp_path / "epoch-0001.safetensors")
    x = torch.rand(2, 5, 4) * 3
    for layer in (net[2], net[4]):
        layer.reset_states()
    assert not loaded.training
    assert torch.equal(loaded(x), net(x))
    assert all(layer.backend == "exodus" for layer in load_model(tmp_path, backend="exodus")
               if hasattr(layer, "backend"))


def test_checkpoint_without_spec_cannot_rebuild(tmp_path):
    net, _ = _trained(1)
    save_checkpoint(tmp_path, 1, net, None)
    with pytest.raises(SnnDeployError, match="no model spec"):
        load_model(tmp_path)


def test_wrong_weights_are_refused(tmp_path):
    net, _ = _trained(1)
    other = ModelSpec.from_source("4-7-3")
    save_checkpoint(tmp_path, 1, net, other)
    with pytest.raises(SnnDeployError, match="weights do not fit"):
        load_model(tmp_path)


@pytest.mark.parametrize("content", [b"", b"not a checkpoint at all", b"\x08\x00\x00\x00\x00\x00\x00\x00{}      "])
def test_corrupt_checkpoint_is_a_clear_error(tmp_path, content):
    path = tmp_path / "epoch-0001.safetensors"
    path.write_bytes(content)
    with pytest.raises(SnnDeployError, match="corrupt or not an snndeploy checkpoint"):
        load_checkpoint(path)


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    net, _ = _trained(1)
    path = save_checkpoint(tmp_path, 1, net, SPEC)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(SnnDeployError, match="corrupt"):
        load_checkpoint(path)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SnnDeployError, match="does not exist"):
        load_checkpoint(tmp_path / "epoch-0004.safetensors")
    with pytest.raises(SnnDeployError, match="holds no epoch-NNNN"):
        load_checkpoint(tmp_path)


def test_failed_write_leaves_the_previous_file_and_no_temporary(tmp_path):
    target = tmp_path / "epoch-0001.safetensors"
    target.write_bytes(b"complete")

    def half_write(temp):
        temp.write_bytes(b"half")
        raise KeyboardInterrupt  # Ctrl-C in the middle of writing

    with pytest.raises(KeyboardInterrupt):
        write_atomically(target, half_write)
    assert target.read_bytes() == b"complete"
    assert os.listdir(tmp_path) == ["epoch-0001.safetensors"]


def test_sigkill_during_writes_never_leaves_a_partial_checkpoint(tmp_path):
    """A process saving checkpoints in a loop is SIGKILLed; every checkpoint file present
    afterwards loads, and leftover temporaries are ignored by latest_checkpoint."""
    script = textwrap.dedent(f"""
        import sys, torch
        from snndeploy.train import ModelSpec, save_checkpoint
        spec = ModelSpec.from_source("64-256-256-10")
        net = spec.build()
        optimizer = torch.optim.Adam(net.parameters())
        epoch = 1
        while True:
            save_checkpoint({str(tmp_path)!r}, epoch % 3 + 1, net, spec, optimizer)
            if epoch == 2:
                print("saving", flush=True)
            epoch += 1
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "saving"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    names = [p for p in tmp_path.iterdir() if p.suffix == ".safetensors"]
    assert names
    for path in names:
        assert load_checkpoint(path).model_spec == ModelSpec.from_source("64-256-256-10")
    assert latest_checkpoint(tmp_path).name.startswith("epoch-")


def test_fit_records_the_spec_of_built_models(tmp_path):
    from snndeploy.train import SumOverTimeCrossEntropy, build_model, fit

    net = build_model("4-5-3", neuron="lif", backend="bptt", tau_mem=4.0)
    data = torch.utils.data.TensorDataset(torch.rand(4, 3, 4) * 3, torch.tensor([0, 1, 2, 0]))
    fit(net, torch.utils.data.DataLoader(data, batch_size=2), SumOverTimeCrossEntropy(), 1,
        checkpoint_dir=tmp_path, progress=False)
    assert load_checkpoint(tmp_path).model_spec == ModelSpec.from_source(
        "4-5-3", neuron="lif", backend="bptt", tau_mem=4.0)
    assert type(load_model(tmp_path)[2]).__name__ == "LIF"
