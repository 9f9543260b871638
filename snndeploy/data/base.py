"""The dataset interface every event dataset of snndeploy follows.

An `EventDataset` is a torch Dataset of (frames, label): frames are float32 event counts of
shape (time, channel, y, x) binned at `dt_us` over `duration_us` (see `events_to_frames`); a
DataLoader stacks them to (batch, time, channel, y, x). The raw events of sample i are
`dataset.events(i)` (for per-event simulation), its label `dataset.label(i)`.
"""

from __future__ import annotations

import abc

import numpy as np
import torch

from snndeploy.data.events import SensorSize, events_to_frames, num_time_bins


class EventDataset(torch.utils.data.Dataset, abc.ABC):
    """Base class: subclasses implement `__len__`, `events(index)` and `label(index)`."""

    def __init__(
        self,
        name: str,
        split: str,
        sensor_size: SensorSize,
        classes: tuple[str, ...],
        dt_us: int,
        duration_us: int,
    ) -> None:
        self.name = name
        self.split = split
        self.sensor_size = tuple(sensor_size)
        self.classes = tuple(classes)
        self.dt_us = int(dt_us)
        self.duration_us = int(duration_us)
        self.num_time_bins = num_time_bins(self.duration_us, self.dt_us)

    @abc.abstractmethod
    def __len__(self) -> int:
        """Number of samples."""

    @abc.abstractmethod
    def events(self, index: int) -> np.ndarray:
        """Events of sample `index` as an `EVENT_DTYPE` array sorted by time."""

    @abc.abstractmethod
    def label(self, index: int) -> int:
        """Class index of sample `index`."""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def frame_shape(self) -> tuple[int, int, int, int]:
        """Shape of one sample's frames: (time, channel, y, x)."""
        width, height, channels = self.sensor_size
        return (self.num_time_bins, channels, height, width)

    def frames(self, index: int) -> torch.Tensor:
        return events_to_frames(self.events(index), self.sensor_size, self.dt_us, self.duration_us)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        if not 0 <= index < len(self):
            raise IndexError(f"sample {index} out of range for {len(self)} samples")
        return self.frames(index), self.label(index)

    def tensors(self, indices: list[int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """All (or the chosen) samples at once: frames (batch, time, channel, y, x), labels (batch,)."""
        chosen = range(len(self)) if indices is None else indices
        frames = torch.stack([self.frames(i) for i in chosen])
        labels = torch.tensor([self.label(i) for i in chosen], dtype=torch.int64)
        return frames, labels

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, split={self.split!r}, "
            f"samples={len(self)}, sensor_size={self.sensor_size}, dt_us={self.dt_us}, "
            f"time_bins={self.num_time_bins})"
        )


class SpikeTimeDataset(torch.utils.data.Dataset):
    """Samples that are one spike time per input (the exact trainers' tabular tasks): subclasses
    set `spike_times` (N, F) float64 and `labels` (N,) int64 numpy arrays."""

    spike_times: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.from_numpy(self.spike_times[index]), int(self.labels[index])

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All samples: spike times (N, F) float64 and labels (N,) int64."""
        return torch.from_numpy(self.spike_times), torch.from_numpy(self.labels)
