"""Property tests: all simulation paths agree on random small networks and event streams.

* per-event reference (plain Python) == per-event fast (numba): spikes in order, counts,
  SynOps, final and probed states - with leak, delays, saturation, merges and fan-out;
* time-stepped mode == a plain per-step, per-neuron loop written here from the docstring;
* per-event == time-stepped (spike counts per neuron and bin, final states) when every weight
  is positive and below threshold, reset subtracts, there is no leak and no saturation.
"""

from collections import defaultdict

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.sim import Destination, InputStage, Monitor, SimCore, SimNetwork, simulate
from snndeploy.sim.input_stage import route_input
from snndeploy.sim.neuron import integrate_step
from snndeploy.sim.reference import synapses
from snndeploy.sim.timestep import topological_order

SETTINGS = dict(max_examples=40, deadline=None, derandomize=True)


def random_network(rng, chip_like=False):
    """1-3 cores fed forward; core i takes input from 1-2 earlier cores (merge, fan-out <= 2).
    chip_like: weights in [0, θ), subtract reset, no leak, state in [0, θ), 16 bits."""
    state_bits = 16 if chip_like else int(rng.choice([5, 6, 8, 16]))
    limit = 2 ** (state_bits - 1)
    dvs = bool(rng.integers(2))
    if dvs:
        stage_args = dict(
            dvs=True, polarity=str(rng.choice(["both", "merge", "on", "off"])), pool=int(rng.choice([1, 2])),
            mirror_x=bool(rng.integers(2)), mirror_y=bool(rng.integers(2)), rotate_90=bool(rng.integers(2)),
            roi=(1, 0, 6, 4) if rng.integers(2) else None,
        )
        size = (8, 6, 2)
    else:
        stage_args = {}
        size = (int(rng.integers(2, 6)), int(rng.integers(2, 6)), int(rng.integers(1, 3)))
    probe_net = SimNetwork({}, InputStage(size=size, destinations=(), **stage_args))
    shapes = {-1: probe_net.input_stage_output_shape()}
    n_cores = int(rng.integers(1, 4))
    sources = {}
    fanout = defaultdict(int)
    specs = {}
    for index in range(n_cores):
        candidates = [s for s in range(-1, index) if fanout[s] < 2]
        chosen = [candidates[-1]] if index == 0 or rng.integers(3) else list(rng.choice(candidates, size=min(2, len(candidates)), replace=False))
        chosen = [int(s) for s in chosen] if index else [-1]
        dests, channels, height, width = [], 0, 1, 1
        for source in chosen:
            c, h, w = shapes[source]
            pool = int(rng.choice([1, 2])) if min(h, w) >= 2 else 1
            dests.append((source, Destination(index, pool=pool, channel_shift=channels)))
            channels += c
            height, width = max(height, h // pool), max(width, w // pool)
            fanout[source] += 1
        kernel = int(rng.integers(1, min(3, height, width) + 1))
        padding = int(rng.integers(0, kernel))
        stride = int(rng.integers(1, 3))
        c_out = int(rng.integers(1, 4))
        threshold = int(rng.integers(1, 12))
        if chip_like:
            weights = rng.integers(0, threshold, (c_out, channels, kernel, kernel))
            low = -int(rng.integers(0, 5))
        else:
            weights = rng.integers(-6, 2 * threshold + 3, (c_out, channels, kernel, kernel))
            low = -int(rng.integers(0, min(limit, 30)))
        specs[index] = dict(
            weights=weights, input_shape=(channels, height, width), threshold_high=threshold,
            threshold_low=low, stride=(stride, stride), padding=(padding, padding),
            bias=rng.integers(-3, 4, c_out), leak_enable=(not chip_like) and bool(rng.integers(2)),
            reset_to_zero=(not chip_like) and bool(rng.integers(2)),
        )
        out_h = (height + 2 * padding - kernel) // stride + 1
        out_w = (width + 2 * padding - kernel) // stride + 1
        shapes[index] = (c_out, out_h, out_w)
        lo = 0 if chip_like else low
        specs[index]["initial_state"] = rng.integers(lo, threshold, (c_out, out_h, out_w))
        sources[index] = dests
    core_dests = defaultdict(list)
    input_dests = []
    for index, dests in sources.items():
        for source, dest in dests:
            (input_dests if source == -1 else core_dests[source]).append(dest)
    cores = {i: SimCore(destinations=tuple(core_dests[i]), **spec) for i, spec in specs.items()}
    return SimNetwork(
        cores, InputStage(size=size, destinations=tuple(input_dests), **stage_args),
        slow_clock_period_us=int(rng.integers(3, 11)), state_bits=state_bits, monitored_cores=tuple(cores),
    )


def random_events(rng, size, n_max=60, t_max=40):
    n = int(rng.integers(0, n_max + 1))
    events = np.zeros(n, EVENT_DTYPE)
    events["t"] = np.sort(rng.integers(0, t_max, n))
    events["x"] = rng.integers(0, size[0], n)
    events["y"] = rng.integers(0, size[1], n)
    events["p"] = rng.integers(0, size[2], n)
    return events


def random_monitor(rng, net, duration):
    neurons = []
    for index, core in net.cores.items():
        c, h, w = core.output_shape
        neurons.append((index, int(rng.integers(c)), int(rng.integers(h)), int(rng.integers(w))))
    times = tuple(sorted(set(int(t) for t in rng.integers(0, duration, 4))))
    return Monitor(neurons=tuple(neurons), times=times)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1), delay=st.sampled_from([0, 0, 3]))
def test_reference_equals_fast(seed, delay):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    events = random_events(rng, net.input.size)
    duration = 45
    monitor = random_monitor(rng, net, duration)
    ref = simulate(net, events, "event-reference", monitor, duration_us=duration, hop_delay_us=delay)
    fast = simulate(net, events, "event", monitor, duration_us=duration, hop_delay_us=delay)
    assert np.array_equal(ref.spikes, fast.spikes)
    assert ref.synops == fast.synops
    for index in net.cores:
        assert np.array_equal(ref.counts[index], fast.counts[index])
        assert np.array_equal(ref.final_state[index], fast.final_state[index])
    assert np.array_equal(ref.probed, fast.probed)


def plain_timestep(net, events, duration, dt):
    """Per step: route the step's events, then core by core (topological order) sum the
    weights of every input event with `synapses`, add the bias if leaky, `integrate_step`."""
    lo, hi = -(2 ** (net.state_bits - 1)), 2 ** (net.state_bits - 1) - 1
    inputs = route_input(net, events, duration)
    state = {i: core.initial_state.astype(np.int64).copy() for i, core in net.cores.items()}
    counts = {i: np.zeros(core.output_shape, np.int64) for i, core in net.cores.items()}
    order = topological_order(net)
    for step in range((duration + dt - 1) // dt):
        arriving = defaultdict(list)
        for k in np.flatnonzero(inputs.t // dt == step):
            arriving[int(inputs.core[k])].append((int(inputs.c[k]), int(inputs.y[k]), int(inputs.x[k])))
        for index in order:
            core = net.cores[index]
            drive = np.zeros(core.output_shape, np.int64)
            for c, y, x in arriving[index]:
                for f, oy, ox, w in synapses(core, c, y, x):
                    drive[f, oy, ox] += w
            if core.leak_enable:
                drive += core.bias[:, None, None]
            for f, oy, ox in np.ndindex(*core.output_shape):
                state[index][f, oy, ox], n = integrate_step(
                    int(state[index][f, oy, ox]), int(drive[f, oy, ox]), core.threshold_high,
                    core.threshold_low, core.reset_to_zero, lo, hi,
                )
                counts[index][f, oy, ox] += n
                for dest in core.destinations:
                    c_in, h_in, w_in = net.cores[dest.core].input_shape
                    target = (f + dest.channel_shift, oy // dest.pool, ox // dest.pool)
                    if target[0] < c_in and target[1] < h_in and target[2] < w_in:
                        arriving[dest.core].extend([target] * n)
    return state, counts


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_timestep_equals_plain_step_loop(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng)
    events = random_events(rng, net.input.size)
    duration, dt = 40, int(rng.integers(1, 9))
    result = simulate(net, events, "timestep", duration_us=duration, dt_us=dt)
    state, counts = plain_timestep(net, events, duration, dt)
    for index in net.cores:
        assert np.array_equal(result.final_state[index], state[index])
        assert np.array_equal(result.counts[index], counts[index].sum((1, 2)))
    per_neuron = defaultdict(int)
    for spike in result.spikes:
        per_neuron[(int(spike["core"]), int(spike["p"]), int(spike["y"]), int(spike["x"]))] += 1
    for index in net.cores:
        for address in np.ndindex(*net.cores[index].output_shape):
            assert per_neuron[(index, *address)] == counts[index][address]


def spikes_per_bin(result, dt):
    table = defaultdict(int)
    for spike in result.spikes:
        table[(int(spike["t"]) // dt, int(spike["core"]), int(spike["p"]), int(spike["y"]), int(spike["x"]))] += 1
    return dict(table)


@settings(**SETTINGS)
@given(seed=st.integers(0, 2**32 - 1))
def test_event_equals_timestep_for_positive_subthreshold_weights(seed):
    rng = np.random.default_rng(seed)
    net = random_network(rng, chip_like=True)
    events = random_events(rng, net.input.size)
    duration, dt = 40, int(rng.integers(1, 9))
    per_event = simulate(net, events, "event", duration_us=duration, dt_us=dt)
    stepped = simulate(net, events, "timestep", duration_us=duration, dt_us=dt)
    assert spikes_per_bin(per_event, dt) == spikes_per_bin(stepped, dt)
    for index in net.cores:
        assert np.array_equal(per_event.final_state[index], stepped.final_state[index])
    assert per_event.synops == stepped.synops


def test_event_and_timestep_differ_when_weights_exceed_threshold():
    """The documented difference exists: not a property that holds by construction."""
    rng = np.random.default_rng(7)
    differing = 0
    for _ in range(20):
        net = random_network(rng)
        events = random_events(rng, net.input.size)
        a = simulate(net, events, "event", duration_us=40, dt_us=5)
        b = simulate(net, events, "timestep", duration_us=40, dt_us=5)
        differing += any(not np.array_equal(a.counts[i], b.counts[i]) for i in net.cores)
    assert differing > 0
