"""Plots: valid PNGs written atomically from plain data, with the colours they promise."""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from snndeploy.data import EVENT_DTYPE
from snndeploy.errors import SnnDeployError
from snndeploy.plots import (
    OVER_COLOUR,
    USED_COLOUR,
    plot_core_memory,
    plot_event_raster,
    plot_learning_curve,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
KI = 1024
SPECK_KERNEL = dict(enumerate([16 * KI] * 3 + [32 * KI] * 2 + [64 * KI] * 2 + [16 * KI] * 2))
SPECK_NEURON = dict(enumerate([64 * KI] * 3 + [32 * KI] * 2 + [16 * KI] * 4))


def has_colour(path, colour: str) -> bool:
    rgb = np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)]) / 255.0
    pixels = imread(path)[..., :3]
    return bool(np.any(np.all(np.abs(pixels - rgb) < 0.02, axis=-1)))


def only_png_left(folder, name):
    assert sorted(p.name for p in folder.iterdir()) == [name]  # no temp file left behind


def test_learning_curve_png(tmp_path):
    history = [{"epoch": e, "train_loss": 2.0 / e, "train_acc": 0.1 * e, "test_acc": 0.09 * e,
                "val_loss": None} for e in range(1, 5)]
    written = plot_learning_curve(history, tmp_path / "curve.png")
    assert written.read_bytes()[:8] == PNG_MAGIC
    only_png_left(tmp_path, "curve.png")
    with pytest.raises(SnnDeployError, match="no epochs"):
        plot_learning_curve([], tmp_path / "empty.png")


def test_raster_png_with_input_and_two_outputs(tmp_path):
    events = np.array([(1000, 3, 4, 1), (2000, 5, 6, 0), (250_000, 33, 33, 1)], dtype=EVENT_DTYPE)
    outputs = {"float": ([10_000, 20_000], [3, 3]), "chip-sim": ([11_000], [3])}
    written = plot_event_raster(events, outputs, tmp_path / "raster.png", input_size=(2, 34, 34),
                                duration_us=300_000, class_names=[str(d) for d in range(10)])
    image = imread(written)
    assert image.shape[1] > 2 * image.shape[0]  # three panels side by side
    only_png_left(tmp_path, "raster.png")


def test_raster_accepts_no_output_spikes(tmp_path):
    events = np.zeros(0, dtype=EVENT_DTYPE)
    plot_event_raster(events, {"chip-sim": ([], [])}, tmp_path / "r.png", input_size=(2, 4, 4))
    assert (tmp_path / "r.png").stat().st_size > 0


def test_memory_bars_mark_overuse_red_only_when_over(tmp_path):
    fits = plot_core_memory({"kernel": {0: 4 * KI}, "neuron": {0: 20 * KI}},
                            {"kernel": SPECK_KERNEL, "neuron": SPECK_NEURON}, tmp_path / "fits.png")
    assert has_colour(fits, USED_COLOUR) and not has_colour(fits, OVER_COLOUR)
    over = plot_core_memory({"kernel": {0: 20 * KI}}, {"kernel": SPECK_KERNEL}, tmp_path / "over.png")
    assert has_colour(over, OVER_COLOUR)


def test_memory_plot_errors(tmp_path):
    with pytest.raises(SnnDeployError, match="bias"):
        plot_core_memory({"bias": {0: 10}}, {"kernel": SPECK_KERNEL}, tmp_path / "m.png")
    with pytest.raises(SnnDeployError, match=r"\.png"):
        plot_core_memory({}, {"kernel": SPECK_KERNEL}, tmp_path / "m.jpg")
    assert not any(tmp_path.iterdir())
