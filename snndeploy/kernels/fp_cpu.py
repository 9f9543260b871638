"""Compiled (numba) engine of forward propagation (paper 001): exact event simulation and
forward-substitution spike-time derivatives of one feed-forward LIF layer.

The rules are those of `snndeploy.fp.simulate` and `snndeploy.fp.gradients` (their docstrings
state them; the numpy code there is the reference this engine is tested against). What differs is
the loop structure: samples run in parallel threads, and inside a sample every neuron walks the
sorted input events on its own (neurons of a feed-forward layer do not interact), so there is no
padding, no masking and no (B, N, S, N_in, S_in) temporary. The arithmetic of the state updates
is written in the reference's order; results agree with it to rounding (exp of numba and of
numpy may differ in the last bit), which the tests bound.
"""

from __future__ import annotations

import math

import numba
import numpy as np

MAX_ROOT_ITERATIONS = 200
ROOT_TOLERANCE = 4.0 * np.finfo(np.float64).eps

_jit = dict(cache=True, error_model="numpy")


@numba.njit(inline="always", **_jit)
def _potential(a, b, s, alpha, beta):
    return a * math.exp(-alpha * s) + b * math.exp(-beta * s)


@numba.njit(**_jit)
def _solve_monotone(a, b, lo, hi, alpha, beta, theta):
    """Root of V(s) = ϑ on [lo, hi] with V(lo) < ϑ <= V(hi), V increasing: safeguarded Newton."""
    x = 0.5 * (lo + hi)
    for _ in range(MAX_ROOT_ITERATIONS):
        e_alpha = math.exp(-alpha * x)
        e_beta = math.exp(-beta * x)
        value = a * e_alpha + b * e_beta - theta
        slope = -alpha * a * e_alpha - beta * b * e_beta
        if value == 0.0:
            return x
        if value < 0.0:
            lo = x
        else:
            hi = x
        newton = x - value / slope
        if slope > 0.0 and newton > lo and newton < hi:
            x_next = newton
        else:
            x_next = 0.5 * (lo + hi)
        if abs(x_next - x) <= ROOT_TOLERANCE * max(abs(x), 1.0):
            return x_next
        x = x_next
    return x


@numba.njit(**_jit)
def _next_crossing(a, b, length, alpha, beta, theta):
    """(s, e^{−α·length}, e^{−β·length}): s the first point of [0, length] with V(s) >= ϑ, or inf
    (bracket rule of snndeploy.fp.simulate). The two decay factors (0 for an infinite length)
    let the caller move the state to the interval's end without computing them again.

    The critical point s* is looked for only when the slopes at the two ends have opposite
    signs: V' has at most one zero, so otherwise V is monotone on the interval.
    """
    finite = math.isfinite(length)
    e_alpha = math.exp(-alpha * length) if finite else 0.0
    e_beta = math.exp(-beta * length) if finite else 0.0
    if a + b >= theta:
        return 0.0, e_alpha, e_beta
    start_slope = -alpha * a - beta * b
    if finite:
        end_slope = -alpha * a * e_alpha - beta * b * e_beta
    else:  # the sign of V' for large s: the slower exponential's term
        end_slope = -a if alpha < beta else -b
    inner = False
    s_star = 0.0
    if (start_slope > 0.0) != (end_slope > 0.0) and start_slope != 0.0 and end_slope != 0.0:
        ratio = -beta * b / (alpha * a)
        if ratio > 0.0 and math.isfinite(ratio):
            s_star = math.log(ratio) / (beta - alpha)
            inner = s_star > 0.0 and s_star < length
    if inner and _potential(a, b, s_star, alpha, beta) >= theta:
        return _solve_monotone(a, b, 0.0, s_star, alpha, beta, theta), e_alpha, e_beta
    if not finite or a * e_alpha + b * e_beta < theta:
        return math.inf, e_alpha, e_beta
    return _solve_monotone(a, b, s_star if inner else 0.0, length, alpha, beta, theta), e_alpha, e_beta


@numba.njit(parallel=True, **_jit)
def simulate_layer_kernel(event_times, event_source, n_events, weights, alpha, beta, theta, max_spikes,
                          t_max, out, count):
    """Fill out (B, N, max_spikes) (+inf-initialised) and count (B, N).

    event_times / event_source (B, E): each sample's valid input events sorted by time, n_events
    (B,) how many are valid.
    """
    batch = event_times.shape[0]
    n_out = weights.shape[1]
    input_gain = 1.0 / (beta - alpha)
    for sample in numba.prange(batch):
        events = n_events[sample]
        first = event_times[sample, 0] if events > 0 else 0.0
        for neuron in range(n_out):
            a = 0.0
            b = 0.0
            t_ref = first
            fired = 0
            for event in range(events + 1):
                t_end = event_times[sample, event] if event < events else t_max
                while True:
                    length = t_end - t_ref
                    s, decay_alpha, decay_beta = _next_crossing(a, b, length, alpha, beta, theta)
                    if not s < length:
                        break
                    t_spike = t_ref + s
                    out[sample, neuron, fired] = t_spike
                    fired += 1
                    if fired >= max_spikes:
                        break
                    a *= math.exp(-alpha * s)
                    b = b * math.exp(-beta * s) - theta
                    t_ref = t_spike
                if event == events or fired >= max_spikes:
                    break  # later inputs cannot change spikes already fired
                # decay to the event (the factors of the last search, over the same length)
                a *= decay_alpha
                b *= decay_beta
                t_ref += t_end - t_ref
                w = weights[event_source[sample, event], neuron]
                a += w * input_gain
                b -= w * input_gain
            count[sample, neuron] = fired


@numba.njit(parallel=True, **_jit)
def layer_derivatives_kernel(input_times, output_times, weights, alpha, beta, theta, min_slope,
                             previous_own, previous_rest, own, chained, rest, degenerate):
    """Derivatives of a layer's spike times by forward substitution, every term kept.

    input_times (B, N_in, S_in), output_times (B, N, S) (+inf padding), weights (N_in, N).
    previous_own (B, N_in, S_in, Q): d(input spike times)/d(the input layer's own weights, compact),
    previous_rest (B, N_in, S_in, P): d(input spike times)/d(all earlier weights, flattened); both
    have a zero-size last axis for the first layer. Outputs (zero-initialised):
    own (B, N, S, N_in) compact d t_in / d W[j, i]; chained (B, N, S, Q, N_in) d t_in / d W_prev;
    rest (B, N, S, P); degenerate (B, N, S) True where the slope fallback applied.
    """
    batch, n_out, n_spikes = output_times.shape
    n_in, s_in = input_times.shape[1], input_times.shape[2]
    q_size = previous_own.shape[3]
    p_size = previous_rest.shape[3]
    scale = 1.0 / (alpha - beta)
    for sample in numba.prange(batch):
        own_term = np.empty(n_spikes)
        for neuron in range(n_out):
            for n in range(n_spikes):
                t = output_times[sample, neuron, n]
                if not math.isfinite(t):
                    break
                slope = 0.0
                for j in range(n_in):
                    w = weights[j, neuron]
                    for s in range(s_in):
                        delay = t - input_times[sample, j, s]
                        if not (delay > 0.0 and math.isfinite(delay)):
                            continue
                        e_alpha = math.exp(-alpha * delay)
                        e_beta = math.exp(-beta * delay)
                        kernel_slope = (alpha * e_alpha - beta * e_beta) * scale
                        own[sample, neuron, n, j] += (e_beta - e_alpha) * scale
                        slope += w * kernel_slope
                        d_input_time = -w * kernel_slope
                        for q in range(q_size):
                            chained[sample, neuron, n, q, j] += d_input_time * previous_own[sample, j, s, q]
                        for p in range(p_size):
                            rest[sample, neuron, n, p] += d_input_time * previous_rest[sample, j, s, p]
                for m in range(n):
                    decay = theta * beta * math.exp(-beta * (t - output_times[sample, neuron, m]))
                    slope += decay
                    own_term[m] = -decay
                if not slope > min_slope:
                    degenerate[sample, neuron, n] = True
                    own[sample, neuron, n, :] = 0.0
                    chained[sample, neuron, n] = 0.0
                    rest[sample, neuron, n, :] = 0.0
                    continue
                # D[n] = −(direct[n] + Σ_{m<n} ∂V/∂t_m · D[m]) / slope
                for j in range(n_in):
                    total = own[sample, neuron, n, j]
                    for m in range(n):
                        total += own_term[m] * own[sample, neuron, m, j]
                    own[sample, neuron, n, j] = -total / slope
                for q in range(q_size):
                    for j in range(n_in):
                        total = chained[sample, neuron, n, q, j]
                        for m in range(n):
                            total += own_term[m] * chained[sample, neuron, m, q, j]
                        chained[sample, neuron, n, q, j] = -total / slope
                for p in range(p_size):
                    total = rest[sample, neuron, n, p]
                    for m in range(n):
                        total += own_term[m] * rest[sample, neuron, m, p]
                    rest[sample, neuron, n, p] = -total / slope
