"""Datasets: event dtype, binning rule, the shipped digits' DVS conversion, registry, tonic adapters."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
import torch

from snndeploy.data import (
    DATASETS,
    EVENT_DTYPE,
    batch_events_to_frames,
    events_from_fields,
    events_to_frames,
    get_dataset,
    list_datasets,
    num_time_bins,
)
from snndeploy.data import digits
from snndeploy.data.tonic_adapters import TONIC_SOURCES
from snndeploy.errors import SnnDeployError


@pytest.fixture(autouse=True)
def private_dirs(tmp_path, monkeypatch):
    monkeypatch.setenv("SNNDEPLOY_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("SNNDEPLOY_DATA_DIR", str(tmp_path / "data"))
    return tmp_path


def make_events(rows):
    return np.array(rows, dtype=EVENT_DTYPE)


def test_event_dtype_fields_and_units():
    assert EVENT_DTYPE.names == ("t", "x", "y", "p")
    assert EVENT_DTYPE["t"] == np.int64


def test_binning_puts_each_event_in_floor_t_over_dt():
    events = make_events([(0, 1, 2, 0), (9_999, 1, 2, 0), (10_000, 3, 0, 1), (29_999, 0, 1, 1)])
    frames = events_to_frames(events, (4, 3, 2), dt_us=10_000, duration_us=30_000)
    assert frames.shape == (3, 2, 3, 4) and frames.dtype == torch.float32
    assert frames[0, 0, 2, 1] == 2  # two events in bin 0 at the same pixel are counted, not clipped
    assert frames[1, 1, 0, 3] == 1
    assert frames[2, 1, 1, 0] == 1
    assert frames.sum() == 4


def test_binning_drops_events_after_the_last_bin_and_rounds_bins_up():
    events = make_events([(24_999, 0, 0, 0), (25_000, 0, 0, 0), (40_000, 0, 0, 0)])
    assert num_time_bins(25_000, 10_000) == 3
    frames = events_to_frames(events, (1, 1, 1), dt_us=10_000, duration_us=25_000)
    assert frames[:, 0, 0, 0].tolist() == [0.0, 0.0, 2.0]  # t=40000 lies in bin 4: dropped


@pytest.mark.parametrize(
    "row, culprit", [((0, 5, 0, 0), "x=5"), ((0, 0, 0, 2), "p=2"), ((-1, 0, 0, 0), "timestamps")]
)
def test_binning_rejects_events_outside_the_sensor(row, culprit):
    with pytest.raises(SnnDeployError, match=culprit):
        events_to_frames(make_events([row]), (5, 5, 2), dt_us=1000, duration_us=1000)


def test_binning_rejects_bad_dt():
    with pytest.raises(SnnDeployError, match="dt_us"):
        events_to_frames(make_events([]), (5, 5, 2), dt_us=0, duration_us=1000)


def test_batch_binning_stacks_to_batch_time_channel_y_x():
    streams = [make_events([(0, 0, 0, 1)]), make_events([(1500, 1, 0, 0)])]
    frames = batch_events_to_frames(streams, (2, 1, 2), dt_us=1000, duration_us=2000)
    assert frames.shape == (2, 2, 2, 1, 2)
    assert frames[0, 0, 1, 0, 0] == 1 and frames[1, 1, 0, 0, 1] == 1


def test_events_from_tonic_dtypes():
    gesture = np.zeros(2, dtype=[("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)])
    gesture["p"], gesture["t"], gesture["x"] = [True, False], [5, 7], [3, 4]
    converted = events_from_fields(gesture)
    assert converted.dtype == EVENT_DTYPE and converted["p"].tolist() == [1, 0]
    shd = np.zeros(1, dtype=[("t", int), ("x", int), ("p", int)])
    shd["x"] = 699
    assert events_from_fields(shd)["y"].tolist() == [0] and events_from_fields(shd)["x"][0] == 699
    with pytest.raises(SnnDeployError, match="'t'"):
        events_from_fields(np.zeros(1, dtype=[("x", int)]))
    external = np.zeros(1, dtype=[("t", int), ("x", int), ("p", int)])
    external["p"] = 1023  # a core's input channel: up to 1023 on the chip
    assert events_from_fields(external)["p"][0] == 1023
    external["x"] = 70_000
    with pytest.raises(SnnDeployError, match="'x'.*int16"):
        events_from_fields(external)


def test_digit_images_shipped_with_labels():
    images, labels = digits.load_digit_images()
    assert images.shape == (1797, 8, 8) and images.max() == 16
    assert np.bincount(labels).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]


def test_fixed_split_every_fifth_is_test():
    test, train = digits.split_indices("test", 1797), digits.split_indices("train", 1797)
    assert len(test) == 359 and len(train) == 1438
    assert set(test.tolist()).isdisjoint(train.tolist()) and test[0] == 4
    with pytest.raises(SnnDeployError, match="split"):
        digits.split_indices("validation", 1797)


@pytest.fixture(scope="module")
def few_digits():
    images, labels = digits.load_digit_images()
    return images[:6], digits.digits_to_events(images[:6])


def test_digit_events_are_deterministic_and_independent_of_the_batch(few_digits):
    images, (events, offsets) = few_digits
    again, again_offsets = digits.digits_to_events(images[:2])
    assert np.array_equal(offsets[:3], again_offsets)
    assert np.array_equal(events[: offsets[2]], again)


def test_digit_events_lie_on_the_sensor_sorted_in_time(few_digits):
    _, (events, offsets) = few_digits
    assert events.dtype == EVENT_DTYPE
    for start, stop in zip(offsets[:-1], offsets[1:]):
        sample = events[start:stop]
        assert 2000 < len(sample) < 10_000
        assert np.all(np.diff(sample["t"]) >= 0)
        assert sample["t"].min() >= 0 and sample["t"].max() < digits.DURATION_US
    assert events["x"].max() < 34 and events["y"].max() < 34 and set(events["p"]) == {0, 1}


def test_closed_saccade_path_gives_equal_on_and_off_events_per_pixel(few_digits):
    # The digit returns to where it started, so each pixel's log intensity ends where it began:
    # the DVS rule (ref moves by +-C per event, |log I - ref| < C after each step) then forces
    # as many ON as OFF events at every pixel.
    _, (events, offsets) = few_digits
    for start, stop in zip(offsets[:-1], offsets[1:]):
        sample = events[start:stop]
        pixel = sample["y"].astype(np.int64) * 34 + sample["x"]
        on = np.bincount(pixel[sample["p"] == 1], minlength=34 * 34)
        off = np.bincount(pixel[sample["p"] == 0], minlength=34 * 34)
        assert np.array_equal(on, off)


def test_digit_events_respect_the_contrast_threshold(few_digits):
    # A pixel whose log intensity never changes by C or more emits nothing: the corners, which
    # the digit (with its black border columns) never lights, stay silent.
    _, (events, _) = few_digits
    assert not np.any((events["x"] == 33) & (events["y"] == 33))
    thresholds = digits.pixel_thresholds(digits.DEFAULT_SEED)
    assert thresholds.shape == (34, 34)
    assert abs(thresholds.mean() - digits.CONTRAST_THRESHOLD) < 0.01


def test_get_dataset_digits_items_and_loader():
    dataset = get_dataset("digits", "test", dt_us=20_000, limit=5, use_cache=False)
    assert len(dataset) == 5 and dataset.num_time_bins == 15 and dataset.num_classes == 10
    frames, label = dataset[0]
    assert frames.shape == (15, 2, 34, 34) and frames.dtype == torch.float32
    assert frames.sum() == len(dataset.events(0))
    _, labels = digits.load_digit_images()
    assert label == labels[4]
    batch, targets = next(iter(torch.utils.data.DataLoader(dataset, batch_size=4)))
    assert batch.shape == (4, 15, 2, 34, 34) and targets.tolist() == dataset.labels[:4].tolist()
    stacked, stacked_labels = dataset.tensors()
    assert stacked.shape == (5, 15, 2, 34, 34) and torch.equal(stacked[1], dataset[1][0])
    with pytest.raises(IndexError):
        dataset[5]


def test_digit_split_is_cached_and_limit_is_a_prefix(private_dirs):
    full = get_dataset("digits", "test")
    cached = list((private_dirs / "cache").glob("digits-events-test-*.npz"))
    assert len(cached) == 1 and len(full) == 359
    again = get_dataset("digits", "test")
    assert np.array_equal(again.events(358), full.events(358))
    prefix = get_dataset("digits", "test", limit=3, use_cache=False)
    assert np.array_equal(prefix.events(2), full.events(2))


def test_corrupt_cache_is_regenerated_and_unwritable_cache_skipped(private_dirs, monkeypatch):
    first = get_dataset("digits", "test", limit=2)  # no cache yet: generates only 2 samples
    assert not (private_dirs / "cache").exists()
    full = get_dataset("digits", "test")
    (cache_file,) = (private_dirs / "cache").glob("digits-events-test-*.npz")
    cache_file.write_bytes(b"truncated")
    again = get_dataset("digits", "test")
    assert np.array_equal(again.events(1), first.events(1)) and len(again) == len(full)
    assert cache_file.stat().st_size > 1000  # rewritten
    blocker = private_dirs / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("SNNDEPLOY_CACHE_DIR", str(blocker))
    assert len(get_dataset("digits", "test")) == 359


def test_registry_names_errors_and_extension(monkeypatch):
    assert {"digits", "nmnist", "dvsgesture", "shd"} <= set(list_datasets())
    assert "N-MNIST" in list_datasets()["digits"]
    with pytest.raises(SnnDeployError, match="unknown dataset 'mnist'.*digits"):
        get_dataset("mnist")
    with pytest.raises(SnnDeployError, match="dt_ms"):
        get_dataset("digits", "test", dt_ms=5)

    def tiny(split="train"):
        """Two samples for the registry test."""
        return [(torch.zeros(1), 0), (torch.ones(1), 1)]

    monkeypatch.setitem(DATASETS, "tiny", tiny)
    assert len(get_dataset("tiny", "test")) == 2
    assert list_datasets()["tiny"] == "Two samples for the registry test."


@pytest.mark.parametrize("name", sorted(TONIC_SOURCES))
def test_tonic_dataset_absent_says_what_to_download_and_where(name, private_dirs):
    source = TONIC_SOURCES[name]
    with pytest.raises(SnnDeployError) as caught:
        get_dataset(name, "train")
    message = str(caught.value)
    assert source.archive["train"] in message and source.url.split()[0] in message
    assert str(private_dirs / "data" / source.tonic_class) in message


def place_nmnist_files(root):
    folder = root / "NMNIST"
    (folder / "Test").mkdir(parents=True)
    (folder / "test.zip").write_bytes(b"")


def test_tonic_missing_package_is_named(private_dirs, monkeypatch):
    place_nmnist_files(private_dirs / "data")
    monkeypatch.setitem(sys.modules, "tonic", None)
    with pytest.raises(SnnDeployError, match="pip install tonic"):
        get_dataset("nmnist", "test")


def test_tonic_adapter_bins_tonic_samples(private_dirs, monkeypatch):
    place_nmnist_files(private_dirs / "data")
    tonic_dtype = np.dtype([("x", int), ("y", int), ("t", int), ("p", int)])

    class FakeNMNIST:
        def __init__(self, save_to, train):
            assert save_to == str(private_dirs / "data") and train is False

        def __len__(self):
            return 1

        def __getitem__(self, index):
            events = np.array([(33, 0, 20_000, 1), (1, 2, 5_000, 0)], dtype=tonic_dtype)
            return events, 7

    fake = types.ModuleType("tonic")
    fake.datasets = types.SimpleNamespace(NMNIST=FakeNMNIST)
    monkeypatch.setitem(sys.modules, "tonic", fake)
    dataset = get_dataset("nmnist", "test", dt_us=10_000)
    frames, label = dataset[0]
    assert label == 7 and frames.shape == (30, 2, 34, 34)
    assert frames[0, 0, 2, 1] == 1 and frames[2, 1, 0, 33] == 1
    assert dataset.events(0)["t"].tolist() == [5_000, 20_000]
