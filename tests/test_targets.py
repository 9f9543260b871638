"""Targets as data: built-in files, schema errors naming file and field, user targets, and the
memory formulas checked against sinabs' own memory_summary (with an injected fake samna)."""

import shutil
import sys
import types

import numpy as np
import pytest
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.targets import TARGETS_DIR, available_targets, load_target

EXAMPLE = "examples/targets/lif_bitshift.toml"


def test_builtin_targets_carry_the_speck_facts():
    assert {"speck2f", "speck2e", "dynapcnn"} <= set(available_targets())
    for name in ("speck2f", "speck2e", "dynapcnn"):
        target = load_target(name)
        assert [c.kernel_memory // 1024 for c in target.cores] == [16, 16, 16, 32, 32, 64, 64, 16, 16]
        assert [c.neuron_memory // 1024 for c in target.cores] == [64, 64, 64, 32, 32, 16, 16, 16, 16]
        assert all(c.bias_memory == 1024 for c in target.cores)
        assert (target.weight_bits, target.bias_bits, target.state_bits) == (8, 8, 16)
        assert target.limits.strides == (1, 2, 4, 8) and target.limits.poolings == (1, 2, 4)
        assert target.limits.max_padding == 7 and target.limits.max_kernel_size == 16 and target.limits.fan_out == 2
        assert target.neuron.model == "iaf" and set(target.neuron.resets) == {"subtract", "zero"}
    assert load_target("speck2f").input.dvs and not load_target("dynapcnn").input.dvs
    assert load_target("speck2f").readout.channel_of_class(3) == (0, 4, 8)
    assert load_target("dynapcnn").readout is None


def test_docs_example_needs_8Ki_kernel_and_128Ki_neuron_memory():
    need = load_target("speck2f").memory_needed(16, 32, 3, (64, 64), bias=False)
    assert (need.kernel, need.neuron, need.bias) == (8 * 1024, 128 * 1024, 0)
    assert not any(need.fits(core) for core in load_target("speck2f").cores)


def test_targets_ship_inside_the_package():
    assert (TARGETS_DIR / "speck2f.toml").is_file() and (TARGETS_DIR / "target.schema.json").is_file()
    assert TARGETS_DIR.parent.name == "snndeploy"


def test_user_target_by_path_and_by_search_path(tmp_path, monkeypatch):
    target = load_target(EXAMPLE)
    assert target.neuron.model == "lif" and (target.neuron.decay_shift_min, target.neuron.decay_shift_max) == (1, 12)
    shutil.copy(EXAMPLE, tmp_path / "mychip.toml")
    monkeypatch.setenv("SNNDEPLOY_TARGETS", str(tmp_path))
    assert "mychip" in available_targets()
    assert load_target("mychip").name == "lif_bitshift"


def test_unknown_target_lists_the_known_ones():
    with pytest.raises(SnnDeployError, match="unknown target 'speck9'; available: .*speck2f"):
        load_target("speck9")
    with pytest.raises(SnnDeployError, match="does not exist"):
        load_target("missing/chip.toml")


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda t: t.replace('model = "lif"', 'model = "izhikevich"'), r"field neuron\.model: 'izhikevich' is not one of .*expected one of"),
        (lambda t: t.replace("weight_bits = 8", 'weight_bits = "8"'), r"field precision\.weight_bits: '8' is not of type 'integer'"),
        (lambda t: t.replace("decay_shift_min = 1\n", ""), r"field neuron: 'decay_shift_min' is a required property"),
        (lambda t: t.replace("strides = [1, 2]", "strides = [1, 0]"), r"field limits\.strides\[1\]: 0 is less than the minimum"),
        (lambda t: t.replace("index = 3", "index = 2"), r"field cores: core indices \[0, 1, 2, 2\] must be unique"),
        (lambda t: t.replace("[memory]", "[memroy]"), r"field \(top level\)"),
        (lambda t: t + "\n[broken", r"is not valid TOML"),
        (lambda t: t.replace("decay_shift_min = 1", "decay_shift_min = 13"), r"decay_shift_min must be <= neuron\.decay_shift_max"),
    ],
)
def test_malformed_target_names_file_and_field(tmp_path, edit, message):
    text = open(EXAMPLE).read()
    path = tmp_path / "bad.toml"
    path.write_text(edit(text))
    with pytest.raises(SnnDeployError, match=message) as info:
        load_target(path)
    assert "bad.toml" in str(info.value)


def _fake_samna(monkeypatch):
    """Minimal modules so that sinabs.backend.dynapcnn imports; samna itself is never installed."""

    class AnyAttribute(type):
        def __getattr__(cls, attr):
            if attr.startswith("__"):
                raise AttributeError(attr)
            return AnyAttribute(attr, (), {"__init__": lambda self, *a, **k: None})

    def module(name):
        mod = types.ModuleType(name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr: AnyAttribute(attr, (), {"__init__": lambda self, *a, **k: None})
        monkeypatch.setitem(sys.modules, name, mod)
        return mod

    for name in ("samna", "samna.speck2e", "samna.speck2e.configuration", "samna.speck2f",
                 "samna.speck2f.configuration", "samna.specksim", "samna.specksim.nodes", "samnagui",
                 "samna.dynapcnn", "samna.dynapcnn.configuration"):
        module(name)


@pytest.fixture
def sinabs_dynapcnn(monkeypatch):
    before = set(sys.modules)
    _fake_samna(monkeypatch)
    from sinabs.backend.dynapcnn.dynapcnn_layer import DynapcnnLayer

    yield DynapcnnLayer
    for name in set(sys.modules) - before:
        if name.startswith("sinabs.backend"):
            del sys.modules[name]


def test_memory_formulas_equal_sinabs_memory_summary(sinabs_dynapcnn):
    import sinabs.layers as sl

    target = load_target("speck2f")
    rng = np.random.default_rng(0)
    for _ in range(30):
        c_in, c_out = int(rng.integers(1, 200)), int(rng.integers(1, 300))
        k = int(rng.integers(1, 8))
        stride, padding = int(rng.choice([1, 2, 4])), int(rng.integers(0, 4))
        h, w = int(rng.integers(k, 128)), int(rng.integers(k, 128))
        bias = bool(rng.integers(0, 2))
        conv = nn.Conv2d(c_in, c_out, k, stride=stride, padding=padding, bias=bias)
        layer = sinabs_dynapcnn(conv, sl.IAFSqueeze(batch_size=1), (c_in, h, w), [(1, 1)], discretize=False)
        theirs = layer.memory_summary()
        out_h, out_w = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1
        ours = target.memory_needed(c_in, c_out, k, (out_h, out_w), bias)
        assert (ours.kernel, ours.neuron, ours.bias) == (int(theirs["kernel"]), int(theirs["neuron"]), int(theirs["bias"]))


def test_core_memories_equal_sinabs_constraints(sinabs_dynapcnn):
    from sinabs.backend.dynapcnn.chips.dynapcnn import DynapcnnConfigBuilder
    from sinabs.backend.dynapcnn.chips.speck2e import Speck2EConfigBuilder
    from sinabs.backend.dynapcnn.chips.speck2f import Speck2FConfigBuilder

    for name, builder in (("speck2f", Speck2FConfigBuilder), ("speck2e", Speck2EConfigBuilder), ("dynapcnn", DynapcnnConfigBuilder)):
        theirs = [(c.kernel_memory, c.neuron_memory, c.bias_memory) for c in builder.get_constraints()]
        ours = [(c.kernel_memory, c.neuron_memory, c.bias_memory) for c in load_target(name).cores]
        assert ours == theirs, name
