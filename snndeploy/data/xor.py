"""XOR as spike latencies (paper 001 Table 1, after Mostert et al.): 4 samples, 2 classes.

    from snndeploy.data.xor import XorDataset
    times, label = XorDataset()[3]      # times (3,) = (t_a, t_b, t_bias), label int

Input bit 0 spikes at `t_early` (0.0), bit 1 at `t_late` (T = 2.0); label = a XOR b. A third
input spikes at `t_bias` (1.0, midway) for every sample: without a reference spike the patterns
(0, 0) and (1, 1) differ only by a time shift, which a time-invariant network cannot tell apart.
(With the reference at 0.0, together with the early spikes, FP training reached 100 % for 2 of
10 seeds in 100 full-batch steps; at 1.0 for 9 of 10: benchmarks/README.md.)
"""

from __future__ import annotations

import numpy as np

from snndeploy.data.base import SpikeTimeDataset
from snndeploy.data.yinyang import latency_encode

CLASSES = ("equal", "different")
BITS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])


class XorDataset(SpikeTimeDataset):
    """XOR (4 samples) as spike latencies with a bias spike; the same 4 samples for every split.

    `limit` keeps the first `limit` of the 4 samples (as the other datasets' limit).
    """

    def __init__(self, split: str = "train", t_early: float = 0.0, t_late: float = 2.0, t_bias: float = 1.0,
                 limit: int | None = None) -> None:
        self.split = split
        self.classes = CLASSES
        self.num_classes = len(CLASSES)
        bits = BITS[:limit]
        self.labels = (bits[:, 0] ^ bits[:, 1]).astype(np.int64)
        self.spike_times = latency_encode(bits, t_early, t_late, t_bias)

