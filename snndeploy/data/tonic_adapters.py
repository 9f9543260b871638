"""Recorded event datasets read through tonic when the user has them on disk.

tonic is optional and imported only when one of these datasets is requested; nothing is ever
downloaded here. Each dataset must already sit where tonic expects it under the data root
(`snndeploy.data.paths.data_dir()`, or `root=`): `<root>/<tonic class name>/<archive>` plus the
extracted folder or file. When something is missing, `SnnDeployError` says what to download and
where to put it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from snndeploy.data.base import EventDataset
from snndeploy.data.events import SensorSize, events_from_fields
from snndeploy.data.paths import data_dir
from snndeploy.errors import SnnDeployError


@dataclass(frozen=True)
class TonicSource:
    """Where one split of a tonic dataset lives and how its samples are binned by default."""

    tonic_class: str
    archive: dict[str, str]  # split -> file tonic checks for in <root>/<tonic_class>/
    extracted: dict[str, str]  # split -> folder or file tonic reads after extraction
    url: str
    sensor_size: SensorSize
    classes: tuple[str, ...]
    dt_us: int
    duration_us: int


TONIC_SOURCES: dict[str, TonicSource] = {
    "nmnist": TonicSource(
        tonic_class="NMNIST",
        archive={"train": "train.zip", "test": "test.zip"},
        extracted={"train": "Train", "test": "Test"},
        url="https://data.mendeley.com/datasets/468j46mzdv (N-MNIST, Orchard et al. 2015)",
        sensor_size=(34, 34, 2),
        classes=tuple(str(digit) for digit in range(10)),
        dt_us=10_000,
        duration_us=300_000,
    ),
    "dvsgesture": TonicSource(
        tonic_class="DVSGesture",
        archive={"train": "ibmGestureTrain.tar.gz", "test": "ibmGestureTest.tar.gz"},
        extracted={"train": "ibmGestureTrain", "test": "ibmGestureTest"},
        url="https://research.ibm.com/interactive/dvsgesture/ (IBM DVS128 Gesture)",
        sensor_size=(128, 128, 2),
        classes=tuple(f"gesture {index}" for index in range(11)),
        dt_us=50_000,
        duration_us=1_500_000,
    ),
    "shd": TonicSource(
        tonic_class="SHD",
        archive={"train": "shd_train.h5.zip", "test": "shd_test.h5.zip"},
        extracted={"train": "shd_train.h5", "test": "shd_test.h5"},
        url="https://zenkelab.org/datasets/ (Spiking Heidelberg Digits, Cramer et al. 2020)",
        sensor_size=(700, 1, 1),
        classes=tuple(f"digit {index}" for index in range(20)),
        dt_us=10_000,
        duration_us=1_000_000,
    ),
}


def _require_files(name: str, source: TonicSource, split: str, root: Path) -> None:
    if split not in source.archive:
        raise SnnDeployError(
            f"unknown split {split!r} for dataset {name!r}; choose one of {tuple(source.archive)}"
        )
    folder = root / source.tonic_class
    needed = [folder / source.archive[split], folder / source.extracted[split]]
    missing = [path for path in needed if not path.exists()]
    if missing:
        raise SnnDeployError(
            f"dataset {name!r} ({split} split) is not on disk: missing "
            f"{', '.join(str(path) for path in missing)}. Download {source.archive[split]} from "
            f"{source.url}, put it in {folder}/ and extract it there (giving "
            f"{source.extracted[split]}); or pass the folder holding {source.tonic_class}/ as root "
            "(env SNNDEPLOY_DATA_DIR). snndeploy never downloads datasets itself"
        )


def _import_tonic():
    try:
        return importlib.import_module("tonic")
    except ImportError as err:
        raise SnnDeployError(
            "reading N-MNIST / DVS Gesture / SHD needs the optional package tonic: "
            "pip install tonic (the shipped dataset 'digits' needs nothing extra)"
        ) from err


class TonicEventDataset(EventDataset):
    """A tonic dataset found on disk, binned to (time, channel, y, x) frames like every dataset.

    SHD's 700 channels become x (sensor_size (700, 1, 1)): frames are (time, 1, 1, 700).
    Events after `duration_us` are dropped by the binning; pass a longer duration to keep them.
    """

    def __init__(
        self,
        name: str,
        split: str = "train",
        root: str | Path | None = None,
        dt_us: int | None = None,
        duration_us: int | None = None,
    ) -> None:
        if name not in TONIC_SOURCES:
            raise SnnDeployError(
                f"no tonic dataset named {name!r}; known: {', '.join(sorted(TONIC_SOURCES))}"
            )
        source = TONIC_SOURCES[name]
        root_path = Path(root).expanduser() if root is not None else data_dir()
        _require_files(name, source, split, root_path)
        tonic = _import_tonic()
        dataset_class = getattr(tonic.datasets, source.tonic_class)
        self._tonic = dataset_class(save_to=str(root_path), train=split == "train")
        super().__init__(
            name=name, split=split, sensor_size=source.sensor_size, classes=source.classes,
            dt_us=dt_us or source.dt_us, duration_us=duration_us or source.duration_us,
        )

    def __len__(self) -> int:
        return len(self._tonic)

    def events(self, index: int) -> np.ndarray:
        events = events_from_fields(self._tonic[index][0])
        return events[np.argsort(events["t"], kind="stable")]

    def label(self, index: int) -> int:
        return int(self._tonic[index][1])


def tonic_factory(name: str):
    """A registry factory for the tonic dataset `name`: factory(split, root=, dt_us=, duration_us=)."""

    def factory(
        split: str = "train",
        root: str | Path | None = None,
        dt_us: int | None = None,
        duration_us: int | None = None,
    ) -> TonicEventDataset:
        return TonicEventDataset(name, split, root=root, dt_us=dt_us, duration_us=duration_us)

    factory.__doc__ = f"{TONIC_SOURCES[name].tonic_class} read through tonic from the data root."
    return factory
