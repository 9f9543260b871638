"""Triton scans of the IF/LIF neuron for CUDA tensors: the same update rules as `cpu.py`.

One program owns BLOCK neurons of one sample and walks time, so loads and stores of a time
step are contiguous across the block. The test suite runs these kernels on CPU tensors with
TRITON_INTERPRET=1 and compares them with the numba path.
"""

from __future__ import annotations

import triton
import triton.language as tl

from snndeploy.layers.activation import Heaviside, PeriodicExponential, SingleExponential


@triton.jit
def _single_exponential(v, threshold, p0, p1, p2, p3):
    width = threshold * p0
    return p1 / width * tl.exp(-tl.abs(v - threshold) / width)


@triton.jit
def _periodic_exponential(v, threshold, p0, p1, p2, p3):
    normalised = v / threshold - p2
    periodic = threshold * (2 * (normalised - tl.floor(normalised)) - p3)
    shifted = tl.where(v < threshold, v - threshold, periodic)
    return p1 * tl.exp(-tl.abs(shifted) / p0)


@triton.jit
def _heaviside(v, threshold, p0, p1, p2, p3):
    return tl.where(v >= threshold - p0, p1 / threshold, p2)


SURROGATE_FUNCTIONS = {
    SingleExponential: _single_exponential,
    PeriodicExponential: _periodic_exponential,
    Heaviside: _heaviside,
}


@triton.jit
def _spikes(p, threshold, MAX_SPIKES: tl.constexpr):
    if MAX_SPIKES == 1:
        s = tl.where(p - threshold >= 0, 1.0, 0.0).to(p.dtype)
    else:
        # trunc(p/θ) for p > 0 equals floor(p/θ).
        s = tl.where(p > 0, tl.floor(p / threshold), 0.0).to(p.dtype)
        if MAX_SPIKES > 1:
            s = tl.minimum(s, MAX_SPIKES)
    return s


@triton.jit
def _after_reset(p, s, reset_amount, SUBTRACTS: tl.constexpr):
    if SUBTRACTS:
        q = p - s * reset_amount
    else:
        q = tl.where(s > 0, reset_amount, p)
    return q


@triton.jit
def _load_params(alpha_ptr, threshold_ptr, reset_ptr, min_ptr, n, mask):
    alpha = tl.load(alpha_ptr + n, mask=mask, other=1.0)
    threshold = tl.load(threshold_ptr + n, mask=mask, other=1.0)
    reset_amount = tl.load(reset_ptr + n, mask=mask, other=0.0)
    min_v = tl.load(min_ptr + n, mask=mask, other=0.0)
    return alpha, threshold, reset_amount, min_v


@triton.jit
def spike_scan_forward_kernel(x_ptr, alpha_ptr, v0_ptr, threshold_ptr, reset_ptr, min_ptr,
                              p_ptr, s_ptr, v_ptr, v_final_ptr, steps, neurons,
                              MAX_SPIKES: tl.constexpr, SUBTRACTS: tl.constexpr,
                              HAS_MIN: tl.constexpr, RECORD: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    n = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = n < neurons
    alpha, threshold, reset_amount, min_v = _load_params(alpha_ptr, threshold_ptr, reset_ptr,
                                                         min_ptr, n, mask)
    state = tl.load(v0_ptr + b * neurons + n, mask=mask, other=0.0)
    base = b * steps * neurons + n
    for t in range(steps):
        offset = base + t * neurons
        p = alpha * state + tl.load(x_ptr + offset, mask=mask, other=0.0)
        tl.store(p_ptr + offset, p, mask=mask)
        if MAX_SPIKES == 0:
            v = p
        else:
            s = _spikes(p, threshold, MAX_SPIKES)
            tl.store(s_ptr + offset, s, mask=mask)
            v = _after_reset(p, s, reset_amount, SUBTRACTS)
        if HAS_MIN:
            v = tl.maximum(v - min_v, 0.0) + min_v
        state = v
        if RECORD:
            tl.store(v_ptr + offset, v, mask=mask)
    tl.store(v_final_ptr + b * neurons + n, state, mask=mask)


@triton.jit
def spike_scan_backward_kernel(p_ptr, s_ptr, grad_s_ptr, grad_v_ptr, grad_v_final_ptr,
                               alpha_ptr, v0_ptr, threshold_ptr, reset_ptr, min_ptr,
                               grad_p_ptr, grad_v0_ptr, grad_alpha_ptr, steps, neurons,
                               p0, p1, p2, p3, SURROGATE: tl.constexpr,
                               MAX_SPIKES: tl.constexpr, SUBTRACTS: tl.constexpr,
                               HAS_MIN: tl.constexpr, HAS_GRAD_V: tl.constexpr,
                               KEEP_RESET_TERM: tl.constexpr, NEEDS_ALPHA: tl.constexpr,
                               BLOCK: tl.constexpr):
    b = tl.program_id(0)
    n = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = n < neurons
    alpha, threshold, reset_amount, min_v = _load_params(alpha_ptr, threshold_ptr, reset_ptr,
                                                         min_ptr, n, mask)
    carry = tl.load(grad_v_final_ptr + b * neurons + n, mask=mask, other=0.0)
    acc_alpha = tl.zeros_like(carry)
    base = b * steps * neurons + n
    for step in range(steps):
        t = steps - 1 - step
        offset = base + t * neurons
        p = tl.load(p_ptr + offset, mask=mask, other=0.0)
        g = carry
        if HAS_GRAD_V:
            g += tl.load(grad_v_ptr + offset, mask=mask, other=0.0)
        grad_out = tl.load(grad_s_ptr + offset, mask=mask, other=0.0)
        if MAX_SPIKES == 0:
            q = p
        else:
            s = tl.load(s_ptr + offset, mask=mask, other=0.0)
            q = _after_reset(p, s, reset_amount, SUBTRACTS)
        through = g
        if HAS_MIN:
            through = tl.where(q - min_v > 0, through, 0.0)
        if MAX_SPIKES == 0:
            pt_grad = grad_out + through
        else:
            sigma = SURROGATE(p, threshold, p0, p1, p2, p3)
            if KEEP_RESET_TERM:
                if SUBTRACTS:
                    through = through * (1.0 - reset_amount * sigma)
                else:
                    through = tl.where(s > 0, 0.0, through)
            pt_grad = sigma * grad_out + through
        tl.store(grad_p_ptr + offset, pt_grad, mask=mask)
        if NEEDS_ALPHA:
            if t > 0:
                p_prev = tl.load(p_ptr + offset - neurons, mask=mask, other=0.0)
                if MAX_SPIKES == 0:
                    v_prev = p_prev
                else:
                    s_prev = tl.load(s_ptr + offset - neurons, mask=mask, other=0.0)
                    v_prev = _after_reset(p_prev, s_prev, reset_amount, SUBTRACTS)
                if HAS_MIN:
                    v_prev = tl.maximum(v_prev - min_v, 0.0) + min_v
            else:
                v_prev = tl.load(v0_ptr + b * neurons + n, mask=mask, other=0.0)
            acc_alpha += pt_grad * v_prev
        carry = alpha * pt_grad
    tl.store(grad_v0_ptr + b * neurons + n, carry, mask=mask)
    tl.store(grad_alpha_ptr + b * neurons + n, acc_alpha, mask=mask)
