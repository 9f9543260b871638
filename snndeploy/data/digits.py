"""Shipped event dataset: UCI handwritten digits seen by a simulated DVS, a stand-in for N-MNIST.

Source images: the 1797 8x8 scans of `uci_digits.npz` (UCI ML repository, "Optical Recognition
of Handwritten Digits", CC BY 4.0; see DIGITS_NOTICE.md next to this file).

Conversion, as N-MNIST was recorded (Orchard et al. 2015: a DVS on a pan-tilt unit making three
saccades in front of a static image), fully deterministic:

1. Each 8x8 image (values 0..16) is scaled to [0, 1] and magnified 3.5x so the digit covers
   28x28 sensor pixels: with the digit's top-left corner at (x0, y0), sensor pixel column i reads
   the image bilinearly at column (i + 0.5 - x0) / 3.5 - 0.5 (rows alike); outside reads 0.
2. The digit moves on a 34x34 sensor along a triangle of three saccades, (x0, y0) going
   (0, 0) -> (3, 6) -> (6, 0) -> (0, 0) pixels, each saccade 100 ms at constant speed.
3. Each pixel is a DVS pixel: it keeps a reference log intensity ref, log(I + LOG_EPS) at the
   start (LOG_EPS = 0.1). With C the pixel's contrast threshold and n = floor(|log(I + LOG_EPS)
   - ref| / C + 1e-9) (the 1e-9 keeps exact returns to a level from being lost to rounding), a
   rise emits n ON events (p=1) and ref += n*C, a fall n OFF events (p=0) and ref -= n*C.
   C = CONTRAST_THRESHOLD (0.4) times (1 + mismatch), the mismatch drawn once per pixel from
   N(0, THRESHOLD_MISMATCH = 0.05) with `seed` (a property of the sensor, the same for every
   sample). The intensity is sampled every STEP_US = 2 ms; an event's time is where the
   linearly interpolated log intensity crosses its level within the step, in whole microseconds.
   About 4700 events per sample (N-MNIST has about 4000), 300 ms per sample.

Split (fixed): sample i of the 1797 is in "test" when i % 5 == 4 (359 samples), else in
"train" (1438). Events of a sample do not depend on which other samples are generated, so a
subset (`limit`) holds exactly the first events of the full split. Generated splits are cached
as .npz in the user cache directory (see `snndeploy.data.paths.cache_dir`).
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

import numba
import numpy as np

from snndeploy.data.base import EventDataset
from snndeploy.data.events import EVENT_DTYPE
from snndeploy.data.paths import atomic_save_npz, cache_dir
from snndeploy.errors import SnnDeployError

SENSOR_SIZE = (34, 34, 2)
DIGIT_SIZE = 28
SACCADE_VERTICES = ((0.0, 0.0), (3.0, 6.0), (6.0, 0.0), (0.0, 0.0))
SACCADE_US = 100_000
STEP_US = 2_000
DURATION_US = SACCADE_US * (len(SACCADE_VERTICES) - 1)
LOG_EPS = 0.1
CONTRAST_THRESHOLD = 0.4
THRESHOLD_MISMATCH = 0.05
DEFAULT_SEED = 0
# Added to |change| / C before floor: a pixel returning exactly to an earlier level (common on
# the closed saccade path) must fire as in exact arithmetic, not miss by a rounding error.
ROUNDING_SLACK = 1e-9
GENERATOR_VERSION = 1
SPLITS = ("train", "test")
CLASSES = tuple(str(digit) for digit in range(10))


def load_digit_images() -> tuple[np.ndarray, np.ndarray]:
    """The shipped UCI digits: images uint8 (1797, 8, 8) with values 0..16, labels uint8 (1797,)."""
    with resources.files("snndeploy.data").joinpath("uci_digits.npz").open("rb") as handle:
        with np.load(handle, allow_pickle=False) as archive:
            return archive["images"], archive["labels"]


def split_indices(split: str, count: int) -> np.ndarray:
    """Indices of `split` among `count` samples: test = every fifth (i % 5 == 4), train = the rest."""
    if split not in SPLITS:
        raise SnnDeployError(f"unknown split {split!r} for dataset 'digits'; choose one of {SPLITS}")
    index = np.arange(count)
    return index[index % 5 == 4] if split == "test" else index[index % 5 != 4]


def _bilinear_taps(out_size: int, in_size: int, offset: float, scale: float):
    """Two-tap bilinear sampling: out[i] = w0[i] * in[j0[i]] + w1[i] * in[j0[i] + 1].

    Output pixel centre i + 0.5 maps to input coordinate s = (i + 0.5 - offset) / scale - 0.5;
    j0 = floor(s), w1 = s - j0, w0 = 1 - w1. Taps outside the input read 0 (black background).
    Returns (index (out_size, 2) int64, weight (out_size, 2) float64).
    """
    source = (np.arange(out_size) + 0.5 - offset) / scale - 0.5
    first = np.floor(source)
    index = np.stack([first, first + 1], axis=1).astype(np.int64)
    weight = np.stack([1.0 - (source - first), source - first], axis=1)
    outside = (index < 0) | (index >= in_size)
    weight[outside] = 0.0
    index[outside] = 0
    return index, weight


def saccade_positions() -> np.ndarray:
    """Top-left (x, y) of the digit at every sampling step, float64 (steps + 1, 2)."""
    steps_per_saccade = SACCADE_US // STEP_US
    fractions = np.arange(steps_per_saccade) / steps_per_saccade
    legs = [
        np.asarray(start) + fractions[:, None] * (np.asarray(end) - np.asarray(start))
        for start, end in zip(SACCADE_VERTICES[:-1], SACCADE_VERTICES[1:])
    ]
    return np.concatenate(legs + [np.asarray(SACCADE_VERTICES[-1])[None, :]])


def pixel_thresholds(seed: int) -> np.ndarray:
    """Contrast threshold of each sensor pixel, float64 (34, 34); fixed by `seed`."""
    rng = np.random.default_rng(seed)
    mismatch = rng.normal(0.0, THRESHOLD_MISMATCH, size=SENSOR_SIZE[1::-1])
    return CONTRAST_THRESHOLD * (1.0 + mismatch)


@numba.njit(cache=True)
def _log_frame(image, row_index, row_weight, col_index, col_weight, log_eps, out):
    for y in range(out.shape[0]):
        for x in range(out.shape[1]):
            value = 0.0
            for a in range(2):
                for b in range(2):
                    value += (row_weight[y, a] * col_weight[x, b]
                              * image[row_index[y, a], col_index[x, b]])
            out[y, x] = np.log(value + log_eps)


@numba.njit(cache=True)
def _dvs_sample(image, row_index, row_weight, col_index, col_weight, thresholds, log_eps,
                step_us, out_t, out_x, out_y, out_p):
    """Events of one image into the out_* buffers, sorted by time; -1 when they do not fit."""
    height, width = thresholds.shape
    reference = np.empty((height, width))
    _log_frame(image, row_index[0], row_weight[0], col_index[0], col_weight[0], log_eps,
               reference)
    previous = reference.copy()
    current = np.empty((height, width))
    count = 0
    for step in range(1, row_index.shape[0]):
        _log_frame(image, row_index[step], row_weight[step], col_index[step], col_weight[step],
                   log_eps, current)
        step_start = count
        for y in range(height):
            for x in range(width):
                threshold = thresholds[y, x]
                change = current[y, x] - reference[y, x]
                sign = 1.0 if change > 0 else -1.0
                crossings = int(np.floor(sign * change / threshold + ROUNDING_SLACK))
                if crossings <= 0:
                    continue
                if count + crossings > out_t.shape[0]:
                    return -1
                for k in range(1, crossings + 1):
                    level = reference[y, x] + sign * k * threshold
                    fraction = (level - previous[y, x]) / (current[y, x] - previous[y, x])
                    fraction = min(max(fraction, 0.0), 1.0)
                    out_t[count] = (step - 1) * step_us + int(np.floor(fraction * (step_us - 1)))
                    out_x[count] = x
                    out_y[count] = y
                    out_p[count] = 1 if sign > 0 else 0
                    count += 1
                reference[y, x] += sign * crossings * threshold
        order = np.argsort(out_t[step_start:count], kind="mergesort") + step_start
        out_t[step_start:count] = out_t[order]
        out_x[step_start:count] = out_x[order]
        out_y[step_start:count] = out_y[order]
        out_p[step_start:count] = out_p[order]
        previous[:, :] = current
    return count


def digits_to_events(images: np.ndarray, seed: int = DEFAULT_SEED) -> tuple[np.ndarray, np.ndarray]:
    """Convert 8x8 digit images (n, 8, 8) to DVS events (module docstring describes how).

    Returns (events, offsets): one `EVENT_DTYPE` array with all samples' events, each sample's
    sorted by time (ties: in pixel order), and int64 offsets (n + 1,) so sample i is
    events[offsets[i]:offsets[i+1]].
    """
    width, height, _ = SENSOR_SIZE
    scale = DIGIT_SIZE / images.shape[-1]
    rows = [_bilinear_taps(height, images.shape[-2], y, scale) for _, y in saccade_positions()]
    cols = [_bilinear_taps(width, images.shape[-1], x, scale) for x, _ in saccade_positions()]
    row_index, row_weight = (np.stack(parts) for parts in zip(*rows))
    col_index, col_weight = (np.stack(parts) for parts in zip(*cols))
    thresholds = pixel_thresholds(seed)
    intensity = images.astype(np.float64) / 16.0
    capacity = 1 << 14
    samples = []
    for image in intensity:
        while True:
            buffers = (np.empty(capacity, np.int64), np.empty(capacity, np.int16),
                       np.empty(capacity, np.int16), np.empty(capacity, np.int8))
            count = _dvs_sample(image, row_index, row_weight, col_index, col_weight,
                                thresholds, LOG_EPS, STEP_US, *buffers)
            if count >= 0:
                break
            capacity *= 2
        sample = np.empty(count, dtype=EVENT_DTYPE)
        for field, buffer in zip("txyp", buffers):
            sample[field] = buffer[:count]
        samples.append(sample)
    offsets = np.concatenate([[0], np.cumsum([len(sample) for sample in samples])])
    events = np.concatenate(samples) if samples else np.empty(0, EVENT_DTYPE)
    return events, offsets.astype(np.int64)


def _cache_path(split: str, seed: int) -> Path:
    settings = dict(
        version=GENERATOR_VERSION, split=split, seed=seed, sensor=SENSOR_SIZE, digit=DIGIT_SIZE,
        saccades=SACCADE_VERTICES, saccade_us=SACCADE_US, step_us=STEP_US, eps=LOG_EPS,
        threshold=CONTRAST_THRESHOLD, mismatch=THRESHOLD_MISMATCH, slack=ROUNDING_SLACK,
        dtype=str(EVENT_DTYPE.descr),
    )
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    return cache_dir() / f"digits-events-{split}-{key}.npz"


def _read_cache(path: Path, samples: int) -> tuple[np.ndarray, np.ndarray] | None:
    """(events, offsets) from a cache file, or None when it is absent, unreadable or not this split."""
    try:
        with np.load(path, allow_pickle=False) as archive:
            events, offsets = archive["events"], archive["offsets"]
    except (OSError, ValueError, KeyError, EOFError):
        return None
    if events.dtype != EVENT_DTYPE or offsets.shape != (samples + 1,) or offsets[-1] != len(events):
        return None
    return events, offsets


def load_digit_events(
    split: str, seed: int = DEFAULT_SEED, limit: int | None = None, use_cache: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Events of a split: (events, offsets, labels); `limit` keeps its first `limit` samples.

    With `use_cache` the whole split is generated once and read from the cache afterwards (an
    unreadable cache file is regenerated, an unwritable cache folder skipped); without it (or
    with `limit` and no cache yet) only the requested samples are generated.
    """
    images, labels = load_digit_images()
    index = split_indices(split, len(images))
    if limit is not None:
        if limit < 1:
            raise SnnDeployError(f"limit must be a positive number of samples, got {limit}")
        limit = min(limit, len(index))
    path = _cache_path(split, seed)
    cached = _read_cache(path, len(index)) if use_cache else None
    if cached is not None:
        events, offsets = cached
    elif use_cache and limit is None:
        events, offsets = digits_to_events(images[index], seed)
        try:
            atomic_save_npz(path, events=events, offsets=offsets)
        except OSError:
            pass  # an unwritable cache only costs regenerating next time
    else:
        index = index[:limit]
        events, offsets = digits_to_events(images[index], seed)
    if limit is not None:
        events, offsets = events[: offsets[limit]], offsets[: limit + 1]
        index = index[:limit]
    return events, offsets, labels[index].astype(np.int64)


class DigitEventsDataset(EventDataset):
    """The shipped digits as DVS events (stand-in for N-MNIST): items are (frames, label).

    frames: float32 (time, 2, 34, 34) event counts in bins of `dt_us` over 300 ms.
    """

    def __init__(
        self,
        split: str = "train",
        dt_us: int = 10_000,
        seed: int = DEFAULT_SEED,
        limit: int | None = None,
        use_cache: bool = True,
    ) -> None:
        events, offsets, labels = load_digit_events(split, seed, limit, use_cache)
        super().__init__(
            name="digits", split=split, sensor_size=SENSOR_SIZE, classes=CLASSES,
            dt_us=dt_us, duration_us=DURATION_US,
        )
        self._events, self._offsets, self._labels = events, offsets, labels

    def __len__(self) -> int:
        return len(self._labels)

    def events(self, index: int) -> np.ndarray:
        return self._events[self._offsets[index] : self._offsets[index + 1]]

    def label(self, index: int) -> int:
        return int(self._labels[index])

    @property
    def labels(self) -> np.ndarray:
        return self._labels
