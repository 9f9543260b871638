"""Learning-curve plot of a training history (matplotlib, Agg: no display needed)."""

from __future__ import annotations

from pathlib import Path

from snndeploy.train.checkpoint import write_atomically


def plot_learning_curve(history: list[dict], path: "str | Path") -> Path:
    """Loss and accuracy per epoch (train, and validation when recorded) as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    epochs = [row["epoch"] for row in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=(9, 3.5))
    for axis, metric, label in ((loss_axis, "loss", "loss"), (accuracy_axis, "accuracy", "accuracy")):
        axis.plot(epochs, [row[f"train_{metric}"] for row in history], "o-", label="train")
        validation = [(row["epoch"], row[f"val_{metric}"]) for row in history
                      if row.get(f"val_{metric}") is not None]
        if validation:
            axis.plot(*zip(*validation), "s-", label="validation")
        axis.set_xlabel("epoch")
        axis.set_ylabel(label)
        axis.grid(alpha=0.3)
        axis.legend()
    accuracy_axis.set_ylim(0, 1)
    figure.tight_layout()
    path = Path(path)
    write_atomically(path, lambda temp: figure.savefig(temp, format="png", dpi=100))
    plt.close(figure)
    return path
