"""The `samna` backend: Speck 2e / 2f and DYNAP-CNN dev kits through SynSense's samna runtime.

samna is imported only when a samna device is listed or opened. The samna surface used here
(and nothing else), so a change in samna touches this file only:

    samna.device.get_all_devices() / get_unopened_devices() -> infos (.device_type_name, .serial_number)
    samna.device.open_device(info) -> handle;  samna.device.close_device(handle)
    handle.get_model() -> model;  model.apply_configuration(cfg);  model.get_configuration()
    model.get_sink_node() / model.get_source_node()
    samna.graph.source_to(sink_node) -> writer (.write(list_of_events))
    samna.graph.sink_from(source_node) -> buffer (.get_events() -> new events since last call)
    ChipConfig.to_samna() (snndeploy.mapping) builds the configuration object; read back:
        .cnn_layers[i] .weights [c_out][c_in][kx][ky], .biases, .neurons_initial_value [c][x][y],
        .threshold_high, .threshold_low, .return_to_zero, .leak_enable, .destinations[j]
        (.enable, .layer, .pooling, .feature_shift)
    samna.<chip>.event.Spike(layer, feature, x, y, timestamp)        input to / output of a core
    samna.<chip>.event.DvsEvent(x, y, p, timestamp)                   sensor-shaped input
    samna.<chip>.event.ReadNeuronValue(layer, feature, x, y) -> NeuronValue(layer, feature, x, y, neuron_state)

Timing: event timestamps are µs since the first `send_events` after a reset; `read_events(until_us)`
waits (wall clock) until the board has run until_us, or raises DeviceTimeoutError at once when
that is beyond the timeout. Every samna exception becomes one DeviceError; when the board is no
longer listed the error says it disconnected. Nothing is retried.
"""

from __future__ import annotations

import importlib
import time

import numpy as np

from snndeploy.devices.interface import (
    DEVICE_KINDS,
    BackendNotInstalledError,
    Device,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceInfo,
    DeviceName,
    DeviceNotFoundError,
    DeviceTimeoutError,
    WrongChipError,
)
from snndeploy.sim.raw import SPIKE_DTYPE

INSTALL_HINT = (
    "samna (SynSense's runtime) is not installed: `pip install samna` (it fetches the real wheel "
    "from SynSense's package index, so it needs network access to it). Without a board, use "
    "--device sim:0"
)


def import_samna():
    try:
        return importlib.import_module("samna")
    except ImportError as err:
        raise BackendNotInstalledError(f"{INSTALL_HINT} ({err})") from None


def _kind_of(info):
    return next((k for k in DEVICE_KINDS.values() if k.samna_type == info.device_type_name), None)


def _numbered(infos) -> list[tuple[str, object]]:
    """(name, info) for each info of a known kind, INDEX counting per kind in samna's order."""
    seen: dict[str, int] = {}
    named = []
    for info in infos:
        kind = _kind_of(info)
        if kind is None:
            continue
        index = seen.get(kind.name, 0)
        seen[kind.name] = index + 1
        named.append((f"{kind.name}:{index}", info))
    return named


def list_samna_devices() -> list[DeviceInfo]:
    samna = import_samna()
    unopened = {info.serial_number for info in samna.device.get_unopened_devices()}
    return [DeviceInfo(name, _kind(name).description, "samna", info.serial_number not in unopened,
                       str(info.serial_number))
            for name, info in _numbered(samna.device.get_all_devices())]


def _kind(name: str):
    return DEVICE_KINDS[name.partition(":")[0]]


def open_samna_device(name: DeviceName) -> "SamnaDevice":
    samna = import_samna()
    listed = _numbered(samna.device.get_all_devices())
    match = dict(listed).get(str(name))
    if match is None:
        connected = [n for n, _ in listed]
        raise DeviceNotFoundError(
            f"no {name} connected; connected: {', '.join(connected) or 'none'} "
            "(check the USB cable, or run `snndeploy devices`)"
        )
    serial = match.serial_number
    if serial not in {info.serial_number for info in samna.device.get_unopened_devices()}:
        raise DeviceBusyError(f"{name} (serial {serial}) is open in another program (samna GUI, another "
                              "script or snndeploy run); close it there first")
    try:
        handle = samna.device.open_device(match)
    except Exception as err:  # samna raises its own types; any failure to open is reported as busy
        raise DeviceBusyError(f"{name} (serial {serial}) could not be opened: {err}") from None
    return SamnaDevice(name, samna, handle, serial)


class SamnaDevice(Device):
    """An open samna board; see the module docstring for the samna calls it makes."""

    def __init__(self, name: DeviceName, samna, handle, serial: str, clock=time.monotonic, sleep=time.sleep):
        super().__init__(name)
        self._samna, self._handle, self._serial = samna, handle, serial
        self._clock, self._sleep = clock, sleep
        self._chip = getattr(samna, name.kind.samna_module, None)
        if self._chip is None:
            raise DeviceError(f"{name}: the installed samna has no '{name.kind.samna_module}' module; "
                              "update samna (`pip install -U samna`)")
        model = self._call(handle.get_model, "get the device model")
        reported = getattr(model, "device_type_name", name.kind.samna_type)
        if reported != name.kind.samna_type:
            raise WrongChipError(f"{name}: the board reports {reported!r}, expected {name.kind.samna_type!r}")
        self._model = model
        self._writer = self._call(lambda: samna.graph.source_to(model.get_sink_node()), "connect the input")
        self._buffer = self._call(lambda: samna.graph.sink_from(model.get_source_node()), "connect the output")
        self._started_at: float | None = None
        self._pending: list = []

    # -- samna calls -------------------------------------------------------------------
    def _call(self, fn, what: str):
        try:
            return fn()
        except Exception as err:  # any samna failure: find out whether the board is gone
            listed = {info.serial_number for info in self._samna.device.get_all_devices()}
            if self._serial not in listed:
                raise DeviceDisconnectedError(
                    f"{self.name} (serial {self._serial}) disconnected while trying to {what}; "
                    "reconnect it and open it again"
                ) from None
            raise DeviceError(f"{self.name}: samna failed to {what}: {err}") from None

    # -- configuration -----------------------------------------------------------------
    def _write(self, net, chip_config) -> None:
        if chip_config is None:
            raise DeviceError(f"{self.name}: samna boards are configured from a ChipConfig (chip.json), "
                              "not from a SimNetwork")
        cfg = chip_config.to_samna()  # the one writer of samna configurations (snndeploy.mapping)
        self._call(lambda: self._model.apply_configuration(cfg), "apply the configuration")
        self._reset()

    def _read_back(self) -> dict[str, object]:
        cfg = self._call(self._model.get_configuration, "read the configuration back")
        fields: dict[str, object] = {}
        for index in self.network.cores:
            layer, prefix = cfg.cnn_layers[index], f"core {index}: "
            fields[prefix + "weights"] = np.swapaxes(np.asarray(layer.weights, np.int64), 2, 3).tolist()
            fields[prefix + "bias"] = np.asarray(layer.biases, np.int64).tolist()
            fields[prefix + "initial_state"] = np.swapaxes(np.asarray(layer.neurons_initial_value, np.int64), 1, 2).tolist()
            fields[prefix + "threshold_high"] = int(layer.threshold_high)
            fields[prefix + "threshold_low"] = int(layer.threshold_low)
            fields[prefix + "reset_to_zero"] = bool(layer.return_to_zero)
            fields[prefix + "leak_enable"] = bool(layer.leak_enable)
            fields[prefix + "destinations"] = [[int(d.layer), int(d.pooling), int(d.feature_shift)]
                                               for d in layer.destinations if d.enable]
        return fields

    # -- events ------------------------------------------------------------------------
    def _send(self, events: np.ndarray) -> None:
        event_types = self._chip.event
        if self.network.input.dvs:
            batch = [event_types.DvsEvent(x=int(e["x"]), y=int(e["y"]), p=int(e["p"]), timestamp=int(e["t"]))
                     for e in events]
        else:
            targets = self.network.input.destinations
            batch = [event_types.Spike(layer=d.core, feature=int(e["p"]) + d.channel_shift, x=int(e["x"]) // d.pool,
                                       y=int(e["y"]) // d.pool, timestamp=int(e["t"]))
                     for e in events for d in targets]
        if self._started_at is None:
            self._started_at = self._clock()
        self._call(lambda: self._writer.write(batch), "send events")

    def _drain(self) -> None:
        self._pending.extend(self._call(self._buffer.get_events, "read events"))

    def _read(self, until_us: int, timeout_s: float) -> np.ndarray:
        started = self._clock() if self._started_at is None else self._started_at
        wait_s = started + until_us * 1e-6 - self._clock()
        if wait_s > timeout_s:
            raise DeviceTimeoutError(
                f"{self.name}: reaching t={until_us} µs takes {wait_s:.2f} s more, above the "
                f"{timeout_s:.2f} s timeout; raise the timeout or read earlier times"
            )
        if wait_s > 0:
            self._sleep(wait_s)
        self._drain()
        spike_type = self._chip.event.Spike
        keep, rows = [], []
        for event in self._pending:
            if isinstance(event, spike_type) and event.timestamp < until_us:
                rows.append((event.timestamp, event.layer, event.feature, event.y, event.x))
            elif isinstance(event, spike_type):
                keep.append(event)
        self._pending = keep
        return np.array(rows, dtype=SPIKE_DTYPE)

    def _neuron_state(self, core: int, timeout_s: float) -> np.ndarray:
        shape = self.network.cores[core].output_shape
        request = [self._chip.event.ReadNeuronValue(layer=core, feature=c, x=x, y=y)
                   for c in range(shape[0]) for y in range(shape[1]) for x in range(shape[2])]
        self._call(lambda: self._writer.write(request), "request neuron states")
        state = np.zeros(shape, np.int64)
        missing = {(c, y, x) for c in range(shape[0]) for y in range(shape[1]) for x in range(shape[2])}
        deadline = self._clock() + timeout_s
        value_type = self._chip.event.NeuronValue
        while missing:
            self._drain()
            others = []
            for event in self._pending:
                if isinstance(event, value_type) and event.layer == core:
                    state[event.feature, event.y, event.x] = event.neuron_state
                    missing.discard((event.feature, event.y, event.x))
                else:
                    others.append(event)
            self._pending = others
            if missing and self._clock() >= deadline:
                raise DeviceTimeoutError(
                    f"{self.name}: core {core} answered {state.size - len(missing)} of {state.size} "
                    f"neuron-state reads within {timeout_s:.2f} s"
                )
            if missing:
                self._sleep(min(0.01, timeout_s))
        return state

    def _reset(self) -> None:
        cfg = self._call(self._model.get_configuration, "read the configuration for reset")
        self._call(lambda: self._model.apply_configuration(cfg), "reset the neuron states")
        self._drain()
        self._pending = []
        self._started_at = None

    def _close(self) -> None:
        self._call(lambda: self._samna.device.close_device(self._handle), "close the device")

