"""Speed of forward propagation (snndeploy.fp) on the Yin-Yang network of paper 001 (5-150-3).

    python benchmarks/fp_speed.py                  # a table; time per epoch from --batches batches
    python benchmarks/fp_speed.py --batches 34     # a full epoch (5000 samples, batch 150)
    python benchmarks/fp_speed.py --json out.json

Rows, all on the same weights (paper init, seed 0) and the same 5000 training points:
  fp-simulate   exact event-driven simulation only, compiled engine (numba): events/s = (input
                spikes delivered to a layer + spikes fired) per second, and synaptic events/s
                (spikes × fan-out)
  fp-train      FP, compiled engine: simulation + exact gradients by forward substitution + Adam
  fp-simulate-numpy, fp-train-numpy   the same with the numpy reference engine
The compiled engine runs one warm-up batch first (numba compiles or loads its cache).
  eventprop     EventProp (snndeploy.eventprop) on the same network (W_ep = τm·W_fp.T), step dt
  bptt          snndeploy LIF (exponential synapse, backend "bptt") on a time grid of step dt,
                surrogate gradients, a loss on the output spike raster (time-discretised version
                of the same network; not exact)
Time per epoch = mean time per batch × 34 batches. Single thread: set OMP_NUM_THREADS=1
NUMBA_NUM_THREADS=1.
"""

from __future__ import annotations

import argparse
import functools
import json
import time

import torch
from torch import nn

from snndeploy.data.yinyang import YinYangDataset
from snndeploy.fp import PRESETS, build_network, preset_loss, simulate_network

BATCH = 150
BATCHES_PER_EPOCH = 34  # ceil(5000 / 150)


def batches(times, labels, count):
    for start in range(0, count * BATCH, BATCH):
        yield times[start:start + BATCH], labels[start:start + BATCH]


def fp_simulate(net, times, labels, args, engine) -> dict:
    weights = [w.detach().numpy() for w in net.weights]
    simulate_network(times[:BATCH].numpy(), weights, net.params, net.max_spikes, engine=engine)  # warm-up
    events = synaptic = 0
    started = time.perf_counter()
    for x, _ in batches(times, labels, args.batches):
        layers = simulate_network(x.numpy(), weights, net.params, net.max_spikes, engine=engine)
        delivered = [len(x) * x.shape[1]] + [int(layer.counts.sum()) for layer in layers]
        events += sum(delivered)
        synaptic += sum(n * w.shape[1] for n, w in zip(delivered[:-1], weights))
    seconds = time.perf_counter() - started
    return {"seconds_per_batch": seconds / args.batches, "events_per_s": events / seconds,
            "synaptic_events_per_s": synaptic / seconds}


def fp_train(net, times, labels, args, engine) -> dict:
    net.engine = engine
    loss_fn = preset_loss(PRESETS["yinyang"])
    loss_fn(net(times[:BATCH]), labels[:BATCH]).backward()  # warm-up
    net.zero_grad()
    optimizer = torch.optim.Adam(net.parameters(), lr=PRESETS["yinyang"].learning_rate)
    started = time.perf_counter()
    for x, y in batches(times, labels, args.batches):
        optimizer.zero_grad()
        loss_fn(net(x), y).backward()
        optimizer.step()
    return {"seconds_per_batch": (time.perf_counter() - started) / args.batches}


def eventprop_train(net, times, labels, args) -> dict:
    from snndeploy.eventprop import EventPropLIF, FirstSpikeTime, SpikeTrain

    tau_mem, tau_syn = 1.0 / net.params.beta, 1.0 / net.params.alpha
    layers = []
    for w in net.weights:
        layer = EventPropLIF(w.shape[0], w.shape[1], tau_mem=tau_mem, tau_syn=tau_syn).double()
        with torch.no_grad():
            layer.weight.copy_(tau_mem * w.detach().T)
        layers.append(layer)
    model = nn.Sequential(*layers, FirstSpikeTime())
    loss_fn = preset_loss(PRESETS["yinyang"])
    optimizer = torch.optim.Adam(model.parameters(), lr=PRESETS["yinyang"].learning_rate)
    steps = round(args.duration / args.dt)
    started = time.perf_counter()
    for x, y in batches(times, labels, args.batches):
        optimizer.zero_grad()
        loss_fn(model(SpikeTrain.from_times(x, num_steps=steps, dt=args.dt)), y).backward()
        optimizer.step()
    return {"seconds_per_batch": (time.perf_counter() - started) / args.batches,
            "dt": args.dt, "steps": steps}


def bptt_train(net, times, labels, args) -> dict:
    from snndeploy.layers import LIF

    tau_mem, tau_syn = 1.0 / net.params.beta / args.dt, 1.0 / net.params.alpha / args.dt
    linears = []
    for w in net.weights:
        linear = nn.Linear(w.shape[0], w.shape[1], bias=False)
        with torch.no_grad():
            linear.weight.copy_(w.detach().T.float())
        linears.append(linear)
    model = nn.Sequential(linears[0], LIF(tau_mem, tau_syn=tau_syn, backend="bptt"),
                          linears[1], LIF(tau_mem, tau_syn=tau_syn, backend="bptt"))
    optimizer = torch.optim.Adam(model.parameters(), lr=PRESETS["yinyang"].learning_rate)
    steps = round(args.duration / args.dt)
    started = time.perf_counter()
    for x, y in batches(times, labels, args.batches):
        raster = torch.zeros(len(x), steps, x.shape[1])
        bins = torch.clamp((x / args.dt).long(), 0, steps - 1)
        raster.scatter_(1, bins[:, None, :], 1.0)
        for module in model:
            if hasattr(module, "reset_states"):
                module.reset_states()
        optimizer.zero_grad()
        counts = model(raster).sum(dim=1)
        nn.functional.cross_entropy(counts, y).backward()
        optimizer.step()
    return {"seconds_per_batch": (time.perf_counter() - started) / args.batches,
            "dt": args.dt, "steps": steps}


VARIANTS = {
    "fp-simulate": functools.partial(fp_simulate, engine="numba"),
    "fp-train": functools.partial(fp_train, engine="numba"),
    "fp-simulate-numpy": functools.partial(fp_simulate, engine="numpy"),
    "fp-train-numpy": functools.partial(fp_train, engine="numpy"),
    "eventprop": eventprop_train,
    "bptt": bptt_train,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=5, help="batches of 150 timed per row")
    parser.add_argument("--dt", type=float, default=0.1, help="step of eventprop and bptt")
    parser.add_argument("--duration", type=float, default=4.0, help="trial length (time units)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    times, labels = YinYangDataset("train").tensors()
    results = {}
    for name in args.variants:
        net = build_network(PRESETS["yinyang"], 5, 3, seed=0)
        row = VARIANTS[name](net, times, labels, args)
        row["seconds_per_epoch"] = row["seconds_per_batch"] * BATCHES_PER_EPOCH
        results[name] = row
        extras = ", ".join(f"{k}={v:.3g}" for k, v in row.items() if k not in ("seconds_per_batch", "seconds_per_epoch"))
        print(f"{name:12s} {row['seconds_per_batch']:8.3f} s/batch {row['seconds_per_epoch']:8.1f} s/epoch  {extras}", flush=True)
    reference = results.get("fp-train", {}).get("seconds_per_epoch")
    if reference:
        for name, row in results.items():
            print(f"{name:12s} epoch time / fp-train = {row['seconds_per_epoch'] / reference:.2f}")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)


if __name__ == "__main__":
    main()
