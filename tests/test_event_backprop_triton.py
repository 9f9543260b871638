"""The event backend's Triton kernels equal the numba CPU path (float32, within 1e-6). Without a
GPU they run on CPU tensors under TRITON_INTERPRET=1, which tests/conftest.py sets before
triton is imported."""

import os

import pytest
import torch

from snndeploy.kernels.event_scan import CpuEventScan, TritonEventScan
from snndeploy.layers.srm import SRM, EventIAF

pytestmark = pytest.mark.skipif(
    not (torch.cuda.is_available() or os.environ.get("TRITON_INTERPRET") == "1"),
    reason="needs CUDA or TRITON_INTERPRET=1 set before triton is imported",
)

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"


@pytest.mark.parametrize("layer", [
    SRM(),
    SRM(tau_mem=5.0, tau_syn=2.0, tau_grad=2.0, spike_threshold=0.7, grad_factor=0.85, clip_dt_du=4.0),
    EventIAF(),
    EventIAF(spike_threshold=1.3, min_v_mem=-0.5, clip_dt_du=2.0),
    EventIAF(spike_threshold=0.4, multi_spike=True),
], ids=["srm", "srm-tricks", "iaf", "iaf-min-clip", "iaf-multi"])
def test_triton_equals_cpu_float32(layer):
    generator = torch.Generator().manual_seed(0)
    batch, steps, neurons = 3, 17, 150  # neurons > one block: exercises the mask
    x = torch.rand(batch, steps, neurons, generator=generator) * 1.2 - 0.2
    grad = torch.randn(batch, steps, neurons, generator=generator)
    constants = layer.constants()
    cpu = CpuEventScan()
    spikes, norm, u = cpu.forward(x, constants)
    grad_x = cpu.backward(grad, spikes, norm, constants)
    assert 0 < (spikes > 0).sum() < spikes.numel()

    gpu = TritonEventScan()
    spikes_t, norm_t, u_t = gpu.forward(x.to(DEVICE), constants)
    grad_x_t = gpu.backward(grad.to(DEVICE), spikes_t, norm_t, constants)
    assert torch.equal(spikes_t.cpu(), spikes)
    torch.testing.assert_close(u_t.cpu(), u, rtol=0, atol=1e-6)
    torch.testing.assert_close(norm_t.cpu(), norm, rtol=0, atol=1e-6)
    torch.testing.assert_close(grad_x_t.cpu(), grad_x, rtol=0, atol=1e-6)
