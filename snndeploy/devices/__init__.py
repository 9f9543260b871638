"""Devices: one interface (`Device`), two backends (`samna` boards, the `sim` simulator).

    from snndeploy.devices import open_device
    with open_device("sim:0") as dev:            # or "speck2fdevkit:0"
        report = dev.write_config("chip.json")   # validated, written, read back, compared
        dev.send_events(events)
        spikes = dev.read_events(until_us=100_000)

`flash_config` and `run_events` are the whole paths the CLI commands `flash` and `run` take.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

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
    FlashReport,
    WrongChipError,
    parse_device_name,
)


@dataclass(frozen=True)
class Backend:
    list: Callable[[], list[DeviceInfo]]
    open: Callable[[DeviceName], Device]


def _sim_backend() -> Backend:
    from snndeploy.devices.sim import list_sim_devices, open_sim_device

    return Backend(list_sim_devices, open_sim_device)


def _samna_backend() -> Backend:
    from snndeploy.devices.samna import list_samna_devices, open_samna_device

    return Backend(list_samna_devices, open_samna_device)


BACKENDS: dict[str, Callable[[], Backend]] = {"sim": _sim_backend, "samna": _samna_backend}


def open_device(name: str) -> Device:
    """Open `KIND:INDEX` ("speck2fdevkit:0", "sim:0"); see `DEVICE_KINDS`."""
    parsed = parse_device_name(name)
    return BACKENDS[parsed.kind.backend]().open(parsed)


@dataclass(frozen=True)
class DeviceListing:
    """Connected devices per backend; `unavailable[backend]` says why a backend could not list."""

    devices: tuple[DeviceInfo, ...]
    unavailable: dict[str, str]

    def to_dict(self) -> dict:
        return {"devices": [d.to_dict() for d in self.devices], "unavailable": dict(self.unavailable)}


def list_devices() -> DeviceListing:
    """Every device each backend sees; a backend whose runtime is missing is reported, not raised."""
    devices: list[DeviceInfo] = []
    unavailable: dict[str, str] = {}
    for backend_name, backend in BACKENDS.items():
        try:
            devices.extend(backend().list())
        except BackendNotInstalledError as err:
            unavailable[backend_name] = str(err)
    return DeviceListing(tuple(devices), unavailable)


def flash_config(config, device: str) -> FlashReport:
    """Validate, write and read back `config` on `device`; raise when the read-back differs."""
    with open_device(device) as dev:
        report = dev.write_config(config)
    _raise_on_mismatch(report)
    return report


def _raise_on_mismatch(report: FlashReport) -> None:
    if report.mismatches:
        shown = "; ".join(report.mismatches[:3])
        more = f" (+{len(report.mismatches) - 3} more)" if len(report.mismatches) > 3 else ""
        raise DeviceError(f"{report.device}: read-back differs from what was written: {shown}{more}")


@dataclass(frozen=True)
class RunResult:
    """Output spikes (snndeploy.sim.raw.SPIKE_DTYPE) of one run and the flash read-back."""

    device: str
    duration_us: int
    spikes: np.ndarray
    flash: FlashReport

    def counts_per_core(self) -> dict[int, int]:
        cores, counts = np.unique(self.spikes["core"], return_counts=True)
        return {int(c): int(n) for c, n in zip(cores, counts)}


def run_events(config, events, device: str, duration_us: int | None = None, timeout_s: float = 10.0) -> RunResult:
    """Flash `config`, send `events` (array or .npz/.npy path), return the output spikes up to
    `duration_us` (default: last event + 1)."""
    from snndeploy.sim.events import load_events

    if not isinstance(events, np.ndarray):
        events = load_events(events)
    with open_device(device) as dev:
        report = dev.write_config(config)
        _raise_on_mismatch(report)
        duration = int(duration_us) if duration_us is not None else (int(events["t"][-1]) + 1 if len(events) else 1)
        dev.send_events(events)
        spikes = dev.read_events(duration, timeout_s)
    return RunResult(str(dev.name), duration, spikes, report)


__all__ = [
    "BACKENDS", "DEVICE_KINDS", "BackendNotInstalledError", "Device", "DeviceBusyError",
    "DeviceDisconnectedError", "DeviceError", "DeviceInfo", "DeviceListing", "DeviceName",
    "DeviceNotFoundError", "DeviceTimeoutError", "FlashReport", "RunResult", "WrongChipError",
    "flash_config", "list_devices", "open_device", "parse_device_name", "run_events",
]
