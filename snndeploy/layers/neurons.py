"""IAF, LIF and ExpLeak layers: thin modules over `snndeploy.layers.functional`.

Inputs are (batch, time, *features); the `...Squeeze` variants take (batch·time, *features), as
conv nets that flatten batch and time do. Parameters and names follow sinabs, so that
`from_sinabs` / `to_sinabs` swap layers one for one. The update rule is in `functional`'s
docstring; per call:

1. with a synaptic time constant: i_t = α_syn · (i_{t−1} + x_t), the neuron sees i_t;
2. LIF with `norm_input`: the input is scaled by (1 − α_mem);
3. the neuron scan of the chosen backend ("exodus", "bptt" or "slayer").

State (`v_mem`, `i_syn`) persists across calls, keeps its autograd graph (so a loss over chained
chunks differentiates through them), and is zeroed by `reset_states()`. A new batch size or
feature shape starts from zeros.
"""

from __future__ import annotations

from typing import Optional, Union

import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.kernels import ScanParams, ScanSpec
from snndeploy.layers.activation import (
    MembraneSubtract,
    MultiSpike,
    SingleExponential,
)
from snndeploy.layers.functional import BACKENDS

Number = Union[float, torch.Tensor]


def _instance(obj):
    """sinabs passes SingleSpike / MultiSpike as classes; accept both forms."""
    return obj() if isinstance(obj, type) else obj


def _leak_spec(record: bool) -> ScanSpec:
    return ScanSpec(max_spikes=0, subtracts=True, has_min=False, record=record,
                    surrogate=SingleExponential())


class _Neuron(nn.Module):
    """State handling, parameter vectors and backend dispatch shared by all neuron layers."""

    spiking = True

    def __init__(self, *, spike_threshold: Number, spike_fn, reset_fn, surrogate_grad_fn,
                 min_v_mem: Optional[Number], tau_syn: Optional[Number], norm_input: bool,
                 shape, record_states: bool, backend: str):
        super().__init__()
        self.register_buffer("spike_threshold", torch.as_tensor(spike_threshold, dtype=torch.float))
        self.spike_fn = _instance(spike_fn)
        self.reset_fn = _instance(reset_fn)
        self.surrogate_grad_fn = _instance(surrogate_grad_fn)
        self.min_v_mem = min_v_mem
        self.tau_syn = None if tau_syn is None else nn.Parameter(torch.as_tensor(tau_syn, dtype=torch.float))
        self.norm_input = norm_input
        self.record_states = record_states
        self.backend = backend
        self.recordings: dict[str, torch.Tensor] = {}
        self.firing_rate = torch.tensor(0.0)
        self.register_buffer("v_mem", torch.zeros(0))
        self.register_buffer("i_syn", torch.zeros(0) if tau_syn is not None else None)
        if shape is not None:
            self.init_state_with_shape(tuple(shape))

    # -- configuration ------------------------------------------------------------------
    @property
    def backend(self) -> str:
        return self._backend

    @backend.setter
    def backend(self, name: str) -> None:
        if name not in BACKENDS:
            raise SnnDeployError(
                f"{type(self).__name__}: unknown backend '{name}'; choose one of {sorted(BACKENDS)}"
            )
        if name != "bptt" and self.spiking and not hasattr(type(self.surrogate_grad_fn), "kernel_id"):
            raise SnnDeployError(
                f"{type(self).__name__}: surrogate {type(self.surrogate_grad_fn).__name__} has no "
                f"compiled kernel for backend '{name}'; use backend='bptt' or one of "
                "SingleExponential, PeriodicExponential, Heaviside"
            )
        self._backend = name

    @property
    def alpha_mem_calculated(self) -> torch.Tensor:
        return torch.ones((), device=self.spike_threshold.device)

    @property
    def alpha_syn_calculated(self) -> Optional[torch.Tensor]:
        return None if self.tau_syn is None else torch.exp(-1.0 / self.tau_syn)

    # -- state --------------------------------------------------------------------------
    def init_state_with_shape(self, shape: tuple) -> None:
        device = self.spike_threshold.device
        self.v_mem = torch.zeros(shape, device=device)
        if self.tau_syn is not None:
            self.i_syn = torch.zeros(shape, device=device)

    def reset_states(self) -> None:
        """Zero the state (keeping its shape)."""
        self.v_mem = torch.zeros_like(self.v_mem).detach()
        if self.i_syn is not None:
            self.i_syn = torch.zeros_like(self.i_syn).detach()

    def _ensure_state(self, shape: tuple, like: torch.Tensor) -> None:
        if tuple(self.v_mem.shape) != shape:
            self.init_state_with_shape(shape)
        if self.v_mem.dtype != like.dtype or self.v_mem.device != like.device:
            self.v_mem = self.v_mem.to(like)
            if self.i_syn is not None:
                self.i_syn = self.i_syn.to(like)

    # -- forward ------------------------------------------------------------------------
    def _spec(self, record: bool) -> ScanSpec:
        return ScanSpec(
            max_spikes=self.spike_fn.max_spikes,
            subtracts=self.reset_fn.subtracts,
            has_min=self.min_v_mem is not None,
            record=record,
            surrogate=self.surrogate_grad_fn,
            keep_reset_term=BACKENDS[self.backend].keeps_reset_term,
        )

    def _params(self, features: tuple, like: torch.Tensor, alpha: torch.Tensor) -> ScanParams:
        def vector(value) -> torch.Tensor:
            value = torch.as_tensor(value, dtype=like.dtype, device=like.device)
            return value.expand(features).reshape(-1).contiguous()

        threshold = vector(self.spike_threshold)
        if not self.spiking:
            reset = torch.zeros_like(threshold)
        elif self.reset_fn.subtracts:
            amount = self.reset_fn.subtract_value
            reset = threshold if amount is None else vector(amount)
        else:
            reset = vector(self.reset_fn.reset_value)
        min_v = vector(0.0 if self.min_v_mem is None else self.min_v_mem)
        return ScanParams(vector(alpha), threshold, reset, min_v)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, steps, *features = x.shape
        features = tuple(features)
        self._ensure_state((batch, *features), x)
        flat = x.reshape(batch, steps, -1)
        scan = BACKENDS[self.backend].scan
        alpha_syn = self.alpha_syn_calculated
        if alpha_syn is not None:
            syn_params = self._params(features, x, alpha_syn)
            syn_params.min_v = torch.zeros_like(syn_params.min_v)
            current, _, i_final = scan(alpha_syn.to(x.dtype) * flat,
                                       self.i_syn.reshape(batch, -1), syn_params,
                                       _leak_spec(False))
            self.i_syn = i_final.reshape(batch, *features)
            flat = current
        alpha = self.alpha_mem_calculated
        if self.norm_input:
            flat = flat * (1 - alpha.expand(features).reshape(-1).to(x.dtype))
        out, trace, v_final = scan(flat, self.v_mem.reshape(batch, -1),
                                   self._params(features, x, alpha), self._spec(self.record_states))
        self.v_mem = v_final.reshape(batch, *features)
        if self.record_states:
            self.recordings = {"v_mem": trace.reshape(batch, steps, *features)}
        out = out.reshape(batch, steps, *features)
        self.firing_rate = out.detach().mean() if self.spiking else self.firing_rate
        return out

    def extra_repr(self) -> str:
        return (f"spike_threshold={self.spike_threshold.tolist()}, min_v_mem={self.min_v_mem}, "
                f"backend='{self.backend}'")


class IAF(_Neuron):
    """Integrate-and-fire: v_t = v_{t−1} + x_t, then spike, reset and floor (α = 1)."""

    def __init__(self, spike_threshold: Number = 1.0, spike_fn=MultiSpike,
                 reset_fn=MembraneSubtract(), surrogate_grad_fn=SingleExponential(),
                 tau_syn: Optional[Number] = None, min_v_mem: Optional[Number] = None,
                 shape=None, record_states: bool = False, backend: str = "exodus"):
        super().__init__(spike_threshold=spike_threshold, spike_fn=spike_fn, reset_fn=reset_fn,
                         surrogate_grad_fn=surrogate_grad_fn, min_v_mem=min_v_mem,
                         tau_syn=tau_syn, norm_input=False, shape=shape,
                         record_states=record_states, backend=backend)


class _Leaky(_Neuron):
    """Adds the membrane time constant: trainable τ (default) or trainable α (`train_alphas`)."""

    def _init_tau(self, tau_mem: Number, train_alphas: bool) -> None:
        tau = torch.as_tensor(tau_mem, dtype=torch.float)
        self.train_alphas = train_alphas
        if train_alphas:
            self.alpha_mem = nn.Parameter(torch.exp(-1.0 / tau))
            self.tau_mem = None
        else:
            self.tau_mem = nn.Parameter(tau)
            self.alpha_mem = None

    @property
    def alpha_mem_calculated(self) -> torch.Tensor:
        return self.alpha_mem if self.train_alphas else torch.exp(-1.0 / self.tau_mem)

    @property
    def tau_mem_calculated(self) -> torch.Tensor:
        return -1.0 / torch.log(self.alpha_mem) if self.train_alphas else self.tau_mem


class LIF(_Leaky):
    """Leaky integrate-and-fire: v_t = α v_{t−1} + (1 − α)·x_t (`norm_input`) or + x_t."""

    def __init__(self, tau_mem: Number, tau_syn: Optional[Number] = None,
                 spike_threshold: Number = 1.0, spike_fn=MultiSpike,
                 reset_fn=MembraneSubtract(), surrogate_grad_fn=SingleExponential(),
                 min_v_mem: Optional[Number] = None, train_alphas: bool = False, shape=None,
                 norm_input: bool = True, record_states: bool = False, backend: str = "exodus"):
        super().__init__(spike_threshold=spike_threshold, spike_fn=spike_fn, reset_fn=reset_fn,
                         surrogate_grad_fn=surrogate_grad_fn, min_v_mem=min_v_mem,
                         tau_syn=tau_syn, norm_input=norm_input, shape=shape,
                         record_states=record_states, backend=backend)
        self._init_tau(tau_mem, train_alphas)


class ExpLeak(_Leaky):
    """Leaky integrator without spikes: outputs p_t = α v_{t−1} + x_t (before the floor)."""

    spiking = False

    def __init__(self, tau_mem: Number, shape=None, train_alphas: bool = False,
                 min_v_mem: Optional[Number] = None, norm_input: bool = False,
                 record_states: bool = False, backend: str = "exodus"):
        super().__init__(spike_threshold=1.0, spike_fn=MultiSpike, reset_fn=MembraneSubtract(),
                         surrogate_grad_fn=SingleExponential(), min_v_mem=min_v_mem,
                         tau_syn=None, norm_input=norm_input, shape=shape,
                         record_states=record_states, backend=backend)
        self._init_tau(tau_mem, train_alphas)

    def _spec(self, record: bool) -> ScanSpec:
        return ScanSpec(max_spikes=0, subtracts=True, has_min=self.min_v_mem is not None,
                        record=record, surrogate=self.surrogate_grad_fn)


class _Squeeze:
    """Takes (batch·time, *features): needs `batch_size` or `num_timesteps` to unflatten."""

    def _init_squeeze(self, batch_size: Optional[int], num_timesteps: Optional[int]) -> None:
        if batch_size is None and num_timesteps is None:
            raise SnnDeployError(
                f"{type(self).__name__}: give batch_size or num_timesteps to unflatten "
                "(batch·time, ...) inputs"
            )
        self.batch_size = batch_size
        self.num_timesteps = num_timesteps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        total = x.shape[0]
        batch = self.batch_size if self.batch_size is not None else total // self.num_timesteps
        if batch <= 0 or total % batch:
            raise SnnDeployError(
                f"{type(self).__name__}: first dimension {total} is not a multiple of "
                f"batch_size={self.batch_size} / num_timesteps={self.num_timesteps}"
            )
        out = super().forward(x.reshape(batch, total // batch, *x.shape[1:]))
        return out.reshape(total, *out.shape[2:])


class IAFSqueeze(_Squeeze, IAF):
    """IAF on (batch·time, *features) tensors."""

    def __init__(self, batch_size: Optional[int] = None, num_timesteps: Optional[int] = None, **kwargs):
        IAF.__init__(self, **kwargs)
        self._init_squeeze(batch_size, num_timesteps)


class LIFSqueeze(_Squeeze, LIF):
    """LIF on (batch·time, *features) tensors."""

    def __init__(self, tau_mem: Number, batch_size: Optional[int] = None,
                 num_timesteps: Optional[int] = None, **kwargs):
        LIF.__init__(self, tau_mem, **kwargs)
        self._init_squeeze(batch_size, num_timesteps)


class ExpLeakSqueeze(_Squeeze, ExpLeak):
    """ExpLeak on (batch·time, *features) tensors."""

    def __init__(self, tau_mem: Number, batch_size: Optional[int] = None,
                 num_timesteps: Optional[int] = None, **kwargs):
        ExpLeak.__init__(self, tau_mem, **kwargs)
        self._init_squeeze(batch_size, num_timesteps)


NEURON_LAYERS = (IAF, LIF, ExpLeak, IAFSqueeze, LIFSqueeze, ExpLeakSqueeze)

