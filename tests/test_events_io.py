"""Event files: round trips, tonic dtypes, and one clear error per malformed stream."""

import numpy as np
import pytest

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.errors import SnnDeployError
from snndeploy.sim import load_events, save_events, validate_events
from snndeploy.sim.events import events_from_tonic


def stream(n=20, seed=0):
    rng = np.random.default_rng(seed)
    out = np.zeros(n, EVENT_DTYPE)
    out["t"] = np.sort(rng.integers(0, 1000, n))
    out["x"] = rng.integers(0, 16, n)
    out["y"] = rng.integers(0, 8, n)
    out["p"] = rng.integers(0, 2, n)
    return out


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_round_trip(tmp_path, suffix):
    events = stream()
    path = tmp_path / f"sample{suffix}"
    save_events(path, events)
    loaded = load_events(path, (16, 8, 2))
    assert loaded.dtype == EVENT_DTYPE
    assert np.array_equal(loaded, events)
    assert not list(tmp_path.glob("*.tmp"))


def test_npz_with_a_single_array_under_another_name(tmp_path):
    np.savez(tmp_path / "x.npz", whatever=stream())
    assert np.array_equal(load_events(tmp_path / "x.npz"), stream())


def test_tonic_dtypes_are_accepted():
    # DVS Gesture in tonic: int16 x/y, bool polarity, int64 t, field order x, y, p, t.
    tonic = np.zeros(3, np.dtype([("x", np.int16), ("y", np.int16), ("p", bool), ("t", np.int64)]))
    tonic["t"] = [0, 5, 5]
    tonic["x"] = [1, 2, 3]
    tonic["p"] = [True, False, True]
    converted = events_from_tonic((tonic, 4))
    assert converted.dtype == EVENT_DTYPE
    assert converted["p"].tolist() == [1, 0, 1] and converted["t"].tolist() == [0, 5, 5]
    # integral float timestamps (some tonic datasets) are accepted
    floats = np.zeros(2, np.dtype([("x", int), ("y", int), ("t", float), ("p", int)]))
    floats["t"] = [1.0, 2.0]
    assert validate_events(floats)["t"].tolist() == [1, 2]


def malformed(kind):
    events = stream()
    if kind == "unsorted":
        events["t"][5], events["t"][6] = events["t"][6] + 1, events["t"][5]
        return events, "timestamps decrease at event 6"
    if kind == "negative":
        events["t"][0] = -1
        return events, "negative timestamp"
    if kind == "x_range":
        events["x"][3] = 16
        return events, "event 3 .* x=16 outside 0..15"
    if kind == "y_negative":
        events["y"][2] = -1
        return events, "event 2 .* y=-1"
    if kind == "channel":
        events["p"][4] = 2
        return events, "p=2 outside 0..1"
    if kind == "missing_field":
        return np.zeros(3, np.dtype([("t", np.int64), ("x", np.int16)])), r"missing field\(s\) \['y', 'p'\]"
    if kind == "float_time":
        bad = np.zeros(2, np.dtype([("t", float), ("x", int), ("y", int), ("p", int)]))
        bad["t"] = [0.5, 1.0]
        return bad, "non-integer values"
    if kind == "string_field":
        return np.zeros(2, np.dtype([("t", "U3"), ("x", int), ("y", int), ("p", int)])), "expected an integer type"
    if kind == "unstructured":
        return np.zeros((4, 4), np.int64), "structured numpy array"
    raise AssertionError(kind)


KINDS = ["unsorted", "negative", "x_range", "y_negative", "channel", "missing_field", "float_time",
         "string_field", "unstructured"]


@pytest.mark.parametrize("kind", KINDS)
def test_malformed_streams_raise_one_clear_error(kind):
    events, message = malformed(kind)
    with pytest.raises(SnnDeployError, match=message):
        validate_events(events, (16, 8, 2))


@pytest.mark.parametrize("kind", ["unsorted", "x_range", "float_time"])
def test_malformed_files_name_the_file(tmp_path, kind):
    events, message = malformed(kind)
    path = tmp_path / "bad.npy"
    np.save(path, events)
    with pytest.raises(SnnDeployError, match=f"bad.npy: .*{message}"):
        load_events(path, (16, 8, 2))


def test_unreadable_files(tmp_path):
    with pytest.raises(SnnDeployError, match="does not exist"):
        load_events(tmp_path / "none.npz")
    (tmp_path / "junk.npy").write_bytes(b"not numpy")
    with pytest.raises(SnnDeployError, match="junk.npy"):
        load_events(tmp_path / "junk.npy")
    np.save(tmp_path / "objects.npy", np.array([{"t": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(SnnDeployError, match="pickle"):
        load_events(tmp_path / "objects.npy")
    np.savez(tmp_path / "two.npz", a=stream(), b=stream())
    with pytest.raises(SnnDeployError, match="'events'"):
        load_events(tmp_path / "two.npz")
    with pytest.raises(SnnDeployError, match=".txt"):
        save_events(tmp_path / "e.txt", stream())
