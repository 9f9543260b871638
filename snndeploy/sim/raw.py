"""What a simulator run records, in one layout shared by all simulation paths."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Output spikes of monitored cores: time (µs), core, channel p, row y, column x.
SPIKE_DTYPE = np.dtype(
    [("t", np.int64), ("core", np.int16), ("p", np.int16), ("y", np.int16), ("x", np.int16)]
)


@dataclass(frozen=True)
class Probe:
    """What to record besides spike counts: output spikes of `record_cores`, and the state of
    `neurons` (core, c, y, x) after all work at times <= each of `times` (sorted µs)."""

    record_cores: frozenset[int] = frozenset()
    neurons: tuple[tuple[int, int, int, int], ...] = ()
    times: tuple[int, ...] = ()


@dataclass
class RawRun:
    """spikes: SPIKE_DTYPE array in emission order; counts[core][c]: spikes per output channel;
    synops[core]: synaptic additions; state[core]: final (c, y, x) states;
    probed: int64 (len(times), len(neurons)) states at the probe times."""

    spikes: np.ndarray
    counts: dict[int, np.ndarray]
    synops: dict[int, int]
    state: dict[int, np.ndarray]
    probed: np.ndarray

    @classmethod
    def from_parts(cls, recorded, counts, synops, state, probe_values, probe: Probe) -> "RawRun":
        spikes = np.array([tuple(r) for r in recorded], dtype=SPIKE_DTYPE)
        probed = np.array(probe_values, dtype=np.int64).reshape(len(probe.times), len(probe.neurons))
        return cls(spikes, counts, {i: int(n) for i, n in synops.items()}, state, probed)
