"""ChipConfig -> simulator, and `snndeploy simulate` on a config file and an event file."""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from snndeploy.cli import app
from snndeploy.data.events import EVENT_DTYPE
from snndeploy.errors import SnnDeployError
from snndeploy.mapping import ChipConfig, CoreConfig, Destination, DvsConfig, InputConfig, ReadoutConfig
from snndeploy.sim import Monitor, save_events, simulate
from snndeploy.sim.from_config import network_from_config


def small_config(dvs=False, monitor=True):
    """DVS (or external) 8x8x2 -> core 3: 4c3 pad 1 (leak) -> pool 2 -> core 5: 12 outputs,
    readout of 3 classes on channels 0, 4, 8 (the erratum spacing)."""
    rng = np.random.default_rng(1)
    w1 = rng.integers(-4, 9, (4, 2, 3, 3))
    w2 = rng.integers(-2, 7, (12, 4, 4, 4))
    source = InputConfig(
        source="dvs" if dvs else "external", shape=(2, 8, 8), destinations=(Destination(3),),
        dvs=DvsConfig(polarity="both", mirror_x=True) if dvs else None,
    )
    cores = [
        CoreConfig(core=3, layer_name="conv1", input_shape=(2, 8, 8), neuron_shape=(4, 8, 8), kernel_size=3,
                   stride=1, padding=1, weights=w1.tolist(), biases=[1, -1, 0, 2], threshold_high=9,
                   threshold_low=-20, leak_enable=True, initial_state=np.full((4, 8, 8), 2).tolist(),
                   destinations=(Destination(5, pooling=2),), monitor=False),
        CoreConfig(core=5, layer_name="dense", input_shape=(4, 4, 4), neuron_shape=(12, 1, 1), kernel_size=4,
                   stride=1, padding=0, weights=w2.tolist(), biases=None, threshold_high=15,
                   threshold_low=-30, reset="zero", monitor=monitor),
    ]
    return ChipConfig(target="speck2f", input=source, cores=cores,
                      readout=ReadoutConfig(core=5, num_classes=3, channel_of_class=(0, 4, 8)),
                      slow_clock_period_us=1000, synops_per_s_limit=10**6)


def sample(n=300, seed=0):
    rng = np.random.default_rng(seed)
    events = np.zeros(n, EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, 20_000, n))
    events["x"], events["y"], events["p"] = rng.integers(0, 8, n), rng.integers(0, 8, n), rng.integers(0, 2, n)
    return events


def test_config_fields_reach_the_simulator():
    net = network_from_config(small_config(dvs=True))
    assert list(net.cores) == [3, 5]
    first, second = net.cores[3], net.cores[5]
    assert first.padding == (1, 1) and first.leak_enable and not first.reset_to_zero
    assert first.bias.tolist() == [1, -1, 0, 2] and int(first.initial_state.max()) == 2
    assert first.destinations[0].core == 5 and first.destinations[0].pool == 2
    assert second.reset_to_zero and second.weights.shape == (12, 4, 4, 4)
    assert net.input.dvs and net.input.mirror_x and net.input.size == (8, 8, 2)
    assert net.readout.channels() == (0, 4, 8) and net.monitored_cores == (5,)
    assert net.layer_names == {3: "conv1", 5: "dense"}
    assert net.synops_per_s_limit == {3: 1e6, 5: 1e6}


def test_file_and_object_give_the_same_result(tmp_path):
    config = small_config()
    path = config.to_json(tmp_path / "chip.json")
    events = sample()
    for mode in ("event", "timestep"):
        a = simulate(config, events, mode)
        b = simulate(path, events, mode)
        assert np.array_equal(a.spikes, b.spikes) and a.class_counts.tolist() == b.class_counts.tolist()
    result = simulate(config, events)
    assert result.class_counts.tolist() == [result.counts[5][c] for c in (0, 4, 8)]
    assert set(np.unique(result.spikes["core"])) <= {5}


def test_cli_simulate_text_and_json(tmp_path):
    config_path = small_config().to_json(tmp_path / "chip.json")
    events_path = tmp_path / "sample.npz"
    save_events(events_path, sample())
    runner = CliRunner()
    text = runner.invoke(app, ["simulate", str(config_path), str(events_path)])
    assert text.exit_code == 0, text.output
    assert "prediction" in text.output and "SynOps" in text.output
    out = runner.invoke(app, ["simulate", str(config_path), str(events_path), "--mode", "timestep", "--json",
                              "--probe", "3,0,2,2", "--probe-time", "5000", "--monitor-core", "3"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    expected = simulate(config_path, events_path, "timestep", Monitor(cores=(3,), neurons=((3, 0, 2, 2),), times=(5000,)))
    assert data["class_counts"] == expected.class_counts.tolist()
    assert data["probed"]["states"] == expected.probed.tolist()
    assert len(data["spikes"]) == len(expected.spikes) and all(row[1] == 3 for row in data["spikes"])


def test_cli_reports_bad_events_in_one_line(tmp_path):
    from snndeploy.cli import main

    config_path = small_config().to_json(tmp_path / "chip.json")
    events = sample()
    events["x"][7] = 9
    np.save(tmp_path / "bad.npy", events)
    with pytest.raises(SystemExit) as exit_info:
        main(["simulate", str(config_path), str(tmp_path / "bad.npy")])
    assert exit_info.value.code == 1
    with pytest.raises(SnnDeployError, match="event 7 .* x=9 outside 0..7"):
        simulate(config_path, tmp_path / "bad.npy")


def test_truncated_config_file_is_named(tmp_path):
    path = small_config().to_json(tmp_path / "chip.json")
    path.write_text(path.read_text()[:200])
    with pytest.raises(SnnDeployError, match="chip.json"):
        simulate(path, sample())
