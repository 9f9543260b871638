"""CPU scans of the event-driven SRM / non-leaky IF neuron (paper 004), compiled with numba.

Tensors are (batch, time, neurons), contiguous. The batch is split across threads; each thread
walks time and, inside a step, all neurons of its sample in order (no Python loop anywhere).
Scalars travel in `consts` (in the array dtype, so float32 arithmetic stays float32):
consts = [decay_m, decay_s, decay_g, coefficient, threshold, min_v, grad_factor, clip].
`snndeploy.layers.srm` states the update rules these kernels compute.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(cache=True, parallel=True)
def event_forward(x, consts, leaky, has_min, multi, spikes_out, norm_out, u_out):
    """Forward scan. Writes spikes (0/1, or floor(u/θ) when `multi`), the pre-reset syn_g of every step (the normaliser of a
    spike there) and the pre-reset membrane u."""
    batch, steps, neurons = x.shape
    decay_m = consts[0]
    decay_s = consts[1]
    decay_g = consts[2]
    coefficient = consts[3]
    threshold = consts[4]
    min_v = consts[5]
    zero = consts[0] - consts[0]
    one = zero + 1
    for b in numba.prange(batch):
        syn_m = np.zeros(neurons, dtype=x.dtype)
        syn_s = np.zeros(neurons, dtype=x.dtype)
        syn_g = np.zeros(neurons, dtype=x.dtype)
        for t in range(steps):
            for n in range(neurons):
                current = x[b, t, n]
                syn_g[n] = (syn_g[n] + current) * decay_g
                if leaky:
                    syn_m[n] = (syn_m[n] + current) * decay_m
                    syn_s[n] = (syn_s[n] + current) * decay_s
                    u = (syn_m[n] - syn_s[n]) * coefficient
                else:
                    u = syn_m[n] + current
                    syn_m[n] = u
                u_out[b, t, n] = u
                norm_out[b, t, n] = syn_g[n]
                if u - threshold >= zero:
                    spikes_out[b, t, n] = np.floor(u / threshold) if multi else one
                    syn_m[n] = zero
                    syn_s[n] = zero
                    syn_g[n] = zero
                else:
                    spikes_out[b, t, n] = zero
                if has_min:
                    syn_m[n] = max(syn_m[n] - min_v, zero) + min_v


@numba.njit(cache=True, parallel=True)
def event_backward(grad_spikes, spikes, norm, consts, has_clip, grad_x):
    """Reverse scan: grad_x[t] = factor · n_k · G_k · h(t_k − t) / norm_k for the next spike t_k ≥ t
    (n_k spikes at t_k: each of them distributes its gradient over the window),
    h(Δ) = decay_g^(Δ+1); 0 after the last spike."""
    batch, steps, neurons = spikes.shape
    decay_g = consts[2]
    factor = consts[6]
    clip = consts[7]
    zero = consts[0] - consts[0]
    one = zero + 1
    for b in numba.prange(batch):
        carry = np.zeros(neurons, dtype=spikes.dtype)
        for step in range(steps):
            t = steps - 1 - step
            for n in range(neurons):
                if spikes[b, t, n] != zero:
                    d = norm[b, t, n]
                    inverse = one / d if d != zero else zero
                    if has_clip:
                        inverse = min(max(inverse, -clip), clip)
                    carry[n] = grad_spikes[b, t, n] * spikes[b, t, n] * inverse
                grad_x[b, t, n] = carry[n] * decay_g * factor
                carry[n] = carry[n] * decay_g
