"""Train the same small conv net on the shipped `digits` event dataset with the event-driven
backend (paper 004) and with EXODUS, and print test accuracies side by side.

Net (squeezed layout, no biases): 2x34x34 - 8c3 - pool2 - 16c3 - pool2 - 10 (dense), T = 30
bins of 10 ms. Both variants have the same forward neuron: a non-leaky IF with reset to zero,
one spike per step (EventIAF / IAF(SingleSpike, MembraneReset)), the same initial weights
(scaled per layer until it fires at --init-rate on a training batch, as the paper's
initialisation does by search), the same spike-count loss (`SpikeCountMSE`, δ = (Σ_t o − N)/T)
and optimiser. Not a timed test: a comparison reported in benchmarks/README.md.

    python benchmarks/event_backprop_digits.py --epochs 3
    python benchmarks/event_backprop_digits.py --variant event --pool avg --grad-clip 1.0
    python benchmarks/event_backprop_digits.py --variant event --pool sum --deploy 50

--deploy N: after training the "event" or "event-multi" variant, swap its EventIAF layers for the equivalent
IAF (`event_to_iaf`) and run `snndeploy.sim.verify` on Speck 2f over N test samples: float vs
quantized vs the chip simulator (time-stepped and per-event). Sum pooling is the chip's own;
max pooling is an approximation there.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from torch import nn

from snndeploy.data.registry import get_dataset
from snndeploy.layers import IAFSqueeze
from snndeploy.layers.activation import MembraneReset, SingleSpike
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d
from snndeploy.layers.srm import EventIAFSqueeze, SRMSqueeze, event_to_iaf
from snndeploy.train.losses import SpikeCountMSE

POOLS = {"max": MaxPool2d, "avg": lambda k: AvgPool2d(k, adjusted=True), "sum": SumPool2d}
NEURONS = {
    "event": lambda batch: EventIAFSqueeze(batch_size=batch),
    "event-multi": lambda batch: EventIAFSqueeze(batch_size=batch, multi_spike=True),  # Speck's rule
    "event-srm": lambda batch: SRMSqueeze(batch_size=batch),
    "exodus": lambda batch: IAFSqueeze(batch_size=batch, spike_fn=SingleSpike(),
                                       reset_fn=MembraneReset(), backend="exodus"),
}


class Net(nn.Module):
    """(batch, time, 2, 34, 34) -> (batch, time, 10) output spikes."""

    def __init__(self, variant: str, pool: str, batch: int):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(2, 8, 3, padding=1, bias=False), NEURONS[variant](batch), POOLS[pool](2),
            nn.Conv2d(8, 16, 3, padding=1, bias=False), NEURONS[variant](batch), POOLS[pool](2),
            nn.Flatten(), nn.Linear(16 * 8 * 8, 10, bias=False), NEURONS[variant](batch),
        )

    def set_batch(self, batch: int) -> None:
        for module in self.layers:
            if hasattr(module, "batch_size"):
                module.batch_size = batch

    def forward(self, x):
        batch, steps = x.shape[:2]
        self.set_batch(batch)
        for module in self.layers:
            if hasattr(module, "reset_states"):
                module.reset_states()
        return self.layers(x.reshape(batch * steps, *x.shape[2:])).reshape(batch, steps, -1)


def calibrate(net: Net, x: torch.Tensor, rate: float, rounds: int = 12) -> None:
    """Scale each weight layer (in order) until its neuron layer fires at about `rate` per step."""
    weights = [m for m in net.layers if isinstance(m, (nn.Conv2d, nn.Linear))]
    neurons = [m for m in net.layers if hasattr(m, "batch_size")]
    net.set_batch(x.shape[0])
    with torch.no_grad():
        for weight_layer, neuron in zip(weights, neurons):
            for _ in range(rounds):
                seen = {}
                handle = neuron.register_forward_hook(lambda m, i, o: seen.update(rate=o.mean().item()))
                net(x)
                handle.remove()
                weight_layer.weight.mul_(min(4.0, max(0.25, (rate / max(seen["rate"], 1e-4)) ** 0.5)))


def deploy(net: Net, samples: int, steps: int, target: str = "speck2f"):
    """verify() report of the trained event net mapped onto the chip."""
    from snndeploy.sim.verify import verify

    model = event_to_iaf(net.layers)
    for module in model.modules():
        if hasattr(module, "batch_size"):
            module.batch_size, module.num_timesteps = None, steps
    return verify(model, target, "digits", limit=samples)


def accuracy(net: Net, x: torch.Tensor, y: torch.Tensor, batch: int) -> float:
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x), batch):
            out = net(x[start:start + batch])
            correct += (out.sum(1).argmax(1) == y[start:start + batch]).sum().item()
    return correct / len(x)


def run(variant: str, args, data) -> dict:
    x_train, y_train, x_test, y_test = data
    torch.manual_seed(args.seed)
    net = Net(variant, args.pool, args.batch)
    calibrate(net, x_train[:args.batch], args.init_rate)
    loss_fn = SpikeCountMSE(desired_rate=args.desired_rate, undesired_rate=args.undesired_rate)
    optimizer = torch.optim.Adam(net.parameters(), lr=args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    history, start = [], time.perf_counter()
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_train), generator=generator)
        for begin in range(0, len(order), args.batch):
            idx = order[begin:begin + args.batch]
            optimizer.zero_grad()
            if args.supervise and hasattr(net.layers[-1], "force_last_step"):
                net.layers[-1].force_last_step(nn.functional.one_hot(y_train[idx], 10).float())
            loss = loss_fn(net(x_train[idx]), y_train[idx])
            loss.backward()
            if args.grad_clip:
                torch.nn.utils.clip_grad_norm_(net.parameters(), args.grad_clip)
            optimizer.step()
        history.append({"epoch": epoch + 1, "test_accuracy": accuracy(net, x_test, y_test, args.batch),
                        "seconds": round(time.perf_counter() - start, 1)})
        print(json.dumps({"variant": variant, **history[-1]}), flush=True)
    result = {"variant": variant, "history": history}
    if args.deploy and variant in ("event", "event-multi"):
        report = deploy(net, args.deploy, x_train.shape[1])
        print(report.table(), flush=True)
        result["verify"] = report.to_dict()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", choices=sorted(NEURONS), action="append")
    parser.add_argument("--pool", choices=sorted(POOLS), default="max")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--init-rate", type=float, default=0.05)
    parser.add_argument("--desired-rate", type=float, default=0.3)
    parser.add_argument("--undesired-rate", type=float, default=0.03)
    parser.add_argument("--grad-clip", type=float, default=0.0, help="gradient-norm clip (paper-code trick; 0 = off)")
    parser.add_argument("--supervise", action="store_true",
                        help="event variants: the labelled output neuron fires at the last step (paper trick)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first n training samples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--deploy", type=int, default=0, metavar="N",
                        help="verify the trained event net on Speck over N test samples")
    args = parser.parse_args()
    train, test = get_dataset("digits", "train"), get_dataset("digits", "test")
    x_train, y_train = train.tensors()
    x_test, y_test = test.tensors()
    if args.limit:
        x_train, y_train = x_train[:args.limit], y_train[:args.limit]
    data = (x_train, y_train.long(), x_test, y_test.long())
    results = [run(variant, args, data) for variant in (args.variant or ["event", "exodus"])]
    print(f"digits, {args.epochs} epochs, pool={args.pool}, batch {args.batch}, lr {args.lr}")
    for result in results:
        final = result["history"][-1]
        print(f"  {result['variant']:10} test accuracy {100 * final['test_accuracy']:.1f} %  "
              f"({final['seconds']:.0f} s)")


if __name__ == "__main__":
    main()
