"""Exact event-driven simulation of a feed-forward LIF layer with exponential synapses (paper 001).

Neuron model (time constants τs = 1/α, τm = 1/β, threshold ϑ; α != β). A presynaptic spike of
weight w at time t_k contributes w K(t − t_k) to the membrane potential, an own spike at t_f
contributes −ϑ e^{−β(t − t_f)} (reset by subtraction), for t > t_k, t > t_f:

    V_i(t) = Σ_{j,k: t_jk < t} W_ji K(t − t_jk) − ϑ Σ_{f: t_if < t} e^{−β(t − t_if)},
    K(s)   = (e^{−βs} − e^{−αs}) / (α − β)        (K(0) = 0: V is continuous, its slope jumps).

Between events V(t) = a e^{−α(t − t_ref)} + b e^{−β(t − t_ref)} with per-neuron coefficients a, b
relative to a per-neuron reference time t_ref (kept local so exponentials never overflow):
an input of weight w adds w/(β − α) to a and w/(α − β) to b; an own spike at t_f moves t_ref to
t_f (decaying a, b) and subtracts ϑ from b. A spike is the first time after the previous event
with V(t) = ϑ reached from below.

Crossing search on an interval [0, L] of local time s (L may be infinite after the last input):
a sum of two exponentials has at most one critical point s* = ln(−βb / (αa)) / (β − α), so V is
monotone on [0, s*] and on [s*, L]. With V(0) < ϑ the first crossing lies in [0, s*] when s* is
inside and V(s*) >= ϑ, else in [s*, L] (or [0, L] without an inner critical point) when
V(L) >= ϑ, else there is none; V(0) >= ϑ (rounding at an event) fires at s = 0. On the monotone
bracket a safeguarded Newton iteration (bisection whenever the Newton step leaves the bracket)
runs until the step is below 4 machine epsilons of the time, so no earlier crossing can be
missed and the time is exact to machine precision.

Order within a layer: presynaptic events are processed in time order; before each event every
neuron fires all its crossings in the open interval up to the event; then all neurons decay to the
event time and the event's weights are added. A neuron stops after `max_spikes` spikes (the
remaining potential is ignored); `LayerSpikes.saturated` counts neurons that reached the cap.
Events at or after `t_max` are ignored and no spike is searched beyond `t_max` (default: ∞).

Two engines follow these rules: "numpy" (the reference: batched over samples and neurons, Python
loops only over events and Newton iterations) and "numba" (`snndeploy.kernels.fp_cpu`: compiled,
samples in parallel threads, each neuron walking the events on its own; the default).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snndeploy.errors import SnnDeployError
# one root-finder budget and tolerance for both engines
from snndeploy.kernels.fp_cpu import MAX_ROOT_ITERATIONS, ROOT_TOLERANCE, simulate_layer_kernel



@dataclass(frozen=True)
class NeuronParameters:
    """α = 1/τs, β = 1/τm, threshold ϑ; all neurons of a network share them (paper 001)."""

    alpha: float
    beta: float
    theta: float = 1.0

    def __post_init__(self) -> None:
        if not (self.alpha > 0 and self.beta > 0 and self.theta > 0):
            raise SnnDeployError(
                f"FP neuron parameters must be positive, got alpha={self.alpha}, beta={self.beta}, "
                f"theta={self.theta}"
            )
        if abs(self.alpha - self.beta) < 1e-9 * max(self.alpha, self.beta):
            raise SnnDeployError(
                f"FP neuron needs alpha != beta (the two-exponential form is singular), got "
                f"alpha={self.alpha}, beta={self.beta}; change one of the time constants"
            )


@dataclass
class LayerSpikes:
    """Spike times (B, N, S) float64, ascending per neuron, padded with +inf; S is the largest
    spike count in the batch (at least 1, at most the layer's max_spikes)."""

    times: np.ndarray
    saturated: int

    @property
    def counts(self) -> np.ndarray:
        return np.isfinite(self.times).sum(axis=-1)


def _potential(a, b, s, p: NeuronParameters):
    return a * np.exp(-p.alpha * s) + b * np.exp(-p.beta * s)


def _slope(a, b, s, p: NeuronParameters):
    return -p.alpha * a * np.exp(-p.alpha * s) - p.beta * b * np.exp(-p.beta * s)


def _solve_monotone(a, b, lo, hi, p: NeuronParameters) -> np.ndarray:
    """Root of V(s) = ϑ on brackets with V(lo) < ϑ <= V(hi), V increasing: safeguarded Newton."""
    x = 0.5 * (lo + hi)
    result = np.empty_like(x)
    pending = np.arange(len(x))
    for _ in range(MAX_ROOT_ITERATIONS):
        value = _potential(a, b, x, p) - p.theta
        slope = _slope(a, b, x, p)
        below = value < 0
        lo = np.where(below, x, lo)
        hi = np.where(below, hi, x)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = x - value / slope
        inside = (slope > 0) & (newton > lo) & (newton < hi)
        x_next = np.where(inside, newton, 0.5 * (lo + hi))
        done = (value == 0) | (
            np.abs(x_next - x) <= ROOT_TOLERANCE * np.maximum(np.abs(x), 1.0)
        )
        x_next = np.where(value == 0, x, x_next)
        result[pending[done]] = x_next[done]
        keep = ~done
        if not keep.any():
            return result
        pending, x, lo, hi, a, b = pending[keep], x_next[keep], lo[keep], hi[keep], a[keep], b[keep]
    result[pending] = x
    return result


def next_crossing(a, b, length, p: NeuronParameters) -> tuple[np.ndarray, np.ndarray]:
    """First s in [0, length] with V(s) = a e^{−αs} + b e^{−βs} >= ϑ (1-D arrays).

    Returns (found bool, s float; s = inf where not found). The bracket rule is in the module
    docstring; it cannot skip an earlier crossing.
    """
    theta = p.theta
    start = a + b
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        ratio = -p.beta * b / (p.alpha * a)
        s_star = np.log(np.where(ratio > 0, ratio, 1.0)) / (p.beta - p.alpha)
    inner = (ratio > 0) & np.isfinite(ratio) & (s_star > 0) & (s_star < length)
    s_star = np.where(inner, s_star, 0.0)
    end_value = np.where(np.isfinite(length), _potential(a, b, np.where(np.isfinite(length), length, 0.0), p), 0.0)
    peak_value = _potential(a, b, s_star, p)
    already = start >= theta
    rising_to_peak = ~already & inner & (peak_value >= theta)
    after_peak = ~already & inner & (peak_value < theta) & (end_value >= theta)
    monotone = ~already & ~inner & (end_value >= theta)
    lo = np.where(after_peak, s_star, 0.0)
    hi = np.where(rising_to_peak, s_star, length)
    search = rising_to_peak | after_peak | monotone
    s = np.full(a.shape, np.inf)
    s[already] = 0.0
    if search.any():
        s[search] = _solve_monotone(a[search], b[search], lo[search], hi[search], p)
    return already | search, s


def _sorted_events(input_times: np.ndarray, t_max: float):
    """Per sample: input events sorted by time (stable), their source neuron, and which are valid
    (finite and before t_max; the valid ones come first)."""
    batch, n_in, s_in = input_times.shape
    flat = input_times.reshape(batch, n_in * s_in)
    order = np.argsort(flat, axis=1, kind="stable")
    event_times = np.take_along_axis(flat, order, axis=1)
    valid = np.isfinite(event_times) & (event_times < t_max)
    return event_times, order // s_in, valid


def simulate_layer_numpy(
    input_times: np.ndarray, weights: np.ndarray, params: NeuronParameters, max_spikes: int, t_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Reference engine: (spike times (B, N, max_spikes), counts (B, N)), batched with numpy."""
    batch = input_times.shape[0]
    n_out = weights.shape[1]
    event_times, event_source, valid = _sorted_events(input_times, t_max)
    n_events = int(valid.sum(axis=1).max()) if batch else 0

    out = np.full((batch, n_out, max_spikes), np.inf)
    count = np.zeros((batch, n_out), dtype=np.int64)
    a = np.zeros((batch, n_out))
    b = np.zeros((batch, n_out))
    first = np.where(valid[:, 0], event_times[:, 0], 0.0) if n_events else np.zeros(batch)
    t_ref = np.repeat(first[:, None], n_out, axis=1)
    input_gain = 1.0 / (params.beta - params.alpha)

    for event in range(n_events + 1):
        if event < n_events:
            t_end = np.where(valid[:, event], event_times[:, event], t_max)
        else:
            t_end = np.full(batch, float(t_max))
        _fire_until(a, b, t_ref, count, out, t_end, params, max_spikes)
        if event == n_events or not (count < max_spikes).any():
            break  # later inputs cannot change spikes already fired
        active = valid[:, event]
        step = np.where(active[:, None], t_end[:, None] - t_ref, 0.0)
        a *= np.exp(-params.alpha * step)
        b *= np.exp(-params.beta * step)
        t_ref += step
        w = weights[event_source[:, event]] * active[:, None]
        a += w * input_gain
        b -= w * input_gain
    return out, count


def simulate_layer_numba(
    input_times: np.ndarray, weights: np.ndarray, params: NeuronParameters, max_spikes: int, t_max: float
) -> tuple[np.ndarray, np.ndarray]:
    """Compiled engine (`snndeploy.kernels.fp_cpu`): same rules and outputs as the numpy one."""
    batch = input_times.shape[0]
    event_times, event_source, valid = _sorted_events(input_times, t_max)
    out = np.full((batch, weights.shape[1], max_spikes), np.inf)
    count = np.zeros((batch, weights.shape[1]), dtype=np.int64)
    simulate_layer_kernel(
        np.ascontiguousarray(event_times), np.ascontiguousarray(event_source), valid.sum(axis=1),
        np.ascontiguousarray(weights), params.alpha, params.beta, params.theta, max_spikes,
        float(t_max), out, count,
    )
    return out, count


# engine name -> layer simulator; "numpy" is the reference the compiled engine is tested against
LAYER_SIMULATORS = {"numba": simulate_layer_numba, "numpy": simulate_layer_numpy}
DEFAULT_ENGINE = "numba"


def check_engine(engine: str) -> None:
    if engine not in LAYER_SIMULATORS:
        raise SnnDeployError(
            f"unknown FP engine {engine!r}; choose one of {sorted(LAYER_SIMULATORS)} "
            "(numba: compiled, numpy: the reference)"
        )


def simulate_layer(
    input_times: np.ndarray,
    weights: np.ndarray,
    params: NeuronParameters,
    max_spikes: int,
    t_max: float = np.inf,
    engine: str = DEFAULT_ENGINE,
) -> LayerSpikes:
    """Spike times of a layer: input_times (B, N_in, S_in) (+inf padding), weights (N_in, N)."""
    check_engine(engine)
    if max_spikes < 1:
        raise SnnDeployError(f"FP layer: max_spikes must be at least 1, got {max_spikes}")
    if weights.shape[0] != input_times.shape[1]:
        raise SnnDeployError(
            f"FP layer: weights have {weights.shape[0]} inputs but the input spikes "
            f"{input_times.shape[1]} neurons"
        )
    out, count = LAYER_SIMULATORS[engine](input_times, weights, params, max_spikes, t_max)
    used = max(int(count.max()) if count.size else 0, 1)  # drop all-padding columns
    return LayerSpikes(out[:, :, :used], int((count >= max_spikes).sum()))


def _fire_until(a, b, t_ref, count, out, t_end, params: NeuronParameters, max_spikes: int) -> None:
    """Fire every crossing of every neuron before t_end[sample]; updates the state in place."""
    rows, cols = np.nonzero(count < max_spikes)
    while len(rows):
        length = t_end[rows] - t_ref[rows, cols]
        found, s = next_crossing(a[rows, cols], b[rows, cols], length, params)
        found &= s < length
        rows, cols, s = rows[found], cols[found], s[found]
        if not len(rows):
            return
        t_spike = t_ref[rows, cols] + s
        out[rows, cols, count[rows, cols]] = t_spike
        count[rows, cols] += 1
        a[rows, cols] *= np.exp(-params.alpha * s)
        b[rows, cols] = b[rows, cols] * np.exp(-params.beta * s) - params.theta
        t_ref[rows, cols] = t_spike
        keep = count[rows, cols] < max_spikes
        rows, cols = rows[keep], cols[keep]


def simulate_network(
    input_times: np.ndarray,
    weights: list[np.ndarray],
    params: NeuronParameters,
    max_spikes: list[int],
    t_max: float = np.inf,
    engine: str = DEFAULT_ENGINE,
) -> list[LayerSpikes]:
    """Spikes of every layer of a feed-forward network; input_times (B, N_in) or (B, N_in, S_in).

    engine: "numba" (compiled, default) or "numpy" (the reference); both follow the rules above.
    """
    if len(max_spikes) != len(weights):
        raise SnnDeployError(
            f"FP network: {len(weights)} weight matrices but {len(max_spikes)} max_spikes entries"
        )
    times = np.asarray(input_times, dtype=np.float64)
    if times.ndim == 2:
        times = times[:, :, None]
    layers = []
    for w, cap in zip(weights, max_spikes):
        spikes = simulate_layer(times, np.asarray(w, dtype=np.float64), params, cap, t_max, engine)
        layers.append(spikes)
        times = spikes.times
    return layers
