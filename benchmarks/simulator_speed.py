"""Simulator speed on the DVS Gesture-size network (64x64x2-2c3-2p-4c3-2p-8c3-2p-16c3-11l).

    OMP_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python benchmarks/simulator_speed.py [--quick]

One integer network (random 8-bit weights, integer thresholds) is run by:
  * the fast per-event path (numba) and the plain-Python reference (on a prefix of the sample),
  * the time-stepped mode,
  * sinabs' float dense simulation of the same network (sinabs.layers: Conv2d + IAFSqueeze +
    SumPool2d, the same integer-valued weights as floats; min_v_mem at the chip's floor),
at ~1 % and ~5 % input activity (probability that an input pixel fires in a 1 ms bin), T = 300
bins, one thread. Reported: SynOps (synaptic additions) per second of wall time on one CPU
thread, time per sample and the ratio to sinabs, then how the fast path's cost grows with the
number of input events and with the network width. Timings are the best of `--repeats`.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("NUMBA_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

from snndeploy.data.events import EVENT_DTYPE  # noqa: E402
from snndeploy.sim import Destination, InputStage, SimCore, SimNetwork, simulate  # noqa: E402

SIZE, T, DT_US = 64, 300, 1000
THRESHOLD = 64


def layer_plan(width: int):
    """(c_in, c_out, kernel, padding, pool after, input size) per core; the last is the
    Linear layer as a convolution covering its whole 8x8 input."""
    channels = [2, 2 * width, 4 * width, 8 * width, 16 * width]
    plan, size = [], SIZE
    for i in range(4):
        plan.append((channels[i], channels[i + 1], 3, 1, 2 if i < 3 else 1, size))
        size = size // 2 if i < 3 else size
    plan.append((channels[4], 11, size, 0, 1, size))
    return plan


def random_weights(rng, width: int):
    """Zero-mean 8-bit weights, std 1.5 θ / sqrt(fan-in): spike rates stay within ~0.3-25 %
    per neuron and bin through the layers (neither dying nor exploding)."""
    weights = []
    for c_in, c_out, kernel, _, _, _ in layer_plan(width):
        fan_in = c_in * kernel * kernel
        w = rng.normal(0.0, THRESHOLD * 1.5 / np.sqrt(fan_in), (c_out, c_in, kernel, kernel))
        weights.append(np.clip(np.round(w), -128, 127).astype(np.int64))
    return weights


def chip_network(weights, width: int) -> SimNetwork:
    plan = layer_plan(width)
    cores = {}
    for i, (w, (c_in, _, _, padding, pool, size)) in enumerate(zip(weights, plan)):
        last = i == len(plan) - 1
        cores[i] = SimCore(
            weights=w, input_shape=(c_in, size, size), threshold_high=THRESHOLD, threshold_low=-THRESHOLD,
            padding=(padding, padding), destinations=() if last else (Destination(i + 1, pool=pool),),
        )
    return SimNetwork(
        cores, InputStage(size=(SIZE, SIZE, 2), destinations=(Destination(0),)),
        slow_clock_period_us=DT_US, monitored_cores=(len(plan) - 1,),
    )


def sinabs_network(weights, width: int) -> torch.nn.Sequential:
    import sinabs.layers as sl

    layers = []
    for i, (w, (c_in, c_out, kernel, padding, pool, _)) in enumerate(zip(weights, layer_plan(width))):
        conv = torch.nn.Conv2d(c_in, c_out, kernel, padding=padding, bias=False)
        conv.weight.data = torch.from_numpy(w).float()
        layers += [conv, sl.IAFSqueeze(batch_size=1, spike_threshold=float(THRESHOLD), min_v_mem=-float(THRESHOLD))]
        if pool > 1:
            layers.append(sl.SumPool2d(pool))
    return torch.nn.Sequential(*layers)


def input_events(rng, activity: float, steps: int = T) -> np.ndarray:
    """Each of the 64*64*2 input pixels fires in each bin with probability `activity`."""
    fires = rng.random((steps, 2, SIZE, SIZE)) < activity
    step, p, y, x = np.nonzero(fires)
    events = np.zeros(len(step), EVENT_DTYPE)
    events["t"] = step * DT_US + rng.integers(0, DT_US, len(step))
    events["x"], events["y"], events["p"] = x, y, p
    return events[np.argsort(events["t"], kind="stable")]


def best_time(function, repeats: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        best = min(best, time.perf_counter() - start)
    return best, result


def frames(events: np.ndarray) -> torch.Tensor:
    dense = np.zeros((T, 2, SIZE, SIZE), np.float32)
    np.add.at(dense, (events["t"] // DT_US, events["p"], events["y"], events["x"]), 1)
    return torch.from_numpy(dense)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, short reference run")
    args = parser.parse_args()
    repeats = 1 if args.quick else args.repeats
    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    weights = random_weights(rng, 1)
    net = chip_network(weights, 1)
    float_net = sinabs_network(weights, 1)
    duration = T * DT_US
    simulate(net, input_events(rng, 0.001, 5), duration_us=5 * DT_US)  # compile numba
    simulate(net, input_events(rng, 0.001, 5), "timestep", duration_us=5 * DT_US)

    print(f"network 64x64x2-2c3-2p-4c3-2p-8c3-2p-16c3-11l, T={T} bins of {DT_US} us, one thread")
    header = ("activity", "input ev", "SynOps", "fast SynOps/s", "ref SynOps/s", "fast/ref",
              "fast s", "timestep s", "sinabs s", "sinabs/fast", "sinabs/timestep")
    print(" | ".join(header))
    for activity in (0.01, 0.05):
        events = input_events(rng, activity)
        fast_s, fast = best_time(lambda: simulate(net, events, duration_us=duration), repeats)
        synops = sum(fast.synops.values())
        prefix_bins = 3 if args.quick else 10
        prefix = events[events["t"] < prefix_bins * DT_US]
        ref_s, ref = best_time(lambda: simulate(net, prefix, "event-reference", duration_us=prefix_bins * DT_US), 1)
        ref_rate = sum(ref.synops.values()) / ref_s
        step_s, _ = best_time(lambda: simulate(net, events, "timestep", duration_us=duration), repeats)
        dense = frames(events)

        def run_sinabs():
            for module in float_net:
                if hasattr(module, "reset_states"):
                    module.reset_states()
            with torch.no_grad():
                return float_net(dense)

        sinabs_s, _ = best_time(run_sinabs, repeats)
        row = (f"{activity:.0%}", f"{len(events)}", f"{synops:.3g}", f"{synops / fast_s:.3g}",
               f"{ref_rate:.3g}", f"{synops / fast_s / ref_rate:.0f}x", f"{fast_s:.3f}",
               f"{step_s:.3f}", f"{sinabs_s:.3f}", f"{sinabs_s / fast_s:.1f}x", f"{sinabs_s / step_s:.1f}x")
        print(" | ".join(row))

    print("\nfast path cost vs input events (same network)")
    print("activity | input ev | SynOps | s | us per 1k input events | ns per SynOp")
    for activity in (0.0025, 0.005, 0.01, 0.02, 0.05):
        events = input_events(rng, activity)
        seconds, result = best_time(lambda: simulate(net, events, duration_us=duration), repeats)
        synops = sum(result.synops.values())
        print(f"{activity:.2%} | {len(events)} | {synops:.3g} | {seconds:.3f} | "
              f"{seconds / len(events) * 1e9:.1f} | {seconds / synops * 1e9:.2f}")

    print("\nfast path cost vs network width (channels x width, 1 % activity)")
    print("width | SynOps | fast s | ns per SynOp | sinabs s | sinabs/fast")
    events = input_events(rng, 0.01)
    for width in (1, 2, 4):
        wide_weights = random_weights(np.random.default_rng(width), width)
        wide = chip_network(wide_weights, width)
        seconds, result = best_time(lambda: simulate(wide, events, duration_us=duration), repeats)
        wide_float = sinabs_network(wide_weights, width)
        dense = frames(events)
        with torch.no_grad():
            sinabs_s, _ = best_time(lambda: wide_float(dense), repeats)
        synops = sum(result.synops.values())
        print(f"{width} | {synops:.3g} | {seconds:.3f} | {seconds / synops * 1e9:.2f} | "
              f"{sinabs_s:.3f} | {sinabs_s / seconds:.1f}x")


if __name__ == "__main__":
    main()
