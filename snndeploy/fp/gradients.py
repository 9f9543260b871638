"""Exact spike-time gradients by forward substitution (paper 001, implicit function theorem).

Every spike n of neuron i solves F = V_i(t_in) − ϑ = 0 with V_i as in `snndeploy.fp.simulate`.
Its total derivative with respect to any parameter θ vanishes:

    dt_in/dθ = −( ∂V/∂θ + Σ_{j,k: t_jk < t_in} ∂V/∂t_jk · dt_jk/dθ
                         + Σ_{m < n} ∂V/∂t_im · dt_im/dθ ) / ∂V/∂t,

with, at t = t_in, K(s) = (e^{−βs} − e^{−αs})/(α − β), K'(s) = (αe^{−αs} − βe^{−βs})/(α − β):

    ∂V/∂W_ji = Σ_k K(t − t_jk)                    (every earlier input spike of j)
    ∂V/∂t_jk = −W_ji K'(t − t_jk)                 (every earlier input spike)
    ∂V/∂t_im = −ϑ β e^{−β(t − t_im)}              (every earlier own spike, the reset term)
    ∂V/∂t    = Σ_jk W_ji K'(t − t_jk) + ϑ β Σ_m e^{−β(t − t_im)}.

Spike times only depend on earlier spike times, so after sorting the system is lower triangular:
layer by layer, and inside a neuron spike by spike, each derivative uses only derivatives already
computed (forward substitution). Every term above is kept: all past inputs (also those before the
neuron's previous spike) and all own past spikes.

Regularity fallback: the IFT needs ∂V/∂t > 0. A spike whose slope is below
`MIN_RELATIVE_SLOPE · ϑ · max(α, β)` (a tangential touch of the threshold, where the spike time is
not differentiable) gets derivative 0 for every parameter, and is counted in
`NetworkGradients.degenerate`; spikes caused by it still receive their direct terms.

`keep_all_terms=False` reproduces the simplification of the paper's public code (inputs before
the neuron's previous spike and the own-spike terms dropped, in every partial derivative); it is
exact only when each neuron fires at most once and exists to demonstrate that (tests).

Layout: derivatives of layer l's spikes (B, N_l, S_l) with respect to its own weights W_l
(N_{l−1}, N_l) are stored compactly as (B, N_l, S_l, N_{l−1}) (neuron i depends only on column i);
with respect to an earlier layer's W_k in full as (B, N_l, S_l, *W_k.shape).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snndeploy.errors import SnnDeployError
from snndeploy.fp.simulate import DEFAULT_ENGINE, LayerSpikes, NeuronParameters, check_engine
from snndeploy.kernels.fp_cpu import layer_derivatives_kernel

MIN_RELATIVE_SLOPE = 1e-10


@dataclass
class LayerPartials:
    """Partial derivatives of V_i(t_in) − ϑ at every spike of a layer (zero for padding)."""

    d_weight: np.ndarray  # (B, N, S, N_in)
    d_input_time: np.ndarray | None  # (B, N, S, N_in, S_in)
    d_own_time: np.ndarray  # (B, N, S, S), strictly lower triangular in the last two axes
    slope: np.ndarray  # (B, N, S)


def _kernels(delay: np.ndarray, p: NeuronParameters):
    """K and K' at positive delays; 0 where the delay is not positive or not finite."""
    causal = np.isfinite(delay) & (delay > 0)
    d = np.where(causal, delay, 0.0)
    e_alpha = np.exp(-p.alpha * d)
    e_beta = np.exp(-p.beta * d)
    scale = 1.0 / (p.alpha - p.beta)
    kernel = np.where(causal, (e_beta - e_alpha) * scale, 0.0)
    kernel_slope = np.where(causal, (p.alpha * e_alpha - p.beta * e_beta) * scale, 0.0)
    return kernel, kernel_slope


def layer_partials(
    input_times: np.ndarray,
    output_times: np.ndarray,
    weights: np.ndarray,
    p: NeuronParameters,
    need_input_partials: bool,
    keep_all_terms: bool = True,
) -> LayerPartials:
    """∂(V − ϑ)/∂(W, input times, own times, t) at each output spike (see the module docstring)."""
    out = output_times[:, :, :, None, None]  # (B, N, S, 1, 1)
    inp = input_times[:, None, None, :, :]  # (B, 1, 1, N_in, S_in)
    with np.errstate(invalid="ignore"):
        delay = out - inp
    with np.errstate(invalid="ignore"):
        own_delay = output_times[:, :, :, None] - output_times[:, :, None, :]  # (B, N, S, S)
    n_spikes = output_times.shape[2]
    earlier = np.tril(np.ones((n_spikes, n_spikes), dtype=bool), k=-1)
    own_causal = earlier & np.isfinite(own_delay)
    if not keep_all_terms:
        previous = np.concatenate(
            [np.full(output_times.shape[:2] + (1,), -np.inf), output_times[:, :, :-1]], axis=2
        )
        with np.errstate(invalid="ignore"):
            after_previous = inp > previous[:, :, :, None, None]
        delay = np.where(after_previous, delay, np.nan)
        own_causal = np.zeros_like(own_causal)
    kernel, kernel_slope = _kernels(delay, p)
    w = weights.T[None, :, None, :, None]  # (1, N, 1, N_in, 1)
    own_decay = np.where(own_causal, np.exp(-p.beta * np.where(own_causal, own_delay, 0.0)), 0.0)
    slope = (w * kernel_slope).sum(axis=(3, 4)) + p.theta * p.beta * own_decay.sum(axis=3)
    return LayerPartials(
        d_weight=kernel.sum(axis=4),
        d_input_time=-w * kernel_slope if need_input_partials else None,
        d_own_time=-p.theta * p.beta * own_decay,
        slope=slope,
    )


@dataclass
class NetworkGradients:
    """derivatives[l][k]: d(spike times of layer l)/d W_k (compact for k == l, see module doc)."""

    derivatives: list[list[np.ndarray]]
    degenerate: int


def _substitute(direct: np.ndarray, partials: LayerPartials, usable: np.ndarray) -> np.ndarray:
    """Solve D[n] = −(direct[n] + Σ_{m<n} d_own[n, m] D[m]) / slope[n] spike by spike."""
    result = np.zeros_like(direct)
    extra = (1,) * (direct.ndim - 3)
    slope = np.where(usable, partials.slope, 1.0).reshape(partials.slope.shape + extra)
    mask = usable.reshape(usable.shape + extra)
    for n in range(direct.shape[2]):
        total = direct[:, :, n]
        if n:
            own = partials.d_own_time[:, :, n, :n].reshape(partials.d_own_time.shape[:2] + (n,) + extra)
            total = total + (own * result[:, :, :n]).sum(axis=2)
        result[:, :, n] = np.where(mask[:, :, n], -total / slope[:, :, n], 0.0)
    return result


def _layer_derivatives_numpy(times, spikes, w, p, previous, keep_all_terms):
    """Reference engine: (derivatives of this layer for W_0..W_l, degenerate count)."""
    partials = layer_partials(times, spikes.times, w, p, bool(previous), keep_all_terms)
    fired = np.isfinite(spikes.times)
    regular = partials.slope > MIN_RELATIVE_SLOPE * p.theta * max(p.alpha, p.beta)
    usable = fired & regular
    layer_derivatives = []
    for k, prev in enumerate(previous):
        if k == len(previous) - 1:
            # previous layer's compact own-weight derivative: d t_{j,s} / d W_k[q, j]
            direct = np.einsum("binjs,bjsq->binqj", partials.d_input_time, prev)
        else:
            direct = np.einsum(
                "binjs,bjsp->binp", partials.d_input_time, prev.reshape(prev.shape[:3] + (-1,))
            ).reshape(prev.shape[:1] + spikes.times.shape[1:] + prev.shape[3:])
        layer_derivatives.append(_substitute(direct, partials, usable))
    layer_derivatives.append(_substitute(partials.d_weight, partials, usable))
    return layer_derivatives, int((fired & ~regular).sum())


def _layer_derivatives_numba(times, spikes, w, p, previous, keep_all_terms):
    """Compiled engine (`snndeploy.kernels.fp_cpu`): same rules and layout as the reference."""
    if not keep_all_terms:
        raise SnnDeployError(
            "the public code's simplification (keep_all_terms=False) exists in the numpy reference "
            "engine only; pass engine='numpy'"
        )
    batch, n_out, n_spikes = spikes.times.shape
    n_in, s_in = times.shape[1], times.shape[2]
    earlier = previous[:-1]
    previous_own = previous[-1] if previous else np.zeros((batch, n_in, s_in, 0))
    previous_rest = np.concatenate(
        [d.reshape(batch, n_in, s_in, -1) for d in earlier] or [np.zeros((batch, n_in, s_in, 0))], axis=3
    )
    own = np.zeros((batch, n_out, n_spikes, n_in))
    chained = np.zeros((batch, n_out, n_spikes, previous_own.shape[3], n_in))
    rest = np.zeros((batch, n_out, n_spikes, previous_rest.shape[3]))
    degenerate = np.zeros((batch, n_out, n_spikes), dtype=np.bool_)
    layer_derivatives_kernel(
        np.ascontiguousarray(times), np.ascontiguousarray(spikes.times), np.ascontiguousarray(w),
        p.alpha, p.beta, p.theta, MIN_RELATIVE_SLOPE * p.theta * max(p.alpha, p.beta),
        np.ascontiguousarray(previous_own), np.ascontiguousarray(previous_rest),
        own, chained, rest, degenerate,
    )
    layer_derivatives = []
    offset = 0
    for d in earlier:
        size = int(np.prod(d.shape[3:]))
        layer_derivatives.append(rest[..., offset:offset + size].reshape((batch, n_out, n_spikes) + d.shape[3:]))
        offset += size
    if previous:
        layer_derivatives.append(chained)
    layer_derivatives.append(own)
    return layer_derivatives, int(degenerate.sum())


# engine name -> per-layer derivative builder (same names as snndeploy.fp.simulate.LAYER_SIMULATORS)
LAYER_DERIVATIVES = {"numba": _layer_derivatives_numba, "numpy": _layer_derivatives_numpy}


def network_gradients(
    input_times: np.ndarray,
    layers: list[LayerSpikes],
    weights: list[np.ndarray],
    p: NeuronParameters,
    keep_all_terms: bool = True,
    engine: str = DEFAULT_ENGINE,
) -> NetworkGradients:
    """d(every spike time)/d(every weight) of a simulated feed-forward network.

    engine: "numba" (compiled, default) or "numpy" (the reference; the only one that offers
    keep_all_terms=False).
    """
    check_engine(engine)
    times = np.asarray(input_times, dtype=np.float64)
    if times.ndim == 2:
        times = times[:, :, None]
    derivatives: list[list[np.ndarray]] = []
    degenerate = 0
    for spikes, w in zip(layers, weights):
        previous = derivatives[-1] if derivatives else []
        layer_derivatives, layer_degenerate = LAYER_DERIVATIVES[engine](
            times, spikes, np.asarray(w, dtype=np.float64), p, previous, keep_all_terms
        )
        derivatives.append(layer_derivatives)
        degenerate += layer_degenerate
        times = spikes.times
    return NetworkGradients(derivatives, degenerate)


def weight_gradients(
    grad_times: np.ndarray, gradients: NetworkGradients, layer: int | None = None
) -> list[np.ndarray]:
    """dL/dW_k for every k from dL/d(spike times of `layer`) (default: the last), shape (B, N, S)."""
    layer = len(gradients.derivatives) - 1 if layer is None else layer
    grad = np.where(np.isfinite(grad_times), grad_times, 0.0)
    result = []
    for k, derivative in enumerate(gradients.derivatives[layer]):
        if k == layer:
            result.append(np.einsum("bin,binj->ji", grad, derivative))
        else:
            result.append(np.einsum("bin,bin...->...", grad, derivative))
    return result
