"""Event streams for the simulator: strict validation, .npy / .npz files, tonic samples.

An input stream is a 1-D structured array of `snndeploy.data.events.EVENT_DTYPE` (fields t, x,
y, p: tonic's names; t in microseconds). Any structured array with integer (or boolean
polarity) fields t, x, y, p converts, so tonic's per-dataset dtypes are accepted as they are.

`validate_events` is the one gate before any simulation: it rejects, with one message that
names the field, the first offending event and the fix, arrays that are not structured, lack a
field, have non-integer fields, negative or decreasing timestamps, or addresses outside the
input (width, height, channels).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from snndeploy.data.events import EVENT_DTYPE, events_from_fields
from snndeploy.data.paths import atomic_save_npz
from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically

REQUIRED_FIELDS = ("t", "x", "y", "p")
# The key under which save_events stores the stream in an .npz file (load_events also accepts
# an .npz holding exactly one array under any name).
NPZ_KEY = "events"


def _check_integer_field(events: np.ndarray, field: str, source: str) -> None:
    kind = events.dtype[field].kind
    if kind in "iub":
        return
    if kind == "f":
        values = events[field]
        if np.all(np.isfinite(values)) and np.all(values == np.round(values)):
            return
        raise SnnDeployError(
            f"{source}: field '{field}' holds non-integer values (first: "
            f"{float(values[~(np.isfinite(values) & (values == np.round(values)))][0])}); "
            "timestamps are integer microseconds and addresses integer indices"
        )
    raise SnnDeployError(
        f"{source}: field '{field}' has dtype {events.dtype[field]}, expected an integer type"
    )


def _first_outside(values: np.ndarray, limit: int) -> int | None:
    bad = np.flatnonzero((values < 0) | (values >= limit))
    return None if len(bad) == 0 else int(bad[0])


def validate_events(
    events: np.ndarray,
    input_size: tuple[int, int, int] | None = None,
    source: str = "events",
) -> np.ndarray:
    """Check a stream and return it as a new `EVENT_DTYPE` array.

    `input_size` is (width, height, channels) of whatever receives the events (the DVS sensor
    or the first core); addresses must satisfy 0 <= x < width, 0 <= y < height,
    0 <= p < channels. Timestamps must be >= 0 and non-decreasing (equal times are allowed and
    keep their order). `source` names the array in messages (e.g. the file path).
    """
    if not isinstance(events, np.ndarray) or events.dtype.names is None:
        raise SnnDeployError(
            f"{source}: expected a structured numpy array with fields {REQUIRED_FIELDS} "
            f"(e.g. dtype {EVENT_DTYPE}), got {type(events).__name__}"
            + (f" of dtype {events.dtype}" if isinstance(events, np.ndarray) else "")
        )
    if events.ndim != 1:
        raise SnnDeployError(f"{source}: expected a 1-D event array, got shape {events.shape}")
    missing = [field for field in REQUIRED_FIELDS if field not in events.dtype.names]
    if missing:
        raise SnnDeployError(
            f"{source}: missing field(s) {missing}; has {list(events.dtype.names)}, "
            f"needs {list(REQUIRED_FIELDS)} (t in microseconds, p = polarity or channel)"
        )
    for field in REQUIRED_FIELDS:
        _check_integer_field(events, field, source)
    times = events["t"]
    if len(events) and times.min() < 0:
        index = int(np.flatnonzero(times < 0)[0])
        raise SnnDeployError(
            f"{source}: event {index} has negative timestamp t={times[index]}; "
            "timestamps are microseconds from the start of the recording"
        )
    decreasing = np.flatnonzero(np.diff(times) < 0)
    if len(decreasing):
        index = int(decreasing[0]) + 1
        raise SnnDeployError(
            f"{source}: timestamps decrease at event {index} (t={times[index - 1]} then "
            f"t={times[index]}); sort the stream by t with a stable sort "
            "(np.sort(events, order='t', kind='stable'))"
        )
    p_limit = np.iinfo(EVENT_DTYPE["p"]).max
    if len(events) and events["p"].max() > p_limit:
        raise SnnDeployError(
            f"{source}: channel p={events['p'].max()} exceeds {p_limit}, the largest channel "
            "the event dtype holds"
        )
    if input_size is not None:
        for field, limit in zip(("x", "y", "p"), input_size):
            index = _first_outside(events[field], int(limit))
            if index is not None:
                event = events[index]
                raise SnnDeployError(
                    f"{source}: event {index} (t={event['t']}, x={event['x']}, y={event['y']}, "
                    f"p={event['p']}) has {field}={event[field]} outside 0..{int(limit) - 1} of "
                    f"the input (width, height, channels) = {tuple(int(v) for v in input_size)}"
                )
    return events_from_fields(events)


def load_events(path: str | os.PathLike, input_size: tuple[int, int, int] | None = None) -> np.ndarray:
    """Read and validate an event stream from .npy or .npz (never unpickles).

    An .npz must hold the stream under the key "events" or hold exactly one array.
    """
    path = Path(path)
    if not path.is_file():
        raise SnnDeployError(f"event file {path} does not exist")
    try:
        loaded = np.load(path, allow_pickle=False)
    except ValueError as err:
        raise SnnDeployError(
            f"{path}: cannot read as .npy/.npz without pickle ({err}); save events with "
            "snndeploy.save_events or np.save of a structured array"
        ) from err
    except OSError as err:
        raise SnnDeployError(f"{path}: not a readable .npy/.npz file ({err})") from err
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.keys())
            if NPZ_KEY in keys:
                events = loaded[NPZ_KEY]
            elif len(keys) == 1:
                events = loaded[keys[0]]
            else:
                raise SnnDeployError(
                    f"{path}: .npz holds arrays {keys}; store the stream under the key "
                    f"'{NPZ_KEY}' or as the only array"
                )
    else:
        events = loaded
    return validate_events(events, input_size, source=str(path))


def save_events(path: str | os.PathLike, events: np.ndarray) -> None:
    """Validate and write a stream atomically: .npz (key "events") or .npy."""
    path = Path(path)
    events = validate_events(events, source="events to save")
    if path.suffix == ".npz":
        atomic_save_npz(path, **{NPZ_KEY: events})
    elif path.suffix == ".npy":
        def write(temp: Path) -> None:
            with open(temp, "wb") as stream:  # a stream: np.save would append ".npy" to a name
                np.save(stream, events, allow_pickle=False)

        write_atomically(path, write)
    else:
        raise SnnDeployError(f"{path}: event files end in .npz or .npy, not '{path.suffix}'")


def events_from_tonic(sample) -> np.ndarray:
    """The events of one tonic sample: a structured array, or an (events, target) pair."""
    events = sample[0] if isinstance(sample, tuple) else sample
    return validate_events(np.asarray(events), source="tonic sample")
