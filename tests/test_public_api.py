"""The public API: every exported name resolves, and the stages chain through it."""

import numpy as np
import torch

import snndeploy


def test_every_public_name_resolves():
    for name in snndeploy.__all__:
        assert getattr(snndeploy, name) is not None, name


def test_quantize_is_callable_however_it_was_imported():
    import snndeploy.quantize as package
    from snndeploy.quantize import quantize

    assert callable(snndeploy.quantize) and callable(package)
    assert package.QuantizedModel is snndeploy.QuantizedModel
    assert quantize.__module__ == "snndeploy.quantize.quantizer"


def test_pipeline_through_the_public_names(tmp_path):
    torch.manual_seed(0)
    model = snndeploy.build_model("16x16x2-4c3-2p-6", neuron="iaf", backend="exodus")
    frames = (torch.rand(4, 10, 2, 16, 16) < 0.1).float()
    target = snndeploy.load_target("speck2f")
    qmodel = snndeploy.quantize(model.eval(), target, calibration=frames)
    config = snndeploy.map_to_chip(qmodel, target)
    path = config.to_json(tmp_path / "chip.json")
    assert snndeploy.ChipConfig.from_json(path) == config
    events = np.zeros(3, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i2")])
    events["t"], events["x"], events["y"] = [0, 1000, 2000], [3, 4, 5], [3, 4, 5]
    result = snndeploy.simulate(config, events, mode="event")
    assert isinstance(result, snndeploy.SimResult)


def test_prediction_without_readout_comes_from_the_final_core():
    """A config without a readout still predicts: from the final core's output channels."""
    torch.manual_seed(1)
    model = snndeploy.build_model("8x8x2-4", neuron="iaf", backend="exodus")
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[2] = 0.5  # only class 2 is driven
    frames = torch.ones(1, 5, 2, 8, 8)
    target = snndeploy.load_target("speck2f")
    config = snndeploy.map_to_chip(snndeploy.quantize(model.eval(), target, calibration=frames), target)
    assert config.readout is None
    events = np.zeros(20, dtype=[("t", "<i8"), ("x", "<i2"), ("y", "<i2"), ("p", "<i2")])
    events["t"] = np.arange(20) * 100
    events["x"], events["y"] = np.arange(20) % 8, np.arange(20) // 8 % 8
    result = snndeploy.simulate(config, events, mode="event")
    assert result.prediction == 2 and result.class_counts.argmax() == 2


def test_max_pool_fidelity_respects_a_squeezed_layer_s_fixed_steps():
    """quantize() measures MaxPool fidelity on random input that fits num_timesteps."""
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), snndeploy.IAFSqueeze(num_timesteps=30),
        snndeploy.layers.MaxPool2d(2), nn.Flatten(), nn.Linear(4 * 4 * 4, 3, bias=False),
        snndeploy.IAFSqueeze(num_timesteps=30),
    )
    qmodel = snndeploy.quantize(model.eval(), "speck2f", input_shape=(2, 8, 8))
    (value,) = qmodel.report.fidelity.values()
    assert 0.0 <= value <= 1.0
