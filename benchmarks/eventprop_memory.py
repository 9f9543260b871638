"""Memory of one forward+backward pass vs the number of time steps T, at fixed activity.

    python benchmarks/eventprop_memory.py                    # T = 100 … 10 000, prints a table
    python benchmarks/eventprop_memory.py --steps 100 1000 --methods eventprop bptt
    python benchmarks/eventprop_memory.py --activity          # EventProp, T = 1000, more spikes

Network 100-256-10: input spikes (each input neuron once, all within the first 100 ms, so the
number of spikes does not change with T) → LIF hidden layer (τm 20 ms, τs 5 ms, dt 1 ms) →
leaky readout; loss: cross-entropy of the time-summed readout voltage, batch 16.

* eventprop: `EventPropLIF` + `EventPropReadout` (spike records only, kept for backward).
* bptt / exodus: nn.Linear → LIF(tau_syn) → nn.Linear → ExpLeak of `snndeploy.layers` on the
  dense (batch, T, 100) raster of the same spikes, with the "bptt" (autograd through the time
  loop) or "exodus" (fused scans) backend.

Each (method, T) runs in a fresh subprocess and reports: bytes of all tensors autograd keeps for
backward (saved_tensors_hooks, exact), the peak resident memory above the process' state
before the forward pass (ru_maxrss, includes transient tensors), and the time. `--activity`
instead scales EventProp's input weights at T = 1000 to show memory growing with the spikes.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

BATCH, INPUTS, HIDDEN, OUTPUTS = 16, 100, 256, 10
ACTIVE_MS = 100.0


def _rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * resource.getpagesize()


def worker(method: str, steps: int, weight_mean: float = 0.3) -> dict:
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(1)
    torch.manual_seed(0)
    times = torch.rand(BATCH, INPUTS) * ACTIVE_MS
    labels = torch.randint(0, OUTPUTS, (BATCH,))
    if method == "eventprop":
        from snndeploy.eventprop import EventPropLIF, EventPropReadout, SpikeTrain

        model = nn.Sequential(EventPropLIF(INPUTS, HIDDEN, weight_mean=weight_mean,
                                           weight_std=weight_mean),
                              EventPropReadout(HIDDEN, OUTPUTS))
        inputs = SpikeTrain.from_times(times, steps, 1.0)
    else:
        from snndeploy.layers import LIF, ExpLeak

        model = nn.Sequential(nn.Linear(INPUTS, HIDDEN, bias=False),
                              LIF(20.0, tau_syn=5.0, norm_input=False, backend=method),
                              nn.Linear(HIDDEN, OUTPUTS, bias=False),
                              ExpLeak(20.0, norm_input=False, backend=method))
        inputs = torch.zeros(BATCH, steps, INPUTS)
        step = times.long().clamp(max=steps - 1)
        inputs[torch.arange(BATCH)[:, None], step, torch.arange(INPUTS)[None, :]] = 1.0
    saved = [0]

    def pack(tensor):
        saved[0] += tensor.numel() * tensor.element_size()
        return tensor

    baseline = _rss_bytes()
    started = time.time()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        out = model(inputs)
        loss = F.cross_entropy(out.sum(1), labels)
    loss.backward()
    seconds = time.time() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    hidden_spikes = (len(model[0](inputs)) if method == "eventprop"
                     else int(model[1](model[0](inputs)).sum().item()))
    return {"method": method, "steps": steps, "saved_bytes": saved[0],
            "peak_extra_bytes": max(peak - baseline, 0), "seconds": seconds,
            "hidden_spikes": hidden_spikes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[100, 300, 1000, 3000, 10000])
    parser.add_argument("--methods", nargs="+", default=["eventprop", "exodus", "bptt"])
    parser.add_argument("--activity", action="store_true",
                        help="EventProp at T = 1000 with input weight means 0.1 … 0.6")
    parser.add_argument("--worker", nargs=3, metavar=("METHOD", "STEPS", "MEAN"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--json", help="write all rows here")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker[0], int(args.worker[1]), float(args.worker[2]))))
        return
    runs = ([("eventprop", 1000, mean) for mean in (0.1, 0.2, 0.3, 0.45, 0.6)] if args.activity
            else [(method, steps, 0.3) for method in args.methods for steps in args.steps])
    rows = []
    print("| method | T | hidden spikes | kept for backward (MB) | peak extra RSS (MB) "
          "| time (s) |")
    print("|---|---|---|---|---|---|")
    for method, steps, mean in runs:
        result = subprocess.run([sys.executable, __file__, "--worker", method, str(steps),
                                 str(mean)], capture_output=True, text=True, check=True)
        row = json.loads(result.stdout.strip().splitlines()[-1])
        rows.append(row)
        print(f"| {method} | {steps} | {row['hidden_spikes']} | "
              f"{row['saved_bytes'] / 2**20:.2f} | {row['peak_extra_bytes'] / 2**20:.1f} | "
              f"{row['seconds']:.1f} |", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(rows, handle, indent=2)


if __name__ == "__main__":
    main()
