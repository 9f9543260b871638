"""Event arrays and their binning into frames.

An event stream is a 1-D structured numpy array of dtype `EVENT_DTYPE`:

    t : int64, microseconds since the start of the recording (non-decreasing)
    x : int16, column, 0 .. width-1
    y : int16, row, 0 .. height-1
    p : int16, polarity / channel, 0 .. channels-1 (DVS: 0 = OFF, 1 = ON; external input to a
        core: its input channel, up to 1023)

The field names are tonic's (`tonic.datasets.*.dtype`), so arrays convert both ways with
`events_from_fields`. A sensor is described like tonic's `sensor_size`: (width, height, channels).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from snndeploy.errors import SnnDeployError

EVENT_DTYPE = np.dtype([("t", np.int64), ("x", np.int16), ("y", np.int16), ("p", np.int16)])

SensorSize = tuple[int, int, int]


def events_from_fields(events: np.ndarray) -> np.ndarray:
    """Copy any structured array with fields t and x (y and p optional, default 0) to `EVENT_DTYPE`.

    Accepts tonic's per-dataset dtypes (e.g. N-MNIST's int64 fields, DVS Gesture's bool
    polarity, SHD's (t, x, p) without y) and returns a new array in `EVENT_DTYPE`.
    """
    names = events.dtype.names or ()
    missing = [field for field in ("t", "x") if field not in names]
    if missing:
        raise SnnDeployError(
            f"event array lacks field(s) {missing} (has {list(names)}); events need at least "
            "'t' (microseconds) and 'x', optionally 'y' and 'p'"
        )
    converted = np.zeros(len(events), dtype=EVENT_DTYPE)
    for field in EVENT_DTYPE.names:
        if field not in names:
            continue
        values = events[field]
        if len(values) and values.dtype != bool:
            limits = np.iinfo(EVENT_DTYPE[field])
            if values.min() < limits.min or values.max() > limits.max:
                raise SnnDeployError(
                    f"event field {field!r} holds values in [{values.min()}, {values.max()}], "
                    f"outside {EVENT_DTYPE[field]} [{limits.min}, {limits.max}] of EVENT_DTYPE"
                )
        converted[field] = values
    return converted


def num_time_bins(duration_us: int, dt_us: int) -> int:
    """Number of bins of width `dt_us` covering [0, duration_us): ceil(duration / dt)."""
    if dt_us <= 0:
        raise SnnDeployError(f"dt_us must be a positive number of microseconds, got {dt_us}")
    if duration_us <= 0:
        raise SnnDeployError(f"duration_us must be positive, got {duration_us}")
    return math.ceil(duration_us / dt_us)


def events_to_frames(
    events: np.ndarray, sensor_size: SensorSize, dt_us: int, duration_us: int
) -> torch.Tensor:
    """Count events per (time bin, channel, y, x): a float32 tensor (time, channel, y, x).

    Bin k holds the events with k*dt_us <= t < (k+1)*dt_us; there are
    ceil(duration_us / dt_us) bins and events at t >= that many bins * dt_us are dropped,
    so every sample of a dataset gets the same number of bins. Values are event counts
    (not clipped): a chip input neuron receives that many events in the bin.
    """
    width, height, channels = sensor_size
    bins = num_time_bins(duration_us, dt_us)
    if events.dtype.names is None or not {"t", "x"} <= set(events.dtype.names):
        raise SnnDeployError("events_to_frames needs a structured event array (see EVENT_DTYPE)")
    events = events if events.dtype == EVENT_DTYPE else events_from_fields(events)
    in_range = (events["x"] >= 0) & (events["x"] < width) & (events["y"] >= 0)
    in_range &= (events["y"] < height) & (events["p"] >= 0) & (events["p"] < channels)
    if not in_range.all():
        bad = events[~in_range][0]
        raise SnnDeployError(
            f"event (x={bad['x']}, y={bad['y']}, p={bad['p']}) lies outside the sensor "
            f"(width, height, channels) = {sensor_size}; pass the dataset's sensor_size"
        )
    if len(events) and events["t"].min() < 0:
        raise SnnDeployError("event timestamps must be >= 0 microseconds")
    time_bin = events["t"] // dt_us
    kept = time_bin < bins
    flat_index = (
        (time_bin[kept] * channels + events["p"][kept]) * height + events["y"][kept]
    ) * width + events["x"][kept]
    counts = np.bincount(flat_index, minlength=bins * channels * height * width)
    return torch.from_numpy(counts.astype(np.float32).reshape(bins, channels, height, width))


def batch_events_to_frames(
    streams: list[np.ndarray], sensor_size: SensorSize, dt_us: int, duration_us: int
) -> torch.Tensor:
    """`events_to_frames` for several streams, stacked to (batch, time, channel, y, x)."""
    return torch.stack([events_to_frames(s, sensor_size, dt_us, duration_us) for s in streams])
