"""EventProp for one layer: exact event-based forward pass and exact adjoint backward pass.

A layer is N current-based LIF neurons (see `dynamics` for the equations and the convention)
fed by spikes of N_in presynaptic neurons through `weight` (N, N_in), optionally by its own
spikes through `recurrent_weight` (N, N), or a non-spiking leaky readout.

Forward, per step [t0, t0 + dt) (a Python loop over steps, vectorised over batch and neurons):

1. V, I advance exactly to the step end, each input spike of the step (exact time u) adding
   w·αs(t_end − u) to I and w·κ(t_end − u) to V.
2. A neuron whose V at the step end is ≥ ϑ crossed threshold inside the step: its crossing time
   t* is the root of V(t) = ϑ on [last reset or t0, t_end] (safeguarded Newton on the exact
   piecewise trajectory, to machine precision). It spikes at t*: V ← 0, which removes ϑ·αm(t−t*)
   from V afterwards; t* and I(t*) are recorded (I − V = I − ϑ at the spike is what the backward
   pass needs). The search repeats on the rest of the step, so a neuron may spike more than once
   per step. With recurrence only the earliest crossing of each trial is accepted per round and
   its recurrent input enters the trajectories of the same step before the next round.
   A threshold crossing that is undone before the step end (V above ϑ and back below within one
   step) is not a spike: that is the model simulated, and the gradient is exact for it.
3. A readout records V at every step end: v_trace[:, n] = V((n+1)·dt).

Backward (paper 003: adjoint integrated exactly within each step, jumps at the recorded
spikes), per step in reverse, with a = (∂L/∂V, ∂L/∂I):

* a_V += ∂L/∂v_trace[:, n] at the step end (readout);
* between events a retreats exactly (`dynamics.retreat_adjoint`);
* at a spike of neuron n at t* with current I = I(t*), slope S = I − ϑ and output-time gradient
  g = ∂L/∂t* (losses on spike times, and the next layer's Σ_j w_jn (a_I,j/τs − a_V,j/τm)):
      a_V,n ← (a_V,n·I − τm·(g + Σ_m w^rec_mn (a_I,m/τs − a_V,m/τm))) / S
  (table 1 of Nowotny et al. 2022 with λ_V = −a_V/τm, λ_I = −a_I/τs; a_I is continuous);
* at an input spike of neuron i at time u (fixed input spikes included, paper 003 §3.5):
  ∂L/∂w_ji += a_I,j(u), ∂L/∂u = Σ_j w_ji (a_I,j(u)/τs − a_V,j(u)/τm); a recurrent spike
  likewise adds a_I,m(t*) to ∂L/∂w^rec_mn.

Stored for the backward pass: the input and output spike records and the weights, and the
(batch, N) state at the trial end; nothing with a time axis. Coincident spikes (several neurons
in one step, input spikes at step boundaries) need no special case: every event sits at its
exact time and events of different neurons do not interact within the jump.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from snndeploy.errors import SnnDeployError
from snndeploy.eventprop.dynamics import NeuronConstants, advance_state, retreat_adjoint

MAX_ROUNDS_PER_STEP = 10_000
ROOT_ITERATIONS = 100


@dataclass(frozen=True)
class Regularisation:
    """Hidden spike-count regularisation (Nowotny et al. 2022, eq. 13 and 15).

    L_reg = ½ k_reg Σ_l (n̄_l − ν)², n̄_l the batch-mean spike count of neuron l. Its EventProp
    drive is the paper's jump λ_V ← λ_V − k_reg (n̄_l − ν)/(N_batch ϑ) at every spike of neuron
    l (the count written as ∫ V δ(t − t_k)/ϑ dt); it is not the gradient of a piecewise-constant
    count, which is zero.
    """

    strength: float
    target: float


@dataclass(frozen=True)
class LayerSpec:
    constants: NeuronConstants
    num_steps: int
    spiking: bool
    regularisation: Optional[Regularisation] = None
    phantom_slope_floor: float = 0.1


def _pad_by_trial(ab, au, weights_t, batch_size):
    """The step's arrivals as per-trial rows: offsets (batch, K) (+inf where padded) and
    weight rows (batch, K, N), so a candidate only meets the arrivals of its own trial."""
    neurons = weights_t.shape[1]
    if ab.numel() == 0:
        return (au.new_full((batch_size, 1), float("inf")),
                weights_t.new_zeros(batch_size, 1, neurons))
    position = _ranks(ab, -au)
    width = int(position.max()) + 1
    pad_u = au.new_full((batch_size, width), float("inf"))
    pad_w = weights_t.new_zeros(batch_size, width, neurons)
    pad_u[ab, position] = au
    pad_w[ab, position] = weights_t
    return pad_u, pad_w


def _arrival_state(pad_u, pad_w, t, cb, cj, c: NeuronConstants):
    """Contribution of the step's arrivals (see `_pad_by_trial`) to V and I of candidates
    (cb, cj) at offsets t: sums over the arrivals of the candidate's trial with u ≤ t."""
    delta = t[:, None] - pad_u[cb]
    active = delta >= 0
    h = torch.where(active, delta, torch.zeros_like(delta))
    w = torch.where(active, pad_w[cb, :, cj], torch.zeros_like(delta))
    return (w * c.kappa(h)).sum(1), (w * c.decay_syn(h)).sum(1)


def _crossing_times(v0, i0, reset_coef, lo, pad_u, pad_w, cb, cj, c: NeuronConstants):
    """Root of V(t) = ϑ on [lo, dt] for each candidate, where V(lo) < ϑ ≤ V(dt).

    V(t) = αm(t)·(v0 − reset_coef) + κ(t)·i0 + arrivals, t the offset in the step. Returns
    the root and I at the root.
    """
    theta = c.threshold

    def trajectory(t):
        dv, di = _arrival_state(pad_u, pad_w, t, cb, cj, c)
        return (c.decay_mem(t) * (v0 - reset_coef) + c.kappa(t) * i0 + dv,
                c.decay_syn(t) * i0 + di)

    lo = lo.clone()
    hi = torch.full_like(lo, c.dt)
    x = hi.clone()
    eps = torch.finfo(lo.dtype).eps
    tolerance = 4 * eps * c.dt
    # V is known to a few ulps of its terms: stop there (a step of that size is noise)
    v_noise = 16 * eps * (theta + (v0 - reset_coef).abs() + i0.abs()
                          + pad_w[cb, :, cj].abs().sum(1))
    for _ in range(ROOT_ITERATIONS):
        v, i = trajectory(x)
        f = v - theta
        slope = (i - v) / c.tau_mem
        lo = torch.where(f < 0, x, lo)
        hi = torch.where(f >= 0, x, hi)
        newton = x - f / torch.where(slope > 0, slope, torch.ones_like(slope))
        inside = (slope > 0) & (newton >= lo) & (newton <= hi)
        x_next = torch.where(inside, newton, 0.5 * (lo + hi))
        converged = (((x_next - x).abs() <= tolerance) | (hi - lo <= tolerance)
                     | (f.abs() <= v_noise))
        x = torch.where(f.abs() <= v_noise, x, x_next)
        if bool(converged.all()):
            break
    v, i = trajectory(x)
    return x, i


def simulate(in_times, in_sample, in_neuron, in_offsets, weight, recurrent_weight,
             batch_size: int, spec: LayerSpec):
    """Forward pass; returns output records (times, sample, neuron, step, current at spike),
    the readout trace (batch, steps, N) or None, and (V, I) at the trial end."""
    c = spec.constants
    dt = c.dt
    neurons = weight.shape[0]
    device, dtype = weight.device, weight.dtype
    v = torch.zeros(batch_size, neurons, dtype=dtype, device=device)
    i = torch.zeros_like(v)
    step_h = torch.tensor(dt, dtype=dtype, device=device)
    trace = (torch.empty(batch_size, spec.num_steps, neurons, dtype=dtype, device=device)
             if not spec.spiking else None)
    records = {key: [] for key in ("times", "sample", "neuron", "step", "current")}
    for n in range(spec.num_steps):
        t0 = n * dt
        s0, s1 = in_offsets[n], in_offsets[n + 1]
        ab, ai = in_sample[s0:s1], in_neuron[s0:s1]
        au = (in_times[s0:s1] - t0).clamp(0.0, dt)
        weights_t = weight[:, ai].T
        v_end, i_end = advance_state(v, i, step_h, c)
        if s1 > s0:
            to_end = dt - au
            v_end = v_end.index_add(0, ab, weights_t * c.kappa(to_end)[:, None])
            i_end = i_end.index_add(0, ab, weights_t * c.decay_syn(to_end)[:, None])
        if spec.spiking:
            v_end = _spike_rounds(v, i, v_end, i_end, ab, au, weights_t, recurrent_weight, n,
                                  spec, records)
        v, i = v_end, i_end
        if trace is not None:
            trace[:, n] = v
    if records["times"]:
        out = {key: torch.cat(values) for key, values in records.items()}
    else:
        empty = torch.zeros(0, dtype=dtype, device=device)
        empty_long = torch.zeros(0, dtype=torch.long, device=device)
        out = {"times": empty, "current": empty, "sample": empty_long, "neuron": empty_long,
               "step": empty_long}
    return out, trace, v, i


def _spike_rounds(v, i, v_end, i_end, ab, au, weights_t, recurrent_weight, n, spec, records):
    """Find, record and apply the spikes of step n (see the module docstring, point 2).
    Updates i_end in place for recurrent input; returns V at the step end after resets."""
    c = spec.constants
    dt, theta = c.dt, c.threshold
    reset_coef = torch.zeros_like(v)  # Σ over resets of ϑ·e^{t_r/τm}: V loses coef·αm(t)
    lo = torch.zeros_like(v)
    step_h = torch.tensor(dt, dtype=v.dtype, device=v.device)
    end_decay = c.decay_mem(step_h)
    pad_u, pad_w = _pad_by_trial(ab, au, weights_t, v.shape[0])
    for _ in range(MAX_ROUNDS_PER_STEP):
        v_now = v_end - reset_coef * end_decay
        candidates = v_now >= theta
        if not bool(candidates.any()):
            return v_now
        cb, cj = candidates.nonzero(as_tuple=True)
        t_cross, i_cross = _crossing_times(v[cb, cj], i[cb, cj], reset_coef[cb, cj],
                                           lo[cb, cj], pad_u, pad_w, cb, cj, c)
        if recurrent_weight is not None:
            earliest = torch.full((v.shape[0],), float("inf"), dtype=v.dtype, device=v.device)
            earliest.scatter_reduce_(0, cb, t_cross, reduce="amin")
            keep = t_cross == earliest[cb]
            cb, cj, t_cross, i_cross = cb[keep], cj[keep], t_cross[keep], i_cross[keep]
        reset_coef[cb, cj] += theta * torch.exp(t_cross / c.tau_mem)
        lo[cb, cj] = t_cross
        records["times"].append(n * dt + t_cross)
        records["sample"].append(cb)
        records["neuron"].append(cj)
        records["step"].append(torch.full_like(cb, n))
        records["current"].append(i_cross)
        if recurrent_weight is not None:
            rows = recurrent_weight[:, cj].T
            to_end = dt - t_cross
            v_end.index_add_(0, cb, rows * c.kappa(to_end)[:, None])
            i_end.index_add_(0, cb, rows * c.decay_syn(to_end)[:, None])
            ab = torch.cat([ab, cb])
            au = torch.cat([au, t_cross])
            weights_t = torch.cat([weights_t, rows])
            pad_u, pad_w = _pad_by_trial(ab, au, weights_t, v.shape[0])
    raise SnnDeployError(
        f"EventProp layer: more than {MAX_ROUNDS_PER_STEP} spike rounds in step {n}; the "
        "network is runaway-excited (lower the weights or raise the threshold)"
    )


def _ranks(group: torch.Tensor, times: torch.Tensor) -> torch.Tensor:
    """Rank of each record within its group, latest time first (0 = latest)."""
    order = torch.argsort(times, descending=True, stable=True)
    order = order[torch.argsort(group[order], stable=True)]
    sorted_group = group[order]
    position = torch.arange(order.numel(), device=order.device)
    is_start = torch.ones_like(sorted_group, dtype=torch.bool)
    is_start[1:] = sorted_group[1:] != sorted_group[:-1]
    start = torch.cummax(torch.where(is_start, position, torch.zeros_like(position)), 0).values
    ranks = torch.empty_like(order)
    ranks[order] = position - start
    return ranks


def adjoint(saved, grad_out_times, grad_end_times, grad_trace, spec: LayerSpec,
            need_input_grad: bool):
    """Backward pass; returns (∂L/∂input times, ∂L/∂weight, ∂L/∂recurrent weight)."""
    (in_times, in_sample, in_neuron, in_offsets, weight, recurrent_weight, out_times,
     out_sample, out_neuron, out_offsets, out_current, v_final, i_final, batch) = saved
    c = spec.constants
    dt, theta, tau_m, tau_s = c.dt, c.threshold, c.tau_mem, c.tau_syn
    neurons, n_in = weight.shape
    a_v = initial_adjoint(grad_end_times, v_final, i_final, spec)
    a_i = torch.zeros_like(a_v)
    grad_weight_t = torch.zeros(n_in, neurons, dtype=weight.dtype, device=weight.device)
    grad_recurrent = (torch.zeros_like(recurrent_weight) if recurrent_weight is not None
                      else None)
    grad_in = torch.zeros_like(in_times) if need_input_grad else None
    drive = spike_drive(out_times, out_sample, out_neuron, out_current, grad_out_times, batch,
                        neurons, spec)
    columns = torch.arange(neurons, device=weight.device)
    for n in reversed(range(spec.num_steps)):
        t0 = n * dt
        if grad_trace is not None:
            a_v = a_v + grad_trace[:, n]
        tau = torch.full_like(a_v, dt)
        snapshots = [(a_v, a_i, tau)]
        o0, o1 = out_offsets[n], out_offsets[n + 1]
        if o1 > o0:
            sb, sj = out_sample[o0:o1], out_neuron[o0:o1]
            su = out_times[o0:o1] - t0
            s_current, s_drive = out_current[o0:o1], drive[o0:o1]
            group = sb if recurrent_weight is not None else sb * neurons + sj
            ranks = _ranks(group, su)
            for r in range(int(ranks.max()) + 1):
                pick = ranks == r
                b, j, u = sb[pick], sj[pick], su[pick]
                a_v, a_i, tau = a_v.clone(), a_i.clone(), tau.clone()
                if recurrent_weight is not None:
                    h = tau[b] - u[:, None]
                    a_v[b], a_i[b] = retreat_adjoint(a_v[b], a_i[b], h, c)
                    tau[b] = u[:, None].expand(-1, neurons)
                    rows_v, rows_i = a_v[b], a_i[b]
                    coupling = ((rows_i / tau_s - rows_v / tau_m) * recurrent_weight[:, j].T).sum(1)
                    grad_recurrent.index_add_(1, j, rows_i.T)
                else:
                    h = tau[b, j] - u
                    a_v[b, j], a_i[b, j] = retreat_adjoint(a_v[b, j], a_i[b, j], h, c)
                    tau[b, j] = u
                    coupling = 0.0
                current = s_current[pick]
                a_v[b, j] = (a_v[b, j] * current - tau_m * (s_drive[pick] + coupling)) / (
                    current - theta)
                snapshots.append((a_v, a_i, tau))
        s0, s1 = in_offsets[n], in_offsets[n + 1]
        if s1 > s0:
            ab, ai = in_sample[s0:s1], in_neuron[s0:s1]
            au = (in_times[s0:s1] - t0).clamp(0.0, dt)
            stack_v = torch.stack([s[0] for s in snapshots])
            stack_i = torch.stack([s[1] for s in snapshots])
            stack_tau = torch.stack([s[2] for s in snapshots])
            # the earliest snapshot still after u (index 0, the step end, for u = dt)
            later = ((stack_tau[:, ab] > au[None, :, None]).sum(0) - 1).clamp(min=0)
            rows = ab[:, None].expand(-1, neurons)
            cols = columns[None, :].expand(ab.numel(), -1)
            ref_tau = stack_tau[later, rows, cols]
            at_v, at_i = retreat_adjoint(stack_v[later, rows, cols], stack_i[later, rows, cols],
                                         ref_tau - au[:, None], c)
            grad_weight_t.index_add_(0, ai, at_i)
            if grad_in is not None:
                grad_in[s0:s1] = ((at_i / tau_s - at_v / tau_m) * weight[:, ai].T).sum(1)
        a_v, a_i = retreat_adjoint(a_v, a_i, tau, c)
    return grad_in, grad_weight_t.T, grad_recurrent


def initial_adjoint(grad_end_times, v_final, i_final, spec: LayerSpec) -> torch.Tensor:
    """a_V at the trial end: zero, or the phantom-spike jump of silent neurons.

    Phantom spikes (Nowotny et al. 2022 §4.1) pull a silent neuron towards spiking only: with
    the first-spike loss that is exactly the label neuron (∂L/∂t > 0 there, < 0 for the
    others). The slope I − V at the trial end is floored at phantom_slope_floor·ϑ so that a
    decaying V still pulls.
    """
    if grad_end_times is None:
        return torch.zeros_like(v_final)
    slope = torch.clamp(i_final - v_final, min=spec.phantom_slope_floor * spec.constants.threshold)
    return -spec.constants.tau_mem * grad_end_times.clamp(min=0) / slope


def spike_drive(times, sample, neuron, current, grad_times, batch, neurons, spec: LayerSpec):
    """∂L/∂t_k per output spike: the incoming gradient plus the regularisation drive, which
    in these units is −k_reg (n̄_l − ν)/(N_batch ϑ)·(I − ϑ) at a spike of neuron l."""
    drive = torch.zeros_like(times) if grad_times is None else grad_times.clone()
    reg = spec.regularisation
    if reg is not None and times.numel():
        counts = torch.zeros(neurons, dtype=times.dtype, device=times.device)
        counts.index_add_(0, neuron, torch.ones_like(times))
        excess = counts / batch - reg.target
        per_neuron = reg.strength * excess / (batch * spec.constants.threshold)
        drive = drive - per_neuron[neuron] * (current - spec.constants.threshold)
    return drive


class TorchEngine:
    """The torch path above: any device, recurrent layers included."""

    simulate = staticmethod(simulate)
    adjoint = staticmethod(adjoint)


class TritonEngine:
    """Triton kernels (`snndeploy.kernels.eventprop_triton`), imported on first use."""

    @staticmethod
    def simulate(*args):
        from snndeploy.kernels import eventprop_triton

        return eventprop_triton.simulate(*args)

    @staticmethod
    def adjoint(*args):
        from snndeploy.kernels import eventprop_triton

        return eventprop_triton.adjoint(*args)


# Device type -> engine for feedforward layers; recurrent layers always use TorchEngine.
ENGINES = {"cuda": TritonEngine}


def engine_for(weight: torch.Tensor, recurrent_weight) -> type:
    if recurrent_weight is not None:
        return TorchEngine
    return ENGINES.get(weight.device.type, TorchEngine)


class EventPropFunction(torch.autograd.Function):
    """Autograd wrapper: inputs (input times, weight, recurrent weight or None); outputs
    (output times, end times, readout trace or empty, sample, neuron, step, current)."""

    @staticmethod
    def forward(ctx, in_times, weight, recurrent_weight, in_sample, in_neuron, in_offsets,
                batch_size, spec):
        engine = engine_for(weight, recurrent_weight)
        with torch.no_grad():
            out, trace, v_final, i_final = engine.simulate(
                in_times.detach(), in_sample, in_neuron, in_offsets, weight.detach(),
                None if recurrent_weight is None else recurrent_weight.detach(), batch_size,
                spec)
        counts = torch.bincount(out["step"], minlength=spec.num_steps)
        out_offsets = [0] + torch.cumsum(counts.cpu(), 0).tolist()
        ctx.save_for_backward(in_times, weight, recurrent_weight, out["times"],
                              out["current"], v_final, i_final, in_sample, in_neuron,
                              out["sample"], out["neuron"])
        ctx.in_offsets, ctx.out_offsets = in_offsets, out_offsets
        ctx.batch_size, ctx.spec = batch_size, spec
        end_times = torch.full_like(v_final, spec.num_steps * spec.constants.dt)
        trace = trace if trace is not None else v_final.new_zeros(0)
        ctx.mark_non_differentiable(out["sample"], out["neuron"], out["step"], out["current"])
        return (out["times"], end_times, trace, out["sample"], out["neuron"], out["step"],
                out["current"])

    @staticmethod
    def backward(ctx, grad_times, grad_end, grad_trace, *_):
        (in_times, weight, recurrent_weight, out_times, out_current, v_final, i_final,
         in_sample, in_neuron, out_sample, out_neuron) = ctx.saved_tensors
        spec = ctx.spec
        saved = (in_times, in_sample, in_neuron, ctx.in_offsets, weight, recurrent_weight,
                 out_times, out_sample, out_neuron, ctx.out_offsets, out_current, v_final,
                 i_final, ctx.batch_size)
        engine = engine_for(weight, recurrent_weight)
        with torch.no_grad():
            grad_in, grad_weight, grad_recurrent = engine.adjoint(
                saved, grad_times, grad_end if spec.spiking else None,
                grad_trace if (grad_trace is not None and grad_trace.numel()) else None, spec,
                ctx.needs_input_grad[0])
        return (grad_in, grad_weight, grad_recurrent if ctx.needs_input_grad[2] else None,
                None, None, None, None, None)
