"""One device interface, several backends: names, errors, the `Device` base class.

A device name is `KIND:INDEX` as in torch (`speck2fdevkit:0`, `sim:0`); INDEX counts the
connected boards of that kind in the order the backend lists them, and defaults to 0.

Life cycle (every backend): `open_device(name)` -> `write_config(config)` (validated against
the device's chip before anything is written, then read back and compared) -> `send_events`
-> `read_events` / `read_neuron_state` -> `reset()` (neuron states back to their initial
values, queued events dropped) -> `close()`. A `Device` is a context manager.

Failures are `DeviceError`s (a `SnnDeployError`), one per cause, each raised at once: no
call is retried, so a flaky cable shows up as an error instead of a slow success.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass

import numpy as np

from snndeploy.errors import SnnDeployError


class DeviceError(SnnDeployError):
    """A device could not do what was asked."""


class BackendNotInstalledError(DeviceError):
    """The runtime a backend needs (samna) cannot be imported."""


class DeviceNotFoundError(DeviceError):
    """No connected device answers to the name."""


class DeviceBusyError(DeviceError):
    """The device is connected but another program holds it."""


class WrongChipError(DeviceError):
    """The device (or the configuration) is for another chip than asked."""


class DeviceDisconnectedError(DeviceError):
    """The device went away while it was open."""


class DeviceTimeoutError(DeviceError):
    """The device did not answer in time."""


@dataclass(frozen=True)
class DeviceKind:
    """A kind of board: which backend drives it and which chip it carries.

    samna_module / samna_type: the samna sub-module holding the chip's configuration and event
    classes, and the `device_type_name` samna reports for such a board.
    """

    name: str
    backend: str
    chip: str
    has_dvs: bool
    description: str
    samna_module: str | None = None
    samna_type: str | None = None


DEVICE_KINDS: dict[str, DeviceKind] = {
    kind.name: kind
    for kind in (
        DeviceKind("speck2fdevkit", "samna", "speck2f", True, "Speck 2f dev kit",
                   "speck2f", "Speck2fDevKit"),
        DeviceKind("speck2fmodule", "samna", "speck2f", True, "Speck 2f module",
                   "speck2f", "Speck2fModuleDevKit"),
        DeviceKind("speck2edevkit", "samna", "speck2e", True, "Speck 2e dev kit",
                   "speck2e", "Speck2eDevKit"),
        DeviceKind("speck2e", "samna", "speck2e", True, "Speck 2e test board",
                   "speck2e", "Speck2eTestBoard"),
        DeviceKind("dynapcnndevkit", "samna", "dynapcnn", False, "DYNAP-CNN dev kit (no sensor)",
                   "dynapcnn", "DynapcnnDevKit"),
        DeviceKind("sim", "sim", "speck2f", True,
                   "this package's bit-accurate simulator behind the device interface"),
    )
}


@dataclass(frozen=True)
class DeviceName:
    kind: DeviceKind
    index: int

    def __str__(self) -> str:
        return f"{self.kind.name}:{self.index}"


def parse_device_name(text: str) -> DeviceName:
    """`"speck2fdevkit:0"` -> DeviceName(kind=speck2fdevkit, index=0); `"sim"` means `sim:0`."""
    kind_name, sep, index_text = str(text).strip().partition(":")
    kind = DEVICE_KINDS.get(kind_name.lower())
    if kind is None:
        raise DeviceError(
            f"unknown device {text!r}: expected KIND:INDEX with KIND one of "
            f"{sorted(DEVICE_KINDS)} (e.g. speck2fdevkit:0 or sim:0)"
        )
    if not sep:
        return DeviceName(kind, 0)
    if not index_text.isdigit():
        raise DeviceError(f"device {text!r}: the index after ':' must be a non-negative integer")
    return DeviceName(kind, int(index_text))


@dataclass(frozen=True)
class DeviceInfo:
    """A connected device as `list_devices` reports it."""

    name: str
    description: str
    backend: str
    busy: bool = False
    serial: str = ""

    def to_dict(self) -> dict:
        return {"name": self.name, "description": self.description, "backend": self.backend,
                "busy": self.busy, "serial": self.serial}


@dataclass(frozen=True)
class FlashReport:
    """What `write_config` wrote and what the read-back showed.

    compared: the fields read back and compared (per core); mismatches: one line per field that
    differs (empty when the device holds what was written).
    """

    device: str
    cores: tuple[int, ...]
    compared: tuple[str, ...]
    mismatches: tuple[str, ...]

    def to_dict(self) -> dict:
        return {"device": self.device, "cores": list(self.cores), "compared": list(self.compared),
                "mismatches": list(self.mismatches)}


def core_fields(net) -> dict[str, object]:
    """The per-core values a device stores, keyed "core I: FIELD", as comparable plain values.

    Both backends read their configuration back into this form, so one comparison covers both.
    """
    fields: dict[str, object] = {}
    for index, core in net.cores.items():
        prefix = f"core {index}: "
        fields[prefix + "weights"] = np.asarray(core.weights, np.int64).tolist()
        fields[prefix + "bias"] = np.asarray(core.bias, np.int64).tolist()
        fields[prefix + "initial_state"] = np.asarray(core.initial_state, np.int64).tolist()
        fields[prefix + "threshold_high"] = int(core.threshold_high)
        fields[prefix + "threshold_low"] = int(core.threshold_low)
        fields[prefix + "reset_to_zero"] = bool(core.reset_to_zero)
        fields[prefix + "leak_enable"] = bool(core.leak_enable)
        fields[prefix + "destinations"] = [[d.core, d.pool, d.channel_shift] for d in core.destinations]
    return fields


def compare_fields(written: dict[str, object], read_back: dict[str, object]) -> tuple[str, ...]:
    """One line per field whose read-back value differs from what was written (or is missing)."""
    lines = []
    for key, value in written.items():
        if key not in read_back:
            lines.append(f"{key}: not read back")
        elif read_back[key] != value:
            lines.append(f"{key}: wrote {_short(value)}, device holds {_short(read_back[key])}")
    return tuple(lines)


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


class Device(abc.ABC):
    """An open device. Subclasses implement the `_`-methods; the public methods hold the checks
    every backend shares (validation before writing, read-back after, open/closed state)."""

    def __init__(self, name: DeviceName):
        self.name = name
        self.network = None
        self._closed = False

    # -- public interface --------------------------------------------------------------
    def write_config(self, config) -> FlashReport:
        """Validate `config` (ChipConfig, its JSON path, or a SimNetwork for the sim backend)
        against this device's chip, write it, read it back and compare. Raises before writing
        when it does not fit or names another chip; read-back mismatches are listed in the
        FlashReport (`flash_config` / the CLI turn them into an error)."""
        from snndeploy.devices.target import check_fits
        from snndeploy.mapping import ChipConfig
        from snndeploy.sim.network import SimNetwork
        from snndeploy.sim.simulate import as_network

        self._check_open()
        chip_config = None if isinstance(config, SimNetwork) else (
            config if isinstance(config, ChipConfig) else ChipConfig.from_json(config))
        if chip_config is not None and chip_config.target != self.name.kind.chip:
            raise WrongChipError(
                f"the configuration was mapped for {chip_config.target!r}, but {self.name} carries "
                f"{self.name.kind.chip!r}; map the network for {self.name.kind.chip} "
                f"(snndeploy map ... --target {self.name.kind.chip})"
            )
        net = as_network(chip_config if chip_config is not None else config)
        check_fits(net, self.name.kind)
        self._write(net, chip_config)
        self.network = net
        written = core_fields(net)
        return FlashReport(str(self.name), tuple(net.cores), tuple(written),
                           compare_fields(written, self._read_back()))

    def send_events(self, events: np.ndarray) -> None:
        """Queue input events (EVENT_DTYPE fields t, x, y, p; t in µs from the last reset)."""
        from snndeploy.sim.events import validate_events

        self._check_configured()
        self._send(validate_events(events, self.network.input.size, source=f"events for {self.name}"))

    def read_events(self, until_us: int, timeout_s: float = 5.0) -> np.ndarray:
        """Output spikes (snndeploy.sim.raw.SPIKE_DTYPE: t, core, p, y, x) with t < until_us not
        returned before. Waits at most timeout_s for the device to report time until_us."""
        self._check_configured()
        return self._read(int(until_us), float(timeout_s))

    def read_neuron_state(self, core: int, timeout_s: float = 5.0) -> np.ndarray:
        """The (channels, height, width) membrane states of one core, now."""
        self._check_configured()
        if core not in self.network.cores:
            raise DeviceError(f"{self.name}: core {core} is not configured (cores: {list(self.network.cores)})")
        return self._neuron_state(int(core), float(timeout_s))

    def reset(self) -> None:
        """Neuron states back to the configured initial values; time restarts at 0."""
        self._check_open()
        self._reset()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- backend hooks -----------------------------------------------------------------
    @abc.abstractmethod
    def _write(self, net, chip_config) -> None:
        """Write the validated network; chip_config is the ChipConfig it came from (None when
        the caller passed a SimNetwork)."""

    @abc.abstractmethod
    def _read_back(self) -> dict[str, object]: ...

    @abc.abstractmethod
    def _send(self, events: np.ndarray) -> None: ...

    @abc.abstractmethod
    def _read(self, until_us: int, timeout_s: float) -> np.ndarray: ...

    @abc.abstractmethod
    def _neuron_state(self, core: int, timeout_s: float) -> np.ndarray: ...

    @abc.abstractmethod
    def _reset(self) -> None: ...

    @abc.abstractmethod
    def _close(self) -> None: ...

    # -- helpers -----------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise DeviceError(f"{self.name} is closed; open it again with open_device('{self.name}')")

    def _check_configured(self) -> None:
        self._check_open()
        if self.network is None:
            raise DeviceError(f"{self.name} has no configuration yet; call write_config(chip.json) first")
