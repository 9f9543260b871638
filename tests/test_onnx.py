"""ONNX export: the float network unrolled over T steps equals torch spike for spike in
onnxruntime; the QuantizedModel export equals QuantizedModel (= the simulator's time-stepped mode)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.export.onnx import OPSET, export_onnx, model_to_onnx
from snndeploy.layers import IAF, LIF, ExpLeak
from snndeploy.layers.activation import MaxSpike, MembraneReset, SingleSpike
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d
from snndeploy.train import SpikingSequential

ort = pytest.importorskip("onnxruntime")
STEPS = 10


def _session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def _dyadic(net, seed):
    """Weights on a 1/16 grid: every sum is exact in float32, so any op order gives the same bits."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for layer in net:
            for name in ("weight", "bias"):
                param = getattr(layer, name, None)
                if isinstance(param, nn.Parameter):
                    param.copy_(torch.randint(-6, 12, param.shape, generator=g).float() / 16)
    return net


def _torch_run(net, x):
    for layer in net:
        if hasattr(layer, "reset_states"):
            layer.reset_states()
    with torch.no_grad():
        return net(x).numpy()


def test_float_network_equals_torch_in_onnxruntime(tmp_path):
    net = _dyadic(SpikingSequential(
        nn.Conv2d(2, 4, 3, padding=1), IAF(spike_threshold=1.0, min_v_mem=-1.0, backend="bptt"),
        SumPool2d(2), nn.Conv2d(4, 4, 3, padding=1),
        IAF(spike_threshold=0.75, spike_fn=MaxSpike(2), reset_fn=MembraneReset(0.125), backend="bptt"),
        AvgPool2d(2), nn.Conv2d(4, 6, 1), LIF(tau_mem=4.0, tau_syn=3.0, spike_threshold=0.5, backend="bptt"),
        MaxPool2d(2), nn.Flatten(), nn.Linear(6, 5),
        LIF(tau_mem=3.0, norm_input=False, spike_fn=SingleSpike(), spike_threshold=0.5, backend="bptt"),
        nn.Linear(5, 3, bias=False), ExpLeak(tau_mem=5.0, backend="bptt"),
    ), seed=0)
    x = (torch.rand(4, STEPS, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.5).float() * 2
    expected = _torch_run(net, x)
    path = export_onnx(net, tmp_path / "net.onnx", STEPS, (2, 8, 8))
    model = onnx.load(str(path))
    assert model.opset_import[0].version == OPSET
    assert {p.key: p.value for p in model.metadata_props}["num_steps"] == str(STEPS)
    got = _session(path).run(None, {"input": x.numpy()})[0]
    assert got.shape == expected.shape
    hidden = _torch_run(net[:12], x)  # the last spiking layer's spikes: the comparison sees activity
    assert hidden.sum() > 20
    np.testing.assert_array_equal(got, expected)


def test_float_export_refusals():
    with pytest.raises(SnnDeployError, match="has no ONNX export"):
        model_to_onnx(SpikingSequential(nn.ReLU()), 2, (3,))
    with pytest.raises(SnnDeployError, match="input_shape is needed"):
        model_to_onnx(SpikingSequential(nn.Linear(3, 2)), 2)
    with pytest.raises(SnnDeployError, match="num_steps must be at least 1"):
        model_to_onnx(SpikingSequential(nn.Linear(3, 2)), 0, (3,))


def _quantized_model(state_bits=10):
    from snndeploy.quantize import QuantizedLayer, QuantizedModel
    from snndeploy.quantize.graph import Source

    g = torch.Generator().manual_seed(7)

    def weights(*shape):
        return torch.randint(-20, 60, shape, generator=g, dtype=torch.int64)

    layers = [
        QuantizedLayer("conv0", weights(4, 2, 3, 3), torch.tensor([3, -2, 0, 5]), 1, 1, (2, 8, 8), 90, -100,
                       "subtract", [Source(-1)], initial_state=torch.randint(0, 50, (4, 8, 8), generator=g)),
        QuantizedLayer("conv1", weights(6, 4, 3, 3), None, 2, 1, (4, 4, 4), 70, -60, "zero", [Source(0, 2)],
                       decay_shift=2),
        # a merge: the pooled input and layer 0's spikes pooled by 4, cropped / padded to (6, 3, 3)
        QuantizedLayer("conv2", weights(5, 6, 1, 1), None, 1, 0, (6, 3, 3), 40, -40, "subtract",
                       [Source(1), Source(0, 4)]),
    ]
    return QuantizedModel(layers, (2, 8, 8), Source(2, 1), target="speck2f", state_bits=state_bits, output_flat=True)


def test_quantized_model_equals_integer_torch_in_onnxruntime(tmp_path):
    qmodel = _quantized_model()
    x = torch.randint(0, 3, (3, STEPS, 2, 8, 8), generator=torch.Generator().manual_seed(8)).float()
    qmodel.reset_states()
    with torch.no_grad():
        expected = qmodel(x).numpy()
    assert expected.sum() > 20
    path = export_onnx(qmodel, tmp_path / "q.onnx", STEPS)
    props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert props["network"].startswith("quantized") and int(props["max_exact_input_count"]) > 2
    got = _session(path).run(None, {"input": x.numpy()})[0]
    np.testing.assert_array_equal(got, expected)


def test_unrolled_steps_share_the_weights():
    net = SpikingSequential(nn.Conv2d(2, 3, 3), IAF(backend="bptt"), nn.Flatten(), nn.Linear(12, 2), IAF(backend="bptt"))
    def float_initializers(steps):  # all but the int64 step indices
        graph = model_to_onnx(net, steps, (2, 4, 4)).graph
        return sorted((i.name, i.ByteSize()) for i in graph.initializer if i.data_type == onnx.TensorProto.FLOAT)

    assert float_initializers(2) == float_initializers(40)  # weights stored once, not once per step
    initializers = model_to_onnx(net, 40, (2, 4, 4)).graph.initializer
    assert sum(list(i.dims) == [3, 2, 3, 3] for i in initializers) == 1
