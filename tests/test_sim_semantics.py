"""Hand-computed cases of the per-event and time-stepped rules (snndeploy.sim docstring).

Every case runs through both per-event paths (reference and fast) and must give the numbers
worked out in the comments.
"""

import numpy as np
import pytest

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.errors import SnnDeployError
from snndeploy.sim import Destination, InputStage, Monitor, Readout, SimCore, SimNetwork, simulate
from snndeploy.sim.neuron import integrate_event, integrate_step

EVENT_MODES = ("event", "event-reference")


def events(rows):
    """rows of (t, x, y, p)."""
    out = np.zeros(len(rows), EVENT_DTYPE)
    for i, (t, x, y, p) in enumerate(rows):
        out[i] = (t, x, y, p)
    return out


def single_neuron(weight, threshold_high=10, threshold_low=-100, **core_args):
    core = SimCore(
        weights=np.full((1, 1, 1, 1), weight), input_shape=(1, 1, 1),
        threshold_high=threshold_high, threshold_low=threshold_low, **core_args,
    )
    return SimNetwork({0: core}, InputStage(size=(1, 1, 1), destinations=(Destination(0),)), monitored_cores=(0,))


def run_all(net, stream, **kwargs):
    results = [simulate(net, stream, mode, **kwargs) for mode in EVENT_MODES]
    first = results[0]
    for other in results[1:]:
        assert np.array_equal(first.spikes, other.spikes)
        assert all(np.array_equal(first.final_state[i], other.final_state[i]) for i in first.final_state)
        assert np.array_equal(first.probed, other.probed)
    return first


def state_trace(net, stream, core=0, neuron=(0, 0, 0)):
    times = tuple(int(t) for t in stream["t"])
    result = run_all(net, stream, monitor=Monitor(neurons=((core, *neuron),), times=times))
    return result.probed[:, 0].tolist(), result


def test_rule_functions_directly():
    lo, hi = -32768, 32767
    assert integrate_event(7, 3, 10, -5, False, lo, hi) == (0, 1)  # exactly threshold: fires
    assert integrate_event(7, 2, 10, -5, False, lo, hi) == (9, 0)
    assert integrate_event(0, 25, 10, -5, False, lo, hi) == (15, 1)  # one spike only
    assert integrate_event(0, 25, 10, -5, True, lo, hi) == (0, 1)
    assert integrate_event(-3, -4, 10, -5, False, lo, hi) == (-5, 0)  # floor
    assert integrate_event(32760, 100, 10**4, -5, False, lo, hi) == (32767 - 10**4, 1)
    assert integrate_step(0, 25, 10, -5, False, lo, hi) == (5, 2)  # multi-spike
    assert integrate_step(0, 25, 10, -5, True, lo, hi) == (0, 2)
    assert integrate_step(0, -20, 10, -5, False, lo, hi) == (-5, 0)


def test_single_neuron_reaches_threshold_exactly():
    net = single_neuron(5)
    trace, result = state_trace(net, events([(0, 0, 0, 0), (10, 0, 0, 0), (20, 0, 0, 0)]))
    # 5, 10 -> spike and subtract -> 0, 5
    assert trace == [5, 0, 5]
    assert result.spikes["t"].tolist() == [10]


def test_weight_above_twice_threshold_fires_once_per_event_and_stays_above():
    net = single_neuron(25)
    trace, result = state_trace(net, events([(0, 0, 0, 0), (1, 0, 0, 0), (2, 0, 0, 0)]))
    # 25 -> spike, 15; 40 -> spike, 30; 55 -> spike, 45: the state climbs, one spike each.
    assert trace == [15, 30, 45]
    assert result.spikes["t"].tolist() == [0, 1, 2]
    stepped = simulate(net, events([(0, 0, 0, 0), (1, 0, 0, 0), (2, 0, 0, 0)]), "timestep", dt_us=3)
    # One bin with 75: floor(75 / 10) = 7 spikes, 5 left.
    assert stepped.counts[0].tolist() == [7]
    assert stepped.final_state[0].ravel().tolist() == [5]


def test_zero_weight_event_fires_a_neuron_left_above_threshold():
    core = SimCore(weights=np.array([[[[25]], [[0]]]]), input_shape=(2, 1, 1), threshold_high=10, threshold_low=-100)
    net = SimNetwork({0: core}, InputStage(size=(1, 1, 2), destinations=(Destination(0),)), monitored_cores=(0,))
    trace, result = state_trace(net, events([(0, 0, 0, 0), (1, 0, 0, 1), (2, 0, 0, 1)]))
    assert trace == [15, 5, 5]
    assert result.spikes["t"].tolist() == [0, 1]
    assert result.synops[0] == 3


def test_subtract_versus_zero_reset():
    stream = events([(0, 0, 0, 0), (1, 0, 0, 0), (2, 0, 0, 0)])
    assert state_trace(single_neuron(7), stream)[0] == [7, 4, 1]  # 14 -> 4, 11 -> 1
    assert state_trace(single_neuron(7, reset_to_zero=True), stream)[0] == [7, 0, 7]


def test_threshold_low_floor():
    trace, _ = state_trace(single_neuron(-30, threshold_low=-50), events([(t, 0, 0, 0) for t in range(3)]))
    assert trace == [-30, -50, -50]


def test_sixteen_bit_saturation():
    net = single_neuron(127, threshold_high=32767, initial_state=np.full((1, 1, 1), 32700))
    trace, result = state_trace(net, events([(0, 0, 0, 0), (1, 0, 0, 0)]))
    # 32700 + 127 saturates at 32767 = threshold -> spike, 0; then 127.
    assert trace == [0, 127]
    net = single_neuron(-128, threshold_low=-32768, initial_state=np.full((1, 1, 1), -32700))
    assert state_trace(net, events([(0, 0, 0, 0)]))[0] == [-32768]


def test_initial_state_is_used():
    net = single_neuron(3, initial_state=np.full((1, 1, 1), 8))
    trace, result = state_trace(net, events([(0, 0, 0, 0)]))
    assert trace == [1] and len(result.spikes) == 1


def conv_net(weights, input_hw, stride=(1, 1), padding=(0, 0), threshold_high=1000):
    weights = np.asarray(weights)
    core = SimCore(
        weights=weights, input_shape=(weights.shape[1], *input_hw), threshold_high=threshold_high,
        threshold_low=-1000, stride=stride, padding=padding,
    )
    return SimNetwork(
        {0: core}, InputStage(size=(input_hw[1], input_hw[0], weights.shape[1]), destinations=(Destination(0),)),
        monitored_cores=(0,),
    )


def final_state(net, stream):
    return run_all(net, stream).final_state[0]


def test_kernel_orientation_is_cross_correlation():
    # 3x3 kernel with distinct entries, no padding, 3x3 input -> one output neuron: input pixel
    # (y, x) adds kernel[y, x].
    kernel = np.arange(1, 10).reshape(1, 1, 3, 3)
    net = conv_net(kernel, (3, 3))
    assert final_state(net, events([(0, 2, 0, 0)])).ravel().tolist() == [3]  # x=2, y=0 -> k[0, 2]
    assert final_state(net, events([(0, 0, 2, 0)])).ravel().tolist() == [7]  # x=0, y=2 -> k[2, 0]


def test_padding_and_stride_addresses_at_the_borders():
    kernel = np.arange(1, 10).reshape(1, 1, 3, 3)
    # 4x4 input, padding 1, stride 2 -> 2x2 output; neuron (oy, ox) covers input rows
    # 2*oy - 1 .. 2*oy + 1.
    net = conv_net(kernel, (4, 4), stride=(2, 2), padding=(1, 1))
    state = final_state(net, events([(0, 0, 0, 0)]))
    # pixel (0, 0) is in the windows of neuron (0, 0) only, at kernel index (1, 1) -> 5.
    assert state[0].tolist() == [[5, 0], [0, 0]]
    state = final_state(net, events([(0, 3, 3, 0)]))
    # pixel (3, 3): neuron (1, 1) at kernel (3 + 1 - 2, 3 + 1 - 2) = (2, 2) -> 9; neuron (0, *)
    # covers rows -1..1 only.
    assert state[0].tolist() == [[0, 0], [0, 9]]
    state = final_state(net, events([(0, 2, 1, 0)]))
    # pixel (y=1, x=2): rows: oy=0 (ky=2), oy=1 (ky=0); cols: ox=0 (kx=3: out), ox=1 (kx=1).
    assert state[0].tolist() == [[0, 8], [0, 2]]
    assert run_all(net, events([(0, 2, 1, 0)])).synops[0] == 2


def test_pooling_merges_addresses_and_two_destinations():
    # core 0: 1x1 identity on a 4x4 map, threshold 1 -> relays every event as a spike.
    relay = SimCore(
        weights=np.ones((1, 1, 1, 1)), input_shape=(1, 4, 4), threshold_high=1, threshold_low=0,
        destinations=(Destination(1, pool=2), Destination(2, pool=4, channel_shift=1)),
    )
    pooled2 = SimCore(weights=np.ones((1, 1, 1, 1)), input_shape=(1, 2, 2), threshold_high=100, threshold_low=0)
    pooled4 = SimCore(weights=np.array([[[[0]], [[1]]]]), input_shape=(2, 1, 1), threshold_high=100, threshold_low=0)
    net = SimNetwork(
        {0: relay, 1: pooled2, 2: pooled4},
        InputStage(size=(4, 4, 1), destinations=(Destination(0),)), monitored_cores=(0, 1, 2),
    )
    stream = events([(0, 0, 0, 0), (0, 1, 1, 0), (1, 3, 0, 0), (2, 2, 3, 0)])
    result = run_all(net, stream)
    # pool 2: (0,0),(1,1) -> (0,0); (x=3,y=0) -> (0,1); (x=2,y=3) -> (1,1)
    assert result.final_state[1][0].tolist() == [[2, 1], [0, 1]]
    # pool 4 with channel shift 1: all four events -> channel 1, (0, 0).
    assert result.final_state[2].ravel().tolist() == [4]
    assert result.synops == {0: 4, 1: 4, 2: 4}


def test_merge_of_two_cores_into_one():
    relay_a = SimCore(weights=np.ones((1, 1, 1, 1)), input_shape=(1, 1, 1), threshold_high=1, threshold_low=0,
                      destinations=(Destination(2),))
    relay_b = SimCore(weights=np.full((1, 1, 1, 1), 2), input_shape=(1, 1, 1), threshold_high=2, threshold_low=0,
                      destinations=(Destination(2, channel_shift=1),))
    target = SimCore(weights=np.array([[[[3]], [[5]]]]), input_shape=(2, 1, 1), threshold_high=100, threshold_low=0)
    net = SimNetwork(
        {0: relay_a, 1: relay_b, 2: target},
        InputStage(size=(1, 1, 1), destinations=(Destination(0), Destination(1))), monitored_cores=(2,),
    )
    result = run_all(net, events([(0, 0, 0, 0), (5, 0, 0, 0)]))
    assert result.final_state[2].ravel().tolist() == [2 * (3 + 5)]


def test_leak_example_of_speck_falls_by_13_per_tick():
    # speck.md: weight 127, bias -13, threshold 127, floor -127: the state falls by 13 per tick.
    net = single_neuron(
        127, threshold_high=127, threshold_low=-127, bias=np.array([-13]), leak_enable=True,
        initial_state=np.full((1, 1, 1), 100),
    )
    net.slow_clock_period_us = 1000
    result = run_all(net, events([]), duration_us=5000, monitor=Monitor(neurons=((0, 0, 0, 0),), times=(0, 1000, 2000, 3000, 4999)))
    assert result.probed[:, 0].tolist() == [87, 74, 61, 48, 35]
    floor = run_all(net, events([]), duration_us=20000).final_state[0].ravel().tolist()
    assert floor == [-127]


def test_leak_tick_comes_before_input_events_of_the_same_time():
    net = single_neuron(5, threshold_high=10, bias=np.array([6]), leak_enable=True)
    net.slow_clock_period_us = 100
    # t=0: tick (+6 -> 6), then event (+5 -> 11 -> spike, 1).
    trace, result = state_trace(net, events([(0, 0, 0, 0)]))
    assert trace == [1]
    assert result.spikes["t"].tolist() == [0]


def test_ties_keep_file_order_and_fifo_order():
    # Two input events at the same time to a relay chain: relay spikes are processed after
    # both input events at that time (FIFO), so core 1 sees them after core 0 saw both.
    relay = SimCore(weights=np.array([[[[1]], [[-1]]]]), input_shape=(2, 1, 1), threshold_high=1,
                    threshold_low=-10, destinations=(Destination(1),))
    sink = SimCore(weights=np.ones((1, 1, 1, 1)), input_shape=(1, 1, 1), threshold_high=100, threshold_low=0)
    net = SimNetwork({0: relay, 1: sink}, InputStage(size=(1, 1, 2), destinations=(Destination(0),)), monitored_cores=(0,))
    # +1 (spike, 0) then -1 -> -1: one spike.
    assert run_all(net, events([(0, 0, 0, 0), (0, 0, 0, 1)])).counts[0].tolist() == [1]
    # -1 then +1 -> 0: no spike. File order decides.
    assert run_all(net, events([(0, 0, 0, 1), (0, 0, 0, 0)])).counts[0].tolist() == [0]


def test_hop_delay_shifts_downstream_spikes():
    relay = SimCore(weights=np.ones((1, 1, 1, 1)), input_shape=(1, 1, 1), threshold_high=1, threshold_low=0,
                    destinations=(Destination(1),))
    sink = SimCore(weights=np.ones((1, 1, 1, 1)), input_shape=(1, 1, 1), threshold_high=1, threshold_low=0)
    net = SimNetwork({0: relay, 1: sink}, InputStage(size=(1, 1, 1), destinations=(Destination(0),)), monitored_cores=(0, 1))
    result = run_all(net, events([(0, 0, 0, 0), (10, 0, 0, 0)]), hop_delay_us=3, duration_us=12)
    assert [(int(s["t"]), int(s["core"])) for s in result.spikes] == [(0, 0), (3, 1), (10, 0)]  # 13 >= duration


def dvs_net(**stage):
    width, height = 8, 6
    core = SimCore(weights=np.ones((1, 2, 1, 1)), input_shape=(2, 8, 8), threshold_high=100, threshold_low=0)
    return SimNetwork({0: core}, InputStage(size=(width, height, 2), destinations=(Destination(0),), dvs=True, **stage))


@pytest.mark.parametrize(
    "stage, event, address",
    [
        ({}, (0, 5, 2, 1), (1, 2, 5)),
        ({"polarity": "merge"}, (0, 5, 2, 1), (0, 2, 5)),
        ({"polarity": "on"}, (0, 5, 2, 0), None),
        ({"polarity": "off"}, (0, 5, 2, 0), (0, 2, 5)),
        ({"roi": (2, 1, 6, 4)}, (0, 5, 2, 1), (1, 1, 3)),
        ({"roi": (2, 1, 6, 4)}, (0, 7, 2, 1), None),
        ({"pool": 2}, (0, 5, 3, 0), (0, 1, 2)),
        ({"mirror_x": True}, (0, 5, 2, 0), (0, 2, 2)),
        ({"mirror_y": True}, (0, 5, 2, 0), (0, 3, 5)),
        # rotate: (x, y) -> (y, W - 1 - x) with W = 8
        ({"rotate_90": True}, (0, 5, 2, 0), (0, 2, 2)),
    ],
)
def test_dvs_preprocessing(stage, event, address):
    state = final_state(dvs_net(**stage), events([event]))
    expected = np.zeros_like(state)
    if address is not None:
        expected[0, address[1], address[2]] = 1  # every input channel has weight 1 to channel 0
    assert np.array_equal(state, expected)


def test_readout_erratum_mapping_and_prediction():
    core = SimCore(weights=np.eye(9).reshape(9, 9, 1, 1), input_shape=(9, 1, 1), threshold_high=1, threshold_low=0)
    readout = Readout(core=0, num_classes=3, channel_of_class=(0, 4, 8))
    net = SimNetwork({0: core}, InputStage(size=(1, 1, 9), destinations=(Destination(0),)), readout=readout)
    result = simulate(net, events([(0, 0, 0, 4), (1, 0, 0, 4), (2, 0, 0, 1), (3, 0, 0, 8)]))
    assert result.class_counts.tolist() == [0, 2, 1]
    assert result.prediction == 1
    assert simulate(net, events([(0, 0, 0, 1)])).prediction == -1


def test_bandwidth_flag():
    net = single_neuron(1)
    stream = events([(t, 0, 0, 0) for t in range(10)])  # 10 SynOps in 10 µs = 1e6 SynOps/s
    assert simulate(net, stream, synops_per_s_limit=2e6).over_bandwidth == ()
    assert simulate(net, stream, synops_per_s_limit=5e5).over_bandwidth == (0,)


def test_timestep_hand_case_with_bias_and_two_bins():
    net = single_neuron(4, threshold_high=10, bias=np.array([1]), leak_enable=True)
    net.slow_clock_period_us = 10
    result = simulate(net, events([(0, 0, 0, 0), (3, 0, 0, 0), (5, 0, 0, 0), (12, 0, 0, 0)]), "timestep",
                      duration_us=20, monitor=Monitor(cores=(0,), neurons=((0, 0, 0, 0),), times=(0, 15)))
    # step 0: 12 + 1 = 13 -> 1 spike, 3; step 1: 3 + 4 + 1 = 8.
    assert result.probed[:, 0].tolist() == [3, 8]
    assert result.spikes["t"].tolist() == [0]


def test_bad_monitor_and_mode_raise():
    net = single_neuron(1)
    with pytest.raises(SnnDeployError, match="mode"):
        simulate(net, events([(0, 0, 0, 0)]), "dense")
    with pytest.raises(SnnDeployError, match="core 3"):
        simulate(net, events([(0, 0, 0, 0)]), monitor=Monitor(cores=(3,)))
    with pytest.raises(SnnDeployError, match="outside"):
        simulate(net, events([(0, 0, 0, 0)]), monitor=Monitor(neurons=((0, 1, 0, 0),), times=(0,)))


def test_timestep_convolution_stays_exact_when_sums_can_exceed_float32():
    # Σ|w| = 64·16·16·127 and 9 events per pixel bound the partial sums above 2^24, so the
    # float64 path runs; per-event and time-stepped must agree (positive weights < threshold).
    weights = np.full((1, 64, 16, 16), 127)
    core = SimCore(weights=weights, input_shape=(64, 16, 16), threshold_high=200, threshold_low=0)
    net = SimNetwork({0: core}, InputStage(size=(16, 16, 64), destinations=(Destination(0),)), slow_clock_period_us=100)
    stream = events([(t, 3, 5, 7) for t in range(9)])
    stepped = simulate(net, stream, "timestep")
    chip = simulate(net, stream, "event")
    assert stepped.counts[0].tolist() == chip.counts[0].tolist() == [9 * 127 // 200]
    assert stepped.final_state[0].ravel().tolist() == chip.final_state[0].ravel().tolist() == [9 * 127 % 200]
