"""Triton scans of the event-driven SRM / non-leaky IF neuron for CUDA tensors: the same
update rules as `event_cpu.py` (stated in `snndeploy.layers.srm`).

One program owns BLOCK neurons of one sample and walks time, so loads and stores of a step are
contiguous across the block. Scalars come from a tensor in the data's dtype (Python floats
would be float32 on every path). The test suite runs these kernels on CPU tensors under
TRITON_INTERPRET=1 and compares them with the numba path.
"""

from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def event_forward_kernel(x_ptr, consts_ptr, spikes_ptr, norm_ptr, u_ptr, steps, neurons,
                         LEAKY: tl.constexpr, HAS_MIN: tl.constexpr, MULTI: tl.constexpr,
                         BLOCK: tl.constexpr):
    b = tl.program_id(0)
    n = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = n < neurons
    decay_m = tl.load(consts_ptr)
    decay_s = tl.load(consts_ptr + 1)
    decay_g = tl.load(consts_ptr + 2)
    coefficient = tl.load(consts_ptr + 3)
    threshold = tl.load(consts_ptr + 4)
    min_v = tl.load(consts_ptr + 5)
    zeros = tl.zeros([BLOCK], dtype=decay_m.dtype)
    syn_m = zeros
    syn_s = zeros
    syn_g = zeros
    base = b * steps * neurons + n
    for t in range(steps):
        offset = base + t * neurons
        current = tl.load(x_ptr + offset, mask=mask, other=0.0)
        syn_g = (syn_g + current) * decay_g
        if LEAKY:
            syn_m = (syn_m + current) * decay_m
            syn_s = (syn_s + current) * decay_s
            u = (syn_m - syn_s) * coefficient
        else:
            u = syn_m + current
            syn_m = u
        tl.store(u_ptr + offset, u, mask=mask)
        fired = u - threshold >= 0
        if MULTI:
            count = tl.where(fired, tl.floor(u / threshold), 0.0).to(u.dtype)
        else:
            count = tl.where(fired, 1.0, 0.0).to(u.dtype)
        tl.store(spikes_ptr + offset, count, mask=mask)
        tl.store(norm_ptr + offset, syn_g, mask=mask)
        syn_m = tl.where(fired, zeros, syn_m)
        syn_s = tl.where(fired, zeros, syn_s)
        syn_g = tl.where(fired, zeros, syn_g)
        if HAS_MIN:
            syn_m = tl.maximum(syn_m - min_v, 0.0) + min_v


@triton.jit
def event_backward_kernel(grad_spikes_ptr, spikes_ptr, norm_ptr, consts_ptr, grad_x_ptr, steps,
                          neurons, HAS_CLIP: tl.constexpr, BLOCK: tl.constexpr):
    b = tl.program_id(0)
    n = tl.program_id(1) * BLOCK + tl.arange(0, BLOCK)
    mask = n < neurons
    decay_g = tl.load(consts_ptr + 2)
    factor = tl.load(consts_ptr + 6)
    clip = tl.load(consts_ptr + 7)
    zeros = tl.zeros([BLOCK], dtype=decay_g.dtype)
    carry = zeros
    base = b * steps * neurons + n
    for step in range(steps):
        t = steps - 1 - step
        offset = base + t * neurons
        count = tl.load(spikes_ptr + offset, mask=mask, other=0.0)
        fired = count != 0
        d = tl.load(norm_ptr + offset, mask=mask, other=0.0)
        inverse = tl.where(d != 0, 1.0 / tl.where(d != 0, d, 1.0), zeros)
        if HAS_CLIP:
            inverse = tl.minimum(tl.maximum(inverse, -clip), clip)
        grad = tl.load(grad_spikes_ptr + offset, mask=mask, other=0.0)
        carry = tl.where(fired, grad * count * inverse, carry)
        tl.store(grad_x_ptr + offset, carry * decay_g * factor, mask=mask)
        carry = carry * decay_g
