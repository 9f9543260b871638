"""The compiled per-event simulator: the reference's algorithm over flat arrays, in numba.

Same processing order as `snndeploy.sim.reference` (one FIFO per timestamp; see the package
docstring) and the same `integrate_event` rule, compiled. Cores are numbered by slot
(0..n-1 in chip-index order); all per-core data live in flat arrays indexed through offsets.
Queues are int64 arrays of rows (t, slot, c, y, x) that double in size when full.
"""

from __future__ import annotations

import numba
import numpy as np

from snndeploy.sim.input_stage import CoreEvents
from snndeploy.sim.network import SimNetwork
from snndeploy.sim.neuron import integrate_event_jit
from snndeploy.sim.raw import Probe, RawRun, SPIKE_DTYPE

# Columns of the per-core geometry table.
C_IN, H_IN, W_IN, C_OUT, H_OUT, W_OUT, KY, KX, SY, SX, PY, PX = range(12)
# COUNT_OFF indexes both the per-channel spike counts and the biases (both c_out long per core).
THR_HIGH, THR_LOW, RESET_ZERO, LEAK, W_OFF, S_OFF, COUNT_OFF, RECORD = range(12, 20)
NUM_COLUMNS = 20


@numba.njit(cache=True)
def _grow(rows: np.ndarray) -> np.ndarray:
    bigger = np.empty((2 * rows.shape[0], rows.shape[1]), rows.dtype)
    bigger[: rows.shape[0]] = rows
    return bigger


@numba.njit(cache=True)
def _ceil_div(a, b):
    return -((-a) // b)


@numba.njit(cache=True)
def _run(
    table, weights, bias, state, dest_start, dest_rows, inputs, duration, delay, tick_period,
    lo, hi, probe_index, probe_times, counts, synops,
):
    """Returns (recorded spike rows, number recorded, probe samples)."""
    n_cores = table.shape[0]
    any_leak = False
    for s in range(n_cores):
        if table[s, LEAK]:
            any_leak = True
    fifo = np.empty((1024, 4), np.int64)
    delayed = np.empty((1024, 5), np.int64)
    delayed_head = 0
    delayed_tail = 0
    recorded = np.empty((1024, 5), np.int64)
    n_recorded = 0
    max_positions = 1
    for s in range(n_cores):
        max_positions = max(max_positions, table[s, H_OUT] * table[s, W_OUT])
    position = np.empty(max_positions, np.int64)
    kernel_offset = np.zeros(max_positions, np.int64)
    probed = np.zeros((probe_times.shape[0], probe_index.shape[0]), np.int64)
    n_probed = 0
    next_input = 0
    next_tick = 0 if any_leak else -1
    while True:
        now = -1
        if next_input < inputs.shape[0]:
            now = inputs[next_input, 0]
        if delayed_head < delayed_tail and (now < 0 or delayed[delayed_head, 0] < now):
            now = delayed[delayed_head, 0]
        if next_tick >= 0 and next_tick < duration and (now < 0 or next_tick < now):
            now = next_tick
        if now < 0:
            break
        while n_probed < probe_times.shape[0] and probe_times[n_probed] < now:
            for k in range(probe_index.shape[0]):
                probed[n_probed, k] = state[probe_index[k]]
            n_probed += 1
        head = 0
        tail = 0
        c = y = x = 0
        # Leak tick (phase 0), then the FIFO of this timestamp (phase 1).
        for phase in range(2):
            if phase == 0:
                if now != next_tick:
                    continue
                next_tick += tick_period
            else:
                while delayed_head < delayed_tail and delayed[delayed_head, 0] == now:
                    if tail == fifo.shape[0]:
                        fifo = _grow(fifo)
                    fifo[tail, :] = delayed[delayed_head, 1:]
                    tail += 1
                    delayed_head += 1
                while next_input < inputs.shape[0] and inputs[next_input, 0] == now:
                    if tail == fifo.shape[0]:
                        fifo = _grow(fifo)
                    fifo[tail, :] = inputs[next_input, 1:]
                    tail += 1
                    next_input += 1
            slot = 0
            while True:
                # Pick the next unit of work: in phase 0 each leaky core, in phase 1 each event.
                if phase == 0:
                    while slot < n_cores and not table[slot, LEAK]:
                        slot += 1
                    if slot == n_cores:
                        break
                    s = slot
                    slot += 1
                else:
                    if head == tail:
                        break
                    s = fifo[head, 0]
                    c = fifo[head, 1]
                    y = fifo[head, 2]
                    x = fifo[head, 3]
                    head += 1
                # Per-core constants in locals: the compiler cannot prove that writes to
                # `state` leave `table` unchanged, so it would reload them in the inner loop.
                c_out = table[s, C_OUT]
                h_out = table[s, H_OUT]
                w_out = table[s, W_OUT]
                ky = table[s, KY]
                kx = table[s, KX]
                threshold_high = table[s, THR_HIGH]
                threshold_low = table[s, THR_LOW]
                reset_to_zero = table[s, RESET_ZERO] != 0
                s_off = table[s, S_OFF]
                count_off = table[s, COUNT_OFF]
                if phase == 0:
                    row0, row1, col0, col1 = 0, h_out, 0, w_out
                    # Leak: the "kernel" is the bias, one value per channel.
                    y_base = 0
                    x_base = 0
                    sy = 0
                    sx = 0
                else:
                    sy = table[s, SY]
                    sx = table[s, SX]
                    y_base = y + table[s, PY]
                    x_base = x + table[s, PX]
                    row0 = max(0, _ceil_div(y_base - ky + 1, sy))
                    row1 = min(h_out - 1, y_base // sy) + 1
                    col0 = max(0, _ceil_div(x_base - kx + 1, sx))
                    col1 = min(w_out - 1, x_base // sx) + 1
                    if row1 > row0 and col1 > col0:
                        synops[s] += c_out * (row1 - row0) * (col1 - col0)
                # The covered neurons of one channel, in order (oy, ox): offset in the channel's
                # neuron map and in the kernel; the same list serves every output channel f.
                n_positions = 0
                for oy in range(row0, row1):
                    for ox in range(col0, col1):
                        position[n_positions] = oy * w_out + ox
                        kernel_offset[n_positions] = (y_base - oy * sy) * kx + x_base - ox * sx
                        n_positions += 1
                for f in range(c_out):
                    kernel_base = table[s, W_OFF] + (f * table[s, C_IN] + c) * ky * kx
                    neuron_base = s_off + f * h_out * w_out
                    for i in range(n_positions):
                        if phase == 0:
                            w = bias[count_off + f]
                        else:
                            w = weights[kernel_base + kernel_offset[i]]
                        n = neuron_base + position[i]
                        v, spiked = integrate_event_jit(
                            state[n], w, threshold_high, threshold_low, reset_to_zero, lo, hi
                        )
                        state[n] = v
                        if spiked == 0:
                            continue
                        counts[count_off + f] += 1
                        if table[s, RECORD]:
                            if n_recorded == recorded.shape[0]:
                                recorded = _grow(recorded)
                            recorded[n_recorded, 0] = now
                            recorded[n_recorded, 1] = s
                            recorded[n_recorded, 2] = f
                            recorded[n_recorded, 3] = position[i] // w_out
                            recorded[n_recorded, 4] = position[i] % w_out
                            n_recorded += 1
                        for d in range(dest_start[s], dest_start[s + 1]):
                            target = dest_rows[d, 0]
                            pool = dest_rows[d, 1]
                            dc = f + dest_rows[d, 2]
                            dy = (position[i] // w_out) // pool
                            dx = (position[i] % w_out) // pool
                            if dc >= table[target, C_IN] or dy >= table[target, H_IN] or dx >= table[target, W_IN]:
                                continue
                            if delay == 0:
                                if tail == fifo.shape[0]:
                                    fifo = _grow(fifo)
                                fifo[tail, 0] = target
                                fifo[tail, 1] = dc
                                fifo[tail, 2] = dy
                                fifo[tail, 3] = dx
                                tail += 1
                            elif now + delay < duration:
                                if delayed_tail == delayed.shape[0]:
                                    if delayed_head > delayed.shape[0] // 2:
                                        live = delayed_tail - delayed_head
                                        delayed[:live] = delayed[delayed_head:delayed_tail].copy()
                                        delayed_head = 0
                                        delayed_tail = live
                                    else:
                                        delayed = _grow(delayed)
                                delayed[delayed_tail, 0] = now + delay
                                delayed[delayed_tail, 1] = target
                                delayed[delayed_tail, 2] = dc
                                delayed[delayed_tail, 3] = dy
                                delayed[delayed_tail, 4] = dx
                                delayed_tail += 1
    while n_probed < probe_times.shape[0] and probe_times[n_probed] < duration:
        for k in range(probe_index.shape[0]):
            probed[n_probed, k] = state[probe_index[k]]
        n_probed += 1
    return recorded, n_recorded, probed


def simulate_fast(
    net: SimNetwork, inputs: CoreEvents, duration_us: int, hop_delay_us: int, probe: Probe
) -> RawRun:
    """Same contract as `simulate_reference`."""
    indices = list(net.cores)
    slot_of = {index: slot for slot, index in enumerate(indices)}
    table = np.zeros((len(indices), NUM_COLUMNS), np.int64)
    dest_start = np.zeros(len(indices) + 1, np.int64)
    dest_rows, weight_parts, state_parts, bias_parts = [], [], [], []
    w_off = s_off = count_off = 0
    for slot, index in enumerate(indices):
        core = net.cores[index]
        c_out, c_in, ky, kx = core.weights.shape
        _, h_out, w_out = core.output_shape
        table[slot] = (
            c_in, core.input_shape[1], core.input_shape[2], c_out, h_out, w_out, ky, kx,
            core.stride[0], core.stride[1], core.padding[0], core.padding[1],
            core.threshold_high, core.threshold_low, int(core.reset_to_zero),
            int(core.leak_enable), w_off, s_off, count_off, int(index in probe.record_cores),
        )
        weight_parts.append(core.weights.ravel())
        state_parts.append(core.initial_state.ravel())
        bias_parts.append(core.bias)
        w_off += core.weights.size
        s_off += core.initial_state.size
        count_off += c_out
        dest_rows += [(slot_of[d.core], d.pool, d.channel_shift) for d in core.destinations]
        dest_start[slot + 1] = len(dest_rows)
    weights = np.concatenate(weight_parts).astype(np.int64)
    state = np.concatenate(state_parts).astype(np.int64)
    bias = np.concatenate(bias_parts).astype(np.int64)
    rows = np.array(dest_rows, np.int64).reshape(-1, 3)
    core_to_slot = np.zeros(max(indices) + 1, np.int64)
    core_to_slot[indices] = np.arange(len(indices))
    input_rows = np.stack(
        [inputs.t, core_to_slot[inputs.core] if len(inputs) else inputs.core, inputs.c, inputs.y, inputs.x], axis=1
    ).astype(np.int64).reshape(-1, 5)
    probe_index = np.array(
        [table[slot_of[i], S_OFF] + (c * table[slot_of[i], H_OUT] + y) * table[slot_of[i], W_OUT] + x
         for i, c, y, x in probe.neurons],
        np.int64,
    )
    counts = np.zeros(count_off, np.int64)
    synops = np.zeros(len(indices), np.int64)
    lo, hi = -(2 ** (net.state_bits - 1)), 2 ** (net.state_bits - 1) - 1
    recorded, n_recorded, probed = _run(
        table, weights, bias, state, dest_start, rows, input_rows, int(duration_us),
        int(hop_delay_us), int(net.slow_clock_period_us), lo, hi, probe_index,
        np.array(probe.times, np.int64), counts, synops,
    )
    spikes = np.zeros(n_recorded, SPIKE_DTYPE)
    for column, name in enumerate(("t", "core", "p", "y", "x")):
        spikes[name] = recorded[:n_recorded, column]
    spikes["core"] = np.array(indices, np.int64)[recorded[:n_recorded, 1]]
    return RawRun(
        spikes=spikes,
        counts={i: counts[table[s, COUNT_OFF]: table[s, COUNT_OFF] + table[s, C_OUT]].copy() for s, i in enumerate(indices)},
        synops={i: int(synops[s]) for s, i in enumerate(indices)},
        state={i: state[table[s, S_OFF]: table[s, S_OFF] + net.cores[i].initial_state.size].reshape(net.cores[i].output_shape)
               for s, i in enumerate(indices)},
        probed=probed,
    )
