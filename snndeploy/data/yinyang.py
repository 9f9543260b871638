"""The Yin-Yang data set (Kriener, Göltz, Petrovici 2022), generated from its geometric definition.

    from snndeploy.data.yinyang import YinYangDataset, yinyang_points, latency_encode
    train = YinYangDataset("train")                 # 5000 samples, seed 42
    times, label = train[0]                         # times: float64 (5,) spike times, label int
    X, Y = train.points, train.labels               # (N, 2) float64 in [0, 1], (N,) int64
    T, Y = train.tensors()                          # (N, 5) float64 spike times, (N,) int64

Geometry (r_big = 0.5, r_small = 0.1, all coordinates in [0, 2 r_big] = [0, 1]):
the symbol is the disc of radius r_big around (r_big, r_big). With d_right / d_left the
distances to the dot centres (1.5 r_big, r_big) / (0.5 r_big, r_big), a point is

- "dot" (class 2) when d_right < r_small or d_left < r_small;
- else "yin" (class 0) when d_right <= r_small, or r_small < d_left <= 0.5 r_big, or
  (y > r_big and d_right > 0.5 r_big);
- else "yang" (class 1).

Sampling (rejection, balanced classes): for each sample a target class is drawn uniformly from
the three classes, then points (x, y) ~ U[0, 2 r_big]^2 are drawn until one lies inside the
disc and belongs to the target class. One `numpy.random.default_rng(seed)` drives everything, so
a split is a pure function of (size, seed). Default splits as the original release: train 5000
points seed 42, validation 1000 seed 41, test 1000 seed 40.

Inputs: the four features (x, y, 1 − x, 1 − y) in [0, 1]. `latency_encode` turns a feature v into
the spike time t_early + v (t_late − t_early) and, when t_bias is given, appends a fifth input
spiking at t_bias for every sample (paper 001 Table 3: t_early 0.15, T = t_late 2.0, t_bias 0.9).
"""

from __future__ import annotations

import numpy as np

from snndeploy.data.base import SpikeTimeDataset

from snndeploy.errors import SnnDeployError

R_BIG = 0.5
R_SMALL = 0.1
CLASSES = ("yin", "yang", "dot")
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}
T_EARLY = 0.15
T_LATE = 2.0
T_BIAS = 0.9


def yinyang_class(x: np.ndarray, y: np.ndarray, r_small: float = R_SMALL, r_big: float = R_BIG) -> np.ndarray:
    """Class (0 yin, 1 yang, 2 dot) of points inside the disc, by the rule in the module docstring."""
    d_right = np.hypot(x - 1.5 * r_big, y - r_big)
    d_left = np.hypot(x - 0.5 * r_big, y - r_big)
    is_yin = (
        (d_right <= r_small)
        | ((d_left > r_small) & (d_left <= 0.5 * r_big))
        | ((y > r_big) & (d_right > 0.5 * r_big))
    )
    is_dot = (d_right < r_small) | (d_left < r_small)
    return np.where(is_dot, 2, np.where(is_yin, 0, 1)).astype(np.int64)


def yinyang_points(
    size: int, seed: int, r_small: float = R_SMALL, r_big: float = R_BIG
) -> tuple[np.ndarray, np.ndarray]:
    """`size` balanced points by rejection sampling: (X (size, 2) float64 in [0, 2 r_big], Y (size,) int64)."""
    if size < 0:
        raise SnnDeployError(f"yinyang: size must be >= 0, got {size}")
    if not 0 < r_small < 0.5 * r_big:
        raise SnnDeployError(f"yinyang: need 0 < r_small < r_big / 2, got r_small={r_small}, r_big={r_big}")
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, len(CLASSES), size=size)
    points = np.empty((size, 2))
    for index, target in enumerate(targets):
        while True:
            x, y = rng.uniform(0.0, 2.0 * r_big, size=2)
            inside = np.hypot(x - r_big, y - r_big) <= r_big
            if inside and yinyang_class(np.array(x), np.array(y), r_small, r_big) == target:
                points[index] = (x, y)
                break
    return points, targets.astype(np.int64)


def features(points: np.ndarray, r_big: float = R_BIG) -> np.ndarray:
    """(x, y, 1 − x, 1 − y) of points scaled to [0, 1] (divided by 2 r_big): shape (N, 4)."""
    scaled = np.asarray(points, dtype=np.float64) / (2.0 * r_big)
    return np.concatenate([scaled, 1.0 - scaled], axis=1)


def latency_encode(
    values: np.ndarray, t_early: float = T_EARLY, t_late: float = T_LATE, t_bias: float | None = T_BIAS
) -> np.ndarray:
    """Spike times t_early + v (t_late − t_early) for features v in [0, 1], plus a bias column at t_bias.

    Returns (N, F) float64, or (N, F + 1) when t_bias is not None.
    """
    if not t_late > t_early:
        raise SnnDeployError(f"latency_encode: need t_late > t_early, got t_early={t_early}, t_late={t_late}")
    values = np.asarray(values, dtype=np.float64)
    times = t_early + values * (t_late - t_early)
    if t_bias is None:
        return times
    return np.concatenate([times, np.full((len(times), 1), float(t_bias))], axis=1)


class YinYangDataset(SpikeTimeDataset):
    """Yin-Yang (Kriener et al. 2022): 2-D points, 3 classes, latency-coded (x, y, 1−x, 1−y[, bias]).

    split: "train" (5000, seed 42), "validation" (1000, seed 41) or "test" (1000, seed 40);
    size / seed override those; limit keeps the first `limit` samples of the split (as the
    other datasets' limit, so quick runs see a prefix of the same data). Items are (spike times
    float64 (F,), label int).
    """

    def __init__(
        self,
        split: str = "train",
        size: int | None = None,
        seed: int | None = None,
        t_early: float = T_EARLY,
        t_late: float = T_LATE,
        t_bias: float | None = T_BIAS,
        r_small: float = R_SMALL,
        r_big: float = R_BIG,
        limit: int | None = None,
    ) -> None:
        if split not in SPLITS:
            raise SnnDeployError(f"unknown split {split!r} for dataset 'yinyang'; choose one of {tuple(SPLITS)}")
        default_size, default_seed = SPLITS[split]
        self.split = split
        self.classes = CLASSES
        self.num_classes = len(CLASSES)
        self.points, self.labels = yinyang_points(
            default_size if size is None else size,
            default_seed if seed is None else seed,
            r_small,
            r_big,
        )
        self.points, self.labels = self.points[:limit], self.labels[:limit]
        self.features = features(self.points, r_big)
        self.spike_times = latency_encode(self.features, t_early, t_late, t_bias)

