"""Datasets by name: `get_dataset("digits", "test", dt_us=20_000)`.

DATASETS maps a name to a factory `factory(split, **options) -> torch Dataset`; the first line
of the factory's docstring is the description `list_datasets()` shows. Add a dataset with one
line here.
"""

from __future__ import annotations

import inspect
from typing import Callable

import torch

from snndeploy.data.digits import DigitEventsDataset
from snndeploy.data.iris import IrisDataset
from snndeploy.data.tonic_adapters import tonic_factory
from snndeploy.data.xor import XorDataset
from snndeploy.data.yinyang import YinYangDataset
from snndeploy.errors import SnnDeployError

DatasetFactory = Callable[..., torch.utils.data.Dataset]

DATASETS: dict[str, DatasetFactory] = {
    "digits": DigitEventsDataset,
    "nmnist": tonic_factory("nmnist"),
    "dvsgesture": tonic_factory("dvsgesture"),
    "shd": tonic_factory("shd"),
    "yinyang": YinYangDataset,
    "iris": IrisDataset,
    "xor": XorDataset,
}


def list_datasets() -> dict[str, str]:
    """Name -> one-line description of every registered dataset."""
    return {
        name: (inspect.getdoc(factory) or name).splitlines()[0] for name, factory in DATASETS.items()
    }


def check_dataset_name(name: str) -> None:
    """Raise SnnDeployError listing the available datasets when `name` is not one of them."""
    if name not in DATASETS:
        raise SnnDeployError(f"unknown dataset {name!r}; available: {', '.join(sorted(DATASETS))}")


def get_dataset(name: str, split: str = "train", **options) -> torch.utils.data.Dataset:
    """The dataset `name`, split `split` ("train" / "test"), built with the factory's options.

    Options of the event datasets: dt_us (bin width, microseconds); digits also takes seed,
    limit (first n samples) and use_cache; tonic datasets take root and duration_us.
    """
    check_dataset_name(name)
    factory = DATASETS[name]
    try:
        inspect.signature(factory).bind(split, **options)
    except TypeError as err:
        raise SnnDeployError(f"dataset {name!r} does not accept these options: {err}") from err
    return factory(split, **options)
