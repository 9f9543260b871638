"""PNG plots of plain data: learning curves, event rasters, per-core memory against limits.

Pure functions: they take numbers (lists, dicts, numpy arrays), draw with matplotlib's Agg
canvas (no display, no pyplot global state) and write the PNG atomically (temp file +
os.replace), returning the path written.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from snndeploy.errors import SnnDeployError
from snndeploy.files import write_atomically

SpikeTrain = tuple[Sequence[float], Sequence[int]]  # (times in microseconds, neuron index)

ON_COLOUR, OFF_COLOUR = "#d62728", "#1f77b4"
USED_COLOUR, OVER_COLOUR, CAPACITY_COLOUR = "#2ca02c", "#d62728", "#dddddd"


def save_figure(figure: Figure, path: str | os.PathLike) -> Path:
    """Render `figure` to PNG at `path` atomically; returns the path."""
    target = Path(path)
    if target.suffix.lower() != ".png":
        raise SnnDeployError(f"plot path {target} must end in .png")
    FigureCanvasAgg(figure)
    return write_atomically(target, lambda temp: figure.savefig(temp, format="png", dpi=110))


def plot_learning_curve(
    history: Sequence[Mapping[str, float]], path: str | os.PathLike, title: str = "Learning curve"
) -> Path:
    """Loss and accuracy per epoch from rows like {"epoch": 1, "train_loss": .., "test_acc": ..}.

    Every column whose name contains "loss" goes to the left panel, every one containing "acc"
    to the right (accuracies in [0, 1] are shown in percent); x is "epoch" or the row number.
    None marks a missing value; a column with no values is left out.
    """
    if not history:
        raise SnnDeployError("learning curve: the history has no epochs to plot")
    epochs = [row.get("epoch", index + 1) for index, row in enumerate(history)]
    columns = sorted({key for row in history for key in row if key != "epoch"})
    figure = Figure(figsize=(9, 3.6))
    loss_axes, accuracy_axes = figure.subplots(1, 2)
    for axes, word, label in ((loss_axes, "loss", "loss"), (accuracy_axes, "acc", "accuracy (%)")):
        chosen = [column for column in columns if word in column
                  and any(row.get(column) is not None for row in history)]
        for column in chosen:
            values = np.array([np.nan if row.get(column) is None else row[column]
                               for row in history], dtype=float)
            if word == "acc" and np.nanmax(values) <= 1.0:
                values = values * 100.0
            axes.plot(epochs, values, marker="o", label=column)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.set_ylabel(label)
        axes.grid(alpha=0.3)
        if chosen:
            axes.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_event_raster(
    input_events: np.ndarray,
    outputs: Mapping[str, SpikeTrain],
    path: str | os.PathLike,
    input_size: tuple[int, int, int],
    duration_us: int | None = None,
    class_names: Sequence[str] | None = None,
    title: str = "Events of one sample",
) -> Path:
    """Input events and the output spikes of several models side by side, over the same time axis.

    input_events: structured array with t, x, y, p (microseconds). input_size: (channels,
    height, width); the input's y axis is the pixel index (p * height + y) * width + x, ON in
    red, OFF in blue. outputs: name -> (times_us, neuron), e.g. {"float": .., "chip-sim": ..};
    each gets a panel with one row per output neuron (labelled by `class_names` when given).
    """
    channels, height, width = input_size
    end = duration_us or int(max([int(input_events["t"].max(initial=0))] + [
        int(np.max(times, initial=0)) for times, _ in outputs.values()])) + 1
    figure = Figure(figsize=(4.2 * (1 + len(outputs)), 3.8))
    axes = figure.subplots(1, 1 + len(outputs), squeeze=False)[0]
    pixel = (input_events["p"].astype(np.int64) * height + input_events["y"]) * width
    pixel = pixel + input_events["x"]
    time_ms = input_events["t"] / 1000.0
    for polarity, colour, name in ((1, ON_COLOUR, "ON"), (0, OFF_COLOUR, "OFF")):
        chosen = input_events["p"] == polarity
        axes[0].scatter(time_ms[chosen], pixel[chosen], s=0.3, c=colour, label=name, linewidths=0)
    axes[0].set_ylim(-0.5, channels * height * width - 0.5)
    axes[0].set_ylabel("input pixel (p, y, x)")
    axes[0].set_title(f"input: {len(input_events)} events")
    axes[0].legend(loc="upper right", fontsize=7, markerscale=12)
    neurons = max([len(class_names or ())] + [int(np.max(n, initial=-1)) + 1 for _, n in outputs.values()])
    for axes_one, (name, (times, neuron)) in zip(axes[1:], outputs.items()):
        times = np.asarray(times, dtype=float) / 1000.0
        axes_one.scatter(times, np.asarray(neuron), marker="|", s=40, c="black", linewidths=0.8)
        axes_one.set_ylim(-0.5, max(neurons, 1) - 0.5)
        axes_one.set_yticks(range(neurons))
        if class_names is not None:
            axes_one.set_yticklabels(class_names, fontsize=7)
        axes_one.set_ylabel("output neuron")
        axes_one.set_title(f"{name}: {len(times)} spikes")
        axes_one.grid(axis="y", alpha=0.3)
    for axes_one in axes:
        axes_one.set_xlim(0, end / 1000.0)
        axes_one.set_xlabel("time (ms)")
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)


def plot_core_memory(
    used: Mapping[str, Mapping[int, int]],
    limits: Mapping[str, Mapping[int, int]],
    path: str | os.PathLike,
    title: str = "Memory per core",
) -> Path:
    """One panel per memory kind: each core's capacity (grey) and the part the network uses.

    used: kind -> {core: entries used}; limits: kind -> {core: capacity in entries} (every core
    of the target, so unused cores show as empty capacity). Use above capacity is drawn red.
    """
    unknown = sorted(set(used) - set(limits))
    if unknown:
        raise SnnDeployError(f"memory plot: no limits given for memory kind(s) {unknown}")
    kinds = list(limits)
    figure = Figure(figsize=(4.0 * len(kinds), 3.6))
    axes = figure.subplots(1, len(kinds), squeeze=False)[0]
    for axes_one, kind in zip(axes, kinds):
        cores = sorted(set(limits[kind]) | set(used.get(kind, {})))
        capacity = np.array([limits[kind].get(core, 0) for core in cores], dtype=float) / 1024
        usage = np.array([used.get(kind, {}).get(core, 0) for core in cores], dtype=float) / 1024
        positions = np.arange(len(cores))
        axes_one.bar(positions, capacity, color=CAPACITY_COLOUR, edgecolor="grey", label="capacity")
        colours = [OVER_COLOUR if u > c else USED_COLOUR for u, c in zip(usage, capacity)]
        axes_one.bar(positions, usage, width=0.55, color=colours, label="used")
        for position, u, c in zip(positions, usage, capacity):
            if u > 0:
                share = f"{100.0 * u / c:.0f}%" if c > 0 else "no capacity"
                axes_one.annotate(share, (position, max(u, c)), ha="center", va="bottom", fontsize=7)
        axes_one.set_xticks(positions)
        axes_one.set_xticklabels([str(core) for core in cores])
        axes_one.set_xlabel("core")
        axes_one.set_ylabel("entries (Ki = 1024)")
        axes_one.set_title(f"{kind} memory")
        axes_one.set_ylim(0, max(capacity.max(initial=0), usage.max(initial=0)) * 1.15 + 1)
    axes[0].legend(fontsize=7)
    figure.suptitle(title)
    figure.tight_layout()
    return save_figure(figure, path)
