"""Torch face of forward propagation: a feed-forward LIF network whose output spike times carry
exact gradients, the paper's first-spike-time loss, and the paper's weight initialisation.

    net = FPNetwork([5, 150, 3], NeuronParameters(alpha=0.999, beta=1.0), hidden_init=[(1.5, 0.8)],
                    output_init=(2.0, 0.1), seed=0)
    first = net(input_times)                  # (B, 3) float64 first output spike times (inf: none)
    loss = first_spike_loss(first, labels, tau0=0.2, tau1=1.0, gamma=0.005, no_spike_time=4.0)
    loss.backward()                           # exact dL/dW by forward substitution

The forward pass runs the exact event simulation (`snndeploy.fp.simulate`, float64, compiled or
numpy reference engine) and
computes d(output spike times)/dW for every weight at once (`snndeploy.fp.gradients`); backward only
contracts those derivatives with the incoming gradient. Input spike times are data: they receive
no gradient.
"""

from __future__ import annotations

import numpy as np
import torch

from snndeploy.errors import SnnDeployError
from snndeploy.fp.gradients import network_gradients, weight_gradients
from snndeploy.fp.simulate import DEFAULT_ENGINE, NeuronParameters, check_engine, simulate_network


class ExactSpikeTimes(torch.autograd.Function):
    """input_times (B, N_in[, S_in]), weights... -> output-layer spike times (B, N, S), +inf padding.

    `need_gradients` False (no autograd) skips the derivatives; backward is then never called.
    """

    @staticmethod
    def forward(ctx, input_times, params, max_spikes, t_max, engine, stats, need_gradients, *weights):
        numpy_weights = [w.detach().cpu().numpy().astype(np.float64) for w in weights]
        numpy_inputs = input_times.detach().cpu().numpy().astype(np.float64)
        layers = simulate_network(numpy_inputs, numpy_weights, params, list(max_spikes), t_max, engine)
        # without autograd (evaluation) the derivatives, most of the cost, are skipped
        gradients = (
            network_gradients(numpy_inputs, layers, numpy_weights, params, engine=engine)
            if need_gradients else None
        )
        stats.update(
            spike_counts=[layer.counts for layer in layers],
            saturated=[layer.saturated for layer in layers],
            degenerate=gradients.degenerate if need_gradients else None,
        )
        ctx.gradients = gradients
        ctx.weight_dtypes = [(w.dtype, w.device) for w in weights]
        return torch.from_numpy(layers[-1].times).to(device=weights[-1].device)

    @staticmethod
    def backward(ctx, grad_times):
        grads = weight_gradients(grad_times.detach().cpu().numpy().astype(np.float64), ctx.gradients)
        weight_grads = tuple(
            torch.from_numpy(g).to(dtype=dtype, device=device)
            for g, (dtype, device) in zip(grads, ctx.weight_dtypes)
        )
        return (None,) * 7 + weight_grads


class FPNetwork(torch.nn.Module):
    """Feed-forward LIF network with exponential synapses, trained with exact FP gradients.

    sizes: [N_in, hidden..., N_out]; weights `weights[l]` have shape (sizes[l], sizes[l+1]) and are
    drawn from N(mean, std) per layer (paper 001 Tables 1-3: `hidden_init` one (mean, std) per
    hidden layer, `output_init` for the last layer). `max_spikes`: spikes kept per neuron per
    layer (default 16 for hidden layers, 1 for the output: the loss reads first spikes only).
    `engine`: "numba" (compiled, default) or "numpy" (the reference), see `snndeploy.fp.simulate`.
    `last_stats` holds spike counts, saturated neurons and degenerate spikes (None when no
    gradient was computed) of the last forward.
    """

    def __init__(
        self,
        sizes: list[int],
        params: NeuronParameters,
        hidden_init: list[tuple[float, float]],
        output_init: tuple[float, float],
        max_spikes: list[int] | None = None,
        t_max: float = float("inf"),
        seed: int = 0,
        engine: str = DEFAULT_ENGINE,
    ) -> None:
        super().__init__()
        if len(sizes) < 2 or len(hidden_init) != len(sizes) - 2:
            raise SnnDeployError(
                f"FPNetwork: sizes {sizes} need one hidden_init (mean, std) per hidden layer, "
                f"got {len(hidden_init)}"
            )
        self.params = params
        self.sizes = list(sizes)
        self.max_spikes = list(max_spikes) if max_spikes else [16] * (len(sizes) - 2) + [1]
        if len(self.max_spikes) != len(sizes) - 1:
            raise SnnDeployError(
                f"FPNetwork: max_spikes needs {len(sizes) - 1} entries (one per layer), got {self.max_spikes}"
            )
        self.t_max = float(t_max)
        check_engine(engine)
        self.engine = engine
        generator = torch.Generator().manual_seed(seed)
        inits = list(hidden_init) + [output_init]
        self.weights = torch.nn.ParameterList(
            torch.nn.Parameter(
                torch.normal(mean, std, (n_in, n_out), generator=generator, dtype=torch.float64)
            )
            for (mean, std), n_in, n_out in zip(inits, sizes[:-1], sizes[1:])
        )
        self.last_stats: dict = {}

    def spike_times(self, input_times: torch.Tensor) -> torch.Tensor:
        """Output spike times (B, N_out, S), S <= max_spikes[-1] the largest count, +inf padding."""
        if input_times.shape[1] != self.sizes[0]:
            raise SnnDeployError(
                f"FPNetwork: input has {input_times.shape[1]} channels, the network expects {self.sizes[0]}"
            )
        need_gradients = torch.is_grad_enabled() and any(w.requires_grad for w in self.weights)
        return ExactSpikeTimes.apply(
            input_times, self.params, tuple(self.max_spikes), self.t_max, self.engine, self.last_stats,
            need_gradients, *self.weights,
        )

    def forward(self, input_times: torch.Tensor) -> torch.Tensor:
        """First output spike times (B, N_out); +inf where an output neuron stays silent."""
        return self.spike_times(input_times)[:, :, 0]


def first_spike_loss(
    first_times: torch.Tensor,
    labels: torch.Tensor,
    tau0: float,
    tau1: float,
    gamma: float,
    no_spike_time: float,
) -> torch.Tensor:
    """Paper 001 (Yin-Yang section): mean over samples of

        −log softmax(−f / τ0)[label] + γ (e^{f_label / τ1} − 1),

    f the first output spike times. The γ term is added so that it pulls the label neuron's spike
    earlier, as the paper states. Silent outputs (f = inf) count as firing at `no_spike_time`,
    a constant without gradient.
    """
    silent = ~torch.isfinite(first_times)
    f = torch.where(silent, torch.full_like(first_times, no_spike_time), first_times)
    cross_entropy = torch.nn.functional.cross_entropy(-f / tau0, labels, reduction="none")
    label_time = f.gather(1, labels[:, None])[:, 0]
    return (cross_entropy + gamma * (torch.exp(label_time / tau1) - 1.0)).mean()


def predict(first_times: torch.Tensor) -> torch.Tensor:
    """Class = output neuron with the earliest first spike; −1 when no output fires."""
    earliest = first_times.argmin(dim=1)
    return torch.where(torch.isfinite(first_times).any(dim=1), earliest, torch.full_like(earliest, -1))


class FirstSpikeTimeLoss:
    """`first_spike_loss` with fixed τ0, τ1, γ and silent-output time, as a `loss_fn(outputs, labels)`
    with `predict(outputs)`: the form `snndeploy.train.fit` / `evaluate` take."""

    def __init__(self, tau0: float, tau1: float, gamma: float, no_spike_time: float) -> None:
        self.tau0, self.tau1, self.gamma, self.no_spike_time = tau0, tau1, gamma, no_spike_time

    def __call__(self, first_times: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return first_spike_loss(first_times, labels, self.tau0, self.tau1, self.gamma, self.no_spike_time)

    predict = staticmethod(predict)
