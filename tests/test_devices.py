"""Device interface: name parsing, the sim backend end to end, the samna backend against a fake
samna module injected into sys.modules (recording every call and the configuration it gets)."""

from __future__ import annotations

import copy
import sys
import types

import numpy as np
import pytest

from snndeploy.data.events import EVENT_DTYPE
from snndeploy.devices import (
    BackendNotInstalledError,
    DeviceBusyError,
    DeviceDisconnectedError,
    DeviceError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    WrongChipError,
    flash_config,
    list_devices,
    open_device,
    parse_device_name,
    run_events,
)
from snndeploy.sim import Destination, InputStage, SimCore, SimNetwork, simulate
from snndeploy.sim.simulate import Monitor


def network(dvs: bool = False, weight_scale: int = 1) -> SimNetwork:
    rng = np.random.default_rng(0)
    core0 = SimCore(weights=rng.integers(-2, 9, (3, 2, 2, 2)) * weight_scale, input_shape=(2, 4, 4),
                    threshold_high=10, threshold_low=-20, bias=[1, -1, 0], leak_enable=True,
                    destinations=(Destination(1),))
    core1 = SimCore(weights=rng.integers(-1, 6, (2, 3, 3, 3)), input_shape=(3, 3, 3),
                    threshold_high=8, threshold_low=-8, reset_to_zero=True)
    return SimNetwork(cores={0: core0, 1: core1}, input=InputStage((4, 4, 2), (Destination(0),), dvs=dvs),
                      slow_clock_period_us=500)


def chip_config(dvs: bool = False, target: str = "speck2f"):
    """The ChipConfig of `network()` (validated through its JSON form)."""
    from snndeploy.mapping import ChipConfig, CoreConfig, Destination as Dest, DvsConfig, InputConfig

    net = network()
    cores = []
    for index, core in net.cores.items():
        cores.append(CoreConfig(
            core=index, layer_name=f"layer{index}", input_shape=core.input_shape, neuron_shape=core.output_shape,
            kernel_size=int(core.weights.shape[-1]), stride=core.stride[0], padding=core.padding[0],
            weights=core.weights.tolist(), biases=core.bias.tolist(), threshold_high=core.threshold_high,
            threshold_low=core.threshold_low, reset="zero" if core.reset_to_zero else "subtract",
            leak_enable=core.leak_enable, destinations=tuple(Dest(d.core) for d in core.destinations),
            monitor=True))
    stage = (InputConfig("dvs", (2, 4, 4), (Dest(0),), DvsConfig()) if dvs
             else InputConfig("external", (2, 4, 4), (Dest(0),)))
    config = ChipConfig(target=target, input=stage, cores=cores, slow_clock_period_us=500)
    return ChipConfig.from_dict(config.to_dict())


def events(n: int = 200, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    out = np.zeros(n, EVENT_DTYPE)
    out["t"] = np.sort(rng.integers(0, 5000, n))
    out["x"], out["y"], out["p"] = rng.integers(0, 4, n), rng.integers(0, 4, n), rng.integers(0, 2, n)
    return out


# -- names -------------------------------------------------------------------------------
def test_parse_device_name():
    assert str(parse_device_name("speck2fdevkit:0")) == "speck2fdevkit:0"
    assert parse_device_name("sim").index == 0
    assert parse_device_name("DynapcnnDevKit:3").kind.chip == "dynapcnn"
    for bad in ("speck3:0", "sim:x", "sim:-1"):
        with pytest.raises(DeviceError):
            parse_device_name(bad)


# -- sim backend -------------------------------------------------------------------------
def test_sim_device_matches_simulator_in_chunks():
    net, stream = network(), events()
    expected = simulate(net, stream, "event", Monitor(cores=(0, 1)), duration_us=6000)
    with open_device("sim:0") as dev:
        report = dev.write_config(net)
        assert report.mismatches == () and report.cores == (0, 1)
        dev.send_events(stream[:120])
        first = dev.read_events(until_us=int(stream["t"][120]))
        dev.send_events(stream[120:])
        second = dev.read_events(until_us=6000)
        got = np.concatenate([first, second])
        np.testing.assert_array_equal(got, expected.spikes)
        assert len(got) > 20
        np.testing.assert_array_equal(dev.read_neuron_state(1), expected.final_state[1])
        dev.reset()
        dev.send_events(stream)
        np.testing.assert_array_equal(dev.read_events(until_us=6000), expected.spikes)
        dev.reset()
        assert 0 < len(dev.read_events(until_us=6000)) < len(got)  # only the bias (leak) spikes


def test_sim_device_rejects_out_of_order_and_unconfigured_and_closed():
    dev = open_device("sim:0")
    with pytest.raises(DeviceError, match="write_config"):
        dev.send_events(events())
    dev.write_config(network())
    dev.send_events(events()[100:])
    with pytest.raises(DeviceError, match="time order"):
        dev.send_events(events()[:10])
    dev.close()
    with pytest.raises(DeviceError, match="closed"):
        dev.reset()


def test_run_events_and_validation_before_flash(tmp_path):
    path = chip_config().to_json(tmp_path / "chip.json")
    result = run_events(path, events(), "sim:0", duration_us=6000)
    assert result.flash.mismatches == ()
    expected = simulate(network(), events(), "event", Monitor(cores=(0, 1)), duration_us=6000)
    np.testing.assert_array_equal(result.spikes, expected.spikes)
    with pytest.raises(WrongChipError, match="mapped for 'dynapcnn'"):
        flash_config(chip_config(target="dynapcnn"), "sim:0")
    assert sum(result.counts_per_core().values()) == len(result.spikes) > 0
    with pytest.raises(DeviceError, match="core 0: weights must be 8-bit"):
        flash_config(network(weight_scale=40), "sim:0")
    big = network()
    big.cores = {9: big.cores[1]}
    big.input = InputStage((3, 3, 3), (Destination(9),))
    with pytest.raises(DeviceError, match=r"core 9: speck2f has cores \[0, 1, 2"):
        flash_config(big, "sim:0")


def test_list_devices_without_samna(monkeypatch):
    monkeypatch.setitem(sys.modules, "samna", None)  # import samna -> ImportError
    listing = list_devices()
    assert [d.name for d in listing.devices] == ["sim:0"]
    assert "pip install samna" in listing.unavailable["samna"]
    with pytest.raises(BackendNotInstalledError, match="sim:0"):
        open_device("speck2fdevkit:0")


# -- samna backend against a fake samna --------------------------------------------------
class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def make_fake_samna(devices=(("Speck2fDevKit", "S1"),), opened=(), corrupt=None):
    calls: list = []
    samna = types.ModuleType("samna")
    samna.calls = calls
    samna.connected = [types.SimpleNamespace(device_type_name=t, serial_number=s) for t, s in devices]
    samna.replies = []

    class Layer:
        def __init__(self):
            self.dimensions = None
            self.destinations = [types.SimpleNamespace(enable=False, layer=0, pooling=1, feature_shift=0)
                                 for _ in range(2)]
            self.weights, self.biases, self.neurons_initial_value = [], [], []
            self.threshold_high = self.threshold_low = 0
            self.return_to_zero = self.leak_enable = self.monitor_enable = False

    def namespace(**kw):
        return types.SimpleNamespace(**kw)

    class SpeckConfiguration:
        def __init__(self):
            self.cnn_layers = [Layer() for _ in range(9)]
            self.dvs_layer = namespace(
                pooling=namespace(x=1, y=1), origin=namespace(x=0, y=0), cut=namespace(x=127, y=127),
                mirror=namespace(x=False, y=False), destinations=[namespace(enable=False, layer=0, pooling=1,
                                                                            feature_shift=0) for _ in range(2)])

    def event_class(name, fields):
        def init(self, **kw):
            assert set(kw) == set(fields), (name, kw)
            self.__dict__.update(kw)
        return type(name, (), {"__init__": init, "__repr__": lambda self: f"{name}({self.__dict__})"})

    event = types.SimpleNamespace(
        Spike=event_class("Spike", ("layer", "feature", "x", "y", "timestamp")),
        DvsEvent=event_class("DvsEvent", ("x", "y", "p", "timestamp")),
        ReadNeuronValue=event_class("ReadNeuronValue", ("layer", "feature", "x", "y")),
        NeuronValue=event_class("NeuronValue", ("layer", "feature", "x", "y", "neuron_state")),
    )
    samna.speck2f = types.SimpleNamespace(configuration=types.SimpleNamespace(SpeckConfiguration=SpeckConfiguration),
                                          event=event)
    samna.dynapcnn = types.SimpleNamespace(
        configuration=types.SimpleNamespace(DynapcnnConfiguration=SpeckConfiguration), event=event)

    class Model:
        device_type_name = devices[0][0]
        stored = None

        def apply_configuration(self, cfg):
            calls.append(("apply_configuration", cfg))
            self.stored = copy.deepcopy(cfg)
            if corrupt:
                corrupt(self.stored)

        def get_configuration(self):
            calls.append(("get_configuration",))
            return copy.deepcopy(self.stored)

        def get_sink_node(self):
            return "sink"

        def get_source_node(self):
            return "source"

    class Handle:
        def __init__(self, model_type):
            self.model = Model()
            self.model.device_type_name = model_type

        def get_model(self):
            return self.model

    class Writer:
        def write(self, batch):
            calls.append(("write", list(batch)))
            if not any(s == "S1" for s in (i.serial_number for i in samna.connected)):
                raise RuntimeError("usb write failed")

    class Buffer:
        def get_events(self):
            out, samna.replies[:] = list(samna.replies), []
            return out

    def open_device_(info):
        calls.append(("open_device", info.serial_number))
        return Handle(getattr(samna, "reported_type", info.device_type_name))

    samna.device = types.SimpleNamespace(
        get_all_devices=lambda: list(samna.connected),
        get_unopened_devices=lambda: [i for i in samna.connected if i.serial_number not in opened],
        open_device=open_device_,
        close_device=lambda handle: calls.append(("close_device",)),
    )
    samna.graph = types.SimpleNamespace(source_to=lambda node: Writer(), sink_from=lambda node: Buffer())
    return samna


@pytest.fixture
def fake(monkeypatch):
    def install(**kw):
        samna = make_fake_samna(**kw)
        monkeypatch.setitem(sys.modules, "samna", samna)
        return samna
    return install


def test_samna_flash_records_config(fake):
    samna = fake()
    net = network()
    report = flash_config(chip_config(), "speck2fdevkit:0")
    assert report.mismatches == () and len(report.compared) == 16
    applied = [c[1] for c in samna.calls if c[0] == "apply_configuration"][0]
    layer = applied.cnn_layers[0]
    # samna order: weights [c_out][c_in][kx][ky]
    np.testing.assert_array_equal(np.asarray(layer.weights), np.swapaxes(net.cores[0].weights, 2, 3))
    assert (layer.threshold_high, layer.threshold_low, layer.leak_enable, layer.return_to_zero) == (10, -20, True, False)
    assert applied.cnn_layers[1].return_to_zero is True
    assert [(d.enable, d.layer) for d in layer.destinations] == [(True, 1), (False, 0)]
    assert layer.dimensions["input_shape"]["feature_count"] == 2 and layer.dimensions["kernel_size"] == 2
    assert samna.calls[0] == ("open_device", "S1") and samna.calls[-1] == ("close_device",)


def test_samna_read_back_mismatch_is_an_error(fake):
    def corrupt(cfg):
        cfg.cnn_layers[1].threshold_high = 7
    fake(corrupt=corrupt)
    with pytest.raises(DeviceError, match="core 1: threshold_high: wrote 8, device holds 7"):
        flash_config(chip_config(), "speck2fdevkit:0")


def test_samna_events_and_neuron_state(fake):
    samna = fake()
    clock = Clock()
    dev = open_device("speck2fdevkit:0")
    dev._clock, dev._sleep = clock, clock.sleep
    dev.write_config(chip_config())
    stream = events(5)
    dev.send_events(stream)
    sent = [c[1] for c in samna.calls if c[0] == "write"][-1]
    assert [(s.layer, s.feature, s.x, s.y, s.timestamp) for s in sent] == [
        (0, int(e["p"]), int(e["x"]), int(e["y"]), int(e["t"])) for e in stream]
    Spike = samna.speck2f.event.Spike
    samna.replies[:] = [Spike(layer=1, feature=0, x=0, y=0, timestamp=10),
                        Spike(layer=0, feature=2, x=1, y=2, timestamp=7000)]
    spikes = dev.read_events(until_us=5000, timeout_s=1.0)
    assert spikes.tolist() == [(10, 1, 0, 0, 0)]
    assert clock.now == pytest.approx(100.005)  # waited until the board ran 5000 µs
    assert dev.read_events(until_us=8000).tolist() == [(7000, 0, 2, 2, 1)]  # kept for later
    with pytest.raises(DeviceTimeoutError, match="above the 1.00 s timeout"):
        dev.read_events(until_us=10_000_000, timeout_s=1.0)
    NeuronValue = samna.speck2f.event.NeuronValue
    samna.replies[:] = [NeuronValue(layer=1, feature=c, x=0, y=0, neuron_state=5 - c) for c in range(2)]
    np.testing.assert_array_equal(dev.read_neuron_state(1), [[[5]], [[4]]])
    samna.replies[:] = [NeuronValue(layer=1, feature=0, x=0, y=0, neuron_state=1)]
    with pytest.raises(DeviceTimeoutError, match="answered 1 of 2"):
        dev.read_neuron_state(1, timeout_s=0.05)
    samna.connected.clear()  # unplugged
    with pytest.raises(DeviceDisconnectedError, match="disconnected while trying to send events"):
        dev.send_events(stream)


def test_samna_errors(fake):
    fake(devices=(("Speck2eDevKit", "E1"),))
    with pytest.raises(DeviceNotFoundError, match="connected: speck2edevkit:0"):
        open_device("speck2fdevkit:0")
    fake(opened=("S1",))
    with pytest.raises(DeviceBusyError, match="open in another program"):
        open_device("speck2fdevkit:0")
    samna = fake()
    samna.reported_type = "Speck2eDevKit"
    with pytest.raises(WrongChipError, match="reports 'Speck2eDevKit'"):
        open_device("speck2fdevkit:0")
    fake(devices=(("DynapcnnDevKit", "D1"),))
    with pytest.raises(WrongChipError, match="has none"):
        flash_config(chip_config(dvs=True, target="dynapcnn"), "dynapcnndevkit:0")
    with pytest.raises(DeviceError, match="configured from a ChipConfig"):
        flash_config(network(), "dynapcnndevkit:0")


def test_samna_listing(fake):
    fake(devices=(("Speck2fDevKit", "S1"), ("Speck2fDevKit", "S2"), ("Unknown", "U")), opened=("S2",))
    listing = list_devices()
    names = {d.name: d.busy for d in listing.devices}
    assert names == {"sim:0": False, "speck2fdevkit:0": False, "speck2fdevkit:1": True}
    assert listing.unavailable == {}
