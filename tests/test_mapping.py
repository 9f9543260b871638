"""Mapping: the assignment search equals brute force, failures print the table and working
suggestions, mapped configs equal the QuantizedModel in the simulator's time-stepped mode."""

import dataclasses
import itertools

import numpy as np
import pytest
import sinabs.layers as sl
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.mapping import ChipConfig, map_to_chip, resource_report
from snndeploy.mapping.assign import LayerNeed, find_assignment
from snndeploy.quantize import quantize
from snndeploy.quantize.random_nets import frames_to_events, random_case
from snndeploy.sim import simulate
from snndeploy.targets import CoreSpec, MemoryNeed, load_target


def brute_force(needs, cores) -> bool:
    return any(all(n.need.fits(cores[j]) for n, j in zip(needs, perm)) for perm in itertools.permutations(range(len(cores)), len(needs)))


def test_search_finds_an_assignment_exactly_when_brute_force_does():
    rng = np.random.default_rng(0)
    base = load_target("speck2f")
    outcomes = {True: 0, False: 0}
    for _ in range(300):
        n_cores = int(rng.integers(1, 6))
        cores = tuple(CoreSpec(i, *(int(v) for v in rng.integers(1, 5, 3))) for i in range(n_cores))
        target = dataclasses.replace(base, cores=cores)
        needs = [LayerNeed(f"l{i}", 1, 1, 1, (1, 1), True, MemoryNeed(*(int(v) for v in rng.integers(1, 5, 3))))
                 for i in range(int(rng.integers(1, n_cores + 1)))]
        expected = brute_force(needs, cores)
        outcomes[expected] += 1
        if expected:
            assignment = find_assignment(needs, target)
            assert len(set(assignment)) == len(needs)
            assert all(n.need.fits(cores[j]) for n, j in zip(needs, assignment))
        else:
            with pytest.raises(SnnDeployError, match="cannot map the network"):
                find_assignment(needs, target)
    assert min(outcomes.values()) > 30  # both kinds of case were exercised


def net(*layers):
    return nn.Sequential(*layers)


def test_too_big_layer_gets_table_and_suggestions_that_work():
    # speck.md's example: Conv2d(16, 32, 3, padding 1) on 64x64 needs 128 Ki neurons: fits no core
    model = net(nn.Conv2d(2, 16, 1, bias=False), sl.IAFSqueeze(batch_size=1),
                nn.Conv2d(16, 32, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1))
    q = quantize(model, "speck2f", input_shape=(2, 64, 64))
    with pytest.raises(SnnDeployError) as info:
        map_to_chip(q)
    text = str(info.value)
    assert "layer '2' fits no core of speck2f" in text
    assert "layer" in text and "kernel" in text and "neuron" in text and "core 8" in text
    row = next(line for line in text.splitlines() if line.startswith("2 "))
    assert "8192" in row and "131072" in row and "short N" in row
    assert "reduce layer '2' from 32 to 16 output channels (-16): then fits core 0" in text
    assert "give layer '2' stride 2" in text
    # following the first suggestion maps
    smaller = net(nn.Conv2d(2, 16, 1, bias=False), sl.IAFSqueeze(batch_size=1),
                  nn.Conv2d(16, 16, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1))
    config = map_to_chip(quantize(smaller, "speck2f", input_shape=(2, 64, 64)))
    assert config.core(config.metadata["layers"]["2"]["core"]).neuron_shape == (16, 64, 64)


def test_layers_competing_for_too_few_cores_are_named():
    # three layers whose 64 Ki kernels fit only cores 5 and 6
    layers = []
    for _ in range(3):
        layers += [nn.Conv2d(64, 64, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)]
    q = quantize(net(*layers), "speck2f", input_shape=(64, 4, 4))
    with pytest.raises(SnnDeployError, match=r"layers \['0', '2', '4'\] can only use cores \[5, 6\]: 3 layers for 2 cores") as info:
        map_to_chip(q)
    assert "reduce" in str(info.value)


def test_barely_fitting_network_maps():
    # kernel memory 64·2^(4+6) = 64 Ki exactly (cores 5, 6); neuron memory 64·64·64/... within 16 Ki
    model = net(nn.Conv2d(2, 64, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1),
                nn.Conv2d(64, 64, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1),
                nn.Conv2d(64, 64, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1))
    q = quantize(model, "speck2f", input_shape=(2, 16, 16))
    config = map_to_chip(q)
    usage = {u.core: u for u in resource_report(config).cores}
    big = [u for u in usage.values() if u.kernel[0] == 64 * 1024]
    assert sorted(u.core for u in big) == [5, 6] and all(u.neuron[0] == u.neuron[1] for u in big)


def test_mapped_random_networks_equal_the_quantized_model_in_timestep_simulation(tmp_path):
    for seed in range(12):
        case = random_case(seed)
        path = case.config.to_json(tmp_path / f"{seed}.json")
        assert ChipConfig.from_json(path) == case.config
        outputs = []
        hooks = [n.register_forward_hook(lambda _m, _i, out: outputs.append(out)) for n in case.model.neurons]
        case.model.reset_states()
        case.model(case.frames)
        for hook in hooks:
            hook.remove()
        steps = case.frames.shape[1]
        result = simulate(path, frames_to_events(case.frames, case.dt_us), "timestep", duration_us=steps * case.dt_us)
        for layer, core, expected in zip(case.model.layers, case.config.cores, outputs):
            mine = result.spikes[result.spikes["core"] == core.core]
            counts = np.zeros((steps, *layer.neuron_shape), np.int64)
            np.add.at(counts, (mine["t"] // case.dt_us, mine["p"], mine["y"], mine["x"]), 1)
            assert np.array_equal(counts, expected[0].numpy().astype(np.int64)), (seed, layer.name)


def small_model(channels_in=2, classes=9):
    return net(nn.Conv2d(channels_in, 4, 3, bias=False), sl.IAFSqueeze(batch_size=1), nn.Flatten(),
               nn.Linear(4 * 4 * 4, classes, bias=False), sl.IAFSqueeze(batch_size=1))


def test_input_stage_and_readout_erratum():
    q = quantize(small_model(2), "speck2f", input_shape=(2, 6, 6))
    config = map_to_chip(q, num_classes=3)
    assert config.input.source == "dvs" and config.input.shape == (2, 128, 128)
    assert config.input.dvs.polarity == "both" and config.input.dvs.roi == (0, 0, 5, 5)
    assert config.readout.channel_of_class == (0, 4, 8)
    assert config.core(config.readout.core).monitor
    merged = map_to_chip(quantize(small_model(1), "speck2f", input_shape=(1, 6, 6)))
    assert merged.input.dvs.polarity == "merge"
    external = map_to_chip(q, input_source="external")
    assert external.input.source == "external" and external.input.shape == (2, 6, 6)
    assert map_to_chip(q, "dynapcnn").input.source == "external"
    with pytest.raises(SnnDeployError, match=r"3 classes need >= 9 output channels, the output layer has 8"):
        map_to_chip(quantize(small_model(2, classes=8), "speck2f", input_shape=(2, 6, 6)), num_classes=3)
    with pytest.raises(SnnDeployError, match="dynapcnn has no readout layer"):
        map_to_chip(q, "dynapcnn", num_classes=3)


def test_resource_report_synops_formula_and_bandwidth_warning():
    q = quantize(net(nn.Conv2d(2, 8, 3, stride=2, bias=False), sl.IAFSqueeze(batch_size=1)), "speck2f", input_shape=(2, 9, 9))
    config = map_to_chip(q)
    report = resource_report(config, input_rate_hz=1000.0, bandwidth_limit=1e4)
    (usage,) = report.cores
    assert usage.synops_per_s == 1000.0 * 8 * 9 / 4
    assert usage.kernel == (2 * 16 * 8, load_target("speck2f").cores[usage.core].kernel_memory)
    assert usage.over_bandwidth and "exceeds the bandwidth" in report.warnings[0]
    assert "core" in report.table()


def test_lif_target_models_have_no_chip_config():
    model = net(nn.Conv2d(2, 4, 3, bias=False), sl.LIFSqueeze(tau_mem=5.0, batch_size=1))
    q = quantize(model, "examples/targets/lif_bitshift.toml", input_shape=(2, 6, 6))
    with pytest.raises(SnnDeployError, match="bit-shift decay .* no decay field"):
        map_to_chip(q, "examples/targets/lif_bitshift.toml")
