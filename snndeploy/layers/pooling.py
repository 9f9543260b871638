"""Spatial pooling of spike tensors for training: sum, average (plain or adjusted) and spiking max.

Every layer pools each frame on its own and accepts both layouts:

* (batch, time, channels, height, width): the sequence layout of the neuron layers;
* (frames, channels, height, width): the squeezed layout (frames = batch·time) of the
  ``*Squeeze`` neuron layers, or a single time step.

Output windows are those of ``torch.nn.functional.avg_pool2d`` with ``padding=0`` and
``ceil_mode=False``: ``out = floor((in - kernel) / stride) + 1`` per spatial axis, and
``stride`` defaults to ``kernel_size``. Inputs are spike counts (≥ 0); an input is *spiking*
when its value is not zero.

Backward rules (paper 004 §3.2; "window gradient" g is the gradient of one output element):

* `SumPool2d`: forward = sum over the window, backward = g to every input of the window
  (the chain rule of the sum; sinabs' SumPool2d semantics).
* `AvgPool2d(adjusted=False)`: forward = mean, backward = g / k² to every input (chain rule).
* `AvgPool2d(adjusted=True)` (default): forward = mean, backward = g / n to each of the n
  spiking inputs of the window and 0 to the others; a window without spikes passes nothing.
  Hence Σ over spiking inputs of the input gradient = Σ over windows with ≥ 1 spike of g.
* `MaxPool2d`: forward = max over the window, backward = g to exactly one input: the first
  maximal input in row-major window order (top row first, left to right). For spike inputs
  that is the first spiking input when any spiked; a silent window passes g to its first
  input, which is not a spike, so event-driven backward ignores it while surrogate-gradient
  trainers still see it. Hence Σ over spiking inputs = Σ over output spikes of g. The choice
  does not depend on the device (unlike the tie-breaking of torch's own max pooling kernels).

With overlapping windows (stride < kernel) an input's gradient is the sum over its windows.
"""

from __future__ import annotations

from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn

from snndeploy.errors import SnnDeployError

Size2 = Union[int, Tuple[int, int]]


def _pair(value: Size2, name: str, layer: str) -> Tuple[int, int]:
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v > 0 for v in pair):
        raise SnnDeployError(f"{layer}: {name} must be a positive int or a pair of them, got {value!r}")
    return pair


def _frames(x: torch.Tensor, layer: str) -> torch.Tensor:
    if x.dim() == 5:
        return x.reshape(-1, *x.shape[2:])
    if x.dim() == 4:
        return x
    raise SnnDeployError(
        f"{layer}: expected (batch, time, C, H, W) or (batch·time, C, H, W), got shape {tuple(x.shape)}"
    )


def _unframe(y: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return y.reshape(*like.shape[:2], *y.shape[1:]) if like.dim() == 5 else y


def _window_sum(x: torch.Tensor, kernel, stride) -> torch.Tensor:
    return F.avg_pool2d(x, kernel, stride, divisor_override=1)


def _spread(grad_out: torch.Tensor, frames: torch.Tensor, kernel, stride) -> torch.Tensor:
    """Each input receives the sum of grad_out over the windows that contain it."""
    return torch.ops.aten.avg_pool2d_backward(grad_out, frames, list(kernel), list(stride), [0, 0],
                                              False, True, 1)


class _AdjustedAverage(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frames, kernel, stride):
        ctx.save_for_backward(frames)
        ctx.kernel, ctx.stride = kernel, stride
        return F.avg_pool2d(frames, kernel, stride)

    @staticmethod
    def backward(ctx, grad_out):
        (frames,) = ctx.saved_tensors
        spiking = (frames != 0).to(grad_out.dtype)
        n_spiking = _window_sum(spiking, ctx.kernel, ctx.stride)
        share = torch.where(n_spiking > 0, grad_out / n_spiking.clamp(min=1), torch.zeros_like(grad_out))
        return _spread(share, frames, ctx.kernel, ctx.stride) * spiking, None, None


def _offset_views(frames: torch.Tensor, kernel, stride, out_shape):
    """(offset index, strided view of the inputs at that offset of every window), row-major."""
    out_h, out_w = out_shape
    for i in range(kernel[0]):
        for j in range(kernel[1]):
            yield i * kernel[1] + j, frames[..., i:i + stride[0] * (out_h - 1) + 1:stride[0],
                                            j:j + stride[1] * (out_w - 1) + 1:stride[1]]


class _SpikingMax(torch.autograd.Function):
    @staticmethod
    def forward(ctx, frames, kernel, stride):
        values = F.max_pool2d(frames, kernel, stride)
        unset = kernel[0] * kernel[1]
        winner = torch.full(values.shape, unset, dtype=torch.int16, device=frames.device)
        for index, view in _offset_views(frames, kernel, stride, values.shape[-2:]):
            winner = torch.where((winner == unset) & (view == values), index, winner)
        ctx.save_for_backward(winner)
        ctx.geometry = (frames.shape, kernel, stride)
        return values

    @staticmethod
    def backward(ctx, grad_out):
        (winner,) = ctx.saved_tensors
        shape, kernel, stride = ctx.geometry
        grad = grad_out.new_zeros(shape)
        for index, view in _offset_views(grad, kernel, stride, grad_out.shape[-2:]):
            view += torch.where(winner == index, grad_out, 0)
        return grad, None, None


class _Pool(nn.Module):
    def __init__(self, kernel_size: Size2, stride: Optional[Size2] = None):
        super().__init__()
        name = type(self).__name__
        self.kernel_size = _pair(kernel_size, "kernel_size", name)
        self.stride = self.kernel_size if stride is None else _pair(stride, "stride", name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        frames = _frames(x, type(self).__name__)
        if frames.shape[-2] < self.kernel_size[0] or frames.shape[-1] < self.kernel_size[1]:
            raise SnnDeployError(
                f"{type(self).__name__}: input of spatial size {tuple(frames.shape[-2:])} is smaller "
                f"than kernel_size={self.kernel_size}"
            )
        return _unframe(self._pool(frames), x)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class SumPool2d(_Pool):
    """Sum over each window (sinabs' SumPool2d); gradient g to every input of the window."""

    def _pool(self, frames):
        return _window_sum(frames, self.kernel_size, self.stride)


class AvgPool2d(_Pool):
    """Mean over each window. ``adjusted=True``: backward sends g / n_spiking to each spiking
    input (paper 004 §3.2); ``adjusted=False``: g / k² to every input (plain average)."""

    def __init__(self, kernel_size: Size2, stride: Optional[Size2] = None, adjusted: bool = True):
        super().__init__(kernel_size, stride)
        self.adjusted = bool(adjusted)

    def _pool(self, frames):
        if self.adjusted:
            return _AdjustedAverage.apply(frames, self.kernel_size, self.stride)
        return F.avg_pool2d(frames, self.kernel_size, self.stride)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", adjusted={self.adjusted}"


class MaxPool2d(_Pool):
    """Max over each window; backward sends g to the first maximal input (row-major order)."""

    def _pool(self, frames):
        return _SpikingMax.apply(frames, self.kernel_size, self.stride)


POOLING_LAYERS = (SumPool2d, AvgPool2d, MaxPool2d)
