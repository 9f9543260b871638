"""ONNX export of the digits network: export time, graph size, and onnxruntime vs torch inference.

    OMP_NUM_THREADS=1 python benchmarks/export_onnx_speed.py [--steps 50] [--batch 16]

Prints seconds and the ratio torch / onnxruntime (above 1: onnxruntime is faster), and checks
that the two give the same spikes on the random input it times.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from snndeploy.export.onnx import export_onnx
from snndeploy.train import build_model


def best_of(fn, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch", type=int, default=16)
    args = parser.parse_args()
    import onnxruntime as ort

    torch.manual_seed(0)
    model = build_model("34x34x2-8c3-2p-16c3-2p-10", neuron="iaf", backend="bptt").eval()
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
    x = (torch.rand(args.batch, args.steps, 2, 34, 34) < 0.1).float()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "digits.onnx"
        start = time.perf_counter()
        export_onnx(model, path, args.steps, (2, 34, 34))
        export_s = time.perf_counter() - start
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        size_mb = path.stat().st_size / 1e6

        def run_torch():
            for layer in model.modules():
                if layer is not model and hasattr(layer, "reset_states"):
                    layer.reset_states()
            with torch.no_grad():
                return model(x).numpy()

        def run_onnx():
            return session.run(None, {"input": x.numpy()})[0]

        same = float(np.mean(run_torch() == run_onnx()))
        torch_s, onnx_s = best_of(run_torch), best_of(run_onnx)
    print(f"T={args.steps} batch={args.batch}: export {export_s:.2f} s, file {size_mb:.2f} MB, "
          f"{len(session.get_inputs())} input")
    print(f"torch {torch_s * 1e3:.1f} ms, onnxruntime {onnx_s * 1e3:.1f} ms, ratio torch/onnx {torch_s / onnx_s:.2f}; "
          f"equal output entries {same:.4f}")


if __name__ == "__main__":
    main()
