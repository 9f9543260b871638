"""Post-training quantization: `quantize(model, target, calibration=None) -> QuantizedModel`.

Rule, per layer (one core): one common scale s (integer units per float unit), because scaling
a layer's weights, biases, thresholds and state together leaves its spikes unchanged:

    s = min( (2^(wb-1) - 1) / max|w|,  (2^(bb-1) - 1) / max|b|,
             (2^(sb-1) - 1) / max(threshold, |min_v_mem|) )          (absent terms dropped)

min_v_mem = None means "no floor inside the state range" and does NOT enter s (the chip's
threshold_low is then -2^(sb-1)), so a network with small weights keeps them. Then
w = clip(round(w·s)), b = clip(round(b·s)), threshold_high = clip(max(1, round(θ·s))),
threshold_low = clip(round(min_v_mem·s)); round = half to even (torch.round), clip =
saturate to the signed range (never wrap). With calibration data, candidate scales
s·{1, 1.25, 1.5, 2, 3, 4, 6, 8} are tried per layer (larger s keeps more precision and clips the
largest weights) and the one whose integer spikes agree best with the float model's on
the calibration frames wins (ties: the smaller scale).

Leaky neurons. On an IAF target a LIF (v ← α v + c·x, c = 1−α with norm_input else 1)
becomes IAF with weights·c and a constant leak L = (1−α)·mean(v) per channel subtracted as bias per
step (the chip's leak), mean(v) measured on the calibration frames (without them:
threshold/2, with a warning); the spike agreement LIF vs linear leak is reported. On a LIF
target (bit-shift decay v ← v − (v >> k)), k = round(−log2(1−α)) within the target's range;
exact when 1−α is a power of two, else reported.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.quantize.graph import FloatLayer, LayerGraph, build_graph, check_graph, is_neuron
from snndeploy.quantize.model import QuantizedLayer, QuantizedModel, gather_inputs, integer_conv, sum_pool
from snndeploy.targets import Target, load_target

CALIBRATION_SCALE_FACTORS = (1.0, 1.25, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0)
COLLAPSE_FRACTION = 0.5


@dataclass
class LayerReport:
    name: str
    scale: float
    threshold_high: int
    threshold_low: int
    max_weight: int
    clipped_fraction: float  # weights and biases that hit the range limit
    zeroed_fraction: float  # non-zero float weights that became 0
    notes: list[str] = field(default_factory=list)


@dataclass
class QuantizationReport:
    target: str
    layers: list[LayerReport]
    warnings: list[str]
    fidelity: dict[str, float] = field(default_factory=dict)

    def table(self) -> str:
        lines = [f"{'layer':<14} {'scale':>10} {'thr_high':>8} {'thr_low':>8} {'max|w|':>6} {'clipped':>8} {'zeroed':>8}"]
        for r in self.layers:
            lines.append(f"{r.name:<14} {r.scale:>10.4g} {r.threshold_high:>8} {r.threshold_low:>8} {r.max_weight:>6} "
                         f"{r.clipped_fraction:>8.2%} {r.zeroed_fraction:>8.2%}")
        lines += [f"fidelity {k}: {v:.4%}" for k, v in self.fidelity.items()]
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        return {"target": self.target, "layers": [vars(r) for r in self.layers], "warnings": self.warnings, "fidelity": self.fidelity}


def signed_max(bits: int) -> int:
    return 2 ** (bits - 1) - 1


def layer_scale(weight: torch.Tensor, bias: Optional[torch.Tensor], threshold: float, min_v_mem: Optional[float], target: Target) -> float:
    """The module docstring's common scale s (a Python float)."""
    candidates = []
    w_max = float(weight.detach().abs().max()) if weight.numel() else 0.0
    if w_max > 0:
        candidates.append(signed_max(target.weight_bits) / w_max)
    if bias is not None and float(bias.detach().abs().max()) > 0:
        candidates.append(signed_max(target.bias_bits) / float(bias.detach().abs().max()))
    state = max(abs(float(threshold)), abs(min_v_mem) if min_v_mem is not None else 0.0)
    if state <= 0:
        raise SnnDeployError(f"threshold {threshold} must be positive")
    candidates.append(signed_max(target.state_bits) / state)
    return min(candidates)


def round_clip(values: torch.Tensor, scale: float, bits: int) -> tuple[torch.Tensor, int]:
    """(clip(round(values·scale)) as int64, number of clipped entries)."""
    scaled = torch.round(values.double() * scale)
    limit = signed_max(bits)
    clipped = int(((scaled > limit) | (scaled < -limit - 1)).sum())
    return scaled.clamp(-limit - 1, limit).to(torch.int64), clipped


def integer_thresholds(threshold: float, min_v_mem: Optional[float], scale: float, target: Target) -> tuple[int, int]:
    low_limit, high_limit = target.range(target.state_bits)
    high = min(high_limit, max(1, int(torch.round(torch.tensor(threshold * scale, dtype=torch.float64)))))
    low = low_limit if min_v_mem is None else max(low_limit, min(high_limit, int(torch.round(torch.tensor(min_v_mem * scale, dtype=torch.float64)))))
    return high, low


def quantize_layer(layer: FloatLayer, weight: torch.Tensor, bias: Optional[torch.Tensor], scale: float,
                   target: Target, decay_shift: Optional[int]) -> tuple[QuantizedLayer, LayerReport]:
    neuron = layer.neuron
    w_int, clipped_w = round_clip(weight, scale, target.weight_bits)
    b_int, clipped_b = (None, 0) if bias is None else round_clip(bias, scale, target.bias_bits)
    high, low = integer_thresholds(neuron.threshold, neuron.min_v_mem, scale, target)
    nonzero = weight != 0
    zeroed = float(((w_int == 0) & nonzero).sum()) / max(1, int(nonzero.sum()))
    total = w_int.numel() + (0 if b_int is None else b_int.numel())
    q = QuantizedLayer(
        name=layer.name, weights=w_int, biases=b_int, stride=layer.stride, padding=layer.padding,
        input_shape=layer.input_shape, threshold_high=high, threshold_low=low, reset=neuron.reset,
        sources=list(layer.sources), scale=scale, decay_shift=decay_shift,
    )
    report = LayerReport(layer.name, scale, high, low, int(w_int.abs().max()) if w_int.numel() else 0,
                         (clipped_w + clipped_b) / max(1, total), zeroed)
    return q, report


# ---- running the float model -----------------------------------------------------------------


def _uses_squeezed_layers(model: nn.Module) -> bool:
    return any(is_neuron(m) and (hasattr(m, "num_timesteps") or hasattr(m, "batch_size")) for m in model.modules())


def _reset(model: nn.Module) -> None:
    for module in model.modules():
        if is_neuron(module):
            module.reset_states()


def run_float_model(model: nn.Module, frames: torch.Tensor, record: Optional[list[str]] = None):
    """Run a float model on (batch, time, ...) frames from a fresh state: squeezed models get
    (batch·time, ...). Returns (output (batch, time, ...), {module name: (batch, time, ...) output})."""
    batch, steps = frames.shape[:2]
    modules = dict(model.named_modules())
    recorded: dict[str, torch.Tensor] = {}
    hooks = [
        modules[name].register_forward_hook(lambda _m, _i, out, name=name: recorded.__setitem__(name, out.detach()))
        for name in (record or [])
    ]
    _reset(model)
    try:
        with torch.no_grad():
            squeezed = _uses_squeezed_layers(model)
            out = model(frames.reshape(batch * steps, *frames.shape[2:]) if squeezed else frames)
    except SnnDeployError:
        raise
    except Exception as err:  # the user's model rejected the frames
        raise SnnDeployError(f"the float model fails on calibration frames of shape {tuple(frames.shape)}: {err}") from None
    finally:
        for hook in hooks:
            hook.remove()
    _reset(model)
    reshape = lambda t: t.reshape(batch, steps, *t.shape[(1 if squeezed else 2):])  # noqa: E731
    return reshape(out), {name: reshape(t) for name, t in recorded.items()}


# ---- leaky neurons ---------------------------------------------------------------------------


def _float_lif_mean_v(layer: FloatLayer, drive: torch.Tensor) -> torch.Tensor:
    """Per-channel mean membrane of the float LIF over (batch, time, y, x) for a drive (B, T, c, h, w)."""
    n = layer.neuron
    v = torch.zeros_like(drive[:, 0])
    total = torch.zeros(drive.shape[2], dtype=drive.dtype)
    for t in range(drive.shape[1]):
        v = n.alpha * v + drive[:, t]
        spikes = torch.where(v >= n.threshold, torch.floor(v / n.threshold), torch.zeros_like(v))
        v = torch.where(spikes > 0, torch.zeros_like(v), v) if n.reset == "zero" else v - spikes * n.threshold
        if n.min_v_mem is not None:
            v = v.clamp(min=n.min_v_mem)
        total += v.mean((0, 2, 3))
    return total / drive.shape[1]


def _float_drive(layer: FloatLayer, weight, bias, inputs: torch.Tensor) -> torch.Tensor:
    batch, steps = inputs.shape[:2]
    out = F.conv2d(inputs.reshape(batch * steps, *inputs.shape[2:]).double(), weight, bias, stride=layer.stride, padding=layer.padding)
    return out.reshape(batch, steps, *out.shape[1:])


def _layer_inputs(graph: LayerGraph, index: int, frames: torch.Tensor, spikes: dict[int, torch.Tensor]) -> torch.Tensor:
    """The float model's input counts of layer `index` (batch, time, c, h, w)."""
    layer = graph.layers[index]
    batch, steps = frames.shape[:2]

    def spikes_of(source: int) -> torch.Tensor:
        raw = frames if source < 0 else spikes[source]
        shape = graph.input_shape if source < 0 else graph.layers[source].neuron_shape
        return raw.reshape(batch * steps, *shape)

    total = gather_inputs(layer.sources, layer.input_shape, spikes_of, torch.float64)
    return total.reshape(batch, steps, *layer.input_shape)


# ---- quantize ------------------------------------------------------------------------------


def _input_shape(input_shape, calibration) -> tuple:
    if input_shape is not None:
        return tuple(input_shape)
    if calibration is not None:
        return tuple(calibration.shape[2:])
    raise SnnDeployError("quantize needs input_shape=(channels, height, width) (or calibration frames of shape (batch, time, c, h, w))")


def _refuse_eventprop(model: nn.Module, target: Target) -> None:
    """EventProp networks (current-based LIF with exact spike times, snndeploy.eventprop) have no
    integer form here: raise with every reason `deployment_blockers` finds for `target`."""
    from snndeploy.eventprop import EventPropLIF, EventPropReadout, deployment_blockers

    if not any(isinstance(module, (EventPropLIF, EventPropReadout)) for module in model.modules()):
        return

    described = {"name": target.name, "slow_clock_period_us": target.slow_clock_period_us,
                 "neuron": dict(target.neuron.__dict__)}
    reasons = "; ".join(f"({number}) {reason}" for number, reason
                        in enumerate(deployment_blockers(model, described), start=1))
    raise SnnDeployError(f"the EventProp network cannot be quantized for {target.name}: {reasons}")


def _refuse_fp(model: nn.Module, target: Target) -> None:
    """Forward-propagation networks (snndeploy.fp) compute exact spike times in continuous time
    with an exponential synaptic current: no integer form here."""
    from snndeploy.fp import FPNetwork

    if not isinstance(model, FPNetwork):
        return
    raise SnnDeployError(
        f"the FP network (snndeploy.fp, {'-'.join(map(str, model.sizes))}) cannot be quantized for "
        f"{target.name}: its neurons integrate an exponential synaptic current (tau_syn = 1/alpha = "
        f"{1 / model.params.alpha:g}) in continuous time with exact spike times, while {target.name} "
        f"adds each input event to one state per neuron in ticks of {target.slow_clock_period_us} us; "
        "train a deployable network with EXODUS/BPTT layers instead (snndeploy train --backend exodus)"
    )


# Network types with no integer form: each raises naming what blocks deployment on the target.
_REFUSALS = (_refuse_eventprop, _refuse_fp)


def quantize(model: nn.Module, target, calibration: Optional[torch.Tensor] = None, *, input_shape=None,
             strict: bool = False) -> QuantizedModel:
    """Quantize a float spiking model for `target` (name, path or Target); see the module docstring.

    calibration: optional (batch, time, c, h, w) input frames (spike counts) used to pick scales
    and to fit/measure approximations. strict=True refuses approximations (MaxPool, LIF on IAF).
    The returned QuantizedModel carries `.report` (QuantizationReport)."""
    from snndeploy.quantize.qat import QuantizationAware

    target = load_target(target)
    if isinstance(model, (QuantizationAware, QuantizedModel)):
        trained_for = model.target.name if isinstance(model, QuantizationAware) else model.target
        if trained_for != target.name:
            raise SnnDeployError(
                f"the model is already {'quantization-aware' if isinstance(model, QuantizationAware) else 'quantized'} "
                f"for {trained_for}, not {target.name}; quantize its float model for {target.name} instead"
            )
        return model.to_quantized() if isinstance(model, QuantizationAware) else model
    for refuse in _REFUSALS:
        refuse(model, target)
    shape = _input_shape(input_shape, calibration)
    graph = build_graph(model, shape, strict=strict)
    check_graph(graph, target)
    warnings = list(graph.warnings)
    fidelity: dict[str, float] = {}
    float_spikes: dict[int, torch.Tensor] = {}
    if calibration is not None:
        calibration = calibration.double() if calibration.dtype == torch.float64 else calibration.float()
        _, recorded = run_float_model(model, calibration, [layer.neuron.module_name for layer in graph.layers])
        float_spikes = {i: recorded[layer.neuron.module_name] for i, layer in enumerate(graph.layers)}
    layers, reports = [], []
    for index, layer in enumerate(graph.layers):
        weight, bias, decay_shift, notes = _neuron_model(layer, target, strict, calibration, graph, index, float_spikes, warnings, fidelity)
        base = layer_scale(weight, bias, layer.neuron.threshold, layer.neuron.min_v_mem, target)
        scale = base
        if calibration is not None and layer.neuron.alpha == 1.0:
            scale = _calibrated_scale(layer, weight, bias, base, target, _layer_inputs(graph, index, calibration, float_spikes), float_spikes[index])
        q, report = quantize_layer(layer, weight, bias, scale, target, decay_shift)
        report.notes.extend(notes)
        _layer_warnings(layer, q, report, warnings)
        layers.append(q)
        reports.append(report)
    if graph.max_pools:
        fidelity.update(_max_pool_fidelity(model, graph, calibration, shape))
    qmodel = QuantizedModel(layers, graph.input_shape, graph.output, target=target.name, state_bits=target.state_bits,
                            weight_bits=target.weight_bits, output_flat=graph.output_flat)
    qmodel.report = QuantizationReport(target.name, reports, warnings, fidelity)
    return qmodel


def _layer_warnings(layer: FloatLayer, q: QuantizedLayer, report: LayerReport, warnings: list[str]) -> None:
    if report.zeroed_fraction > COLLAPSE_FRACTION:
        warnings.append(f"{layer.name}: {report.zeroed_fraction:.0%} of its non-zero weights rounded to 0 (the layer collapses); "
                        "train with larger weights relative to the threshold or use QAT")
    if report.max_weight >= q.threshold_high:
        warnings.append(f"{layer.name}: max weight {report.max_weight} >= threshold_high {q.threshold_high}; the chip fires at most "
                        "once per input event, so it will emit fewer spikes than the time-stepped model")
    if layer.neuron.spike_fn not in ("MultiSpike",):
        report.notes.append(f"float model uses {layer.neuron.spike_fn}; the quantized model is multi-spike per step like the chip's time-stepped view")


def _neuron_model(layer, target, strict, calibration, graph, index, float_spikes, warnings, fidelity):
    """(weight, bias, decay_shift, notes) after mapping the float neuron onto the target's model."""
    n = layer.neuron
    weight, bias = layer.weight, layer.bias
    notes: list[str] = []
    if n.alpha >= 1.0:
        if bias is not None and target.neuron.leak == "none":
            raise SnnDeployError(f"layer {layer.name!r}: has a bias but {target.name} has no bias/leak input; remove the bias")
        return weight, bias, None, notes
    gain = (1.0 - n.alpha) if n.norm_input else 1.0
    weight = weight * gain
    bias = None if bias is None else bias * gain
    if target.neuron.model == "lif":
        exact = -math.log2(1.0 - n.alpha)
        shift = min(target.neuron.decay_shift_max, max(target.neuron.decay_shift_min, round(exact)))
        if abs(exact - shift) > 1e-9:
            notes.append(f"decay 1-alpha = {1 - n.alpha:.6g} approximated by 2^-{shift} = {2.0 ** -shift:.6g}")
            warnings.append(f"{layer.name}: LIF decay approximated by the nearest bit shift {shift} (exact shift {exact:.3f})")
        return weight, bias, shift, notes
    if strict:
        raise SnnDeployError(
            f"layer {n.module_name!r}: LIF (tau_mem) on {target.name}, whose neurons do not decay (strict=True); "
            "train with IAF, or allow the linear-leak approximation (strict=False)"
        )
    if target.neuron.leak != "bias_per_tick":
        raise SnnDeployError(f"layer {layer.name!r}: LIF needs a leak, {target.name} has none; train with IAF")
    if calibration is None:
        mean_v = torch.full((weight.shape[0],), n.threshold / 2, dtype=torch.float64)
        warnings.append(f"{layer.name}: LIF -> IAF leak fitted without calibration data (assumed mean membrane threshold/2); "
                        "pass calibration frames for a fitted leak")
    else:
        inputs = _layer_inputs(graph, index, calibration, float_spikes)
        mean_v = _float_lif_mean_v(layer, _float_drive(layer, weight, bias, inputs))
    leak = (1.0 - n.alpha) * mean_v.clamp(min=0.0)
    if calibration is not None:
        fidelity[f"{layer.name} LIF->IAF spike agreement"] = _leak_fidelity(layer, weight, bias, inputs, leak)
    bias = (bias if bias is not None else torch.zeros(weight.shape[0], dtype=torch.float64)) - leak
    notes.append(f"LIF converted to IAF with linear leak {leak.tolist()} per step")
    warnings.append(f"{layer.name}: LIF approximated by IAF with a linear leak (mean {float(leak.mean()):.4g} per step, per channel; see fidelity)")
    return weight, bias, None, notes


def _leak_fidelity(layer, weight, bias, inputs, leak) -> float:
    """Spike agreement of the float LIF and the float IAF with linear leak on the same inputs."""
    drive = _float_drive(layer, weight, bias, inputs)
    n = layer.neuron

    def run(alpha, offset):
        v = torch.zeros_like(drive[:, 0])
        out = []
        for t in range(drive.shape[1]):
            v = alpha * v + drive[:, t] - offset[None, :, None, None]
            s = torch.where(v >= n.threshold, torch.floor(v / n.threshold), torch.zeros_like(v))
            v = torch.where(s > 0, torch.zeros_like(v), v) if n.reset == "zero" else v - s * n.threshold
            v = v.clamp(min=n.min_v_mem) if n.min_v_mem is not None else v
            out.append(s)
        return torch.stack(out, 1)

    return float((run(n.alpha, torch.zeros_like(leak)) == run(1.0, leak)).double().mean())


def _calibrated_scale(layer, weight, bias, base, target, inputs, float_out) -> float:
    """The candidate scale whose integer spikes agree best with the float model's."""
    batch, steps = inputs.shape[:2]
    counts = inputs.round().to(torch.int64).reshape(batch * steps, *inputs.shape[2:])
    best, best_agreement = base, -1.0
    lo, hi = target.range(target.state_bits)
    from snndeploy.quantize.model import iaf_step

    for factor in CALIBRATION_SCALE_FACTORS:
        scale = base * factor
        w_int, _ = round_clip(weight, scale, target.weight_bits)
        b_int = None if bias is None else round_clip(bias, scale, target.bias_bits)[0]
        high, low = integer_thresholds(layer.neuron.threshold, layer.neuron.min_v_mem, scale, target)
        drive = integer_conv(counts, w_int, layer.stride, layer.padding)
        if b_int is not None:
            drive = drive + b_int[None, :, None, None]
        drive = drive.reshape(batch, steps, *drive.shape[1:])
        v = torch.zeros_like(drive[:, 0])
        agree = 0
        for t in range(steps):
            v, s = iaf_step(v, drive[:, t], high, low, layer.neuron.reset == "zero", lo, hi)
            agree += int((s == float_out[:, t].reshape(s.shape).round().to(torch.int64)).sum())
        agreement = agree / float_out.numel()
        if agreement > best_agreement + 1e-12:
            best, best_agreement = scale, agreement
    return best


def _max_pool_fidelity(model: nn.Module, graph: LayerGraph, calibration, shape) -> dict[str, float]:
    """Output spike agreement of the float model with MaxPool vs with sum pooling in its place."""
    import copy

    if calibration is None:
        # Squeezed layers may fix the batch size or the number of steps: random input obeys them
        # (sinabs marks an unset one with -1, snndeploy with None).
        fixed = {key: next((getattr(m, key) for m in model.modules() if (getattr(m, key, None) or 0) > 0), None)
                 for key in ("batch_size", "num_timesteps")}
        batch, steps = fixed["batch_size"] or 2, fixed["num_timesteps"] or 8
        generator = torch.Generator().manual_seed(0)
        frames = (torch.rand(batch, steps, *shape, generator=generator) < 0.2).float()
    else:
        frames = calibration
    original, _ = run_float_model(model, frames)
    swapped = copy.deepcopy(model)
    for name in graph.max_pools:
        parent_name, _, child = name.rpartition(".")
        parent = swapped.get_submodule(parent_name) if parent_name else swapped
        pool = getattr(parent, child)
        kernel = pool.kernel_size if isinstance(pool.kernel_size, int) else pool.kernel_size[0]
        setattr(parent, child, _SumPool(kernel))
    replaced, _ = run_float_model(swapped, frames)
    source = "calibration" if calibration is not None else "random"
    return {f"MaxPool->SumPool output spike agreement ({source} input)": float((original == replaced).double().mean())}


class _SumPool(nn.Module):
    """Sum pooling over k×k windows of (N, c, h, w) or (B, T, c, h, w) tensors."""

    def __init__(self, kernel: int):
        super().__init__()
        self.kernel = kernel

    def forward(self, x):
        lead = x.shape[:-3]
        pooled = sum_pool(x.reshape(-1, *x.shape[-3:]), self.kernel)
        return pooled.reshape(*lead, *pooled.shape[1:])
