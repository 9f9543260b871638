"""Event datasets: the shipped digits (a stand-in for N-MNIST), tonic adapters, binning to frames.

    from snndeploy.data import get_dataset
    train = get_dataset("digits", "train", dt_us=20_000)   # torch Dataset of (frames, label)
    frames, label = train[0]                                 # frames: (time, 2, 34, 34) float32
    events = train.events(0)                                 # EVENT_DTYPE array (t, x, y, p)
"""

from snndeploy.data.base import EventDataset
from snndeploy.data.events import (
    EVENT_DTYPE,
    batch_events_to_frames,
    events_from_fields,
    events_to_frames,
    num_time_bins,
)
from snndeploy.data.registry import DATASETS, check_dataset_name, get_dataset, list_datasets

__all__ = [
    "DATASETS",
    "EVENT_DTYPE",
    "EventDataset",
    "batch_events_to_frames",
    "check_dataset_name",
    "events_from_fields",
    "events_to_frames",
    "get_dataset",
    "list_datasets",
    "num_time_bins",
]
