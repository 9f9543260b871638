"""verify's comparison: an integer-valued torch network (snndeploy IAF layers, the time-stepped
rule in float arithmetic) against the chip simulation of the same integers.

The torch network plays the QuantizedModel here: its spikes must equal the time-stepped
simulation exactly in every layer, so verify passes; a one-unit change in one chip weight
must make it fail and point at that core.
"""

import numpy as np
import pytest
import torch
from sinabs.layers import SumPool2d

from snndeploy.data.base import EventDataset
from snndeploy.data.events import EVENT_DTYPE
from snndeploy.layers import IAF
from snndeploy.sim import Destination, InputStage, Readout, SimCore, SimNetwork
from snndeploy.sim.verify import compare_stages
from snndeploy.train.architecture import SpikingSequential

SIZE, DT, STEPS = 8, 1000, 12


class RandomEvents(EventDataset):
    def __init__(self, count, seed=0):
        super().__init__("random", "test", (SIZE, SIZE, 2), tuple("abc"), DT, DT * STEPS)
        rng = np.random.default_rng(seed)
        self.streams, self.labels = [], rng.integers(0, 3, count)
        for _ in range(count):
            n = int(rng.integers(40, 120))
            events = np.zeros(n, EVENT_DTYPE)
            events["t"] = np.sort(rng.integers(0, DT * STEPS, n))
            events["x"], events["y"], events["p"] = rng.integers(0, SIZE, n), rng.integers(0, SIZE, n), rng.integers(0, 2, n)
            self.streams.append(events)

    def __len__(self):
        return len(self.streams)

    def events(self, index):
        return self.streams[index]

    def label(self, index):
        return int(self.labels[index])


def integer_pair(seed=0, scale=1.0):
    """A float model with integer weights / thresholds and the SimNetwork of the same integers:
    8x8x2 -> 4c3 (pad 1, bias, leak) -> 2p -> 3 dense (conv 4x4 over the pooled map)."""
    rng = np.random.default_rng(seed)
    w1 = rng.integers(-3, 9, (4, 2, 3, 3))
    b1 = rng.integers(-1, 2, 4)
    w2 = rng.integers(-2, 6, (3, 4, 4, 4))
    conv1 = torch.nn.Conv2d(2, 4, 3, padding=1)
    conv1.weight.data = torch.tensor(w1 * scale, dtype=torch.float32)
    conv1.bias.data = torch.tensor(b1, dtype=torch.float32)
    dense = torch.nn.Linear(64, 3, bias=False)
    dense.weight.data = torch.tensor(w2.reshape(3, -1), dtype=torch.float32)
    model = SpikingSequential(
        conv1, IAF(spike_threshold=10.0, min_v_mem=-20.0, backend="bptt"), SumPool2d(2),
        torch.nn.Flatten(), dense, IAF(spike_threshold=12.0, min_v_mem=-30.0, backend="bptt"),
    ).eval()
    net = SimNetwork(
        {
            0: SimCore(weights=w1, input_shape=(2, SIZE, SIZE), threshold_high=10, threshold_low=-20,
                       padding=(1, 1), bias=b1, leak_enable=True, destinations=(Destination(1, pool=2),)),
            1: SimCore(weights=w2, input_shape=(4, 4, 4), threshold_high=12, threshold_low=-30),
        },
        InputStage(size=(SIZE, SIZE, 2), destinations=(Destination(0),)),
        readout=Readout(core=1, num_classes=3), slow_clock_period_us=DT,
    )
    return model, net


def test_identical_integers_pass_and_report_every_stage():
    model, net = integer_pair()
    report = compare_stages(model, model, net, RandomEvents(6), tolerance=1.0)
    assert report.passed, report.table()
    names = [row.name for row in report.rows]
    assert names == ["float", "quantized", "timestep", "event"]
    timestep = report.rows[2]
    assert timestep.first_divergence is None and timestep.agreement == 1.0
    assert report.rows[0].spikes == report.rows[1].spikes == timestep.spikes > 0
    # the per-event chip differs from the time-stepped one here (weights up to 8 of 10, many
    # events per bin, bias): the difference is measured, not hidden
    assert 0.0 <= report.rows[3].agreement <= 1.0
    assert "timestep" in report.table() and report.to_dict()["passed"] is True


def test_one_changed_weight_fails_and_names_the_core():
    model, net = integer_pair()
    net.cores[1].weights[0, 0, 0, 0] += 5
    report = compare_stages(model, model, net, RandomEvents(6))
    assert not report.passed
    divergence = report.rows[2].first_divergence
    assert divergence is not None and divergence.layer == "core 1"
    assert "differs from the QuantizedModel" in report.failures[0]


def test_accuracy_tolerance_is_a_gate():
    model, net = integer_pair()
    report = compare_stages(model, model, net, RandomEvents(6), tolerance=-1.0)
    assert not report.passed and "tolerance" in report.failures[-1]


def test_layer_count_mismatch_is_a_clear_error():
    model, net = integer_pair()
    del net.cores[1]
    net.cores[0].destinations = ()
    net.readout = None
    from snndeploy.errors import SnnDeployError

    with pytest.raises(SnnDeployError, match="neuron layers"):
        compare_stages(model, model, net, RandomEvents(2))
