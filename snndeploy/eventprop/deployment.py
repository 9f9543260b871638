"""Why an EventProp network does not fit a chip target, and what would make it fit.

`deployment_blockers(model, target)` compares the network with the `[neuron]` table of a chip
target (hw_targets/*.toml, schema target.schema.json) and returns one sentence per blocker, each
naming the layer, the mismatch and the change that would remove it. An empty list means no
neuron-model blocker (weights still go through quantization and mapping as usual).

Facts used (hw_targets/target.schema.json): model "iaf" is v += input (no membrane decay);
model "lif" adds v ← v − (v >> shift) once per slow-clock tick, i.e. a decay factor
1 − 2^−shift per tick for shift in [decay_shift_min, decay_shift_max]; no target has a
synaptic current state; resets are "subtract" and/or "zero".
"""

from __future__ import annotations

import math

from torch import nn

from snndeploy.eventprop.layers import EventPropLIF, EventPropReadout
from snndeploy.eventprop.network import EventPropNetwork


def _layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    body = model.layers if isinstance(model, EventPropNetwork) else model
    return [(f"layer {index} ({type(layer).__name__})", layer)
            for index, layer in enumerate(body)
            if isinstance(layer, (EventPropLIF, EventPropReadout))]


def nearest_decay_shift(tau_mem_ms: float, tick_ms: float, shift_min: int, shift_max: int):
    """The shift whose per-tick decay 1 − 2^−shift is closest to e^{−tick/τm}, and the τm it
    gives: τm_eff = −tick / ln(1 − 2^−shift)."""
    wanted = -math.log2(1 - math.exp(-tick_ms / tau_mem_ms)) if tau_mem_ms > 0 else shift_max
    shift = min(max(round(wanted), shift_min), shift_max)
    return shift, -tick_ms / math.log(1 - 2.0 ** -shift)


def deployment_blockers(model: nn.Module, target: dict) -> list[str]:
    """Blockers for putting `model` on `target` (a parsed target file: needs "name",
    "slow_clock_period_us" and the "neuron" table)."""
    neuron = target["neuron"]
    name = target.get("name", "the target")
    tick_ms = target["slow_clock_period_us"] / 1000.0
    blockers = []
    for label, layer in _layers(model):
        blockers.append(
            f"{label}: exponential synaptic current (tau_syn={layer.tau_syn} ms) — {name} keeps "
            "one state per neuron and adds each input event to it directly; retrain with "
            "EXODUS/BPTT layers without tau_syn (or with tau_syn much shorter than the tick, "
            f"{tick_ms} ms) so that inputs act instantly"
        )
        if neuron["model"] == "iaf":
            blockers.append(
                f"{label}: membrane leak (tau_mem={layer.tau_mem} ms) — {name} neurons are "
                "integrate-and-fire (v += input, no decay); retrain as IAF, or use a target "
                "whose neuron model is 'lif'"
            )
        else:
            shift, tau_eff = nearest_decay_shift(layer.tau_mem, tick_ms,
                                                 neuron["decay_shift_min"],
                                                 neuron["decay_shift_max"])
            if not math.isclose(tau_eff, layer.tau_mem, rel_tol=0.01):
                blockers.append(
                    f"{label}: tau_mem={layer.tau_mem} ms is not a bit-shift decay of {name} "
                    f"(per tick of {tick_ms} ms, v -= v >> shift); the nearest, shift={shift}, "
                    f"gives tau_mem={tau_eff:.3f} ms: retrain with that tau_mem"
                )
        if isinstance(layer, EventPropReadout):
            blockers.append(
                f"{label}: non-spiking readout — {name} outputs spikes only; end with a "
                "spiking layer (loss 'first_spike') or read the output as spike counts"
            )
        elif "zero" not in neuron["resets"]:
            blockers.append(
                f"{label}: reset to 0 — {name} supports resets {neuron['resets']} only"
            )
        if getattr(layer, "recurrent_weight", None) is not None:
            blockers.append(
                f"{label}: recurrent weights — {name} maps feedforward layers to cores; "
                "retrain without recurrent=True"
            )
    return blockers
