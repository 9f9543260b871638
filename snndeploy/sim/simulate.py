"""`simulate(config, events, mode=...) -> SimResult`: the one entry point of the simulator."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from snndeploy.errors import SnnDeployError
from snndeploy.sim.events import load_events, validate_events
from snndeploy.sim.fast import simulate_fast
from snndeploy.sim.input_stage import route_input
from snndeploy.sim.network import SimNetwork
from snndeploy.sim.raw import Probe, RawRun
from snndeploy.sim.reference import simulate_reference
from snndeploy.sim.timestep import simulate_timestep


@dataclass(frozen=True)
class Monitor:
    """What to watch. `cores`: cores whose output spikes are returned (None: the cores the
    configuration marks as monitored). `neurons`: (core, channel, y, x) addresses whose state
    is sampled at each of `times` (µs, each < the duration)."""

    cores: tuple[int, ...] | None = None
    neurons: tuple[tuple[int, int, int, int], ...] = ()
    times: tuple[int, ...] = ()


@dataclass
class SimResult:
    """Outcome of one simulated sample.

    spikes: output spikes of the monitored cores (`snndeploy.sim.raw.SPIKE_DTYPE`: t, core,
    p, y, x). counts[core]: spikes per output channel of every core. class_counts: spikes per
    class through the readout (without one: per output channel of the final core);
    prediction: the class with most spikes (lowest index on ties), or -1 when no class spiked. synops[core]: synaptic additions; synops_per_s over the
    duration; over_bandwidth: cores whose SynOps/s exceed the configured limit.
    final_state[core]: (c, y, x) states at the end; probed[i, j]: state of monitor.neurons[j]
    at monitor.times[i].
    """

    mode: str
    duration_us: int
    spikes: np.ndarray
    counts: dict[int, np.ndarray]
    class_counts: np.ndarray
    prediction: int
    synops: dict[int, int]
    synops_per_s: dict[int, float]
    over_bandwidth: tuple[int, ...]
    final_state: dict[int, np.ndarray]
    probed: np.ndarray
    monitor: Monitor = field(default_factory=Monitor)

    def to_dict(self) -> dict:
        """JSON-ready summary (spikes as a list of [t, core, p, y, x] rows)."""
        return {
            "mode": self.mode,
            "duration_us": self.duration_us,
            "prediction": self.prediction,
            "class_counts": self.class_counts.tolist(),
            "counts": {str(i): c.tolist() for i, c in self.counts.items()},
            "synops": {str(i): n for i, n in self.synops.items()},
            "synops_per_s": {str(i): r for i, r in self.synops_per_s.items()},
            "over_bandwidth": list(self.over_bandwidth),
            "spikes": [list(map(int, row)) for row in self.spikes.tolist()],
            "probed": {
                "neurons": [list(n) for n in self.monitor.neurons],
                "times": list(self.monitor.times),
                "states": self.probed.tolist(),
            },
        }


@dataclass(frozen=True)
class _Mode:
    run: Callable[..., RawRun]
    description: str


def _event_mode(backend: str):
    def run(net, inputs, duration_us, dt_us, hop_delay_us, probe):
        return EVENT_BACKENDS[backend](net, inputs, duration_us, hop_delay_us, probe)
    return run


EVENT_BACKENDS: dict[str, Callable[..., RawRun]] = {
    "fast": simulate_fast,
    "reference": simulate_reference,
}

MODES: dict[str, _Mode] = {
    "event": _Mode(_event_mode("fast"), "per event, one spike per update (the chip)"),
    "event-reference": _Mode(_event_mode("reference"), "per event, plain-Python reference"),
    "timestep": _Mode(
        lambda net, inputs, duration_us, dt_us, hop_delay_us, probe: simulate_timestep(
            net, inputs, duration_us, dt_us, probe
        ),
        "binned at dt, multi-spike (equals QuantizedModel)",
    ),
}


def as_network(config) -> SimNetwork:
    """A SimNetwork from a SimNetwork, a ChipConfig, or the path of a ChipConfig JSON file."""
    if isinstance(config, SimNetwork):
        return config
    from snndeploy.sim.from_config import network_from_config

    return network_from_config(config)


def _probe(net: SimNetwork, monitor: Monitor, duration_us: int, default_cores: tuple[int, ...]) -> Probe:
    cores = default_cores if monitor.cores is None else tuple(monitor.cores)
    for index in cores:
        if index not in net.cores:
            raise SnnDeployError(f"monitor: core {index} is not configured (cores: {list(net.cores)})")
    for neuron in monitor.neurons:
        if len(neuron) != 4 or neuron[0] not in net.cores:
            raise SnnDeployError(f"monitor: neuron {neuron} must be (core, channel, y, x) of a configured core")
        shape = net.cores[neuron[0]].output_shape
        if not all(0 <= v < s for v, s in zip(neuron[1:], shape)):
            raise SnnDeployError(f"monitor: neuron {neuron} lies outside core {neuron[0]}'s output {shape}")
    times = tuple(int(t) for t in monitor.times)
    if list(times) != sorted(times) or any(not 0 <= t < duration_us for t in times):
        raise SnnDeployError(f"monitor: times {list(times)} must be sorted and within 0..{duration_us - 1} µs")
    return Probe(frozenset(cores), tuple(tuple(int(v) for v in n) for n in monitor.neurons), times)


def simulate(
    config,
    events,
    mode: str = "event",
    monitor: Monitor | None = None,
    *,
    duration_us: int | None = None,
    dt_us: int | None = None,
    hop_delay_us: int = 0,
    synops_per_s_limit: float | None = None,
) -> SimResult:
    """Simulate one sample of events on a chip configuration.

    config: ChipConfig, path of its JSON, or SimNetwork. events: structured array or path of
    a .npy/.npz (validated before anything runs). mode: "event" (the chip), "timestep"
    (binned at dt_us, default the slow-clock period) or "event-reference" (the slow plain
    Python per-event path). duration_us: simulated time, default last event time + 1; events
    at or after it are ignored. hop_delay_us: delay of every core-to-core hop.
    synops_per_s_limit overrides the configured per-core bandwidth.
    """
    if mode not in MODES:
        choices = "; ".join(f"{name}: {entry.description}" for name, entry in MODES.items())
        raise SnnDeployError(f"unknown simulation mode {mode!r}; choose one of {choices}")
    net = as_network(config)
    size = net.input.size
    if isinstance(events, (str, os.PathLike)):
        events = load_events(events, size)
    else:
        events = validate_events(events, size)
    if duration_us is None:
        duration_us = int(events["t"][-1]) + 1 if len(events) else net.slow_clock_period_us
    duration_us = int(duration_us)
    dt_us = int(net.slow_clock_period_us if dt_us is None else dt_us)
    if duration_us <= 0 or dt_us <= 0 or hop_delay_us < 0:
        raise SnnDeployError(
            f"duration_us ({duration_us}) and dt_us ({dt_us}) must be positive and hop_delay_us "
            f"({hop_delay_us}) non-negative"
        )
    monitor = monitor or Monitor()
    probe = _probe(net, monitor, duration_us, net.monitored_cores)
    inputs = route_input(net, events, duration_us)
    raw = MODES[mode].run(net, inputs, duration_us, dt_us, int(hop_delay_us), probe)
    return _result(net, raw, mode, duration_us, monitor, synops_per_s_limit)


def _result(net: SimNetwork, raw: RawRun, mode: str, duration_us: int, monitor: Monitor, limit) -> SimResult:
    if net.readout is not None:
        channels = net.readout.channels()
        source = raw.counts[net.readout.core]
        class_counts = np.array([source[c] if c < len(source) else 0 for c in channels], np.int64)
    else:
        # No readout configured: the classes are the output channels of the network's one final
        # core (the core without destinations), as the chip's monitor would report them.
        finals = [index for index, core in net.cores.items() if not core.destinations]
        class_counts = (np.asarray(raw.counts[finals[0]], np.int64) if len(finals) == 1
                        else np.zeros(0, np.int64))
    prediction = int(np.argmax(class_counts)) if class_counts.size and class_counts.max() > 0 else -1
    seconds = duration_us * 1e-6
    rates = {i: n / seconds for i, n in raw.synops.items()}
    limits = {i: limit for i in net.cores} if limit is not None else net.synops_per_s_limit
    over = tuple(i for i, r in rates.items() if i in limits and r > limits[i])
    return SimResult(
        mode=mode, duration_us=duration_us, spikes=raw.spikes, counts=raw.counts,
        class_counts=class_counts, prediction=prediction, synops=raw.synops, synops_per_s=rates,
        over_bandwidth=over, final_state=raw.state, probed=raw.probed, monitor=monitor,
    )
