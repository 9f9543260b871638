"""Quantization: the speck.md leak example, default sinabs nets keep their weights, folding is
exact, every unsupported case is refused with its layer, reports and warnings, LIF, QAT, files."""

import math

import pytest
import sinabs.layers as sl
import torch
from torch import nn

import snndeploy.layers as snl
from snndeploy.layers.pooling import AvgPool2d, SumPool2d
from snndeploy.errors import SnnDeployError
from snndeploy.quantize import QuantizationAware, QuantizedModel, build_graph, quantize, run_float_model
from snndeploy.quantize.model import QuantizedLayer
from snndeploy.quantize.graph import Source
from snndeploy.quantize.quantizer import round_clip
from snndeploy.train.architecture import build_model


def spikes_input(shape, batch=2, steps=16, rate=0.3, seed=0):
    generator = torch.Generator().manual_seed(seed)
    return torch.poisson(torch.full((batch, steps, *shape), rate), generator=generator)


def record_all(model, frames, names):
    return run_float_model(model, frames, names)


def test_speck_leak_example_quantizes_to_127_minus13_127_minus127():
    conv = nn.Conv2d(1, 1, 1, bias=True)
    with torch.no_grad():
        conv.weight.fill_(1.0)
        conv.bias.fill_(-0.1)
    model = nn.Sequential(conv, sl.IAFSqueeze(batch_size=1, spike_threshold=1.0, min_v_mem=-1.0))
    q = quantize(model, "speck2f", input_shape=(1, 1, 1))
    layer = q.layers[0]
    assert layer.weights.flatten().tolist() == [127]
    assert layer.biases.tolist() == [-13]
    assert (layer.threshold_high, layer.threshold_low) == (127, -127)
    # the leak: with no input the state falls by 13 per step (tick) down to the floor
    q(torch.zeros(1, 3, 1, 1, 1))
    assert q.neurons[0].v_mem.flatten().tolist() == [-39]
    q(torch.zeros(1, 20, 1, 1, 1))
    assert q.neurons[0].v_mem.flatten().tolist() == [-127]


def default_sinabs_net(batch):
    torch.manual_seed(1)
    net = nn.Sequential(
        nn.Conv2d(2, 8, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=batch), sl.SumPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=batch),
    )
    with torch.no_grad():
        for m in net:
            if isinstance(m, nn.Conv2d):
                m.weight.normal_(0.0, 0.05).clamp_(-0.07, 0.07)
    return net


def test_default_sinabs_net_keeps_weights_and_spikes():
    net = default_sinabs_net(batch=2)
    q = quantize(net, "speck2f", input_shape=(2, 16, 16))
    total = sum(int((layer.weights != 0).sum()) for layer in q.layers)
    nonzero_float = sum(int((m.weight != 0).sum()) for m in net if isinstance(m, nn.Conv2d))
    assert total / nonzero_float >= 0.95
    assert all(layer.threshold_low == -32768 for layer in q.layers)  # min_v_mem None: no floor
    frames = spikes_input((2, 16, 16), steps=30, rate=0.5)
    _, float_layers = record_all(net, frames, ["1", "4"])
    seen = []
    for n in q.neurons:
        n.register_forward_hook(lambda _m, _i, out: seen.append(out))
    q.reset_states()
    q(frames)
    agree = [(f.reshape(o.shape) == o).double().mean().item() for f, o in zip(float_layers.values(), seen)]
    assert float_layers["4"].sum() > 100  # the network is active
    assert min(agree) >= 0.99, agree


def test_scale_rule_ignores_missing_floor_but_uses_given_one():
    conv = nn.Conv2d(1, 2, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([0.05, -0.025]).reshape(2, 1, 1, 1))
    q = quantize(nn.Sequential(conv, sl.IAFSqueeze(batch_size=1)), "speck2f", input_shape=(1, 1, 1))
    assert q.layers[0].weights.flatten().tolist() == [127, -64]  # 127/0.05 = 2540 per unit, round half even
    assert q.layers[0].threshold_high == 2540
    q = quantize(nn.Sequential(conv, sl.IAFSqueeze(batch_size=1, min_v_mem=-100.0)), "speck2f", input_shape=(1, 1, 1))
    assert q.layers[0].threshold_low == -32767 and q.layers[0].threshold_high == 328  # 32767/100 caps the scale


def test_values_are_clipped_never_wrapped():
    values, clipped = round_clip(torch.tensor([2.0, -2.0, 0.5]), 100.0, 8)
    assert values.tolist() == [127, -128, 50] and clipped == 2
    layer = QuantizedLayer("big", torch.full((1, 1, 1, 1), 127, dtype=torch.int64), None, 1, 0, (1, 1, 1),
                           threshold_high=30000, threshold_low=-32768, reset="subtract", sources=[Source(-1)])
    q = QuantizedModel([layer], (1, 1, 1), Source(0), target="speck2f")
    out = q(torch.full((1, 2, 1, 1, 1), 1000.0))  # 127000 per step saturates at 32767
    assert out.flatten().tolist() == [1.0, 1.0]
    assert q.neurons[0].v_mem.item() == min(32767, 32767 - 30000 + 127000) - 30000


def test_batchnorm_and_avgpool_folding_change_no_spike():
    torch.manual_seed(3)
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.1, 0.1)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, bias=True), bn, snl.IAFSqueeze(batch_size=2, backend="bptt"), AvgPool2d(2),
                          nn.Conv2d(4, 3, 3, bias=False), snl.IAFSqueeze(batch_size=2, backend="bptt")).double().eval()
    graph = build_graph(model, (2, 10, 10))
    folded = nn.Sequential(nn.Conv2d(2, 4, 3, bias=True), snl.IAFSqueeze(batch_size=2, backend="bptt"), SumPool2d(2),
                           nn.Conv2d(4, 3, 3, bias=False), snl.IAFSqueeze(batch_size=2, backend="bptt")).double()
    with torch.no_grad():
        folded[0].weight.copy_(graph.layers[0].weight)
        folded[0].bias.copy_(graph.layers[0].bias)
        folded[3].weight.copy_(graph.layers[1].weight)
    assert graph.layers[1].sources == [Source(0, 2)]
    assert torch.equal(graph.layers[1].weight, model[4].weight.detach().double() / 4)
    frames = spikes_input((2, 10, 10), steps=20, rate=0.8).double()
    out_a, rec_a = run_float_model(model, frames, ["2"])
    out_b, rec_b = run_float_model(folded, frames, ["1"])
    assert rec_a["2"].sum() > 0 and out_a.sum() > 0
    assert torch.equal(rec_a["2"], rec_b["1"]) and torch.equal(out_a, out_b)


class Residual(nn.Module):
    """Conv-IAF, then two branches merged by a sum (fan-out 2 and merge), then an output layer."""

    def __init__(self):
        super().__init__()
        self.conv1, self.spk1 = nn.Conv2d(2, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
        self.conv2, self.spk2 = nn.Conv2d(4, 4, 3, padding=1, bias=False), sl.IAFSqueeze(batch_size=1)
        self.conv3, self.spk3 = nn.Conv2d(4, 4, 1, bias=False), sl.IAFSqueeze(batch_size=1)
        self.pool = sl.SumPool2d(2)
        self.conv4, self.spk4 = nn.Conv2d(4, 5, 3, bias=False), sl.IAFSqueeze(batch_size=1)

    def forward(self, x):
        x = self.spk1(self.conv1(x))
        y = self.spk2(self.conv2(x)) + self.spk3(self.conv3(x))
        return self.spk4(self.conv4(self.pool(y)))


def test_graph_model_with_fan_out_and_merge():
    torch.manual_seed(0)
    model = Residual()
    graph = build_graph(model, (2, 8, 8))
    assert [layer.name for layer in graph.layers] == ["conv1", "conv2", "conv3", "conv4"]
    assert graph.layers[3].sources == [Source(1, 2), Source(2, 2)]
    assert graph.readers(0) == [1, 2]
    q = quantize(model, "speck2f", input_shape=(2, 8, 8))
    frames = spikes_input((2, 8, 8), batch=1, steps=20, rate=0.5)
    float_out, _ = run_float_model(model, frames)
    assert (q(frames) == float_out).double().mean() > 0.97


def test_snndeploy_layers_and_architecture_strings():
    model = build_model("8x8x2-4c3-2p-6c3-5", neuron="iaf", backend="bptt")
    q = quantize(model, "speck2f", input_shape=(2, 8, 8))
    assert [layer.kernel_size for layer in q.layers] == [3, 3, 1]
    assert q.layers[2].input_shape == (6, 1, 1) and q.output_flat
    frames = spikes_input((2, 8, 8), steps=10)
    float_out, _ = run_float_model(model, frames)
    assert q(frames).shape == float_out.shape == (2, 10, 5)
    dense = build_model("12-6-3", neuron="iaf", backend="bptt")
    qd = quantize(dense, "speck2f", input_shape=(12,))
    assert [layer.input_shape for layer in qd.layers] == [(12, 1, 1), (6, 1, 1)]
    assert qd(spikes_input((12,), steps=5)).shape == (2, 5, 3)
    squeezed = nn.Sequential(nn.Conv2d(2, 4, 3), snl.IAFSqueeze(batch_size=2), AvgPool2d(2), nn.Flatten(),
                             nn.Linear(4 * 3 * 3, 3), snl.IAFSqueeze(batch_size=2, min_v_mem=-1.0))
    qs = quantize(squeezed, "speck2f", input_shape=(2, 8, 8))
    assert qs.layers[1].sources == [Source(0, 2)] and qs.layers[1].biases is not None


def conv_iaf(*layers):
    return nn.Sequential(*layers)


UNSUPPORTED = [
    (nn.Sequential(nn.Conv2d(2, 4, (3, 1)), sl.IAFSqueeze(batch_size=1)), (2, 8, 8), r"layer '0': non-square kernel \(3, 1\)"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, stride=3), sl.IAFSqueeze(batch_size=1)), (2, 16, 16), r"layer '0' cannot run on speck2f: stride 3 is not one of \[1, 2, 4, 8\]; use stride 2"),
    (nn.Sequential(nn.Conv2d(2, 1024, 1), sl.IAFSqueeze(batch_size=1)), (2, 4, 4), r"layer '0' cannot run on speck2f: 1024 output channels exceed the maximum 1023"),
    (nn.Sequential(nn.Conv2d(2, 4, 17, padding=8), sl.IAFSqueeze(batch_size=1)), (2, 32, 32), r"kernel 17 exceeds the maximum 16"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, padding=8), sl.IAFSqueeze(batch_size=1)), (2, 8, 8), r"padding 8 exceeds the maximum 7"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), sl.IAFSqueeze(batch_size=1)), (2, 100, 100), r"feature map 100x100 exceeds 64x64; add stride or pooling"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, stride=2), sl.IAFSqueeze(batch_size=1)), (2, 200, 200), r"input \(2, 200, 200\) exceeds speck2f's input size 128x128"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU()), (2, 8, 8), r"layer '1': ReLU cannot run on the chip; a rate network"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.Tanh()), (2, 8, 8), r"layer '1': Tanh cannot run on the chip"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.RNN(4, 4)), (2, 8, 8), r"layer '1': RNN cannot run on the chip; recurrent loops"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), nn.Conv2d(4, 4, 3), sl.IAFSqueeze(batch_size=1)), (2, 8, 8), r"layer '1': Conv2d follows the conv/linear '0' without a neuron layer"),
    (nn.Sequential(nn.Conv2d(2, 4, 3)), (2, 8, 8), r"ends with '0' without a neuron layer"),
    (nn.Sequential(nn.Conv2d(2, 4, 3, groups=2), sl.IAFSqueeze(batch_size=1)), (2, 8, 8), r"grouped convolution"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1), sl.SumPool2d(2), sl.SumPool2d(4), nn.Conv2d(4, 2, 1), sl.IAFSqueeze(batch_size=1)), (2, 34, 34), r"layer '4': its input is sum-pooled by 8 in total"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1), nn.MaxPool2d(2, stride=1), nn.Conv2d(4, 2, 1), sl.IAFSqueeze(batch_size=1)), (2, 8, 8), r"layer '2': pooling stride 1 differs from its kernel 2"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=1), nn.Flatten(), nn.Linear(4 * 6 * 4, 3), sl.IAFSqueeze(batch_size=1)), (2, 8, 6), r"layer '3': a Linear becomes a conv covering its 6x4 input, which must be square"),
    (nn.Sequential(nn.Conv2d(2, 4, 3), snl.IAFSqueeze(batch_size=1, reset_fn=snl.MembraneReset(reset_value=0.5))), (2, 8, 8), r"layer '1': MembraneReset\(reset_value=0.5\) is not possible"),
    (nn.Sequential(nn.Conv2d(2, 4, 1), sl.IAFRecurrent(rec_connect=nn.Conv2d(4, 4, 1))), (2, 4, 4), r"layer '1': recurrent connections cannot run on the chip"),
    (nn.Sequential(nn.Conv2d(2, 4, 1), sl.ExpLeakSqueeze(tau_mem=5.0, batch_size=1)), (2, 4, 4), r"layer '1': ExpLeakSqueeze cannot run on the chip; a leaky integrator without spikes"),
    (nn.Sequential(nn.Conv2d(2, 4, 1), sl.IAFSqueeze(batch_size=1), nn.Upsample(scale_factor=2)), (2, 4, 4), r"layer '2': Upsample cannot run on the chip"),
    (nn.Sequential(*[m for _ in range(10) for m in (nn.Conv2d(2, 2, 1), sl.IAFSqueeze(batch_size=1))]), (2, 4, 4), r"10 conv/linear layers but speck2f has 9 cores"),
]


@pytest.mark.parametrize("model, shape, message", UNSUPPORTED)
def test_unsupported_models_are_refused_with_the_layer_and_a_fix(model, shape, message):
    with pytest.raises(SnnDeployError, match=message):
        quantize(model, "speck2f", input_shape=shape)


class AddBeforeNeuron(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b, self.spk = nn.Conv2d(2, 2, 1), nn.Conv2d(2, 2, 1), sl.IAFSqueeze(batch_size=1)

    def forward(self, x):
        return self.spk(self.a(x) + self.b(x))


class ThreeWayFanOut(nn.Module):
    def __init__(self):
        super().__init__()
        self.c0, self.s0 = nn.Conv2d(2, 2, 1), sl.IAFSqueeze(batch_size=1)
        self.c = nn.ModuleList(nn.Conv2d(2, 2, 1) for _ in range(3))
        self.s = nn.ModuleList(sl.IAFSqueeze(batch_size=1) for _ in range(3))
        self.out, self.s_out = nn.Conv2d(2, 2, 1), sl.IAFSqueeze(batch_size=1)

    def forward(self, x):
        x = self.s0(self.c0(x))
        a, b, c = (s(conv(x)) for conv, s in zip(self.c, self.s))
        return self.s_out(self.out(a + b + c))


class DataDependent(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.spk = nn.Conv2d(2, 2, 1), sl.IAFSqueeze(batch_size=1)

    def forward(self, x):
        while x.sum() > 0:  # a loop over data: not a feed-forward chip network
            x = self.spk(self.conv(x))
        return x


@pytest.mark.parametrize(
    "model, message",
    [
        (AddBeforeNeuron(), r"node 'add': adds a conv output before its neuron layer"),
        (ThreeWayFanOut(), r"layer 'c0' feeds 3 layers \['c.0', 'c.1', 'c.2'\], speck2f allows fan-out 2"),
        (DataDependent(), r"cannot trace the model's forward with torch.fx"),
    ],
)
def test_unsupported_graphs_are_refused(model, message):
    with pytest.raises(SnnDeployError, match=message):
        quantize(model, "speck2f", input_shape=(2, 4, 4))


def test_maxpool_is_reported_or_refused():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), sl.IAFSqueeze(batch_size=2), nn.MaxPool2d(2),
                          nn.Conv2d(4, 3, 3), sl.IAFSqueeze(batch_size=2))
    with pytest.raises(SnnDeployError, match=r"layer '2': MaxPool2d has no chip equivalent \(strict=True\)"):
        quantize(model, "speck2f", input_shape=(2, 8, 8), strict=True)
    q = quantize(model, "speck2f", input_shape=(2, 8, 8))
    assert any("MaxPool2d(2) deployed as sum pooling" in w for w in q.report.warnings)
    (name, agreement), = q.report.fidelity.items()
    assert "MaxPool->SumPool" in name and 0.0 <= agreement <= 1.0


def test_lif_on_iaf_target_linear_leak_and_on_lif_target_bit_shift():
    torch.manual_seed(0)
    tau = 1.0 / math.log(8.0 / 7.0)  # alpha = 7/8 = 1 - 2^-3
    make = lambda tau_mem: nn.Sequential(nn.Conv2d(2, 4, 3, bias=False), sl.LIFSqueeze(tau_mem=tau_mem, batch_size=2))  # noqa: E731
    model = make(tau)
    with torch.no_grad():
        model[0].weight.abs_()
    with pytest.raises(SnnDeployError, match=r"layer '1': LIF \(tau_mem\) on speck2f, whose neurons do not decay \(strict=True\)"):
        quantize(model, "speck2f", input_shape=(2, 6, 6), strict=True)
    frames = spikes_input((2, 6, 6), steps=20, rate=1.0)
    q = quantize(model, "speck2f", calibration=frames)
    assert q.layers[0].biases is not None and (q.layers[0].biases < 0).all()  # the fitted leak, per channel
    assert any("linear leak" in w for w in q.report.warnings)
    (agreement,) = q.report.fidelity.values()
    assert 0.5 < agreement <= 1.0
    lif = "examples/targets/lif_bitshift.toml"
    exact = quantize(model, lif, input_shape=(2, 6, 6))
    assert exact.layers[0].decay_shift == 3 and not exact.report.warnings
    near = quantize(make(5.0), lif, input_shape=(2, 6, 6))
    assert near.layers[0].decay_shift == round(-math.log2(1 - math.exp(-1 / 5.0)))
    assert any("nearest bit shift" in w for w in near.report.warnings)


def test_bit_shift_decay_rule():
    layer = QuantizedLayer("lif", torch.zeros((1, 1, 1, 1), dtype=torch.int64), torch.tensor([0]), 1, 0, (1, 1, 1),
                           threshold_high=1000, threshold_low=-32768, reset="subtract", sources=[Source(-1)], decay_shift=3,
                           initial_state=torch.tensor([[[100]]]))
    q = QuantizedModel([layer], (1, 1, 1), Source(0), target="lif_bitshift")
    q(torch.zeros(1, 2, 1, 1, 1))
    assert q.neurons[0].v_mem.item() == 88 - (88 >> 3)  # 100 -> 88 -> 77
    layer.initial_state = torch.tensor([[[-100]]])
    q.reset_states()
    q(torch.zeros(1, 1, 1, 1, 1))
    assert q.neurons[0].v_mem.item() == -100 - (-100 >> 3) == -87  # arithmetic shift floors


def test_report_warns_on_collapse_and_weights_above_threshold():
    conv = nn.Conv2d(1, 4, 1, bias=False)
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([1.0, 1e-4, -1e-4, 2e-4]).reshape(4, 1, 1, 1))
    q = quantize(nn.Sequential(conv, sl.IAFSqueeze(batch_size=1, spike_threshold=0.5)), "speck2f", input_shape=(1, 2, 2))
    report = q.report.layers[0]
    assert report.zeroed_fraction == 0.75 and report.max_weight == 127 and report.threshold_high == 64
    assert any("collapses" in w for w in q.report.warnings)
    assert any("max weight 127 >= threshold_high 64" in w for w in q.report.warnings)
    assert "0" in q.report.table()


def test_calibration_clips_an_outlier_weight_when_that_agrees_better():
    torch.manual_seed(5)
    model = nn.Sequential(nn.Conv2d(2, 16, 3, bias=False), sl.IAFSqueeze(batch_size=4))
    with torch.no_grad():
        model[0].weight.normal_(0, 0.01)
        model[0].weight[0, 0, 0, 0] = 0.3  # one outlier sets the plain scale: the rest round coarsely
    frames = spikes_input((2, 8, 8), batch=4, steps=40, rate=2.0)
    float_out, _ = run_float_model(model, frames)
    plain = quantize(model, "speck2f", input_shape=(2, 8, 8))
    calibrated = quantize(model, "speck2f", calibration=frames)
    agree = lambda q: (q(frames) == float_out).double().mean().item()  # noqa: E731
    assert calibrated.layers[0].scale > plain.layers[0].scale
    assert calibrated.report.layers[0].clipped_fraction > 0 and plain.report.layers[0].clipped_fraction == 0
    assert agree(calibrated) > agree(plain)


def test_save_and_load_round_trip(tmp_path):
    net = default_sinabs_net(batch=1)
    q = quantize(net, "speck2f", input_shape=(2, 16, 16))
    path = q.save(tmp_path / "q.safetensors")
    again = QuantizedModel.load(path)
    frames = spikes_input((2, 16, 16), batch=1, steps=8, rate=0.5)
    assert torch.equal(q(frames), again(frames))
    assert [layer.describe() for layer in again.layers] == [layer.describe() for layer in q.layers]
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 10)
    with pytest.raises(SnnDeployError, match="cannot read quantized model"):
        QuantizedModel.load(tmp_path / "bad.safetensors")


def test_qat_outputs_equal_quantized_outputs_exactly():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(2, 6, 3, bias=True), sl.IAFSqueeze(batch_size=2, min_v_mem=-1.0), sl.SumPool2d(2),
                          nn.Flatten(), nn.Linear(6 * 3 * 3, 4, bias=False), sl.IAFSqueeze(batch_size=2))
    qat = QuantizationAware(model, "speck2f", (2, 8, 8))
    optimizer = torch.optim.Adam(qat.parameters(), lr=1e-2)
    before = [w.detach().clone() for w in qat.weights]
    for step in range(5):
        frames = spikes_input((2, 8, 8), steps=10, rate=0.5, seed=step)
        loss = (qat(frames).sum((1,)) - torch.tensor([3.0, 0, 0, 0])).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert not torch.equal(before[0], qat.weights[0].detach())  # it trained
    q = quantize(qat, "speck2f")
    assert quantize(q, "speck2f") is q
    with pytest.raises(SnnDeployError, match="already quantization-aware for speck2f, not dynapcnn"):
        quantize(qat, "dynapcnn")
    for seed in (10, 11):
        frames = spikes_input((2, 8, 8), steps=12, rate=0.6, seed=seed)
        with torch.no_grad():
            train_time = qat(frames)
        q.reset_states()
        assert train_time.sum() > 0
        assert torch.equal(train_time.float(), q(frames))


def test_quantized_model_refuses_non_count_input():
    q = quantize(default_sinabs_net(batch=1), "speck2f", input_shape=(2, 16, 16))
    with pytest.raises(SnnDeployError, match="must be spike counts"):
        q(torch.full((1, 2, 2, 16, 16), 0.5))
    with pytest.raises(SnnDeployError, match=r"expects \(batch, time, 2, 16, 16\) input"):
        q(torch.zeros(1, 2, 2, 8, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_quantized_model_and_qat_follow_the_input_device():
    net = default_sinabs_net(batch=1)
    q = quantize(net, "speck2f", input_shape=(2, 16, 16))
    frames = spikes_input((2, 16, 16), batch=1, steps=6, rate=0.5)
    on_cpu = q(frames)
    q.reset_states()
    assert torch.equal(q(frames.cuda()).cpu(), on_cpu)
    qat = QuantizationAware(net, "speck2f", (2, 16, 16)).cuda()
    q.reset_states()
    assert torch.equal(qat(frames.cuda()).float().cpu(), quantize(qat, "speck2f")(frames))
