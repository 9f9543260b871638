"""The event-driven neuron scans (paper 004) behind one interface: numba on CPU, Triton on CUDA.

`EventConstants` holds the scalars; `implementation_for(tensor)` picks the implementation from
the device type through `IMPLEMENTATIONS`. Tensors are (batch, time, neurons), contiguous.
`snndeploy.layers.srm` states the update rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch

from snndeploy import kernels


@dataclass(frozen=True)
class EventConstants:
    """decay_x = 1 − 1/τx; coefficient = θs/(θs − θm) (SRM only); min_v: IF floor or None;
    grad_factor: multiplies the input gradient (1 = the method); clip: |1/syn_g| cap or None;
    multi_spike: floor(u/θ) spikes per step instead of one."""

    leaky: bool
    decay_m: float
    decay_s: float
    decay_g: float
    coefficient: float
    threshold: float
    min_v: Optional[float]
    grad_factor: float
    clip: Optional[float]
    multi_spike: bool = False

    def tensor(self, like: torch.Tensor) -> torch.Tensor:
        values = [self.decay_m, self.decay_s, self.decay_g, self.coefficient, self.threshold,
                  0.0 if self.min_v is None else self.min_v, self.grad_factor,
                  0.0 if self.clip is None else self.clip]
        return torch.tensor(values, dtype=like.dtype, device=like.device)


class CpuEventScan:
    """numba kernels on CPU tensors (zero-copy through numpy)."""

    def forward(self, x: torch.Tensor, constants: EventConstants):
        from snndeploy.kernels import event_cpu

        spikes, norm, u = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        event_cpu.event_forward(x.numpy(), constants.tensor(x).numpy(), constants.leaky,
                                constants.min_v is not None, constants.multi_spike, spikes.numpy(), norm.numpy(), u.numpy())
        return spikes, norm, u

    def backward(self, grad_spikes, spikes, norm, constants: EventConstants):
        from snndeploy.kernels import event_cpu

        grad_x = torch.empty_like(spikes)
        event_cpu.event_backward(grad_spikes.numpy(), spikes.numpy(), norm.numpy(),
                                 constants.tensor(spikes).numpy(), constants.clip is not None,
                                 grad_x.numpy())
        return grad_x


class TritonEventScan:
    """Triton kernels; used for CUDA tensors (and for CPU tensors under TRITON_INTERPRET=1)."""

    block = 128

    def _grid(self, x):
        import triton

        return (x.shape[0], triton.cdiv(x.shape[2], self.block))

    def forward(self, x: torch.Tensor, constants: EventConstants):
        from snndeploy.kernels import event_triton

        spikes, norm, u = torch.empty_like(x), torch.empty_like(x), torch.empty_like(x)
        event_triton.event_forward_kernel[self._grid(x)](
            x, constants.tensor(x), spikes, norm, u, x.shape[1], x.shape[2],
            LEAKY=constants.leaky, HAS_MIN=constants.min_v is not None,
            MULTI=constants.multi_spike, BLOCK=self.block,
        )
        return spikes, norm, u

    def backward(self, grad_spikes, spikes, norm, constants: EventConstants):
        from snndeploy.kernels import event_triton

        grad_x = torch.empty_like(spikes)
        event_triton.event_backward_kernel[self._grid(spikes)](
            grad_spikes, spikes, norm, constants.tensor(spikes), grad_x, spikes.shape[1],
            spikes.shape[2], HAS_CLIP=constants.clip is not None, BLOCK=self.block,
        )
        return grad_x


IMPLEMENTATIONS = {"cpu": CpuEventScan(), "cuda": TritonEventScan()}


def implementation_for(tensor: torch.Tensor):
    return kernels.implementation_for(tensor, IMPLEMENTATIONS, "the event backend's kernels")
