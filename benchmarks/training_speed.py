"""Forward + backward time of one training step, snndeploy's backends against sinabs' BPTT.

Networks (from the EXODUS paper's benchmarks):
  shd: 700-128-128-20 IAF, T = 250, batch 128 (dense)
  dvs: 64x64x2-2c3-2p-4c3-2p-8c3-2p-16c3-11l IAF, T = 300, batch 8 (conv, padding 1, sum pooling)
Variants: sinabs BPTT (the baseline), snndeploy bptt / exodus / slayer, and "floor" (the same
network without neurons: the linear/conv layers alone). Each variant runs in its own process so
that its peak memory (max RSS, torch import included) is its own.

    python benchmarks/training_speed.py                 # both nets, all variants, a table
    python benchmarks/training_speed.py --net shd --repeats 5
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

import torch
from torch import nn

from snndeploy.layers import SumPool2d

VARIANTS = ("sinabs-bptt", "bptt", "exodus", "slayer", "floor")
NETS = {  # batch and steps per net
    "shd": {"batch": 128, "steps": 250},
    "dvs": {"batch": 8, "steps": 300},
}


def _neuron(variant: str, batch: int):
    if variant == "floor":
        return nn.Identity()
    if variant == "sinabs-bptt":
        import sinabs.layers as sl

        return sl.IAFSqueeze(batch_size=batch)
    from snndeploy.layers import IAFSqueeze

    return IAFSqueeze(batch_size=batch, backend=variant)


def build(net: str, variant: str) -> tuple[nn.Module, torch.Tensor]:
    torch.manual_seed(0)
    batch, steps = NETS[net]["batch"], NETS[net]["steps"]
    if net == "shd":
        layers = []
        sizes = [700, 128, 128, 20]
        for n_in, n_out in zip(sizes[:-1], sizes[1:]):
            layers += [nn.Linear(n_in, n_out), _neuron(variant, batch)]
        x = (torch.rand(batch * steps, 700) < 0.02).float()
        return nn.Sequential(*layers), x
    layers, channels, size = [], 2, 64
    for out in (2, 4, 8, 16):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), _neuron(variant, batch)]
        if out != 16:
            layers.append(SumPool2d(2))
            size //= 2
        channels = out
    layers += [nn.Flatten(), nn.Linear(channels * size * size, 11), _neuron(variant, batch)]
    x = (torch.rand(batch * steps, 2, 64, 64) < 0.02).float()
    return nn.Sequential(*layers), x


def time_one(net: str, variant: str, repeats: int) -> dict:
    model, x = build(net, variant)
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            # Weights that keep hidden layers active but not saturated (a few % spikes per step).
            fan_in = module.weight[0].numel()
            nn.init.normal_(module.weight, 0.0, 2.0 / fan_in ** 0.5)
    times = []
    rates = []
    for _ in range(repeats + 1):  # the first run warms up (numba cache, allocator)
        for module in model.modules():
            if hasattr(module, "reset_states"):
                module.reset_states()
        model.zero_grad()
        start = time.perf_counter()
        out = model(x)
        out.sum().backward()
        times.append(time.perf_counter() - start)
        rates = [float(torch.as_tensor(m.firing_rate).detach()) for m in model.modules() if hasattr(m, "firing_rate")]
    return {"net": net, "variant": variant, "seconds": statistics.median(times[1:]),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "spike_rates": rates, "threads": torch.get_num_threads()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--net", choices=sorted(NETS), action="append")
    parser.add_argument("--variant", choices=VARIANTS, action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    nets = args.net or list(NETS)
    variants = args.variant or list(VARIANTS)
    if args.one:
        print(json.dumps(time_one(nets[0], variants[0], args.repeats)))
        return
    rows = []
    for net in nets:
        for variant in variants:
            done = subprocess.run(
                [sys.executable, __file__, "--one", "--net", net, "--variant", variant,
                 "--repeats", str(args.repeats)], capture_output=True, text=True, check=True)
            rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
            print(f"  measured {net} {variant}: {rows[-1]['seconds']:.3f} s", file=sys.stderr)
    print(f"torch {torch.__version__}, {rows[0]['threads']} threads, median of {args.repeats} steps "
          "(forward + backward)")
    print(f"{'net':4} {'variant':12} {'s/step':>8} {'vs sinabs':>10} {'vs floor':>9} {'peak MB':>8}")
    for row in rows:
        base = {r["variant"]: r["seconds"] for r in rows if r["net"] == row["net"]}
        speedup = base.get("sinabs-bptt", float("nan")) / row["seconds"]
        # mean spikes per neuron and step over the neuron layers (0 for the floor)
        rate = statistics.mean(row["spike_rates"]) if row["spike_rates"] else 0.0
        over_floor = row["seconds"] / base.get("floor", float("nan"))
        print(f"{row['net']:4} {row['variant']:12} {row['seconds']:8.3f} {speedup:9.1f}x "
              f"{over_floor:8.2f}x {row['peak_rss_mb']:8.0f} {rate:11.3f}")


if __name__ == "__main__":
    main()
