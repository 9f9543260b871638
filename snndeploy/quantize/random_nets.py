"""Random valid integer networks for equivalence tests (QuantizedModel vs simulator).

`random_quantized_model(seed)` draws a small network that fits `speck2f`: a chain of 1–4
conv layers with random kernel (1–3), stride (1–2), padding (0–1), channels (1–6), pooling
(1, 2) between layers, biases (the chip's leak) or not, subtract / zero reset, thresholds,
floors, initial states; optionally a two-way fan-out that merges again (a residual pair).
Weights and biases are integers in the 8-bit range, states in the 16-bit range.
`random_case(seed)` adds the ChipConfig (`map_to_chip`, external input) and random input
frames (batch 1) with `frames_to_events` giving the same input as chip events.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snndeploy.mapping import ChipConfig, map_to_chip
from snndeploy.quantize.graph import Source
from snndeploy.quantize.model import QuantizedLayer, QuantizedModel


def _layer(rng: np.random.Generator, name: str, input_shape, sources, c_out: int, with_state: bool) -> QuantizedLayer:
    c_in, h, w = input_shape
    k = int(rng.integers(1, min(3, h, w) + 1))
    stride = int(rng.choice([1, 2])) if min(h, w) >= 4 else 1
    padding = int(rng.integers(0, 2)) if k > 1 else 0
    threshold = int(rng.integers(5, 200))
    weights = torch.from_numpy(rng.integers(max(-128, -threshold // 2), min(128, threshold), size=(c_out, c_in, k, k))).to(torch.int64)
    biases = torch.from_numpy(rng.integers(-20, 21, size=c_out)).to(torch.int64) if rng.random() < 0.4 else None
    layer = QuantizedLayer(
        name=name, weights=weights, biases=biases, stride=stride, padding=padding, input_shape=tuple(input_shape),
        threshold_high=threshold, threshold_low=int(rng.choice([-32768, -threshold, 0])),
        reset=str(rng.choice(["subtract", "zero"])), sources=list(sources), scale=1.0,
    )
    if with_state and rng.random() < 0.5:
        layer.initial_state = torch.from_numpy(rng.integers(0, threshold, size=layer.neuron_shape)).to(torch.int64)
    return layer


def random_quantized_model(seed: int, target: str = "speck2f") -> QuantizedModel:
    rng = np.random.default_rng(seed)
    size = int(rng.integers(4, 12))
    input_shape = (int(rng.integers(1, 3)), size, size)
    layers: list[QuantizedLayer] = []
    source, shape = Source(-1), input_shape
    for index in range(int(rng.integers(1, 5))):
        layer = _layer(rng, f"layer{index}", shape, [source], int(rng.integers(1, 7)), with_state=True)
        layers.append(layer)
        c, h, w = layer.neuron_shape
        pooling = int(rng.choice([1, 2])) if min(h, w) >= 4 else 1
        source, shape = Source(len(layers) - 1, pooling), (c, h // pooling, w // pooling)
        if rng.random() < 0.3 and len(layers) < 6:
            # fan-out to two 1x1-shaped branches that keep the map size, merged by the next layer
            a = _same_size_layer(rng, f"branch{index}a", shape, source)
            b = _same_size_layer(rng, f"branch{index}b", shape, source, c_out=a.neuron_shape[0])
            layers += [a, b]
            shape = a.neuron_shape
            merged = _layer(rng, f"merge{index}", shape, [Source(len(layers) - 2), Source(len(layers) - 1)], int(rng.integers(1, 5)), True)
            layers.append(merged)
            c, h, w = merged.neuron_shape
            source, shape = Source(len(layers) - 1), (c, h, w)
        if len(layers) >= 7:
            break
    output = Source(len(layers) - 1)
    return QuantizedModel(layers, input_shape, output, target=target)


def _same_size_layer(rng, name, shape, source, c_out=None) -> QuantizedLayer:
    c_in = shape[0]
    c_out = int(rng.integers(1, 5)) if c_out is None else c_out
    threshold = int(rng.integers(5, 200))
    weights = torch.from_numpy(rng.integers(max(-128, -threshold // 2), min(128, threshold), size=(c_out, c_in, 3, 3))).to(torch.int64)
    return QuantizedLayer(name=name, weights=weights, biases=None, stride=1, padding=1, input_shape=tuple(shape),
                          threshold_high=threshold, threshold_low=-32768, reset="subtract", sources=[source], scale=1.0)


@dataclass
class RandomCase:
    model: QuantizedModel
    config: ChipConfig
    frames: torch.Tensor  # (1, T, c, h, w) spike counts
    dt_us: int


def random_case(seed: int, steps: int = 12, rate: float = 0.3) -> RandomCase:
    model = random_quantized_model(seed)
    config = map_to_chip(model, input_source="external", monitor_all=True)
    generator = torch.Generator().manual_seed(seed)
    frames = torch.poisson(torch.full((1, steps, *model.input_shape), rate), generator=generator)
    return RandomCase(model, config, frames, config.slow_clock_period_us)


def frames_to_events(frames: torch.Tensor, dt_us: int) -> np.ndarray:
    """(1, T, c, h, w) counts -> events (t, x, y, p) with `count` events at t = step·dt_us."""
    from snndeploy.data.events import EVENT_DTYPE

    counts = frames[0].round().to(torch.int64).numpy()
    step, c, y, x = np.nonzero(counts)
    repeats = counts[step, c, y, x]
    events = np.zeros(int(repeats.sum()), EVENT_DTYPE)
    events["t"] = np.repeat(step * dt_us, repeats)
    events["x"] = np.repeat(x, repeats)
    events["y"] = np.repeat(y, repeats)
    events["p"] = np.repeat(c, repeats)
    return events
