"""EventProp's Triton kernels equal the torch path (run on CPU tensors under TRITON_INTERPRET=1,
which tests/conftest.py sets before triton is imported when no GPU is present)."""

import pytest
import torch

from snndeploy.eventprop import SpikeTrain
from snndeploy.eventprop.core import LayerSpec, TorchEngine, TritonEngine
from snndeploy.eventprop.dynamics import NeuronConstants


def _case(spiking, tau_syn=5.0, seed=0):
    generator = torch.Generator().manual_seed(seed)
    batch, n_in, neurons, steps = 2, 4, 5, 12
    times = torch.rand(batch, n_in, generator=generator, dtype=torch.float64) * 8
    times[0, 0] = 3.0  # on a step boundary
    x = SpikeTrain.from_times(times, steps, 1.0)
    weight = (torch.randn(neurons, n_in, generator=generator, dtype=torch.float64) * 2.0 + 3.0)
    spec = LayerSpec(NeuronConstants(10.0, tau_syn, 1.0, 1.0), steps, spiking)
    return x, weight, spec


def _simulate(engine, x, weight, spec):
    return engine.simulate(x.times, x.sample, x.neuron, x.step_offsets(), weight, None,
                           x.batch_size, spec)


@pytest.mark.parametrize("spiking,tau_syn", [(True, 5.0), (True, 10.0), (False, 5.0)])
def test_triton_forward_and_backward_equal_torch_path(spiking, tau_syn):
    x, weight, spec = _case(spiking, tau_syn)
    results = {}
    for engine in (TorchEngine, TritonEngine):
        out, trace, v_final, i_final = _simulate(engine, x, weight, spec)
        key = (out["step"] * x.batch_size + out["sample"]) * weight.shape[0] + out["neuron"]
        order = torch.argsort(out["times"], stable=True)
        order = order[torch.argsort(key[order], stable=True)]
        out = {name: value[order] for name, value in out.items()}
        counts = torch.bincount(out["step"], minlength=spec.num_steps)
        out_offsets = [0] + torch.cumsum(counts, 0).tolist()
        generator = torch.Generator().manual_seed(1)
        grad_times = torch.randn(out["times"].shape, generator=generator, dtype=torch.float64)
        grad_end = torch.rand(v_final.shape, generator=generator, dtype=torch.float64)
        grad_trace = (None if spiking else
                      torch.randn(trace.shape, generator=generator, dtype=torch.float64))
        saved = (x.times, x.sample, x.neuron, x.step_offsets(), weight, None, out["times"],
                 out["sample"], out["neuron"], out_offsets, out["current"], v_final, i_final,
                 x.batch_size)
        grads = engine.adjoint(saved, grad_times if spiking else None,
                               grad_end if spiking else None, grad_trace, spec, True)
        results[engine] = (out, trace, v_final, i_final, grads)
    (out_a, trace_a, v_a, i_a, grads_a), (out_b, trace_b, v_b, i_b, grads_b) = results.values()
    if spiking:
        assert out_a["times"].numel() >= 5
    for name in out_a:
        torch.testing.assert_close(out_a[name], out_b[name], rtol=1e-10, atol=1e-10)
    if not spiking:
        torch.testing.assert_close(trace_a, trace_b, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(v_a, v_b, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(i_a, i_b, rtol=1e-12, atol=1e-12)
    for a, b in zip(grads_a[:2], grads_b[:2]):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_layers_train_through_the_triton_engine(monkeypatch):
    """Autograd through EventPropLIF → EventPropReadout picks the engine by device; with the
    Triton engine registered for CPU the gradients equal the torch path's."""
    from torch import nn

    from snndeploy.eventprop import EventPropLIF, EventPropReadout, sum_loss
    from snndeploy.eventprop import core

    times = torch.rand(2, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 8
    x = SpikeTrain.from_times(times, 12, 1.0)
    grads = []
    for engines in ({}, {"cpu": TritonEngine}):
        monkeypatch.setattr(core, "ENGINES", engines)
        torch.manual_seed(0)
        model = nn.Sequential(EventPropLIF(4, 5, weight_mean=3.0, weight_std=2.0),
                              EventPropReadout(5, 3)).double()
        sum_loss(model(x), torch.tensor([0, 2]), 1.0).backward()
        grads.append([p.grad for p in model.parameters()])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)
