"""`snndeploy devices / flash / run` end to end on the sim device; errors are one line, exit 1."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

from snndeploy.cli import main
from snndeploy.sim import save_events, simulate
from snndeploy.sim.simulate import Monitor
from test_devices import chip_config, events, network


def run_cli(capsys, *args):
    with pytest.raises(SystemExit) as exited:
        main(list(args))
    captured = capsys.readouterr()
    return exited.value.code, captured.out, captured.err


def test_flash_and_run_on_the_sim_device(tmp_path, capsys):
    config = chip_config().to_json(tmp_path / "chip.json")
    stream = events()
    save_events(tmp_path / "sample.npz", stream)
    code, out, _ = run_cli(capsys, "flash", str(config), "--device", "sim:0", "--json")
    assert code == 0 and json.loads(out)["mismatches"] == [] and json.loads(out)["cores"] == [0, 1]
    code, out, _ = run_cli(capsys, "run", str(config), str(tmp_path / "sample.npz"), "--device", "sim:0",
                           "-o", str(tmp_path / "out.npz"), "--duration-us", "6000", "--json")
    assert code == 0
    expected = simulate(network(), stream, "event", Monitor(cores=(0, 1)), duration_us=6000).spikes
    with np.load(tmp_path / "out.npz") as saved:
        np.testing.assert_array_equal(saved["spikes"], expected)
    assert json.loads(out)["spikes"] == len(expected) > 0


def test_devices_without_samna(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)
    code, out, _ = run_cli(capsys, "devices", "--json")
    listing = json.loads(out)
    assert code == 0 and [d["name"] for d in listing["devices"]] == ["sim:0"]
    assert "pip install samna" in listing["unavailable"]["samna"]


@pytest.mark.parametrize("device, culprit", [("speck9:0", "unknown device 'speck9:0'"),
                                             ("speck2fdevkit:0", "samna (SynSense's runtime) is not installed")])
def test_flash_errors_are_one_line(tmp_path, capsys, monkeypatch, device, culprit):
    monkeypatch.setitem(sys.modules, "samna", None)
    config = chip_config().to_json(tmp_path / "chip.json")
    code, out, err = run_cli(capsys, "flash", str(config), "--device", device)
    assert code == 1 and culprit in err and len(err.strip().splitlines()) == 1


def test_help_has_an_example(capsys):
    for command in ("devices", "flash", "run", "export"):
        code, out, _ = run_cli(capsys, command, "--help")
        assert code == 0 and "Example" in out and f"snndeploy {command}" in out
