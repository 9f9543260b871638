"""Yin-Yang generator: geometry, balance, determinism, encoding, registry."""

import numpy as np
import pytest

from snndeploy.data import get_dataset
from snndeploy.data.yinyang import (
    R_BIG,
    YinYangDataset,
    features,
    latency_encode,
    yinyang_class,
    yinyang_points,
)
from snndeploy.errors import SnnDeployError


def test_class_of_landmark_points():
    # dot centres; top half yin except the right bulge; bottom half yang except the left bulge
    x = np.array([0.75, 0.25, 0.5, 0.9, 0.1, 0.5, 0.3])
    y = np.array([0.5, 0.5, 0.95, 0.6, 0.4, 0.05, 0.15])
    assert yinyang_class(x, y).tolist() == [2, 2, 0, 1, 0, 1, 1]


def test_points_inside_disc_balanced_and_labelled_by_the_rule():
    points, labels = yinyang_points(600, seed=3)
    assert points.shape == (600, 2) and labels.dtype == np.int64
    assert np.all(np.hypot(points[:, 0] - R_BIG, points[:, 1] - R_BIG) <= R_BIG)
    assert np.array_equal(yinyang_class(points[:, 0], points[:, 1]), labels)
    counts = np.bincount(labels, minlength=3)
    assert counts.min() > 150


def test_seeded_splits_are_deterministic_and_differ():
    a = YinYangDataset("test", size=50)
    b = YinYangDataset("test", size=50)
    c = YinYangDataset("validation", size=50)
    assert np.array_equal(a.points, b.points)
    assert not np.array_equal(a.points, c.points)


def test_latency_encoding_and_bias():
    X = np.array([[0.0, 1.0], [0.25, 0.5]])
    f = features(X)
    assert np.allclose(f, [[0.0, 1.0, 1.0, 0.0], [0.25, 0.5, 0.75, 0.5]])
    t = latency_encode(f, t_early=0.15, t_late=2.0, t_bias=0.9)
    assert t.shape == (2, 5)
    assert np.allclose(t[0], [0.15, 2.0, 2.0, 0.15, 0.9])
    assert latency_encode(f, t_bias=None).shape == (2, 4)
    with pytest.raises(SnnDeployError, match="t_late"):
        latency_encode(f, t_early=2.0, t_late=1.0)


def test_dataset_items_and_registry():
    data = get_dataset("yinyang", "validation", size=20)
    times, label = data[0]
    assert times.shape == (5,) and 0 <= label < 3
    T, Y = data.tensors()
    assert T.shape == (20, 5) and Y.shape == (20,)
    with pytest.raises(SnnDeployError, match="split"):
        YinYangDataset("bogus")


def test_iris_and_xor_shipped_and_registered():
    from snndeploy.data.iris import load_iris

    X, Y = load_iris()
    assert X.shape == (150, 4) and np.bincount(Y).tolist() == [50, 50, 50]
    train, test = get_dataset("iris", "train"), get_dataset("iris", "test")
    assert len(train) == 120 and len(test) == 30
    from snndeploy.data.iris import split_indices

    assert not set(split_indices("train")) & set(split_indices("test"))
    times, _ = test.tensors()
    assert times.min() >= 0.0 and times.max() <= 16.0
    xor = get_dataset("xor")
    assert xor.labels.tolist() == [0, 1, 1, 0] and xor.spike_times.shape == (4, 3)


def test_iris_limit_takes_every_class_in_turn_and_keeps_data_set_order():
    from snndeploy.data.iris import IrisDataset

    whole = IrisDataset("train")
    for limit in (1, 2, 3, 5, 7):
        counts = np.bincount(IrisDataset("train", limit=limit).labels, minlength=3)
        # classes in turn: the first `limit` of 0, 1, 2, 0, 1, 2, ...
        assert counts.tolist() == [len(range(c, limit, 3)) for c in range(3)]
    part = IrisDataset("train", limit=7)  # the first 3, 2 and 2 flowers of the three classes
    keep = np.concatenate([np.flatnonzero(whole.labels == c)[:n] for c, n in enumerate((3, 2, 2))])
    assert np.array_equal(part.features, whole.features[np.sort(keep)])  # in data-set order
    assert np.array_equal(part.spike_times, whole.spike_times[np.sort(keep)])
    assert len(IrisDataset("train", limit=1000)) == len(whole)
