"""The one reader of `ChipConfig` in the simulator: ChipConfig (or its JSON file) -> SimNetwork."""

from __future__ import annotations

import os

import numpy as np

from snndeploy.mapping.config import ChipConfig
from snndeploy.sim.network import Destination, InputStage, Readout, SimCore, SimNetwork


def _destinations(items) -> tuple[Destination, ...]:
    return tuple(Destination(d.core, pool=d.pooling, channel_shift=d.feature_shift) for d in items)


def network_from_config(config: "ChipConfig | str | os.PathLike") -> SimNetwork:
    """Build the simulator's network; a path is read (and validated) with ChipConfig.from_json."""
    if not isinstance(config, ChipConfig):
        config = ChipConfig.from_json(config)
    cores = {}
    for core in config.cores:
        c_out = core.neuron_shape[0]
        cores[core.core] = SimCore(
            weights=np.array(core.weights, np.int64).reshape(c_out, core.input_shape[0], core.kernel_size, core.kernel_size),
            input_shape=core.input_shape,
            threshold_high=core.threshold_high,
            threshold_low=core.threshold_low,
            stride=(core.stride, core.stride),
            padding=(core.padding, core.padding),
            bias=None if core.biases is None else np.array(core.biases, np.int64),
            leak_enable=core.leak_enable,
            reset_to_zero=core.reset == "zero",
            initial_state=None if core.initial_state is None else np.array(core.initial_state, np.int64),
            destinations=_destinations(core.destinations),
        )
    stage = config.input
    channels, height, width = stage.shape
    dvs = stage.dvs
    input_stage = InputStage(
        size=(width, height, channels),
        destinations=_destinations(stage.destinations),
        dvs=stage.source == "dvs",
        **(
            {}
            if stage.source != "dvs" or dvs is None
            else dict(polarity=dvs.polarity, roi=dvs.roi, pool=dvs.pooling, mirror_x=dvs.mirror_x,
                      mirror_y=dvs.mirror_y, rotate_90=dvs.rotate90)
        ),
    )
    readout = config.readout
    limit = config.synops_per_s_limit
    return SimNetwork(
        cores=cores,
        input=input_stage,
        readout=None if readout is None else Readout(readout.core, readout.num_classes, tuple(readout.channel_of_class)),
        slow_clock_period_us=config.slow_clock_period_us,
        state_bits=config.state_bits,
        synops_per_s_limit={} if limit is None else {index: float(limit) for index in cores},
        monitored_cores=tuple(core.core for core in config.cores if core.monitor),
        layer_names={core.core: core.layer_name for core in config.cores},
    )
