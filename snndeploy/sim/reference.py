"""The plain-Python per-event simulator: slow, short, and meant to be read.

It implements the processing order of `snndeploy.sim` (see the package docstring) with a
deque per timestamp and `integrate_event` per synaptic addition. The fast simulator
(`snndeploy.sim.fast`) must agree with it exactly; property tests check that.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from snndeploy.sim.input_stage import CoreEvents
from snndeploy.sim.network import SimCore, SimNetwork
from snndeploy.sim.neuron import integrate_event
from snndeploy.sim.raw import Probe, RawRun


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


def synapses(core: SimCore, c: int, y: int, x: int):
    """(f, oy, ox, weight) for every output neuron whose window covers input pixel (c, y, x),
    in order f, then oy, then ox."""
    c_out, _, ky, kx = core.weights.shape
    _, h_out, w_out = core.output_shape
    (sy, sx), (py, px) = core.stride, core.padding
    rows = range(max(0, _ceil_div(y + py - ky + 1, sy)), min(h_out - 1, (y + py) // sy) + 1)
    cols = range(max(0, _ceil_div(x + px - kx + 1, sx)), min(w_out - 1, (x + px) // sx) + 1)
    for f in range(c_out):
        for oy in rows:
            for ox in cols:
                yield f, oy, ox, int(core.weights[f, c, y + py - oy * sy, x + px - ox * sx])


def simulate_reference(
    net: SimNetwork, inputs: CoreEvents, duration_us: int, hop_delay_us: int, probe: Probe
) -> RawRun:
    """Run the network on routed input events; see `RawRun` for what comes back."""
    lo, hi = -(2 ** (net.state_bits - 1)), 2 ** (net.state_bits - 1) - 1
    state = {i: core.initial_state.copy() for i, core in net.cores.items()}
    counts = {i: np.zeros(core.output_shape[0], np.int64) for i, core in net.cores.items()}
    synops = {i: 0 for i in net.cores}
    recorded: list[tuple[int, int, int, int, int]] = []
    probe_values: list[list[int]] = []
    leaky = [i for i, core in net.cores.items() if core.leak_enable]
    pending = deque(zip(*(a.tolist() for a in (inputs.t, inputs.core, inputs.c, inputs.y, inputs.x))))
    delayed: deque = deque()  # (t, core, c, y, x), sent with a delay; t never decreases
    next_tick = 0 if leaky else None

    def emit(t: int, index: int, c: int, y: int, x: int, fifo: deque) -> None:
        counts[index][c] += 1
        if index in probe.record_cores:
            recorded.append((t, index, c, y, x))
        for dest in net.cores[index].destinations:
            c_in, h_in, w_in = net.cores[dest.core].input_shape
            event = (dest.core, c + dest.channel_shift, y // dest.pool, x // dest.pool)
            if event[1] < c_in and event[2] < h_in and event[3] < w_in:
                if hop_delay_us == 0:
                    fifo.append(event)
                elif t + hop_delay_us < duration_us:
                    delayed.append((t + hop_delay_us, *event))

    def sample_until(t: int) -> None:
        """Record probed states for every probe time before t (all work up to it is done)."""
        while len(probe_values) < len(probe.times) and probe.times[len(probe_values)] < t:
            probe_values.append([int(state[i][c, y, x]) for i, c, y, x in probe.neurons])

    while True:
        heads = [queue[0][0] for queue in (pending, delayed) if queue]
        if next_tick is not None and next_tick < duration_us:
            heads.append(next_tick)
        if not heads:
            break
        now = min(heads)
        sample_until(now)
        fifo: deque = deque()
        if now == next_tick:
            for index in leaky:
                core, v = net.cores[index], state[index]
                for f, oy, ox in np.ndindex(*core.output_shape):
                    v[f, oy, ox], spiked = integrate_event(
                        int(v[f, oy, ox]), int(core.bias[f]), core.threshold_high,
                        core.threshold_low, core.reset_to_zero, lo, hi,
                    )
                    if spiked:
                        emit(now, index, f, oy, ox, fifo)
            next_tick += net.slow_clock_period_us
        while delayed and delayed[0][0] == now:
            fifo.append(delayed.popleft()[1:])
        while pending and pending[0][0] == now:
            fifo.append(pending.popleft()[1:])
        while fifo:
            index, c, y, x = fifo.popleft()
            core, v = net.cores[index], state[index]
            for f, oy, ox, w in synapses(core, c, y, x):
                synops[index] += 1
                v[f, oy, ox], spiked = integrate_event(
                    int(v[f, oy, ox]), w, core.threshold_high, core.threshold_low,
                    core.reset_to_zero, lo, hi,
                )
                if spiked:
                    emit(now, index, f, oy, ox, fifo)
    sample_until(duration_us)
    return RawRun.from_parts(recorded, counts, synops, state, probe_values, probe)
