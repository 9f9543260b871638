"""Paper 001's tasks trained with exact FP gradients: test accuracy over seeds, time per epoch.

    python benchmarks/fp_tasks.py xor --seeds 0 1 2 3 4
    python benchmarks/fp_tasks.py iris --seeds 0 1 2 3 4
    python benchmarks/fp_tasks.py iris --seeds 0 1 2 3 4 --data seed=1     # another Iris split
    python benchmarks/fp_tasks.py iris_table2 --seeds 0 --set gamma=0 --set learning_rate=0.01
    python benchmarks/fp_tasks.py yinyang --seeds 0 --epochs 3 --json yy.json

Each seed trains the preset's network (`snndeploy.fp.PRESETS`, paper tables 1-3) and reports the
test accuracy after the last epoch and the best one seen (evaluated every --evaluate-every
epochs), the number of epochs (= steps for full-batch tasks) until the first evaluation at 100 %,
for presets with a validation split (Yin-Yang) the test accuracy at the evaluated epoch of best
validation accuracy ("selected"), then mean ± std over seeds and the mean training time per epoch (this machine, one
process, OMP_NUM_THREADS as set by the caller; --engine numpy times the reference engine).
The seed initialises the weights only: the data split is the preset's (--data changes it for
every seed alike). As a yardstick for how hard the split is, the summary also gives the test
accuracy of a 1-nearest-neighbour classifier on the same spike times (Euclidean distance,
training split as reference, ties to the lower index).
"""

from __future__ import annotations

import argparse
import json
import statistics
from dataclasses import replace

import torch

from snndeploy.fp import PRESETS, train_fp
from snndeploy.fp.simulate import LAYER_SIMULATORS


def parse_override(text: str) -> tuple[str, float]:
    name, value = text.split("=", 1)
    return name, float(value)


def parse_data_option(text: str) -> tuple[str, object]:
    """KEY=VALUE with VALUE an int, a float or none."""
    name, value = text.split("=", 1)
    if value.lower() == "none":
        return name, None
    try:
        return name, int(value)
    except ValueError:
        return name, float(value)


def nearest_neighbour_accuracy(train_times: torch.Tensor, train_labels: torch.Tensor,
                               test_times: torch.Tensor, test_labels: torch.Tensor) -> float:
    """Test accuracy of 1-NN on the spike-time vectors (rule in the module docstring)."""
    nearest = torch.cdist(test_times, train_times).argmin(dim=1)
    return float((train_labels[nearest] == test_labels).double().mean())


def print_evaluated(row: dict) -> None:
    if row["test_acc"] is not None:
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("task", choices=sorted(PRESETS))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, help="default: the preset's")
    parser.add_argument("--evaluate-every", type=int, default=10)
    parser.add_argument("--set", type=parse_override, action="append", default=[],
                        help="override a numeric preset field, e.g. learning_rate=0.01")
    parser.add_argument("--data", type=parse_data_option, action="append", default=[],
                        help="dataset option on top of the preset's, e.g. seed=1 (Iris split), t_bias=none")
    parser.add_argument("--engine", choices=sorted(LAYER_SIMULATORS), default=None,
                        help="FP simulation engine (default: snndeploy.fp's default)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    preset = replace(PRESETS[args.task], **dict(args.set))
    preset = replace(preset, dataset_options={**preset.dataset_options, **dict(args.data)})
    engine = {} if args.engine is None else {"engine": args.engine}
    rows = []
    for seed in args.seeds:
        result = train_fp(preset, epochs=args.epochs, seed=seed, evaluate_every=args.evaluate_every,
                          log=print_evaluated, **engine)
        evaluated = [h for h in result.history if h["test_acc"] is not None]
        row = {
            "seed": seed,
            "final_test_acc": evaluated[-1]["test_acc"],
            "best_test_acc": max(h["test_acc"] for h in evaluated),
            "final_train_acc": evaluated[-1]["train_acc"],
            **({"selected_epoch": result.selected["epoch"] + 1, "selected_val_acc": result.selected["val_acc"],
                "selected_test_acc": result.selected["test_acc"]} if result.selected else {}),
            "first_epoch_at_100_percent": next(
                (h["epoch"] + 1 for h in evaluated if h["test_acc"] == 1.0), None),
            "seconds_per_epoch": statistics.mean(h["seconds"] for h in result.history),
            "epochs": len(result.history),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    train_times, train_labels = preset.dataset("train", **preset.dataset_options).tensors()
    test_times, test_labels = preset.dataset("test", **preset.dataset_options).tensors()
    finals = [r["final_test_acc"] for r in rows]
    summary = {
        "task": args.task,
        "overrides": dict(args.set),
        "dataset_options": preset.dataset_options,
        "engine": args.engine or "default",
        "final_test_acc_mean": statistics.mean(finals),
        "final_test_acc_std": statistics.stdev(finals) if len(finals) > 1 else 0.0,
        "final_train_acc_mean": statistics.mean(r["final_train_acc"] for r in rows),
        "seeds_at_100_percent": sum(f == 1.0 for f in finals),
        **({"selected_test_acc_mean": statistics.mean(r["selected_test_acc"] for r in rows),
            "selected_test_acc_std": statistics.stdev(r["selected_test_acc"] for r in rows) if len(rows) > 1 else 0.0}
           if all("selected_test_acc" in r for r in rows) else {}),
        "nearest_neighbour_test_acc": nearest_neighbour_accuracy(train_times, train_labels, test_times,
                                                                 test_labels),
        "seconds_per_epoch": statistics.mean(r["seconds_per_epoch"] for r in rows),
    }
    print(json.dumps(summary))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"summary": summary, "seeds": rows}, handle, indent=2)


if __name__ == "__main__":
    main()
