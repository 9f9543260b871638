"""A sinabs-written CNN, imported from NIR, goes through quantize -> map -> simulate without hand
edits; the quantized model's ONNX export equals the simulator's time-stepped mode spike for spike."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.export.nir import import_nir
from snndeploy.export.onnx import export_onnx
from snndeploy.mapping.mapper import map_to_chip
from snndeploy.quantize import quantize
from snndeploy.sim import simulate
from snndeploy.sim.simulate import Monitor, as_network

STEPS, SHAPE = 12, (2, 8, 8)


def _sinabs_graph():
    import sinabs
    import sinabs.layers as sl

    torch.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 3 * 3, 5, bias=False), sl.IAFSqueeze(batch_size=1))
    with torch.no_grad():
        for layer in (model[0], model[4]):
            layer.weight.copy_(layer.weight.abs() * 1.5)
    return sinabs.to_nir(model, torch.zeros(STEPS, *SHAPE))


def _frames(seed):
    return (torch.rand(1, STEPS, *SHAPE, generator=torch.Generator().manual_seed(seed)) < 0.3).float()


def _events(frames, dt_us):
    steps, c, y, x = np.nonzero(frames[0].numpy())
    events = np.zeros(len(steps), EVENT_DTYPE)
    events["t"], events["p"], events["y"], events["x"] = steps * dt_us, c, y, x
    return events[np.argsort(events["t"], kind="stable")]


def test_sinabs_cnn_from_nir_quantizes_maps_simulates_and_onnx_equals_timestep(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    model = import_nir(_sinabs_graph())
    for layer in model.modules():
        if hasattr(layer, "backend"):
            layer.backend = "bptt"
    calibration = torch.cat([_frames(s) for s in range(4)])
    qmodel = quantize(model, "speck2f", calibration)
    config = map_to_chip(qmodel, "speck2f", input_source="external", monitor_all=True)
    net = as_network(config)
    output_core = [c.core for c in config.cores if c.layer_name == qmodel.layers[-1].name][0]
    session = ort.InferenceSession(str(export_onnx(qmodel, tmp_path / "q.onnx", STEPS)),
                                   providers=["CPUExecutionProvider"])
    total = 0
    for seed in (10, 11):
        frames = _frames(seed)
        dt = net.slow_clock_period_us
        result = simulate(config, _events(frames, dt), "timestep", Monitor(cores=(output_core,)),
                          duration_us=STEPS * dt, dt_us=dt)
        binned = np.zeros((STEPS, *net.cores[output_core].output_shape), np.int64)
        spikes = result.spikes
        np.add.at(binned, (spikes["t"] // dt, spikes["p"], spikes["y"], spikes["x"]), 1)
        onnx_out = session.run(None, {"input": frames.numpy()})[0][0]
        qmodel.reset_states()
        with torch.no_grad():
            torch_out = qmodel(frames)[0].numpy()
        np.testing.assert_array_equal(onnx_out, torch_out)
        np.testing.assert_array_equal(onnx_out.reshape(STEPS, -1), binned.reshape(STEPS, -1))
        total += int(binned.sum())
    assert total > 10
