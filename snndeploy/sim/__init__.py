"""An open, bit-accurate simulator of a chip configuration (Speck / DYNAP-CNN semantics).

Everything is integer. Time is in microseconds. This docstring is the specification; the
tests check each rule by hand-computed cases and check that all paths agree.

Input
-----
Events are a structured array with tonic's fields t, x, y, p (`snndeploy.data.events.
EVENT_DTYPE`), validated before anything runs (`validate_events`: integer fields,
t >= 0 and non-decreasing, addresses inside the input). External input: event (x, y, p) is
the core input address (channel p, row y, column x). DVS input: polarity (both / merge / on /
off), ROI crop, sum pooling (address // pool), mirror x / y, rotation by 90° - in that order
(`InputStage`). The input stage then sends each event to each of its destinations.

A destination (of the input or of a core) maps a spike at (c, y, x) to
(c + channel_shift, y // pool, x // pool) at the target core: sum pooling merges addresses.
An address outside the target core's input is dropped.

Per-event mode (`mode="event"`, what the chip does)
---------------------------------------------------
One core = convolution as stored (weights[c_out][c_in][ky][kx], cross-correlation: input
pixel (c, y, x) reaches output neuron (f, oy, ox) with weights[f, c, y + pad_y − oy·stride_y,
x + pad_x − ox·stride_x] when both kernel indices are inside the kernel) into IAF neurons.
An input event updates every neuron whose window covers it, in order f, then oy, then ox;
each update is one synaptic operation (SynOp), zero weights included, and applies

    v ← saturate(v + w)          (16-bit signed: clamp to [−32768, 32767], never wrap)
    if v ≥ threshold_high: emit ONE spike; v ← v − threshold_high (subtract) or 0 (zero)
    v ← max(v, threshold_low)

so a weight above threshold leaves v above threshold, silent until its next update.
Leak: the slow clock ticks at t = 0, P, 2P, … (< duration; P = slow_clock_period_us); at
each tick every core with leak_enable adds bias[f] to each of its neurons, with the same
rule (neurons in order f, oy, ox; cores in index order). Leak updates are not SynOps.
Neurons start from the configured initial state.

Order of work (ties are deterministic): timestamps are processed in increasing order. At one
timestamp T a single FIFO queue holds, in this order: the spikes of the leak tick at T (if
T is a tick), the spikes sent earlier with a delay and due at T (in sending order), and the
input events with timestamp T (in file order, each fanned out in destination order). Events
are taken from the front, each processed completely (all its synaptic updates) before the
next; each spike a core emits goes to its destinations in order, and joins the end of the
same FIFO when the per-hop delay is 0 (the default) or is due at T + delay otherwise
(dropped if that is not before the duration). Output spikes carry the time T at which they
are emitted. The plain-Python reference (`reference.py`) and the numba path (`fast.py`)
implement exactly this and are compared by property tests.

Time-stepped mode (`mode="timestep"`)
-------------------------------------
Events are binned: step k holds the events with k·dt ≤ t < (k+1)·dt (dt defaults to the
slow-clock period), ceil(duration / dt) steps. Per step and per core (cores in topological
order, so spikes of a step reach the next core in the same step): x = the convolution of the
step's input counts, + bias when leak_enable, then

    v ← saturate(v + x);  n ← floor(v / threshold_high) if v ≥ threshold_high else 0
    v ← 0 if (reset to zero and n > 0) else v − n·threshold_high;  v ← max(v, threshold_low)

which is the QuantizedModel of `snndeploy.quantize` run on the binned input.

Where the modes differ (measured by `verify`, not hidden): per event a neuron fires at most
once per update, so a weight (or bias) ≥ threshold_high, or several inputs summing past
2·threshold_high within a bin, give fewer spikes per event than floor(v / θ); a negative
weight arriving before positive ones within a bin can be floored at threshold_low, or a
neuron can fire on an early positive event before later negative ones cancel it; saturation
can differ with the order of additions; the bias arrives at its tick, before that step's
events, and once per slow-clock tick: a time-stepped run with dt ≠ the slow-clock period adds
it once per dt instead (the chip's clock must then be set to dt, or the leak differs). When every weight is positive and below threshold_high, reset is by subtraction,
there is no leak, the state starts in [0, threshold_high) and never saturates, the two
modes emit the same number of spikes per neuron and bin (the order of events inside a bin
then cannot change any spike).

Monitoring
----------
`Monitor(cores=..., neurons=..., times=...)`: output spikes of chosen cores (default: the
configuration's monitored cores); the state of chosen neurons (core, c, y, x) after all
work at timestamps ≤ τ (time-stepped: after step τ // dt); per-core SynOp counts and
SynOps/s over the duration, with the cores above the configured bandwidth flagged.
Readout: class k counts the spikes of channel channel_of_class[k] of the readout core
(on Speck, the erratum mapping: class k ← core channel 4·k); the prediction is the class
with most spikes, −1 if none spiked.

Not modelled: the congestion balancer (drops events under load), the chip's stochastic
behaviour (sinabs #53), the DVS noise filter, the output decimator and the readout's moving
average over the slow clock (the readout here counts spikes over the whole sample). The
per-hop delay is a simulation option (default 0), not a chip measurement.
"""

from snndeploy.sim.events import load_events, save_events, validate_events
from snndeploy.sim.network import Destination, InputStage, Readout, SimCore, SimNetwork
from snndeploy.sim.simulate import MODES, Monitor, SimResult, simulate

__all__ = [
    "Destination",
    "InputStage",
    "MODES",
    "Monitor",
    "Readout",
    "SimCore",
    "SimNetwork",
    "SimResult",
    "load_events",
    "save_events",
    "simulate",
    "validate_events",
]
