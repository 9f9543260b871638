"""The integer neuron update rules, written once as plain functions of Python ints.

The reference simulator calls them as they are; the fast simulator compiles the very same
functions with numba, so the rule cannot drift between the two paths.

saturate(v) clamps to the signed state range [lo, hi] = [−2^(b−1), 2^(b−1) − 1]: the state
never wraps.

Per event (the chip, `integrate_event`), for one synaptic addition of weight w:
    v ← saturate(v + w)
    if v ≥ θ_high: one spike; v ← 0 (reset to zero) or v ← v − θ_high (subtract)
    v ← max(v, θ_low)
A zero weight is still an update: a neuron left at or above θ_high by an earlier event
(possible when w > θ_high) fires on it.

Per time step (`integrate_step`), for the summed input x of the step (bias included):
    v ← saturate(v + x)
    n ← floor(v / θ_high) if v ≥ θ_high else 0          (multi-spike)
    v ← 0 if (reset to zero and n > 0) else v − n · θ_high
    v ← max(v, θ_low)
"""

from __future__ import annotations

import numba


def integrate_event(v, w, threshold_high, threshold_low, reset_to_zero, lo, hi):
    """One synaptic (or leak) addition on the chip; returns (new state, spiked 0/1)."""
    v = v + w
    v = lo if v < lo else (hi if v > hi else v)
    spiked = 0
    if v >= threshold_high:
        spiked = 1
        v = 0 if reset_to_zero else v - threshold_high
    if v < threshold_low:
        v = threshold_low
    return v, spiked


def integrate_step(v, x, threshold_high, threshold_low, reset_to_zero, lo, hi):
    """One time step with multi-spike; returns (new state, number of spikes)."""
    v = v + x
    v = lo if v < lo else (hi if v > hi else v)
    spikes = v // threshold_high if v >= threshold_high else 0
    if spikes > 0:
        v = 0 if reset_to_zero else v - spikes * threshold_high
    if v < threshold_low:
        v = threshold_low
    return v, spikes


integrate_event_jit = numba.njit(cache=True, inline="always")(integrate_event)
integrate_step_jit = numba.njit(cache=True, inline="always")(integrate_step)
