"""EventProp networks as NIR graphs (Neuromorphic Intermediate Representation, nir ≥ 1.0).

Mapping (time constants and dt in seconds, NIR's customary unit; the layers use ms):

* EventPropLIF(W [, W_rec]) → Linear(W) → CubaLIF(τs, τm, r = 1, v_leak = 0, ϑ, w_in = τs)
  (+ Linear(W_rec) from the CubaLIF back into it). NIR's synapse τs İ = −I + w_in·S jumps by
  w_in/τs per input spike, so w_in = τs gives our jump I += w. NIR's reset subtracts ϑ, which
  equals our reset to 0 because V = ϑ exactly at an exact crossing time.
* EventPropReadout(W) → Linear(W) → LI(τs, r = τs, v_leak = 0) (the synaptic current)
  → LI(τm, r = 1, v_leak = 0) (the membrane).
* FirstSpikeTime is a reading of the output, not a node: metadata "readout" says "first_spike".

Graph metadata: dt (s), "spike_times": "exact" (events inside steps, see `core`), trainer
"eventprop". The spike trains a simulator of the graph sees must keep exact times for the
trained behaviour to carry over; on a time grid the results differ by the discretisation.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.eventprop.layers import EventPropLIF, EventPropReadout, FirstSpikeTime
from snndeploy.eventprop.network import EventPropNetwork

MS = 1e-3


def _array(value) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def eventprop_to_nir(model: nn.Module, dt: Optional[float] = None):
    """NIR graph of an `EventPropNetwork` or an nn.Sequential of EventProp layers; `dt` in ms
    (taken from the network when it has one)."""
    import nir

    if isinstance(model, EventPropNetwork):
        dt = model.dt if dt is None else dt
        layers = list(model.layers)
    elif isinstance(model, nn.Sequential):
        layers = list(model)
    else:
        raise SnnDeployError(
            "eventprop_to_nir: expected an EventPropNetwork or nn.Sequential of EventProp "
            f"layers, got {type(model).__name__}"
        )
    if dt is None:
        raise SnnDeployError(
            "eventprop_to_nir: pass dt (ms), the step the network was trained with"
        )
    if not layers or not isinstance(layers[0], (EventPropLIF, EventPropReadout)):
        raise SnnDeployError("eventprop_to_nir: the network must start with an EventProp layer")
    nodes = {"input": nir.Input(input_type={"input": np.array([layers[0].in_features])})}
    edges = []
    previous = "input"
    readout = "voltage"
    for index, layer in enumerate(layers):
        if isinstance(layer, FirstSpikeTime):
            if index != len(layers) - 1:
                raise SnnDeployError("eventprop_to_nir: FirstSpikeTime must be the last module")
            readout = "first_spike"
            continue
        if not isinstance(layer, (EventPropLIF, EventPropReadout)):
            raise SnnDeployError(
                f"eventprop_to_nir: module {index} ({type(layer).__name__}) is not an "
                "EventProp layer"
            )
        weight = layer.weight.detach().cpu().numpy().astype(np.float32)
        size = layer.out_features
        tau_syn, tau_mem = layer.tau_syn * MS, layer.tau_mem * MS
        nodes[f"linear{index}"] = nir.Linear(weight=weight)
        edges.append((previous, f"linear{index}"))
        if isinstance(layer, EventPropLIF):
            name = f"lif{index}"
            nodes[name] = nir.CubaLIF(
                tau_syn=_array(np.full(size, tau_syn)), tau_mem=_array(np.full(size, tau_mem)),
                r=_array(np.ones(size)), v_leak=_array(np.zeros(size)),
                v_threshold=_array(np.full(size, layer.threshold)),
                w_in=_array(np.full(size, tau_syn)),
                metadata={"dt": dt * MS, "reset": "to 0 at the exact crossing time"})
            edges.append((f"linear{index}", name))
            if layer.recurrent_weight is not None:
                recurrent = layer.recurrent_weight.detach().cpu().numpy().astype(np.float32)
                nodes[f"recurrent{index}"] = nir.Linear(weight=recurrent)
                edges += [(name, f"recurrent{index}"), (f"recurrent{index}", name)]
            previous = name
        else:
            nodes[f"synapse{index}"] = nir.LI(tau=_array(np.full(size, tau_syn)),
                                              r=_array(np.full(size, tau_syn)),
                                              v_leak=_array(np.zeros(size)))
            nodes[f"membrane{index}"] = nir.LI(tau=_array(np.full(size, tau_mem)),
                                               r=_array(np.ones(size)),
                                               v_leak=_array(np.zeros(size)))
            edges += [(f"linear{index}", f"synapse{index}"),
                      (f"synapse{index}", f"membrane{index}")]
            previous = f"membrane{index}"
    classes = [layer for layer in layers if not isinstance(layer, FirstSpikeTime)][-1].out_features
    nodes["output"] = nir.Output(output_type={"output": np.array([classes])})
    edges.append((previous, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges,
                        metadata={"dt": dt * MS, "time_unit": "s", "spike_times": "exact",
                                  "trainer": "eventprop", "readout": readout})
