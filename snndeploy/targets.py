"""Chip targets as data: `load_target(name_or_path) -> Target`.

A target is one TOML file validated against `hw_targets/target.schema.json`. The package ships
`speck2f`, `speck2e` and `dynapcnn` (the folder `hw_targets/` at the repository root, installed as
`snndeploy/hw_targets`). A user adds a chip without touching the package: pass the path of a
TOML file, or put it in a folder listed in the environment variable SNNDEPLOY_TARGETS
(os.pathsep-separated) and pass its name.

Memory a layer needs on a core (entries), with r(n) = 2^ceil(log2 n) under rounding
"power_of_two" and r(n) = n under "exact":
    kernel = c_in * r(k*k) * r(f);   neuron = f * r(h_out) * r(w_out);   bias = f (0 without bias)
"""

from __future__ import annotations

import json
import math
import os
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from snndeploy.errors import SnnDeployError

TARGETS_DIR = Path(__file__).with_name("hw_targets")
SCHEMA_PATH = TARGETS_DIR / "target.schema.json"
SEARCH_PATH_VARIABLE = "SNNDEPLOY_TARGETS"


def _power_of_two_at_least(n: int) -> int:
    return 1 << max(0, math.ceil(math.log2(n))) if n > 0 else 0


MEMORY_ROUNDING: dict[str, Callable[[int], int]] = {
    "power_of_two": _power_of_two_at_least,
    "exact": lambda n: n,
}


@dataclass(frozen=True)
class CoreSpec:
    index: int
    kernel_memory: int
    neuron_memory: int
    bias_memory: int


@dataclass(frozen=True)
class MemoryNeed:
    """Entries a layer needs in a core's kernel, neuron and bias memories."""

    kernel: int
    neuron: int
    bias: int

    def fits(self, core: CoreSpec) -> bool:
        return self.kernel <= core.kernel_memory and self.neuron <= core.neuron_memory and self.bias <= core.bias_memory


@dataclass(frozen=True)
class NeuronSpec:
    """model "iaf": v += input. model "lif": once per slow-clock tick v <- v - (v >> shift)
    (arithmetic shift, so negative states decay towards -1 .. 0), shift in
    [decay_shift_min, decay_shift_max]."""

    model: str
    resets: tuple[str, ...]
    leak: str
    spikes_per_update: int
    decay_shift_min: Optional[int] = None
    decay_shift_max: Optional[int] = None


@dataclass(frozen=True)
class Limits:
    max_input_size: int
    max_feature_map: int
    max_channels: int
    max_kernel_size: int
    strides: tuple[int, ...]
    max_padding: int
    poolings: tuple[int, ...]
    fan_out: int
    fan_in: int


@dataclass(frozen=True)
class InputSpec:
    dvs: bool
    max_width: int
    max_height: int
    max_channels: int
    sensor_width: Optional[int] = None
    sensor_height: Optional[int] = None
    poolings: tuple[int, ...] = (1,)


@dataclass(frozen=True)
class ReadoutSpec:
    max_classes: int
    channel_stride: int
    moving_average_window: int

    def channel_of_class(self, num_classes: int) -> tuple[int, ...]:
        """Core output channel read for each class (the erratum: stride 4 on Speck)."""
        return tuple(self.channel_stride * k for k in range(num_classes))


@dataclass(frozen=True)
class Target:
    name: str
    description: str
    path: Path
    slow_clock_period_us: int
    weight_bits: int
    bias_bits: int
    state_bits: int
    neuron: NeuronSpec
    memory_rounding: str
    limits: Limits
    input: InputSpec
    readout: Optional[ReadoutSpec]
    cores: tuple[CoreSpec, ...]
    samna_configuration: Optional[str] = None
    synops_per_s_limit: Optional[int] = None

    def range(self, bits: int) -> tuple[int, int]:
        """Signed range (-2^(b-1), 2^(b-1) - 1)."""
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

    def memory_needed(self, c_in: int, c_out: int, kernel_size: int, neuron_hw: tuple[int, int], bias: bool) -> MemoryNeed:
        """Memory a conv layer needs (module docstring formula, with this target's rounding)."""
        r = MEMORY_ROUNDING[self.memory_rounding]
        return MemoryNeed(
            kernel=c_in * r(kernel_size * kernel_size) * r(c_out),
            neuron=c_out * r(neuron_hw[0]) * r(neuron_hw[1]),
            bias=c_out if bias else 0,
        )

    def summary(self) -> dict:
        """Plain dict for `snndeploy targets NAME --json`."""
        return {
            "name": self.name,
            "description": self.description,
            "file": str(self.path),
            "neuron": self.neuron.__dict__,
            "precision": {"weight_bits": self.weight_bits, "bias_bits": self.bias_bits, "state_bits": self.state_bits},
            "memory_rounding": self.memory_rounding,
            "limits": self.limits.__dict__,
            "input": self.input.__dict__,
            "readout": None if self.readout is None else self.readout.__dict__,
            "cores": [core.__dict__ for core in self.cores],
            "slow_clock_period_us": self.slow_clock_period_us,
            "synops_per_s_limit": self.synops_per_s_limit,
        }


@lru_cache(maxsize=1)
def _validator():
    import jsonschema

    return jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))


def _field(path) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _search_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(SEARCH_PATH_VARIABLE, "").split(os.pathsep) if p]
    return extra + [TARGETS_DIR]


def available_targets() -> dict[str, Path]:
    """Target names and files: SNNDEPLOY_TARGETS folders first (they shadow built-ins)."""
    found: dict[str, Path] = {}
    for folder in _search_dirs():
        if folder.is_dir():
            for path in sorted(folder.glob("*.toml")):
                found.setdefault(path.stem, path)
    return dict(sorted(found.items()))


def _resolve(name_or_path: "str | os.PathLike") -> Path:
    text = str(name_or_path)
    candidate = Path(text)
    if candidate.suffix == ".toml" or os.sep in text or candidate.is_file():
        if not candidate.is_file():
            raise SnnDeployError(f"target file {candidate} does not exist")
        return candidate
    targets = available_targets()
    if text not in targets:
        raise SnnDeployError(
            f"unknown target {text!r}; available: {', '.join(targets)} (or give the path of a .toml target file, "
            f"or add its folder to {SEARCH_PATH_VARIABLE})"
        )
    return targets[text]


def load_target(name_or_path: "str | os.PathLike | Target") -> Target:
    """A built-in target by name ("speck2f"), or a TOML file by path; validated."""
    if isinstance(name_or_path, Target):
        return name_or_path
    return _load(_resolve(name_or_path).resolve())


@lru_cache(maxsize=32)
def _load(path: Path) -> Target:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SnnDeployError(f"cannot read target file {path}: {err.strerror}") from None
    except tomllib.TOMLDecodeError as err:
        raise SnnDeployError(f"target file {path} is not valid TOML: {err}") from None
    errors = sorted(_validator().iter_errors(data), key=lambda e: len(e.absolute_path))
    if errors:
        error = errors[0]
        meaning = error.schema.get("description")
        raise SnnDeployError(
            f"target file {path}: field {_field(error.absolute_path)}: {error.message}{_expected(error)}"
            + (f"; {meaning}" if meaning else "")
        )
    indices = [core["index"] for core in data["cores"]]
    if len(set(indices)) != len(indices):
        raise SnnDeployError(f"target file {path}: field cores: core indices {indices} must be unique")
    neuron = data["neuron"]
    if neuron["model"] == "lif" and neuron["decay_shift_min"] > neuron["decay_shift_max"]:
        raise SnnDeployError(f"target file {path}: field neuron.decay_shift_min must be <= neuron.decay_shift_max")
    precision = data["precision"]
    stage = data["input"]
    readout = data.get("readout")
    return Target(
        name=data["name"],
        description=data["description"],
        path=path,
        slow_clock_period_us=data["slow_clock_period_us"],
        weight_bits=precision["weight_bits"],
        bias_bits=precision["bias_bits"],
        state_bits=precision["state_bits"],
        neuron=NeuronSpec(**{**neuron, "resets": tuple(neuron["resets"])}),
        memory_rounding=data["memory"]["rounding"],
        limits=Limits(**{**data["limits"], "strides": tuple(data["limits"]["strides"]), "poolings": tuple(data["limits"]["poolings"])}),
        input=InputSpec(**{**stage, "poolings": tuple(stage.get("poolings", (1,)))}),
        readout=None if readout is None else ReadoutSpec(**readout),
        cores=tuple(CoreSpec(**core) for core in sorted(data["cores"], key=lambda c: c["index"])),
        samna_configuration=data.get("samna_configuration"),
        synops_per_s_limit=data.get("synops_per_s_limit"),
    )


def _expected(error) -> str:
    schema = error.schema
    for key, phrase in (("enum", "one of"), ("const", "exactly"), ("type", "type")):
        if key in schema:
            return f" (expected {phrase} {schema[key]!r})"
    return ""
