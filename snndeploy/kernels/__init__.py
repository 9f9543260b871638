"""The neuron scans behind one interface, with a CPU (numba) and a CUDA (Triton) implementation.

`scan_forward` / `scan_backward` take (batch, time, neurons) tensors and per-neuron parameter
vectors, and pick the implementation from the tensors' device type through `IMPLEMENTATIONS`.
`snndeploy.layers.functional` states the update rule they compute.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional

import numpy as np
import torch

from snndeploy.errors import SnnDeployError


@dataclass(frozen=True)
class ScanSpec:
    """What a scan computes besides its tensors.

    max_spikes: spikes per step cap (None = unlimited, 0 = leaky integrator, output p).
    subtracts: reset by subtraction (else reset to a value). has_min: a lower clamp is set.
    record: also return the post-reset state trace. keep_reset_term: False drops the reset
    from the gradient (SLAYER). surrogate: a surrogate object of `snndeploy.layers.activation`.
    """

    max_spikes: Optional[int]
    subtracts: bool
    has_min: bool
    record: bool
    surrogate: Any
    keep_reset_term: bool = True

    @property
    def max_spikes_code(self) -> int:
        return -1 if self.max_spikes is None else int(self.max_spikes)


@dataclass
class ScanParams:
    """Per-neuron parameter vectors (shape (neurons,), same dtype/device as the input)."""

    alpha: torch.Tensor
    threshold: torch.Tensor
    reset_amount: torch.Tensor
    min_v: torch.Tensor


class CpuScan:
    """numba kernels on CPU tensors (zero-copy through numpy)."""

    def forward(self, x, v0, prm: ScanParams, spec: ScanSpec):
        from snndeploy.kernels import cpu

        p = torch.empty_like(x)
        s = p if spec.max_spikes == 0 else torch.empty_like(x)
        trace = torch.empty_like(x) if spec.record else x.new_empty((1, 1, 1))
        v_final = torch.empty_like(v0)
        consts = np.array([1, 0, max(spec.max_spikes_code, 0)], dtype=_np_dtype(x))
        cpu.spike_scan_forward(
            x.numpy(), prm.alpha.numpy(), v0.numpy(), prm.threshold.numpy(),
            prm.reset_amount.numpy(), prm.min_v.numpy(), consts, spec.max_spikes_code,
            spec.subtracts, spec.has_min, spec.record, p.numpy(), s.numpy(), trace.numpy(),
            v_final.numpy(),
        )
        return p, s, (trace if spec.record else None), v_final

    def backward(self, p, s, grad_s, grad_v, grad_v_final, v0, prm: ScanParams, spec: ScanSpec,
                 needs_alpha: bool = True):
        from snndeploy.kernels import cpu

        grad_p, grad_v0, grad_alpha = _gradient_buffers(p, v0)
        dtype = _np_dtype(p)
        consts = np.array([1, 0, max(spec.max_spikes_code, 0)], dtype=dtype)
        has_grad_v = grad_v is not None
        cpu.spike_scan_backward(
            type(spec.surrogate).kernel_id, np.asarray(spec.surrogate.params, dtype=dtype),
            p.numpy(), s.numpy(), grad_s.numpy(),
            (grad_v if has_grad_v else p.new_empty((1, 1, 1))).numpy(), grad_v_final.numpy(),
            prm.alpha.numpy(), v0.numpy(), prm.threshold.numpy(), prm.reset_amount.numpy(),
            prm.min_v.numpy(), consts, spec.max_spikes_code, spec.subtracts, spec.has_min,
            has_grad_v, spec.keep_reset_term, needs_alpha, grad_p.numpy(), grad_v0.numpy(),
            grad_alpha.numpy(),
        )
        return grad_p, grad_v0, grad_alpha


class TritonScan:
    """Triton kernels; used for CUDA tensors (and for CPU tensors under TRITON_INTERPRET=1)."""

    block = 128

    def _grid(self, x):
        import triton

        batch, _, neurons = x.shape
        return (batch, triton.cdiv(neurons, self.block))

    def forward(self, x, v0, prm: ScanParams, spec: ScanSpec):
        from snndeploy.kernels import triton_scan

        p = torch.empty_like(x)
        s = p if spec.max_spikes == 0 else torch.empty_like(x)
        trace = torch.empty_like(x) if spec.record else p
        v_final = torch.empty_like(v0)
        batch, steps, neurons = x.shape
        triton_scan.spike_scan_forward_kernel[self._grid(x)](
            x, prm.alpha, v0, prm.threshold, prm.reset_amount, prm.min_v, p, s, trace, v_final,
            steps, neurons, MAX_SPIKES=spec.max_spikes_code, SUBTRACTS=spec.subtracts,
            HAS_MIN=spec.has_min, RECORD=spec.record, BLOCK=self.block,
        )
        return p, s, (trace if spec.record else None), v_final

    def backward(self, p, s, grad_s, grad_v, grad_v_final, v0, prm: ScanParams, spec: ScanSpec,
                 needs_alpha: bool = True):
        from snndeploy.kernels import triton_scan

        grad_p, grad_v0, grad_alpha = _gradient_buffers(p, v0)
        params = (tuple(spec.surrogate.params) + (0.0,) * 4)[:4]
        surrogate_fn = triton_scan.SURROGATE_FUNCTIONS[type(spec.surrogate)]
        batch, steps, neurons = p.shape
        triton_scan.spike_scan_backward_kernel[self._grid(p)](
            p, s, grad_s, grad_v if grad_v is not None else p, grad_v_final, prm.alpha, v0,
            prm.threshold, prm.reset_amount, prm.min_v, grad_p, grad_v0, grad_alpha, steps,
            neurons, *params, SURROGATE=surrogate_fn, MAX_SPIKES=spec.max_spikes_code,
            SUBTRACTS=spec.subtracts, HAS_MIN=spec.has_min, HAS_GRAD_V=grad_v is not None,
            KEEP_RESET_TERM=spec.keep_reset_term, NEEDS_ALPHA=needs_alpha, BLOCK=self.block,
        )
        return grad_p, grad_v0, grad_alpha


IMPLEMENTATIONS = {"cpu": CpuScan(), "cuda": TritonScan()}


def implementation_for(tensor: torch.Tensor, implementations: dict = IMPLEMENTATIONS,
                       what: str = "the exodus and slayer backends (backend='bptt' runs anywhere)"):
    """The kernel implementation for `tensor`'s device type (one dict per kernel family)."""
    try:
        return implementations[tensor.device.type]
    except KeyError:
        raise SnnDeployError(
            f"no kernel for device '{tensor.device.type}': {what} run on "
            f"{sorted(implementations)}"
        ) from None


def _gradient_buffers(p: torch.Tensor, v0: torch.Tensor):
    """Outputs of a backward scan: ∂L/∂p (like p), ∂L/∂v_init and per-sample ∂L/∂α (like v0)."""
    return torch.empty_like(p), torch.empty_like(v0), torch.empty_like(v0)


def _np_dtype(tensor: torch.Tensor) -> np.dtype:
    return np.dtype(str(tensor.dtype).removeprefix("torch."))
