"""CPU scans of the IF/LIF neuron, compiled with numba.

Tensors are (batch, time, neurons), contiguous. The batch is split across threads; each thread
walks time forward (or backward) and all neurons of its sample in the innermost loop, so every
array is read once and in order. The scalar arithmetic is written in the array dtype (constants
travel in `consts`) so that float32 results are bit-identical to the torch formulas of
`snndeploy.layers.functional.bptt_scan`.
"""

from __future__ import annotations

import numba
import numpy as np

from snndeploy.layers.activation import surrogate_scalar


@numba.njit(cache=True, inline="always")
def _spikes(p, threshold, max_spikes, cap, one, zero):
    if max_spikes == 0:
        return zero
    if max_spikes == 1:
        return one if p - threshold >= zero else zero
    if p < threshold:
        # p < θ implies p/θ rounds below 1: skipping the division changes no result.
        return zero
    count = np.trunc(p / threshold)
    if max_spikes > 1 and count > cap:
        return cap
    return count


@numba.njit(cache=True, inline="always")
def _after_reset(p, s, reset_amount, subtracts, zero):
    if subtracts:
        return p - s * reset_amount
    return reset_amount if s > zero else p


@numba.njit(cache=True, inline="always")
def _floor(v, min_v, zero):
    # max(v − m, 0) + m rather than max(v, m): the rounding sinabs applies, so states match bit
    # for bit.
    return max(v - min_v, zero) + min_v


@numba.njit(cache=True, parallel=True)
def spike_scan_forward(x, alpha, v0, threshold, reset_amount, min_v, consts, max_spikes,
                       subtracts, has_min, record, p_out, s_out, v_out, v_final):
    """Forward scan; see `snndeploy.layers.functional` for the update rule.

    consts = [1, 0, max_spikes] in the dtype of x (max_spikes: -1 unlimited, 0 never spikes). Writes pre-spike membrane p, spikes s, the post-reset
    state trace v (only when `record`) and the final state.
    """
    batch, steps, neurons = x.shape
    one = consts[0]
    zero = consts[1]
    cap = consts[2]
    for b in numba.prange(batch):
        state = v0[b].copy()
        for t in range(steps):
            for n in range(neurons):
                p = alpha[n] * state[n] + x[b, t, n]
                s = _spikes(p, threshold[n], max_spikes, cap, one, zero)
                v = _after_reset(p, s, reset_amount[n], subtracts, zero)
                if has_min:
                    v = _floor(v, min_v[n], zero)
                p_out[b, t, n] = p
                # A leaky integrator (max_spikes == 0) is called with s_out = p_out: its output is p.
                if max_spikes != 0:
                    s_out[b, t, n] = s
                state[n] = v
                if record:
                    v_out[b, t, n] = v
        v_final[b] = state


# The gradient needs no bit-exactness: allow reassociation and fast approximate exp, but keep
# IEEE NaN / inf semantics.
_BACKWARD_FASTMATH = {"contract", "afn", "reassoc", "arcp"}


@numba.njit(cache=True, parallel=True, fastmath=_BACKWARD_FASTMATH)
def spike_scan_backward(surrogate_id, params, p, s, grad_s, grad_v, grad_v_final, alpha, v0,
                        threshold, reset_amount, min_v, consts, max_spikes, subtracts, has_min,
                        has_grad_v, keep_reset_term, needs_alpha, grad_p, grad_v0, grad_alpha):
    """Reverse O(T) scan of the exact (BPTT-equal) gradient.

    With q_t = reset(p_t, s_t), c_t = 1[q_t > min], σ_t = surrogate(p_t),
    r_t = 1 − a·σ_t (subtract) or 1[s_t = 0] (reset to value), r_t = 1 when the reset term is
    dropped (SLAYER):
        G_{T-1} = ∂L/∂v_final + ∂L/∂v_{T-1};  G_t = ∂L/∂v_t + α P_{t+1}
        P_t = σ_t ∂L/∂s_t + c_t r_t G_t          (P_t = ∂L/∂p_t = ∂L/∂x_t)
    A leaky integrator (max_spikes = 0) outputs p: P_t = ∂L/∂out_t + c_t G_t.
        ∂L/∂v_init = α P_0;  ∂L/∂α = Σ_t P_t v_{t-1}  (v_{-1} = v_init; only if needs_alpha)
    """
    batch, steps, neurons = p.shape
    one = consts[0]
    zero = consts[1]
    for b in numba.prange(batch):
        carry = grad_v_final[b].copy()  # α P_{t+1}, then ∂L/∂v_{t-1}
        acc_alpha = np.zeros_like(carry)
        for t in range(steps - 1, -1, -1):
            for n in range(neurons):
                pt = p[b, t, n]
                st = zero if max_spikes == 0 else s[b, t, n]
                g = carry[n]
                if has_grad_v:
                    g += grad_v[b, t, n]
                q = _after_reset(pt, st, reset_amount[n], subtracts, zero)
                through = g
                if has_min and not q - min_v[n] > zero:
                    through = zero
                if max_spikes == 0:
                    # A leaky integrator's output is p itself.
                    pt_grad = grad_s[b, t, n] + through
                else:
                    sigma = surrogate_scalar(surrogate_id, pt, threshold[n], params)
                    if keep_reset_term:
                        if subtracts:
                            through = through * (one - reset_amount[n] * sigma)
                        elif st > zero:
                            through = zero
                    pt_grad = sigma * grad_s[b, t, n] + through
                grad_p[b, t, n] = pt_grad
                carry[n] = alpha[n] * pt_grad
                if not needs_alpha:
                    continue
                if t > 0:
                    s_prev = zero if max_spikes == 0 else s[b, t - 1, n]
                    v_prev = _after_reset(p[b, t - 1, n], s_prev, reset_amount[n], subtracts, zero)
                    if has_min:
                        v_prev = _floor(v_prev, min_v[n], zero)
                else:
                    v_prev = v0[b, n]
                acc_alpha[n] += pt_grad * v_prev
        grad_v0[b] = carry
        grad_alpha[b] = acc_alpha
