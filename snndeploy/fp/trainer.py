"""Training with exact FP gradients on the paper's tasks (paper 001, Tables 1-3).

    from snndeploy.fp import PRESETS, train_fp
    result = train_fp(PRESETS["iris"], epochs=60, seed=0)
    result.history[-1]["test_acc"], result.network

A preset fixes the network (sizes, α, β, ϑ, init), the data set and its encoding, the loss
(τ0, τ1, γ) and Adam (learning rate, betas (0.9, 0.999), eps 1e-8) as in the paper's tables;
where a preset departs from its table, its comment says what, why and the measured effect
("iris_table2" keeps Table 2 exactly as printed).
Full-batch tasks (XOR, Iris) use one step per epoch; Yin-Yang uses minibatches of 150 shuffled
with `numpy.random.default_rng(seed + epoch)`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Callable

import numpy as np
import torch

from snndeploy.data.iris import IrisDataset
from snndeploy.data.xor import XorDataset
from snndeploy.data.yinyang import YinYangDataset
from snndeploy.errors import SnnDeployError
from snndeploy.fp.network import FirstSpikeTimeLoss, FPNetwork, predict
from snndeploy.fp.simulate import DEFAULT_ENGINE, NeuronParameters


@dataclass(frozen=True)
class WeightBump:
    """Weight bumping (Göltz et al. 2021, the heuristic paper 001 reports it did without).

    After every optimizer step: each neuron of a hidden layer that fired on fewer than a fraction
    `hidden_min_firing` of the last training batch's samples, and each output neuron that fired
    on fewer than `output_min_firing` of them, gets `value` added to every incoming weight.

    Why: a neuron that does not fire has no spike time, so exact spike-time gradients give its
    weights nothing; once silent it stays silent. The first-spike loss keeps rewarding larger
    gaps between output spike times, which the network buys by firing less (measured on
    Yin-Yang with the paper's table: hidden weights drift from mean 1.5 to 0.5, hidden neurons
    and then outputs fall silent and test accuracy collapses after epoch ~140). The bump acts
    only on neurons that fire on too few samples, so it also sets how sparse a layer may get.
    """

    value: float
    hidden_min_firing: float
    output_min_firing: float

    def __post_init__(self) -> None:
        if not self.value > 0:
            raise SnnDeployError(f"weight bump value must be positive, got {self.value}")
        for name in ("hidden_min_firing", "output_min_firing"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise SnnDeployError(f"weight bump {name} is a fraction of samples in [0, 1], got {getattr(self, name)}")

    def apply(self, network: FPNetwork) -> int:
        """Bump the silent neurons of the network's last forward pass; returns how many."""
        counts = network.last_stats.get("spike_counts")
        if counts is None:
            raise SnnDeployError("weight bump: the network has not run a forward pass yet")
        bumped = 0
        with torch.no_grad():
            for index, (weight, layer_counts) in enumerate(zip(network.weights, counts)):
                least = self.output_min_firing if index == len(counts) - 1 else self.hidden_min_firing
                silent = torch.from_numpy((layer_counts > 0).mean(axis=0) < least).to(weight.device)
                weight[:, silent] += self.value
                bumped += int(silent.sum())
        return bumped

    def attach(self, network: FPNetwork, optimizer: torch.optim.Optimizer):
        """Apply after every `optimizer.step()`; returns the hook's removable handle."""
        return optimizer.register_step_post_hook(lambda *_: self.apply(network))


@dataclass(frozen=True)
class FPPreset:
    """Hyper-parameters of one task (paper 001 appendix tables)."""

    dataset: Callable[..., torch.utils.data.Dataset]
    hidden_sizes: tuple[int, ...]
    alpha: float
    beta: float
    theta: float
    hidden_init: tuple[tuple[float, float], ...]
    output_init: tuple[float, float]
    learning_rate: float
    gamma: float
    tau0: float
    tau1: float
    batch_size: int | None  # None: full batch
    epochs: int
    no_spike_time: float
    max_hidden_spikes: int = 16
    dataset_options: dict = field(default_factory=dict)
    weight_bump: WeightBump | None = None
    validation_split: str | None = None  # held-out split that picks the reported epoch


PRESETS: dict[str, FPPreset] = {
    # Table 1: 2-4-2, inputs at 0.0 / 2.0 (+ a reference spike at 1.0, see snndeploy.data.xor)
    "xor": FPPreset(XorDataset, (4,), 1.0, 0.99, 1.0, ((3.0, 1.0),), (2.0, 0.1), 0.1, 0.2, 0.1, 1.0,
                    None, 100, 4.0),
    # Table 2 (4-10-3) with its time scale fixed, run as 5-10-3 (4 features + a reference spike).
    # Kept: α 1, β 0.9, ϑ 1, 10 hidden, output init (2.0, 0.1), γ 0.1, Adam, full batch.
    # Changed, because Table 2 as printed ("iris_table2") ends at 66.7 % for 4 of 5 seeds
    # (γ e^{f/τ1} ≈ 1e6 at f ≈ 16 swamps the loss) and with γ = 0 stalls at 84 % train:
    # - encoding horizon T 16 -> 4 (t_max): a PSP peaks 1.05 after its input and decays with
    #   τ ≈ 1, so at T = 16 a neuron integrates one or two of the four features;
    # - reference spike at t_bias 1.8 (0.45 T, where Table 3 puts Yin-Yang's 0.9 of T = 2):
    #   without one the network only sees differences between the feature spike times;
    # - loss times scaled with T: τ0 1 -> 0.25 (Table 2's τ0 / T), τ1 1 -> 2 (Tables 1 and 3's
    #   τ1 / T = 1/2), silent outputs at 2 T = 8 (as before, 32 = 2·16);
    # - hidden init (3.0, 1.0) -> (1.5, 0.8) (Table 3's) and learning rate 0.05 -> 0.01, 400 epochs.
    # Measured (train_fp, split 0, seeds 0-4, 400 epochs), train / test %: this preset
    # 98.5 / 92.0 ± 1.8; a 1-NN on the same split gets 90 % test. One change back at a time:
    # no reference 81.3 / 80.0 ± 10.3, reference at 0.0 90.2 / 85.3 ± 14.3, γ 0 73.8 / 69.3 ± 10.9
    # (outputs fall silent: exact gradients give a silent neuron nothing, γ keeps the label
    # firing), τ1 1 93.3 / 82.0 ± 4.5, τ0 1 96.8 / 89.3 ± 1.5, hidden init (3, 1) 96.8 / 88.7 ± 3.0,
    # lr 0.05 98.5 / 90.0 ± 2.4 (then drifts towards silence), T 16 with every time above scaled
    # by 4 93.2 / 84.7 ± 3.0, and so without the reference 82.5 / 78.7 ± 6.1.
    "iris": FPPreset(IrisDataset, (10,), 1.0, 0.9, 1.0, ((1.5, 0.8),), (2.0, 0.1), 0.01, 0.1, 0.25, 2.0,
                     None, 400, 8.0, dataset_options={"t_max": 4.0, "t_bias": 1.8}),
    # Table 2 exactly as printed: 4-10-3, T = 16, no reference spike (kept to reproduce the paper's
    # setting; see "iris" for why it does not train)
    "iris_table2": FPPreset(IrisDataset, (10,), 1.0, 0.9, 1.0, ((3.0, 1.0),), (2.0, 0.1), 0.05, 0.1, 1.0,
                            1.0, None, 200, 32.0),
    # Table 3: 5-150-3, t_early 0.15, T 2.0, t_bias 0.9, minibatch 150, 300 epochs. Changed:
    # - a weight bump (not in the paper): after each step add 5e-4 to the incoming weights of
    #   hidden neurons firing on < 30 % of the batch and of outputs silent on any sample
    #   (per neuron, like jaxsnn's bump below 0.3 spikes on average; Göltz et al. 2021 bump a
    #   whole layer once > 30 % of its neuron-sample pairs miss a spike). Without it exact
    #   gradients let hidden neurons, then outputs, fall silent (seed 0: 93.9 % at epoch 140,
    #   81.8 % at 300); bumping only below 2 % lets the hidden layer thin to 0.1 spikes per
    #   neuron and sample (seeds 0-4: 94.9 ± 1.0 %);
    # - learning rate 5e-4 -> 1e-3: the first ~100 epochs mostly spread the output spike times
    #   apart (seed 6 stays near 80 %); at 5e-4 with the 30 % bump, seeds 0-9 end at 94.7 ± 1.3 %
    #   (92.0-96.5), at 1e-3 (this preset) 96.1 ± 0.6 % (benchmarks/README.md; paper 95.0 ± 0.83).
    "yinyang": FPPreset(YinYangDataset, (150,), 0.999, 1.0, 1.0, ((1.5, 0.8),), (2.0, 0.1), 0.001,
                        0.005, 0.2, 1.0, 150, 300, 4.0, weight_bump=WeightBump(0.0005, 0.3, 1.0),
                        validation_split="validation"),
}


@dataclass
class FPResult:
    """`network` after the last epoch; `history` one row per epoch; with a validation split,
    `selected` is the evaluated row with the highest val_acc (the first, on ties) and
    `selected_state` the network's weights (state_dict) after that epoch."""

    network: FPNetwork
    history: list[dict]
    selected: dict | None = None
    selected_state: dict | None = None


def build_network(preset: FPPreset, n_inputs: int, n_classes: int, seed: int,
                  engine: str = DEFAULT_ENGINE) -> FPNetwork:
    """The preset's network with the paper's normal initialisation, seeded; `engine` as FPNetwork's."""
    return FPNetwork(
        [n_inputs, *preset.hidden_sizes, n_classes],
        NeuronParameters(preset.alpha, preset.beta, preset.theta),
        hidden_init=list(preset.hidden_init),
        output_init=preset.output_init,
        max_spikes=[preset.max_hidden_spikes] * len(preset.hidden_sizes) + [1],
        seed=seed,
        engine=engine,
    )


def preset_loss(preset: FPPreset) -> FirstSpikeTimeLoss:
    """The preset's first-spike-time loss (τ0, τ1, γ, silent-output time)."""
    return FirstSpikeTimeLoss(preset.tau0, preset.tau1, preset.gamma, preset.no_spike_time)


def accuracy(network: FPNetwork, times: torch.Tensor, labels: torch.Tensor, batch_size: int = 500) -> float:
    """Fraction of samples whose label neuron fires first (silent outputs count as wrong)."""
    correct = 0
    with torch.no_grad():
        for start in range(0, len(labels), batch_size):
            first = network(times[start:start + batch_size])
            correct += int((predict(first) == labels[start:start + batch_size]).sum())
    return correct / max(len(labels), 1)


def train_fp(
    preset: FPPreset | str,
    epochs: int | None = None,
    seed: int = 0,
    log: Callable[[dict], None] | None = None,
    evaluate_every: int = 1,
    engine: str = DEFAULT_ENGINE,
    **overrides,
) -> FPResult:
    """Train the preset's network on its train split, evaluating on its test split.

    `overrides` replace preset fields (e.g. learning_rate=0.01; dataset_options replaces the
    preset's dict as a whole). `engine`: FPNetwork's simulation engine. History rows: epoch, loss,
    train_acc, test_acc (every `evaluate_every` epochs, else None), seconds (training only), and
    val_acc when the preset names a validation split (then `FPResult.selected` is the epoch it
    picks: model selection on held-out data, never on the test split).
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise SnnDeployError(f"unknown FP preset {preset!r}; available: {', '.join(sorted(PRESETS))}")
        preset = PRESETS[preset]
    preset = replace(preset, **overrides)
    train_set = preset.dataset("train", **preset.dataset_options)
    test_set = preset.dataset("test", **preset.dataset_options)
    train_times, train_labels = train_set.tensors()
    test_times, test_labels = test_set.tensors()
    validation = (
        preset.dataset(preset.validation_split, **preset.dataset_options).tensors()
        if preset.validation_split is not None else None
    )
    selected = selected_state = None
    torch.manual_seed(seed)
    network = build_network(preset, train_times.shape[1], train_set.num_classes, seed, engine)
    optimizer = torch.optim.Adam(network.parameters(), lr=preset.learning_rate, betas=(0.9, 0.999), eps=1e-8)
    if preset.weight_bump is not None:
        preset.weight_bump.attach(network, optimizer)
    batch = preset.batch_size or len(train_labels)
    loss_fn = preset_loss(preset)
    history = []
    for epoch in range(epochs if epochs is not None else preset.epochs):
        order = np.random.default_rng(seed + epoch).permutation(len(train_labels))
        started = time.perf_counter()
        losses = []
        for start in range(0, len(order), batch):
            index = torch.from_numpy(order[start:start + batch])
            optimizer.zero_grad()
            loss = loss_fn(network(train_times[index]), train_labels[index])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        seconds = time.perf_counter() - started
        evaluate = (epoch + 1) % evaluate_every == 0
        row = {
            "epoch": epoch,
            "loss": float(np.mean(losses)),
            "train_acc": accuracy(network, train_times, train_labels) if evaluate else None,
            "test_acc": accuracy(network, test_times, test_labels) if evaluate else None,
            "seconds": seconds,
        }
        if validation is not None:
            row["val_acc"] = accuracy(network, *validation) if evaluate else None
            if evaluate and (selected is None or row["val_acc"] > selected["val_acc"]):
                selected = row
                selected_state = {k: v.detach().clone() for k, v in network.state_dict().items()}
        history.append(row)
        if log is not None:
            log(row)
    return FPResult(network, history, selected, selected_state)
