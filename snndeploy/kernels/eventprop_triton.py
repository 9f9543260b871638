"""Triton kernels of EventProp for feedforward layers on CUDA tensors.

The same computation as the torch path of `snndeploy.eventprop.core` (whose docstring states
the update rules): one program owns BLOCK neurons of one trial and walks the steps.

* Forward: per step, the trial's input spikes (a CSR slice, any order) move V, I exactly to the
  step end; lanes with V ≥ ϑ there find their crossing by safeguarded Newton over the exact
  trajectory, record the spike (slot from one atomic add per block, lane order by cumsum),
  reset, and search again (at most MAX_ROUNDS spikes per neuron and step; more sets a flag
  the host turns into an error).
* Backward: per step in reverse, the trial's input spikes and the block's own spikes in
  descending time order; the adjoint retreats exactly to each event, jumps at own spikes, and
  at input spikes adds a_I to ∂L/∂w (atomic) and Σ_j w_ji (a_I/τs − a_V/τm) to ∂L/∂u.

Recurrent layers run the torch path on every device. The test suite runs these kernels on CPU
tensors under TRITON_INTERPRET=1 and compares them with the torch path.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl

from snndeploy.errors import SnnDeployError

BLOCK = 32
MAX_ROUNDS = 4
ROOT_ITERATIONS = 60


@triton.jit
def _constants(constants_ptr):
    """dt, τm, τs, ϑ, eps loaded in the tensors' dtype (Python float arguments would be fp32)."""
    return (tl.load(constants_ptr), tl.load(constants_ptr + 1), tl.load(constants_ptr + 2),
            tl.load(constants_ptr + 3), tl.load(constants_ptr + 4))


@triton.jit
def _kappa(h, tau_m, tau_s, EQUAL_TAUS: tl.constexpr):
    if EQUAL_TAUS:
        result = h / tau_s * tl.exp(-h / tau_s)
    else:
        result = tau_s / (tau_m - tau_s) * (tl.exp(-h / tau_m) - tl.exp(-h / tau_s))
    return result


@triton.jit
def _trajectory(x, v0, i0, coef, w_ptr, cols, mask, n_in, arr_u_ptr, arr_i_ptr, k0, k1,
                tau_m, tau_s, EQUAL_TAUS: tl.constexpr):
    """V and I at offsets x (per lane) from the step-start state and the step's arrivals."""
    v = tl.exp(-x / tau_m) * (v0 - coef) + _kappa(x, tau_m, tau_s, EQUAL_TAUS) * i0
    i = tl.exp(-x / tau_s) * i0
    for k in range(k0, k1):
        u = tl.load(arr_u_ptr + k)
        src = tl.load(arr_i_ptr + k)
        w = tl.load(w_ptr + cols * n_in + src, mask=mask, other=0.0)
        delta = x - u
        active = delta >= 0
        h = tl.where(active, delta, 0.0)
        w = tl.where(active, w, 0.0)
        v += w * _kappa(h, tau_m, tau_s, EQUAL_TAUS)
        i += w * tl.exp(-h / tau_s)
    return v, i


@triton.jit
def eventprop_forward_kernel(w_ptr, arr_u_ptr, arr_i_ptr, arr_ptr, trace_ptr, v_out_ptr,
                             i_out_ptr, spk_time_ptr, spk_neuron_ptr, spk_sample_ptr,
                             spk_step_ptr, spk_current_ptr, counter_ptr, overflow_ptr,
                             capacity, batch, steps, neurons, n_in, constants_ptr,
                             SPIKING: tl.constexpr, RECORD: tl.constexpr,
                             EQUAL_TAUS: tl.constexpr, BLOCK_N: tl.constexpr):
    dt, tau_m, tau_s, theta, eps = _constants(constants_ptr)
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = cols < neurons
    zero = tl.zeros([BLOCK_N], dtype=w_ptr.dtype.element_ty)
    v = zero
    i = zero
    alpha_m = tl.exp(-dt / tau_m)
    for n in range(steps):
        k0 = tl.load(arr_ptr + n * batch + b)
        k1 = tl.load(arr_ptr + n * batch + b + 1)
        full = zero + dt
        v_end, i_end = _trajectory(full, v, i, zero, w_ptr, cols, mask, n_in, arr_u_ptr,
                                   arr_i_ptr, k0, k1, tau_m, tau_s, EQUAL_TAUS)
        if SPIKING:
            coef = zero
            lo_start = zero
            v_now = v_end
            for _ in range(MAX_ROUNDS):
                crossing = (v_now >= theta) & mask
                if tl.max(crossing.to(tl.int32), 0) > 0:
                    lo = lo_start
                    hi = full
                    x = full
                    frozen = crossing == 0
                    for _it in range(ROOT_ITERATIONS):
                        vx, ix = _trajectory(x, v, i, coef, w_ptr, cols, mask, n_in, arr_u_ptr,
                                             arr_i_ptr, k0, k1, tau_m, tau_s, EQUAL_TAUS)
                        f = vx - theta
                        noise = 16 * eps * (theta + tl.abs(v - coef) + tl.abs(i)
                                            + tl.abs(vx) + tl.abs(ix))
                        frozen = frozen | (tl.abs(f) <= noise)
                        slope = (ix - vx) / tau_m
                        lo = tl.where(f < 0, x, lo)
                        hi = tl.where(f >= 0, x, hi)
                        newton = x - f / tl.where(slope > 0, slope, 1.0)
                        inside = (slope > 0) & (newton >= lo) & (newton <= hi)
                        x_next = tl.where(inside, newton, 0.5 * (lo + hi))
                        x = tl.where(frozen, x, x_next)
                    vx, ix = _trajectory(x, v, i, coef, w_ptr, cols, mask, n_in, arr_u_ptr,
                                         arr_i_ptr, k0, k1, tau_m, tau_s, EQUAL_TAUS)
                    count = crossing.to(tl.int32)
                    base = tl.atomic_add(counter_ptr, tl.sum(count, 0))
                    slot = base + tl.cumsum(count, 0) - count
                    keep = crossing & (slot < capacity)
                    tl.store(spk_time_ptr + slot, n * dt + x, mask=keep)
                    tl.store(spk_neuron_ptr + slot, cols, mask=keep)
                    tl.store(spk_sample_ptr + slot, zero.to(tl.int64) + b, mask=keep)
                    tl.store(spk_step_ptr + slot, zero.to(tl.int64) + n, mask=keep)
                    tl.store(spk_current_ptr + slot, ix, mask=keep)
                    coef = tl.where(crossing, coef + theta * tl.exp(x / tau_m), coef)
                    lo_start = tl.where(crossing, x, lo_start)
                    v_now = v_end - coef * alpha_m
            still = (v_now >= theta) & mask
            tl.atomic_max(overflow_ptr, tl.max(still.to(tl.int32), 0))
            v_end = v_now
        v = v_end
        i = i_end
        if RECORD:
            tl.store(trace_ptr + (b * steps + n) * neurons + cols, v, mask=mask)
    tl.store(v_out_ptr + b * neurons + cols, v, mask=mask)
    tl.store(i_out_ptr + b * neurons + cols, i, mask=mask)


@triton.jit
def _retreat(a_v, a_i, h, tau_m, tau_s, EQUAL_TAUS: tl.constexpr):
    return (tl.exp(-h / tau_m) * a_v,
            _kappa(h, tau_m, tau_s, EQUAL_TAUS) * a_v + tl.exp(-h / tau_s) * a_i)


@triton.jit
def _jump_at_spike(q, t_spike, a_v, a_i, tau, cols, spk_j_ptr, spk_current_ptr, spk_drive_ptr,
                   tau_m, tau_s, theta, EQUAL_TAUS: tl.constexpr):
    """Retreat the spiking neuron's lane to its recorded spike q and apply the adjoint jump."""
    lane = cols == tl.load(spk_j_ptr + q)
    h = tl.where(lane, tau - t_spike, 0.0)
    a_v, a_i = _retreat(a_v, a_i, h, tau_m, tau_s, EQUAL_TAUS)
    tau = tl.where(lane, t_spike, tau)
    current = tl.load(spk_current_ptr + q)
    drive = tl.load(spk_drive_ptr + q)
    a_v = tl.where(lane, (a_v * current - tau_m * drive) / (current - theta), a_v)
    return a_v, a_i, tau


@triton.jit
def eventprop_backward_kernel(w_ptr, arr_u_ptr, arr_i_ptr, arr_ptr, arr_index_ptr,
                              spk_u_ptr, spk_j_ptr, spk_current_ptr, spk_drive_ptr, spk_ptr,
                              grad_trace_ptr, a_v0_ptr, grad_w_ptr, grad_in_ptr, batch, steps,
                              neurons, n_in, constants_ptr, HAS_TRACE: tl.constexpr,
                              NEED_INPUT_GRAD: tl.constexpr, EQUAL_TAUS: tl.constexpr,
                              BLOCK_N: tl.constexpr):
    dt, tau_m, tau_s, theta, eps = _constants(constants_ptr)
    b = tl.program_id(0)
    cols = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    mask = cols < neurons
    zero = tl.zeros([BLOCK_N], dtype=w_ptr.dtype.element_ty)
    a_v = tl.load(a_v0_ptr + b * neurons + cols, mask=mask, other=0.0)
    a_i = zero
    for step in range(steps):
        n = steps - 1 - step
        if HAS_TRACE:
            a_v += tl.load(grad_trace_ptr + (b * steps + n) * neurons + cols, mask=mask,
                           other=0.0)
        tau = zero + dt
        s = tl.load(spk_ptr + n * batch + b)
        s1 = tl.load(spk_ptr + n * batch + b + 1)
        k0 = tl.load(arr_ptr + n * batch + b)
        k1 = tl.load(arr_ptr + n * batch + b + 1)
        # arrivals and own spikes are both sorted latest first within (step, trial)
        for k in range(k0, k1):
            u = tl.load(arr_u_ptr + k)
            s_next = s
            for q in range(s, s1):
                t_spike = tl.load(spk_u_ptr + q)
                if t_spike > u:
                    a_v, a_i, tau = _jump_at_spike(q, t_spike, a_v, a_i, tau, cols, spk_j_ptr,
                                                   spk_current_ptr, spk_drive_ptr, tau_m, tau_s,
                                                   theta, EQUAL_TAUS)
                    s_next = q + 1
            s = s_next
            a_v, a_i = _retreat(a_v, a_i, tau - u, tau_m, tau_s, EQUAL_TAUS)
            tau = zero + u
            src = tl.load(arr_i_ptr + k)
            tl.atomic_add(grad_w_ptr + cols * n_in + src, a_i, mask=mask)
            if NEED_INPUT_GRAD:
                w = tl.load(w_ptr + cols * n_in + src, mask=mask, other=0.0)
                partial = tl.sum(tl.where(mask, w * (a_i / tau_s - a_v / tau_m), 0.0), 0)
                tl.atomic_add(grad_in_ptr + tl.load(arr_index_ptr + k), partial)
        for q in range(s, s1):
            a_v, a_i, tau = _jump_at_spike(q, tl.load(spk_u_ptr + q), a_v, a_i, tau, cols,
                                           spk_j_ptr, spk_current_ptr, spk_drive_ptr, tau_m,
                                           tau_s, theta, EQUAL_TAUS)
        a_v, a_i = _retreat(a_v, a_i, tau, tau_m, tau_s, EQUAL_TAUS)


def _csr(step, sample, order_key, batch, steps):
    """Order records by (step, trial, order_key descending); return order and (steps·batch+1)
    offsets."""
    order = torch.argsort(order_key, descending=True, stable=True)
    cell = (step * batch + sample)[order]
    order = order[torch.argsort(cell, stable=True)]
    counts = torch.bincount(step * batch + sample, minlength=steps * batch)
    offsets = torch.zeros(steps * batch + 1, dtype=torch.int64, device=step.device)
    offsets[1:] = torch.cumsum(counts, 0)
    return order, offsets


def _steps_of(offsets: list[int], device) -> torch.Tensor:
    counts = torch.tensor([b - a for a, b in zip(offsets, offsets[1:])], device=device)
    return torch.repeat_interleave(torch.arange(len(counts), device=device), counts)


def _constants_tensor(c, dtype, device):
    return torch.tensor([c.dt, c.tau_mem, c.tau_syn, c.threshold, torch.finfo(dtype).eps],
                        dtype=dtype, device=device)


def _grid(batch, neurons):
    return (batch, triton.cdiv(neurons, BLOCK))


def simulate(in_times, in_sample, in_neuron, in_offsets, weight, recurrent_weight, batch_size,
             spec):
    """Same contract as `snndeploy.eventprop.core.simulate` (feedforward layers only)."""
    if recurrent_weight is not None:
        raise SnnDeployError("the Triton EventProp kernels handle feedforward layers only")
    c = spec.constants
    device, dtype = weight.device, weight.dtype
    neurons, n_in = weight.shape
    steps = spec.num_steps
    in_step = _steps_of(in_offsets, device)
    order, offsets = _csr(in_step, in_sample, in_times, batch_size, steps)
    arr_u = (in_times[order] - in_step[order].to(dtype) * c.dt).clamp(0.0, c.dt).contiguous()
    arr_i = in_neuron[order].contiguous()
    trace = torch.empty(batch_size, steps, neurons, dtype=dtype, device=device)
    v_out = torch.empty(batch_size, neurons, dtype=dtype, device=device)
    i_out = torch.empty_like(v_out)
    capacity = max(1024, 4 * in_times.numel())
    while True:
        spk = {"times": torch.empty(capacity, dtype=dtype, device=device),
               "neuron": torch.empty(capacity, dtype=torch.int64, device=device),
               "sample": torch.empty(capacity, dtype=torch.int64, device=device),
               "step": torch.empty(capacity, dtype=torch.int64, device=device),
               "current": torch.empty(capacity, dtype=dtype, device=device)}
        counter = torch.zeros(1, dtype=torch.int32, device=device)
        overflow = torch.zeros(1, dtype=torch.int32, device=device)
        eventprop_forward_kernel[_grid(batch_size, neurons)](
            weight.contiguous(), arr_u, arr_i, offsets, trace, v_out, i_out, spk["times"],
            spk["neuron"], spk["sample"], spk["step"], spk["current"], counter, overflow,
            capacity, batch_size, steps, neurons, n_in, _constants_tensor(c, dtype, device),
            SPIKING=spec.spiking,
            RECORD=not spec.spiking, EQUAL_TAUS=c.equal_taus, BLOCK_N=BLOCK)
        total = int(counter.item())
        if total <= capacity:
            break
        capacity = total
    if int(overflow.item()):
        raise SnnDeployError(
            f"EventProp layer: a neuron spiked more than {MAX_ROUNDS} times within one step on "
            "the GPU kernel; use a smaller dt"
        )
    out = {key: value[:total] for key, value in spk.items()}
    # atomics hand out slots in any order: sort by (step, trial, neuron, time) to be
    # deterministic and step-sorted
    key = (out["step"] * batch_size + out["sample"]) * neurons + out["neuron"]
    order = torch.argsort(out["times"], stable=True)
    order = order[torch.argsort(key[order], stable=True)]
    out = {name: value[order] for name, value in out.items()}
    return out, (trace if not spec.spiking else None), v_out, i_out


def adjoint(saved, grad_out_times, grad_end_times, grad_trace, spec, need_input_grad):
    """Same contract as `snndeploy.eventprop.core.adjoint` (feedforward layers only)."""
    from snndeploy.eventprop.core import initial_adjoint, spike_drive

    (in_times, in_sample, in_neuron, in_offsets, weight, recurrent_weight, out_times,
     out_sample, out_neuron, out_offsets, out_current, v_final, i_final, batch) = saved
    c = spec.constants
    device, dtype = weight.device, weight.dtype
    neurons, n_in = weight.shape
    steps = spec.num_steps
    in_step = _steps_of(in_offsets, device)
    order, offsets = _csr(in_step, in_sample, in_times, batch, steps)
    arr_u = (in_times[order] - in_step[order].to(dtype) * c.dt).clamp(0.0, c.dt).contiguous()
    out_step = _steps_of(out_offsets, device)
    drive = spike_drive(out_times, out_sample, out_neuron, out_current, grad_out_times, batch,
                        neurons, spec)
    spk_order, spk_offsets = _csr(out_step, out_sample, out_times, batch, steps)
    spk_u = (out_times[spk_order] - out_step[spk_order].to(dtype) * c.dt).contiguous()
    a_v0 = initial_adjoint(grad_end_times, v_final, i_final, spec).contiguous()
    grad_w = torch.zeros_like(weight)
    grad_in = torch.zeros_like(in_times)
    has_trace = grad_trace is not None
    eventprop_backward_kernel[_grid(batch, neurons)](
        weight.contiguous(), arr_u, in_neuron[order].contiguous(), offsets, order.contiguous(),
        spk_u, out_neuron[spk_order].contiguous(), out_current[spk_order].contiguous(),
        drive[spk_order].contiguous(), spk_offsets,
        grad_trace.contiguous() if has_trace else a_v0, a_v0, grad_w, grad_in, batch, steps,
        neurons, n_in, _constants_tensor(c, dtype, device), HAS_TRACE=has_trace,
        NEED_INPUT_GRAD=need_input_grad, EQUAL_TAUS=c.equal_taus, BLOCK_N=BLOCK)
    return (grad_in if need_input_grad else None), grad_w, None
