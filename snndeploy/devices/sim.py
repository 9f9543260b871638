"""The `sim` backend: this package's simulator (per-event mode, the chip's semantics) behind
the device interface, so scripts and CI run the whole flash-and-run path without a board.

Time model: the device keeps every event sent since the last reset. `read_events(until_us)`
simulates that stream from the configured initial state up to `until_us` and returns the
output spikes not returned before. The simulation is deterministic and causal (nothing at
time t depends on anything later), so re-simulating from the reset gives exactly the spikes
and states a device with persistent neuron state would have. Monitored cores are those of the
configuration, or all cores when it marks none.
"""

from __future__ import annotations

import numpy as np

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.devices.interface import Device, DeviceError, DeviceInfo, DeviceName, core_fields
from snndeploy.sim.raw import SPIKE_DTYPE


class SimDevice(Device):
    def __init__(self, name: DeviceName):
        super().__init__(name)
        self._events: list[np.ndarray] = []
        self._returned_until_us = 0

    def _write(self, net, chip_config) -> None:
        self._reset()

    def _read_back(self) -> dict[str, object]:
        return core_fields(self.network)

    def _send(self, events: np.ndarray) -> None:
        if self._events and len(events) and events["t"][0] < self._events[-1]["t"][-1]:
            raise DeviceError(
                f"{self.name}: events start at t={int(events['t'][0])} µs, before the last event "
                f"already sent (t={int(self._events[-1]['t'][-1])}); send in time order or reset()"
            )
        if len(events):
            self._events.append(events)

    def _simulate(self, duration_us: int):
        from snndeploy.sim.simulate import Monitor, simulate

        stream = np.concatenate(self._events) if self._events else np.zeros(0, EVENT_DTYPE)
        cores = self.network.monitored_cores or tuple(self.network.cores)
        return simulate(self.network, stream, "event", Monitor(cores=cores), duration_us=max(duration_us, 1))

    def _read(self, until_us: int, timeout_s: float) -> np.ndarray:
        if until_us <= self._returned_until_us:
            return np.zeros(0, SPIKE_DTYPE)
        spikes = self._simulate(until_us).spikes
        new = spikes[spikes["t"] >= self._returned_until_us]
        self._returned_until_us = until_us
        return new

    def _neuron_state(self, core: int, timeout_s: float) -> np.ndarray:
        last_event = int(self._events[-1]["t"][-1]) + 1 if self._events else 0
        return self._simulate(max(self._returned_until_us, last_event)).final_state[core].copy()

    def _reset(self) -> None:
        self._events = []
        self._returned_until_us = 0

    def _close(self) -> None:
        self._events = []


def list_sim_devices() -> list[DeviceInfo]:
    return [DeviceInfo("sim:0", "simulated chip (snndeploy.sim, per-event mode)", "sim")]


def open_sim_device(name: DeviceName) -> SimDevice:
    return SimDevice(name)
