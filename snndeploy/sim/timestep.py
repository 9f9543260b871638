"""Time-stepped simulation: the integer network binned at dt, multi-spike, as QuantizedModel.

Core by core in topological order (destinations form a DAG), over all steps at once:
input counts per step (routed input events binned by t // dt plus the pooled, shifted spike
counts of source cores in the same step) -> exact integer convolution (in float32 when no
sum can reach 2^24, else float64, exact below 2^53) -> per step and neuron `integrate_step(v, conv + bias·leak)`.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.sim.input_stage import CoreEvents
from snndeploy.sim.network import Destination, SimNetwork
from snndeploy.sim.neuron import integrate_step_jit
from snndeploy.sim.raw import Probe, RawRun, SPIKE_DTYPE


@numba.njit(cache=True)
def _scan(drive, v, threshold_high, threshold_low, reset_to_zero, lo, hi, probe_steps, probe_neurons):
    """drive (T, N) int64 -> spikes (T, N); v (N,) updated in place; probed (P,) states."""
    steps, neurons = drive.shape
    spikes = np.zeros((steps, neurons), np.int64)
    probed = np.zeros(probe_steps.shape[0], np.int64)
    for t in range(steps):
        for n in range(neurons):
            v[n], spikes[t, n] = integrate_step_jit(
                v[n], drive[t, n], threshold_high, threshold_low, reset_to_zero, lo, hi
            )
        for k in range(probe_steps.shape[0]):
            if probe_steps[k] == t:
                probed[k] = v[probe_neurons[k]]
    return spikes, probed


def _exact_float_type(bound: int) -> torch.dtype:
    """float32 when every partial sum is an integer below 2^24 (exact there), else float64."""
    return torch.float32 if bound < 2**24 else torch.float64


def topological_order(net: SimNetwork) -> list[int]:
    """Core indices so that every core comes after all cores sending to it."""
    incoming = {i: 0 for i in net.cores}
    for core in net.cores.values():
        for dest in core.destinations:
            incoming[dest.core] += 1
    ready = [i for i, n in incoming.items() if n == 0]
    order = []
    while ready:
        index = ready.pop(0)
        order.append(index)
        for dest in net.cores[index].destinations:
            incoming[dest.core] -= 1
            if incoming[dest.core] == 0:
                ready.append(dest.core)
    if len(order) != len(net.cores):
        loop = sorted(set(net.cores) - set(order))
        raise SnnDeployError(f"cores {loop} form a loop; the time-stepped mode needs a feed-forward network")
    return order


def _send(spikes: np.ndarray, dest: Destination, target: np.ndarray) -> None:
    """Add spike counts (T, c, h, w) into a target input (T, c_in, h_in, w_in) through a
    destination: address // pool, channel + shift; addresses outside the target are dropped."""
    steps, channels, height, width = spikes.shape
    pool = dest.pool
    if height % pool or width % pool:
        padded = np.zeros((steps, channels, math.ceil(height / pool) * pool, math.ceil(width / pool) * pool), np.int64)
        padded[:, :, :height, :width] = spikes
    else:
        padded = spikes
    pooled = padded.reshape(steps, channels, padded.shape[2] // pool, pool, padded.shape[3] // pool, pool).sum((3, 5))
    c = min(channels, target.shape[1] - dest.channel_shift)
    h, w = min(pooled.shape[2], target.shape[2]), min(pooled.shape[3], target.shape[3])
    if c > 0:
        target[:, dest.channel_shift: dest.channel_shift + c, :h, :w] += pooled[:, :c, :h, :w]


def simulate_timestep(
    net: SimNetwork, inputs: CoreEvents, duration_us: int, dt_us: int, probe: Probe
) -> RawRun:
    """Run all ceil(duration / dt) steps; probe time τ reads the state after step τ // dt.
    Recorded spikes carry the start time of their step, one row per spike."""
    steps = math.ceil(duration_us / dt_us)
    lo, hi = -(2 ** (net.state_bits - 1)), 2 ** (net.state_bits - 1) - 1
    drive_in = {i: np.zeros((steps, *core.input_shape), np.int64) for i, core in net.cores.items()}
    for index in net.cores:
        mine = inputs.core == index
        np.add.at(drive_in[index], (inputs.t[mine] // dt_us, inputs.c[mine], inputs.y[mine], inputs.x[mine]), 1)
    counts, synops, state, recorded = {}, {}, {}, []
    probed = np.zeros((len(probe.times), len(probe.neurons)), np.int64)
    for index in topological_order(net):
        core = net.cores[index]
        counts_in = drive_in[index]
        bound = int(counts_in.max(initial=0)) * int(np.abs(core.weights).sum((1, 2, 3)).max(initial=0))
        dtype = _exact_float_type(max(bound, int(counts_in.sum())))
        frames = torch.from_numpy(counts_in).to(dtype)
        conv = torch.nn.functional.conv2d(
            frames, torch.from_numpy(core.weights).to(dtype), stride=core.stride, padding=core.padding
        )
        coverage = torch.nn.functional.conv2d(
            frames.sum((0, 1))[None, None], torch.ones((1, 1, *core.weights.shape[2:]), dtype=dtype),
            stride=core.stride, padding=core.padding,
        )
        synops[index] = int(coverage.sum().item()) * core.weights.shape[0]
        drive = conv.round().to(torch.int64).numpy()
        if core.leak_enable:
            drive = drive + core.bias[None, :, None, None]
        mine = [k for k, neuron in enumerate(probe.neurons) if neuron[0] == index]
        probe_steps = np.array([t // dt_us for t in probe.times for _ in mine], np.int64)
        probe_flat = np.array(
            [np.ravel_multi_index(probe.neurons[k][1:], core.output_shape) for _ in probe.times for k in mine], np.int64
        )
        v = core.initial_state.ravel().astype(np.int64).copy()
        spikes, values = _scan(
            drive.reshape(steps, -1), v, core.threshold_high, core.threshold_low, core.reset_to_zero,
            lo, hi, probe_steps, probe_flat,
        )
        probed[:, mine] = values.reshape(len(probe.times), len(mine))
        spikes = spikes.reshape(steps, *core.output_shape)
        state[index] = v.reshape(core.output_shape)
        counts[index] = spikes.sum((0, 2, 3))
        for dest in core.destinations:
            _send(spikes, dest, drive_in[dest.core])
        if index in probe.record_cores:
            where = np.nonzero(spikes)
            repeats = spikes[where]
            rows = np.zeros(int(repeats.sum()), SPIKE_DTYPE)
            for name, values_ in zip(("t", "p", "y", "x"), where):
                rows[name] = np.repeat(values_ * (dt_us if name == "t" else 1), repeats)
            rows["core"] = index
            recorded.append(rows)
    spikes_all = np.concatenate(recorded) if recorded else np.zeros(0, SPIKE_DTYPE)
    spikes_all = spikes_all[np.argsort(spikes_all["t"], kind="stable")]
    return RawRun(spikes_all, dict(sorted(counts.items())), dict(sorted(synops.items())), dict(sorted(state.items())), probed)
