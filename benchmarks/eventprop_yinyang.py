"""EventProp on Yin-Yang: a 5-H-3 network trained with exact gradients, several seeds.

    python benchmarks/eventprop_yinyang.py --seeds 0 1 2 3 4 --epochs 30

Network: latency-coded inputs (x, y, 1−x, 1−y, bias) → EventPropLIF(5, H) → EventPropLIF(H, 3)
→ first spike times; loss "first_spike" (time-to-first-spike cross-entropy, phantom spikes for
silent label neurons) or "max" (non-spiking readout, cross-entropy of max V). Prediction: the
earliest output spike (lowest index on ties) / the largest max V. The data is
`snndeploy.data.yinyang` (train 5000 seed 42, validation 1000 seed 41, test 1000 seed 40),
with spike times t_early + v·(t_late − t_early) in ms. Reports the test accuracy after the
epoch with the best validation accuracy, per seed and as mean ± std; `--json` writes them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from snndeploy.data.yinyang import YinYangDataset
from snndeploy.eventprop import (
    EventPropLIF,
    EventPropReadout,
    FirstSpikeTime,
    SpikeTrain,
    loss_spec,
)


def build(loss: str, hidden: int, args) -> nn.Module:
    first = EventPropLIF(5, hidden, tau_mem=args.tau_mem, tau_syn=args.tau_syn,
                         weight_mean=args.hidden_mean, weight_std=args.hidden_std,
                         regularisation_strength=args.k_reg, regularisation_target=args.nu)
    if loss_spec(loss).spiking_output:
        return nn.Sequential(first, EventPropLIF(hidden, 3, tau_mem=args.tau_mem,
                                                 tau_syn=args.tau_syn, weight_mean=args.out_mean,
                                                 weight_std=args.out_std),
                             FirstSpikeTime())
    return nn.Sequential(first, EventPropReadout(hidden, 3, tau_mem=args.tau_mem,
                                                 tau_syn=args.tau_syn, weight_mean=0.0,
                                                 weight_std=args.out_std))


def encode(split: str, args):
    times, labels = YinYangDataset(split, t_early=args.t_early, t_late=args.t_late,
                                   t_bias=args.t_bias).tensors()
    return times.float(), labels


def accuracy(model, times, labels, args) -> float:
    spec = loss_spec(args.loss)
    with torch.no_grad():
        out = model(SpikeTrain.from_times(times, args.steps, args.dt))
        return (spec.predict(out, args.dt) == labels).double().mean().item()


def train_seed(seed: int, args, data) -> dict:
    torch.manual_seed(seed)
    (train_x, train_y), (val_x, val_y), (test_x, test_y) = data
    model = build(args.loss, args.hidden, args)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, args.epochs)
    spec = loss_spec(args.loss)
    generator = torch.Generator().manual_seed(seed)
    best = {"val": -1.0}
    started = time.time()
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(train_y), generator=generator)
        for start in range(0, len(order), args.batch):
            index = order[start:start + args.batch]
            out = model(SpikeTrain.from_times(train_x[index], args.steps, args.dt))
            loss = spec.compute(out, train_y[index], args.dt)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        scheduler.step()
        val = accuracy(model, val_x, val_y, args)
        if val > best["val"]:
            best = {"val": val, "test": accuracy(model, test_x, test_y, args), "epoch": epoch}
        print(f"seed {seed} epoch {epoch:3d} loss {loss.item():.4f} val {val:.4f} "
              f"best epoch {best['epoch']} test {best['test']:.4f} ({time.time() - started:.0f} s)",
              flush=True)
    return {"seed": seed, **best, "seconds": time.time() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--loss", default="first_spike", choices=["first_spike", "max"])
    parser.add_argument("--hidden", type=int, default=100)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--dt", type=float, default=1.0, help="ms")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--tau-mem", type=float, default=20.0)
    parser.add_argument("--tau-syn", type=float, default=5.0)
    parser.add_argument("--t-early", type=float, default=0.0)
    parser.add_argument("--t-late", type=float, default=20.0)
    parser.add_argument("--t-bias", type=float, default=0.0)
    parser.add_argument("--hidden-mean", type=float, default=1.5)
    parser.add_argument("--hidden-std", type=float, default=1.5)
    parser.add_argument("--out-mean", type=float, default=0.3)
    parser.add_argument("--out-std", type=float, default=0.3)
    parser.add_argument("--k-reg", type=float, default=0.0)
    parser.add_argument("--nu", type=float, default=1.0)
    parser.add_argument("--json", help="write the per-seed results and the summary here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = (encode("train", args), encode("validation", args), encode("test", args))
    results = [train_seed(seed, args, data) for seed in args.seeds]
    tests = [r["test"] for r in results]
    mean = statistics.mean(tests)
    std = statistics.stdev(tests) if len(tests) > 1 else 0.0
    print(f"test accuracy over seeds {args.seeds}: {100 * mean:.2f} ± {100 * std:.2f} %")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"args": vars(args), "results": results, "mean": mean, "std": std},
                      handle, indent=2)


if __name__ == "__main__":
    main()
