"""From input events to core input events: the DVS pre-processing and the input destinations.

The rules (order of polarity, ROI, pooling, mirroring, rotation) are those of `InputStage`.
Both simulators and the time-stepped mode use this one vectorised function.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snndeploy.sim.network import Destination, SimNetwork

POLARITY_CHANNEL = {
    # polarity mode -> (kept polarity or None for both, output channel or None to keep p)
    "both": (None, None),
    "merge": (None, 0),
    "on": (1, 0),
    "off": (0, 0),
}


@dataclass(frozen=True)
class CoreEvents:
    """Events addressed to core inputs, in processing order (time, then file order, then
    destination order). Arrays of equal length."""

    t: np.ndarray
    core: np.ndarray
    c: np.ndarray
    y: np.ndarray
    x: np.ndarray

    def __len__(self) -> int:
        return len(self.t)


def _dvs_transform(net: SimNetwork, events: np.ndarray):
    stage = net.input
    t, x, y, p = (events[name].astype(np.int64) for name in ("t", "x", "y", "p"))
    keep = np.ones(len(t), bool)
    kept_polarity, channel = POLARITY_CHANNEL[stage.polarity]
    if kept_polarity is not None:
        keep &= p == kept_polarity
    c = p if channel is None else np.full_like(p, channel)
    width, height = stage.size[0], stage.size[1]
    if stage.roi is not None:
        x0, y0, x1, y1 = stage.roi
        keep &= (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)
        x, y = x - x0, y - y0
        width, height = x1 - x0 + 1, y1 - y0 + 1
    x, y = x // stage.pool, y // stage.pool
    width, height = width // stage.pool, height // stage.pool
    keep &= (x < width) & (y < height)
    if stage.mirror_x:
        x = width - 1 - x
    if stage.mirror_y:
        y = height - 1 - y
    if stage.rotate_90:
        x, y = y, width - 1 - x
    return keep, t, c, y, x


def _external(net: SimNetwork, events: np.ndarray):
    t, x, y, p = (events[name].astype(np.int64) for name in ("t", "x", "y", "p"))
    return np.ones(len(t), bool), t, p, y, x


def _send(net: SimNetwork, dest: Destination, c, y, x):
    """Address after a destination's shift and pooling, and whether it lies in the target input."""
    c_in, h_in, w_in = net.cores[dest.core].input_shape
    c, y, x = c + dest.channel_shift, y // dest.pool, x // dest.pool
    return (c < c_in) & (y < h_in) & (x < w_in), c, y, x


def route_input(net: SimNetwork, events: np.ndarray, duration_us: int) -> CoreEvents:
    """Apply the input stage to validated events with t < duration_us and fan them out."""
    events = events[events["t"] < duration_us]
    keep, t, c, y, x = (_dvs_transform if net.input.dvs else _external)(net, events)
    parts = []
    for rank, dest in enumerate(net.input.destinations):
        inside, dc, dy, dx = _send(net, dest, c, y, x)
        mask = keep & inside
        order = np.flatnonzero(mask) * len(net.input.destinations) + rank
        parts.append((order, t[mask], np.full(mask.sum(), dest.core), dc[mask], dy[mask], dx[mask]))
    if not parts:
        empty = np.zeros(0, np.int64)
        return CoreEvents(empty, empty, empty, empty, empty)
    order = np.concatenate([part[0] for part in parts])
    sort = np.argsort(order, kind="stable")
    fields = [np.concatenate([part[i] for part in parts])[sort].astype(np.int64) for i in range(1, 6)]
    return CoreEvents(*fields)
