"""The Iris flower data set (150 samples, 4 features, 3 classes), shipped in iris.csv.

Attribution: R.A. Fisher (1936), "The use of multiple measurements in taxonomic problems",
Annals of Eugenics 7(2):179-188; UCI Machine Learning Repository, Iris,
https://doi.org/10.24432/C56C76, licensed CC BY 4.0. Values as in Fisher's paper.

    from snndeploy.data.iris import IrisDataset, load_iris
    X, Y = load_iris()                      # (150, 4) float64 cm, (150,) int64
    test = IrisDataset("test")              # 30 samples; latency-coded times (4,), label
    fp = IrisDataset("train", t_max=4.0, t_bias=1.8)   # times (5,): 4 features + reference spike

Split (seeded, stratified): with `numpy.random.default_rng(seed)` each class's 50 indices are
permuted; the first `test_per_class` (10) go to "test", the rest to "train" (120 / 30). The split
depends on `seed` alone (default 0), never on the seed that initialises a network: trainers keep
the split fixed unless a dataset option asks for another.
Encoding (paper 001, after Bohte et al.): feature value n becomes the spike time
T (1 − (n − min n) / (max n − min n)), min / max over all 150 samples, T = `t_max` (16).
With `t_bias` set, a fifth input spikes at t_bias for every sample (a reference spike, as the
XOR and Yin-Yang inputs have): without it a network of time-invariant neurons sees only the
differences between the four spike times (shifting them all shifts every output spike alike).
"""

from __future__ import annotations

from importlib import resources

import numpy as np

from snndeploy.data.base import SpikeTimeDataset
from snndeploy.data.yinyang import latency_encode
from snndeploy.errors import SnnDeployError

CLASSES = ("setosa", "versicolor", "virginica")
SPLITS = ("train", "test")
T_MAX = 16.0


def load_iris() -> tuple[np.ndarray, np.ndarray]:
    """All 150 samples: features (150, 4) float64 in cm, labels (150,) int64."""
    with resources.files("snndeploy.data").joinpath("iris.csv").open("r") as handle:
        table = np.loadtxt(handle, delimiter=",", comments="#")
    return table[:, :4], table[:, 4].astype(np.int64)


def latency_encode_iris(features: np.ndarray, t_max: float = T_MAX, t_bias: float | None = None) -> np.ndarray:
    """Spike times T (1 − normalised feature), normalised by the min / max over the full data set;
    (N, 4) float64, or (N, 5) with a last column at `t_bias` when it is not None."""
    full, _ = load_iris()
    low, high = full.min(axis=0), full.max(axis=0)
    normalised = (np.asarray(features, dtype=np.float64) - low) / (high - low)
    return latency_encode(1.0 - normalised, t_early=0.0, t_late=t_max, t_bias=t_bias)


def split_indices(split: str, seed: int = 0, test_per_class: int = 10) -> np.ndarray:
    """Sample indices of `split` (stratified, seeded; see the module docstring)."""
    if split not in SPLITS:
        raise SnnDeployError(f"unknown split {split!r} for dataset 'iris'; choose one of {SPLITS}")
    _, labels = load_iris()
    rng = np.random.default_rng(seed)
    chosen = []
    for label in range(len(CLASSES)):
        members = rng.permutation(np.flatnonzero(labels == label))
        chosen.append(members[:test_per_class] if split == "test" else members[test_per_class:])
    return np.sort(np.concatenate(chosen))


def _class_by_class(labels: np.ndarray) -> np.ndarray:
    """Positions into `labels` ordered first by rank within their class, then by class: the
    first of each class, then the second of each, and so on."""
    rank = np.empty(len(labels), dtype=np.int64)
    for label in np.unique(labels):
        members = labels == label
        rank[members] = np.arange(members.sum())
    return np.lexsort((labels, rank))


class IrisDataset(SpikeTimeDataset):
    """Iris (Fisher 1936, UCI, CC BY 4.0): 4 latency-coded features (+ a reference spike at
    `t_bias` when given), 3 classes, 120/30 split chosen by `seed` (see the module docstring).

    `limit` keeps `limit` samples of the split, taken class by class in turn (the first flower
    of each class, then the second, ...), so even a small limit sees every class; the kept
    samples stay in data-set order, as the whole split's do.
    """

    def __init__(self, split: str = "train", seed: int = 0, t_max: float = T_MAX, test_per_class: int = 10,
                 limit: int | None = None, t_bias: float | None = None) -> None:
        index = split_indices(split, seed, test_per_class)
        if limit is not None:
            index = np.sort(index[_class_by_class(load_iris()[1][index])[:limit]])
        features, labels = load_iris()
        self.split = split
        self.classes = CLASSES
        self.num_classes = len(CLASSES)
        self.features = features[index]
        self.labels = labels[index]
        self.spike_times = latency_encode_iris(self.features, t_max, t_bias)

