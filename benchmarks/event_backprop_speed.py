"""Forward + backward time of the event-driven backend (paper 004) against EXODUS and BPTT.

Net: the DVS Gesture conv net of benchmarks/training_speed.py, 64x64x2-2c3-2p-4c3-2p-8c3-2p-
16c3-11l (padding 1, sum pooling, no biases), T = 300, batch 8, random input spikes. All
variants share the forward neuron (non-leaky IF, reset to zero, one spike per step):

  event   EventIAFSqueeze, backend "event" (numba on CPU, Triton on CUDA)
  exodus  IAFSqueeze(SingleSpike, MembraneReset), backend "exodus"
  bptt    the same, backend "bptt" (autograd through every step)
  floor   the conv/linear layers alone

Activity levels come from the weight gain (weights ~ N(0, gain²/fan_in)); the table reports the
spikes per neuron and step averaged over the neuron layers. Variants run interleaved in one
process (median of --repeats steps after one warm-up step), so load on a shared machine hits all
of them alike; the ratios are the result.

    python benchmarks/event_backprop_speed.py
    python benchmarks/event_backprop_speed.py --gain 1.5 --gain 3 --repeats 5 --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn

from snndeploy.layers import IAFSqueeze
from snndeploy.layers.activation import MembraneReset, SingleSpike
from snndeploy.layers.pooling import SumPool2d
from snndeploy.layers.srm import EventIAFSqueeze

BATCH, SIZE = 8, 64
NEURONS = {
    "event": lambda: EventIAFSqueeze(batch_size=BATCH),
    "exodus": lambda: IAFSqueeze(batch_size=BATCH, spike_fn=SingleSpike(), reset_fn=MembraneReset(),
                                 backend="exodus"),
    "bptt": lambda: IAFSqueeze(batch_size=BATCH, spike_fn=SingleSpike(), reset_fn=MembraneReset(),
                               backend="bptt"),
    "floor": nn.Identity,
}


def build(variant: str, gain: float, device: str) -> nn.Sequential:
    torch.manual_seed(0)
    layers, channels, size = [], 2, SIZE
    for out in (2, 4, 8, 16):
        layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), NEURONS[variant]()]
        if out != 16:
            layers.append(SumPool2d(2))
            size //= 2
        channels = out
    layers += [nn.Flatten(), nn.Linear(channels * size * size, 11, bias=False), NEURONS[variant]()]
    model = nn.Sequential(*layers)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(module.weight, 0.0, gain / module.weight[0].numel() ** 0.5)
    return model.to(device)


def step(model: nn.Sequential, x: torch.Tensor) -> tuple[float, list[float]]:
    rates, handles = [], []
    for module in model:
        if not isinstance(module, (nn.Conv2d, nn.Linear, nn.Flatten, SumPool2d, nn.Identity)):
            handles.append(module.register_forward_hook(lambda m, i, o: rates.append(o.mean().item())))
    for module in model.modules():
        if hasattr(module, "reset_states"):
            module.reset_states()
    model.zero_grad()
    if x.is_cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    model(x).sum().backward()
    if x.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    for handle in handles:
        handle.remove()
    return seconds, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gain", type=float, action="append", help="weight gain(s); default 1.5 and 3")
    parser.add_argument("--variant", choices=sorted(NEURONS), action="append")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=300, help="time steps T")
    args = parser.parse_args()
    variants = args.variant or ["event", "exodus", "bptt", "floor"]
    gains = args.gain or [1.5, 3.0]
    x = (torch.rand(BATCH * args.steps, 2, SIZE, SIZE, generator=torch.Generator().manual_seed(0)) < 0.02)
    x = x.float().to(args.device)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}, "
          f"batch {BATCH}, T {args.steps}, median of {args.repeats} fwd+bwd steps")
    print(f"{'gain':>5} {'spikes/neuron/step':>19} {'variant':8} {'s/step':>8} {'vs bptt':>8} "
          f"{'vs exodus':>10} {'vs floor':>9}")
    for gain in gains:
        models = {variant: build(variant, gain, args.device) for variant in variants}
        times = {variant: [] for variant in variants}
        activity = {}
        for repeat in range(args.repeats + 1):
            for variant, model in models.items():
                seconds, rates = step(model, x)
                if repeat:
                    times[variant].append(seconds)
                activity[variant] = statistics.mean(rates) if rates else float("nan")
        median = {variant: statistics.median(values) for variant, values in times.items()}
        for variant in variants:
            ratios = [median.get(ref, float("nan")) / median[variant] for ref in ("bptt", "exodus")]
            over_floor = median[variant] / median.get("floor", float("nan"))
            print(f"{gain:5.1f} {activity[variant]:19.4f} {variant:8} {median[variant]:8.3f} "
                  f"{ratios[0]:7.2f}x {ratios[1]:9.2f}x {over_floor:8.2f}x")


if __name__ == "__main__":
    main()
