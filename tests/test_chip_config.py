"""ChipConfig: exact JSON round trip, atomic writes, validation errors with JSON paths, samna."""

import json
import os
import sys
import types

import pytest

from snndeploy.errors import SnnDeployError
from snndeploy.mapping import ChipConfig, CoreConfig, Destination, DvsConfig, InputConfig, ReadoutConfig


def small_config(source="external") -> ChipConfig:
    weights0 = [[[[1, 2], [3, 4]]], [[[-5, 6], [7, -8]]]]  # (2, 1, 2, 2)
    weights1 = [[[[c + 2 * f]] for c in range(2)] for f in range(3)]  # (3, 2, 1, 1)
    dvs = DvsConfig(polarity="merge", roi=(0, 0, 4, 4), pooling=1, mirror_x=True) if source == "dvs" else None
    shape = (2, 5, 5) if source == "dvs" else (1, 5, 5)
    return ChipConfig(
        target="speck2f",
        input=InputConfig(source=source, shape=shape, destinations=(Destination(core=3),), dvs=dvs),
        cores=[
            CoreConfig(core=3, layer_name="0", input_shape=(1, 5, 5), neuron_shape=(2, 4, 4), kernel_size=2, stride=1,
                       padding=0, weights=weights0, biases=[-1, 0], threshold_high=10, threshold_low=-20,
                       leak_enable=True, destinations=(Destination(core=0, pooling=2),)),
            CoreConfig(core=0, layer_name="3", input_shape=(2, 2, 2), neuron_shape=(3, 2, 2), kernel_size=1, stride=1,
                       padding=0, weights=weights1, biases=None, threshold_high=7, threshold_low=-32768, reset="zero",
                       initial_state=[[[1, 2], [3, 4]]] * 3, monitor=True),
        ],
        readout=ReadoutConfig(core=0, num_classes=1, channel_of_class=(0,)),
        metadata={"note": "test", "scale": 0.5},
    )


@pytest.mark.parametrize("source", ["external", "dvs"])
def test_round_trip_is_exact(tmp_path, source):
    config = small_config(source)
    path = config.to_json(tmp_path / "chip.json")
    again = ChipConfig.from_json(path)
    assert again == config
    assert again.to_dict() == config.to_dict()
    assert json.loads(path.read_text())["format_version"] == 1
    again.to_json(tmp_path / "second.json")
    assert (tmp_path / "second.json").read_text() == path.read_text()


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path, monkeypatch):
    path = tmp_path / "chip.json"
    small_config().to_json(path)
    before = path.read_text()

    def broken_replace(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError):
        small_config("dvs").to_json(path)
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chip.json"]


def test_truncated_file_names_file_and_position(tmp_path):
    path = small_config().to_json(tmp_path / "chip.json")
    text = path.read_text()
    path.write_text(text[: len(text) // 2])
    with pytest.raises(SnnDeployError, match=r"chip.json: not valid JSON at line \d+ column \d+"):
        ChipConfig.from_json(path)


def edit(mutate):
    data = small_config().to_dict()
    mutate(data)
    return data


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["cores"][1].update(reset="leaky"), r"\$\.cores\[1\]\.reset: 'leaky' is not one of"),
        (lambda d: d["cores"][0].update(threshold_high=10.0), r"\$\.cores\[0\]\.threshold_high = 10\.0 must be written as an integer"),
        (lambda d: d["cores"][0]["weights"][1][0][1].pop(), r"\$\.cores\[0\]\.weights\[1\]\[0\]\[1\] must have 2 entries"),
        (lambda d: d["cores"][0]["weights"][1][0][1].__setitem__(0, 128), r"\$\.cores\[0\]\.weights\[1\]\[0\]\[1\]\[0\] = 128 is outside the 8-bit range"),
        (lambda d: d["cores"][0].update(neuron_shape=[2, 3, 3]), r"\$\.cores\[0\]\.neuron_shape: \[2, 3, 3\] disagrees"),
        (lambda d: d["cores"][0]["destinations"][0].update(core=5), r"\$\.cores\[0\]\.destinations\[0\]\.core: core 5 is not configured"),
        (lambda d: d["cores"][0]["destinations"][0].update(pooling=3), r"\$\.cores\[0\]\.destinations\[0\]\.pooling: 3 is not one of"),
        (lambda d: d["cores"][0]["destinations"][0].update(pooling=1), r"\$\.cores\[0\]\.destinations\[0\]: sends \(c, h, w\) = \[2, 4, 4\] to core 0"),
        (lambda d: d["cores"][1].update(core=3), r"\$\.cores\[1\]\.core: core 3 is configured twice"),
        (lambda d: d["cores"][1].update(threshold_high=0), r"\$\.cores\[1\]\.threshold_high must be positive"),
        (lambda d: d["cores"][1].update(threshold_low=-40000), r"\$\.cores\[1\]\.threshold_low = -40000 is outside the 16-bit range"),
        (lambda d: d.update(format_version=99), r"\$\.format_version is 99"),
        (lambda d: d.pop("cores"), r"\$: 'cores' is a required property"),
        (lambda d: d["input"].update(source="usb"), r"\$\.input\.source"),
        (lambda d: d["readout"].update(channel_of_class=[7]), r"\$\.readout\.channel_of_class\[0\] = 7"),
        (lambda d: d["cores"][0].update(extra=1), r"\$\.cores\[0\]: Additional properties"),
    ],
)
def test_invalid_content_names_json_path(tmp_path, mutate, message):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(edit(mutate)))
    with pytest.raises(SnnDeployError, match=message) as info:
        ChipConfig.from_json(path)
    assert "bad.json" in str(info.value)


def test_to_json_refuses_an_invalid_config(tmp_path):
    config = small_config()
    config.cores[0].threshold_high = -3
    with pytest.raises(SnnDeployError, match="threshold_high must be positive"):
        config.to_json(tmp_path / "x.json")
    assert not (tmp_path / "x.json").exists()


def test_to_samna_without_samna_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)
    with pytest.raises(SnnDeployError, match="needs the vendor runtime 'samna'"):
        small_config().to_samna()


def test_non_integer_tensor_entries_are_named():
    data = small_config().to_dict()
    data["cores"][0]["weights"][1][0][0][1] = "6"
    with pytest.raises(SnnDeployError, match=r"\$\.cores\[0\]\.weights\[1\]\[0\]\[0\]\[1\] = '6' must be an integer"):
        ChipConfig.from_dict(data)
    data["cores"][0]["weights"][1][0][0][1] = True
    with pytest.raises(SnnDeployError, match=r"weights\[1\]\[0\]\[0\]\[1\] = True must be an integer"):
        ChipConfig.from_dict(data)


def fake_samna(monkeypatch):
    """A samna stand-in whose SpeckConfiguration records what to_samna writes."""
    ns = types.SimpleNamespace

    def configuration():
        layer = lambda: ns(destinations=[ns(), ns()])  # noqa: E731
        dvs = ns(pooling=ns(), origin=ns(), cut=ns(), mirror=ns(), destinations=[ns(), ns()])
        return ns(cnn_layers=[layer() for _ in range(9)], dvs_layer=dvs)

    samna = types.ModuleType("samna")
    samna.speck2f = ns(configuration=ns(SpeckConfiguration=configuration))
    monkeypatch.setitem(sys.modules, "samna", samna)


def test_to_samna_writes_transposed_weights_and_destinations(monkeypatch):
    fake_samna(monkeypatch)
    config = small_config("dvs")
    samna_config = config.to_samna()
    layer = samna_config.cnn_layers[3]
    assert layer.weights[1][0] == [[-5, 7], [6, -8]]  # [kx][ky]: transposed from [[-5, 6], [7, -8]]
    assert layer.dimensions["input_shape"] == {"size": {"x": 5, "y": 5}, "feature_count": 1}
    assert layer.dimensions["output_shape"]["feature_count"] == 2 and layer.dimensions["kernel_size"] == 2
    assert (layer.threshold_high, layer.threshold_low, layer.return_to_zero, layer.leak_enable) == (10, -20, False, True)
    assert layer.biases == [-1, 0]
    assert (layer.destinations[0].layer, layer.destinations[0].pooling, layer.destinations[0].enable) == (0, 2, True)
    out = samna_config.cnn_layers[0]
    assert out.return_to_zero and out.monitor_enable and out.neurons_initial_value[0] == [[1, 3], [2, 4]]
    dvs = samna_config.dvs_layer
    assert dvs.merge and (dvs.origin.x, dvs.cut.x) == (0, 4) and dvs.mirror.x and dvs.destinations[0].layer == 3


def test_to_samna_writes_the_roi_in_pooled_coordinates(monkeypatch):
    fake_samna(monkeypatch)
    config = small_config("dvs")
    config.input = InputConfig("dvs", (2, 128, 128), (Destination(core=3),), DvsConfig(polarity="merge", roi=(4, 8, 13, 17), pooling=2))
    dvs = config.to_samna().dvs_layer
    assert (dvs.origin.x, dvs.origin.y, dvs.cut.x, dvs.cut.y, dvs.pooling.x) == (2, 4, 6, 8, 2)
    config.input = InputConfig("dvs", (2, 128, 128), (Destination(core=3),), DvsConfig(polarity="merge", roi=(1, 8, 10, 17), pooling=2))
    with pytest.raises(SnnDeployError, match="not aligned to the pooling 2"):
        config.to_samna()
