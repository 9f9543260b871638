"""From a network to a (simulated) chip and to the exchange formats, in one script.

    python examples/interop_and_devices.py [--device sim:0] [--out /tmp/snndeploy-interop]

Builds a small CNN, exports it to NIR and reads it back, quantizes the imported network for
Speck 2f, maps it, exports the quantized model to ONNX, flashes the ChipConfig to a device
(the simulator `sim:0` by default, or e.g. `speck2fdevkit:0` with samna installed) and streams
one event sample through it. Prints what each step produced.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.devices import run_events
from snndeploy.export.nir import export_nir, import_nir
from snndeploy.export.onnx import export_onnx
from snndeploy.mapping.mapper import map_to_chip
from snndeploy.quantize import quantize
from snndeploy.train import build_model

SHAPE, STEPS = (2, 16, 16), 20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="sim:0")
    parser.add_argument("--out", default="/tmp/snndeploy-interop")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    torch.manual_seed(0)
    model = build_model("16x16x2-8c3-2p-16c3-2p-4", neuron="iaf", backend="bptt").eval()
    with torch.no_grad():  # lively weights so that spikes reach the output
        for parameter in model.parameters():
            parameter.copy_(parameter.abs() * 0.5)
    nir_path = export_nir(model, out / "net.nir", SHAPE, dt_seconds=1e-3)
    imported = import_nir(nir_path)
    print(f"NIR: wrote {nir_path}, read back {len(imported)} layers")

    frames = (torch.rand(8, STEPS, *SHAPE) < 0.2).float()
    qmodel = quantize(imported, "speck2f", frames)
    config = map_to_chip(qmodel, "speck2f", input_source="external", monitor_all=True)
    config_path = config.to_json(out / "chip.json")
    onnx_path = export_onnx(qmodel, out / "net_int.onnx", STEPS)
    print(f"quantized + mapped: {config_path} (cores {[c.core for c in config.cores]}); ONNX: {onnx_path}")

    steps, c, y, x = np.nonzero(frames[0].numpy())
    events = np.zeros(len(steps), EVENT_DTYPE)
    events["t"], events["p"], events["y"], events["x"] = steps * config.slow_clock_period_us, c, y, x
    events = events[np.argsort(events["t"], kind="stable")]
    result = run_events(config_path, events, args.device, duration_us=STEPS * config.slow_clock_period_us)
    print(f"{result.device}: flashed ({len(result.flash.compared)} fields read back equal), "
          f"{len(events)} input events -> {len(result.spikes)} output spikes, per core {result.counts_per_core()}")


if __name__ == "__main__":
    main()
