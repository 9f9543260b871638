"""Architecture strings: parsing, shape rules, the built network, Python model files."""

import pytest
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.layers import IAF, LIF
from snndeploy.train import ModelSpec, SpikingSequential, build_model, parse_architecture
from snndeploy.train.architecture import ConvSpec, DenseSpec, PoolSpec, check_data_fits


def test_parse_conv_net_in_paper_notation():
    arch = parse_architecture("34x34x2-8c3-2p-16c3-2a-3m-10")
    assert arch.input.shape == (2, 34, 34)
    assert arch.layers == (ConvSpec(8, 3), PoolSpec("p", 2), ConvSpec(16, 3), PoolSpec("a", 2),
                           PoolSpec("m", 3), DenseSpec(10))


def test_parse_stride_padding_and_l_suffix():
    arch = parse_architecture("64x64x2-2c3s2p1-16c5p2-11l")
    assert arch.layers == (ConvSpec(2, 3, 2, 1), ConvSpec(16, 5, 1, 2), DenseSpec(11))


def test_parse_dense_net():
    arch = parse_architecture("700-128-128-20")
    assert arch.input.shape == (700,)
    assert arch.layers == (DenseSpec(128), DenseSpec(128), DenseSpec(20))


@pytest.mark.parametrize("text, culprit", [
    ("34x34x2-8q3-10", "'8q3'"),
    ("34x34x2-8c3--10", "expected an input"),
    ("34x34-8c3-10", "input token '34x34'"),
    ("10", "expected an input"),
    ("4x4x2-8c5-10", "does not fit"),
    ("4x4x2-5p-10", "does not fit"),
    ("700-128-8c3", "follows a dense layer"),
    ("700-128-2p", "cannot follow a dense layer"),
])
def test_bad_architecture_names_the_culprit(text, culprit):
    with pytest.raises(SnnDeployError, match=culprit.replace("(", r"\(")):
        parse_architecture(text)


def test_built_conv_net_layers_and_shapes():
    net = build_model("34x34x2-8c3-16c3s2p1-10", neuron="lif", backend="bptt", tau_mem=5.0)
    kinds = [type(layer) for layer in net]
    assert kinds == [nn.Conv2d, LIF, nn.Conv2d, LIF, nn.Flatten, nn.Linear, LIF]
    # 34 -(3x3)-> 32 -(3x3, stride 2, pad 1)-> 16: the dense layer sees 16*16*16 features
    assert net[5].in_features == 16 * 16 * 16
    assert net[2].stride == (2, 2) and net[2].padding == (1, 1)
    assert all(layer.backend == "bptt" for layer in net if isinstance(layer, LIF))
    assert net[1].tau_mem.item() == 5.0 and not net[1].norm_input
    assert net[0].bias is None
    out = net(torch.rand(3, 4, 2, 34, 34))
    assert out.shape == (3, 4, 10)


def test_pooling_tokens_build_snndeploy_pooling_layers():
    from snndeploy.layers import pooling

    net = build_model("34x34x2-8c3-2p-16c3-2a-2m-10")
    kinds = [type(layer) for layer in net]
    assert kinds == [nn.Conv2d, IAF, pooling.SumPool2d, nn.Conv2d, IAF, pooling.AvgPool2d,
                     pooling.MaxPool2d, nn.Flatten, nn.Linear, IAF]
    assert net[5].adjusted
    assert all(net[i].kernel_size == (2, 2) for i in (2, 5, 6))
    # 34 -c3-> 32 -2p-> 16 -c3-> 14 -2a-> 7 -2m-> 3: 16*3*3 features reach the dense layer
    assert net[8].in_features == 16 * 3 * 3
    assert net(torch.rand(2, 3, 2, 34, 34)).shape == (2, 3, 10)


def test_dense_net_flattens_its_input():
    net = build_model("2x3x4-5", neuron="iaf")
    assert [type(layer) for layer in net] == [nn.Flatten, nn.Linear, IAF]
    assert net(torch.rand(2, 7, 2, 3, 4) * 3).shape == (2, 7, 5)


def test_time_chunks_carry_state_like_one_call():
    """Stateless layers see (batch·time, ...), neurons (batch, time, ...): splitting the time
    axis in two calls gives the same spikes as one call (a batch/time mix-up would not)."""
    torch.manual_seed(0)
    net = build_model("6x6x2-4c3-5", neuron="iaf", backend="exodus")
    with torch.no_grad():
        for weight in net.parameters():
            weight.abs_().mul_(3)  # excitatory weights so that every layer spikes
    x = (torch.rand(3, 10, 2, 6, 6) < 0.4).float() * 2
    whole = net(x)
    for layer in net:
        if isinstance(layer, IAF):
            layer.reset_states()
    first, second = net(x[:, :4]), net(x[:, 4:])
    assert whole.sum() > 0
    assert torch.equal(torch.cat([first, second], dim=1), whole)


def test_spiking_sequential_matches_per_sample_computation():
    torch.manual_seed(1)
    net = build_model("4-6-3", neuron="iaf")
    x = torch.rand(2, 5, 4) * 3
    together = net(x)
    alone = []
    for sample in x:
        for layer in net:
            if isinstance(layer, IAF):
                layer.reset_states()
        alone.append(net(sample[None]))
    assert torch.equal(together, torch.cat(alone))


def test_unknown_neuron_and_options():
    with pytest.raises(SnnDeployError, match="unknown neuron 'adex'"):
        build_model("4-3", neuron="adex")
    with pytest.raises(SnnDeployError, match="'iaf' does not take option.s. tau_mem; it takes spike_threshold"):
        build_model("4-3", neuron="iaf", tau_mem=3.0)


def test_check_data_fits():
    arch = parse_architecture("34x34x2-8c3-10")
    check_data_fits(arch, (2, 34, 34), 10)
    with pytest.raises(SnnDeployError, match="expects input 34x34x2"):
        check_data_fits(arch, (2, 32, 32), 10)
    with pytest.raises(SnnDeployError, match="make the last token 11"):
        check_data_fits(arch, (2, 34, 34), 11)
    check_data_fits(parse_architecture("700-20"), (1, 1, 700), 20)


def test_model_from_python_file(tmp_path):
    source = tmp_path / "net.py"
    source.write_text(
        "from snndeploy.train import build_model\n"
        "def model():\n"
        "    return build_model('4-3', neuron='iaf')\n"
    )
    spec = ModelSpec.from_source(str(source))
    assert spec.architecture is None and spec.python_sha256
    net = spec.build()
    assert isinstance(net, SpikingSequential)
    source.write_text(source.read_text() + "# edited\n")
    with pytest.raises(SnnDeployError, match="changed since the checkpoint"):
        spec.build()


def test_python_file_errors(tmp_path):
    with pytest.raises(SnnDeployError, match="does not exist"):
        ModelSpec.from_source(str(tmp_path / "absent.py"))
    empty = tmp_path / "empty.py"
    empty.write_text("x = 1\n")
    with pytest.raises(SnnDeployError, match="defines no function model"):
        ModelSpec.from_source(str(empty)).build()
    broken = tmp_path / "broken.py"
    broken.write_text("def model(:\n")
    with pytest.raises(SnnDeployError, match="failed to import: SyntaxError"):
        ModelSpec.from_source(str(broken)).build()


def test_spec_json_round_trip():
    spec = ModelSpec.from_source("4-3", neuron="lif", backend="slayer", tau_mem=4.0)
    assert ModelSpec.from_json(spec.to_json()) == spec
