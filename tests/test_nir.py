"""NIR export / import: equal spikes through sinabs' reader and writer, our own exact round trip,
the Euler convention of snnTorch / Norse files, per-neuron parameters, clear refusals."""

from __future__ import annotations

import warnings

import nir
import numpy as np
import pytest
import torch
from torch import nn

from snndeploy.errors import SnnDeployError
from snndeploy.export.nir import export_nir, import_nir, model_to_nir, nir_input_shape
from snndeploy.layers import IAF, LIF, ExpLeak
from snndeploy.layers.activation import MaxSpike, MembraneReset, SingleSpike
from snndeploy.layers.pooling import AvgPool2d, MaxPool2d, SumPool2d
from snndeploy.train import SpikingSequential

BATCH, STEPS = 3, 12


def _bptt(model):
    for layer in model:
        if hasattr(layer, "backend"):
            layer.backend = "bptt"
    return model


def _run(model, x):
    for layer in model:
        if hasattr(layer, "reset_states"):
            layer.reset_states()
    with torch.no_grad():
        return model(x)


def _input(seed=0, shape=(2, 8, 8)):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(BATCH, STEPS, *shape, generator=g) < 0.4).float()


def _cnn(min_v_mem=-1.0, norm_input=False):
    torch.manual_seed(1)
    net = SpikingSequential(
        nn.Conv2d(2, 4, 3, padding=1, bias=False), IAF(spike_threshold=1.0, min_v_mem=min_v_mem, backend="bptt"),
        SumPool2d(2), nn.Conv2d(4, 8, 3), LIF(tau_mem=5.0, norm_input=norm_input, spike_threshold=0.5, backend="bptt"),
        nn.Flatten(), nn.Linear(8 * 2 * 2, 5), IAF(spike_threshold=1.0, min_v_mem=min_v_mem, backend="bptt"),
    )
    with torch.no_grad():
        for layer in net:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                layer.weight.mul_(3.0)
    return net


def test_sinabs_from_nir_gives_equal_spikes(tmp_path):
    import sinabs

    net, x = _cnn(), _input()
    expected = _run(net, x)
    assert expected.sum() > 30  # the comparison sees real activity in every layer's output
    path = export_nir(net, tmp_path / "net.nir", (2, 8, 8), dt_seconds=1e-3)
    graph = nir.read(str(path))
    assert graph.metadata["dt"] == 1.0 and graph.metadata["dt_seconds"] == 1e-3
    loaded = sinabs.from_nir(graph, batch_size=BATCH)
    out, _ = loaded(x.reshape(BATCH * STEPS, 2, 8, 8))
    torch.testing.assert_close(out.reshape(expected.shape), expected, rtol=0, atol=0)
    assert nir_input_shape(path) == (2, 8, 8)


def test_own_round_trip_is_exact_for_every_layer(tmp_path):
    torch.manual_seed(2)
    net = SpikingSequential(
        nn.Conv2d(2, 4, 3, padding=1), LIF(tau_mem=4.0, tau_syn=2.0, spike_threshold=0.3, min_v_mem=-0.5, backend="bptt"),
        AvgPool2d(2, adjusted=False), nn.Conv2d(4, 6, 3),
        IAF(spike_threshold=0.4, spike_fn=MaxSpike(2), reset_fn=MembraneReset(0.1), backend="bptt"),
        SumPool2d(2), nn.Flatten(), nn.Linear(6, 7, bias=False),
        LIF(tau_mem=3.0, norm_input=True, spike_threshold=0.2, spike_fn=SingleSpike(), backend="bptt"),
        nn.Linear(7, 3), ExpLeak(tau_mem=6.0, backend="bptt"),
    )
    x = _input(3) * 2
    expected = _run(net, x)
    assert (expected[..., :] != 0).any()
    path = export_nir(net, tmp_path / "all.nir", (2, 8, 8))
    back = _bptt(import_nir(path))
    assert [type(m).__name__ for m in back] == [type(m).__name__ for m in net]
    assert back[2].adjusted is False and back[8].norm_input is True and back[4].spike_fn == MaxSpike(2)
    torch.testing.assert_close(_run(back, x), expected, rtol=1e-6, atol=1e-6)


def test_sinabs_written_graph_imports_with_equal_spikes(tmp_path):
    import sinabs
    import sinabs.layers as sl

    torch.manual_seed(3)
    model = nn.Sequential(nn.Conv2d(2, 4, 3), sl.IAFSqueeze(batch_size=BATCH), sl.SumPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 3), sl.LIFSqueeze(tau_mem=4.0, batch_size=BATCH, norm_input=False))
    with torch.no_grad():
        for layer in model:
            if isinstance(layer, (nn.Conv2d, nn.Linear)):
                layer.weight.mul_(4.0)
    x = _input(4)
    flat = x.reshape(BATCH * STEPS, 2, 8, 8)
    graph = sinabs.to_nir(model, flat)
    for layer in model:
        if hasattr(layer, "reset_states"):
            layer.reset_states()
    with torch.no_grad():
        expected = model(flat).reshape(BATCH, STEPS, 3)
    assert expected.sum() > 10
    ours = _bptt(import_nir(graph))  # sinabs leaves Conv2d / Flatten shapes None: nir.write refuses such graphs
    torch.testing.assert_close(_run(ours, x), expected, rtol=0, atol=1e-5)


def _euler_graph(beta: float, threshold, dt: float, weight: np.ndarray):
    """An Affine -> LIF chain as snnTorch writes a Leaky(beta) layer: tau = dt/(1-beta), r = tau/dt."""
    tau = dt / (1 - beta)
    n = weight.shape[0]
    return nir.NIRGraph.from_list(
        nir.Input(input_type={"input": np.array([weight.shape[1]])}),
        nir.Affine(weight=weight, bias=np.zeros(n, np.float32)),
        nir.LIF(tau=np.full(n, tau), r=np.full(n, tau / dt), v_leak=np.zeros(n), v_threshold=np.asarray(threshold, float)),
        nir.Output(output_type={"output": np.array([n])}),
    )


def test_euler_convention_matches_snntorch_leaky(tmp_path):
    rng = np.random.default_rng(5)
    weight = rng.normal(0.5, 0.5, (4, 6)).astype(np.float32)
    beta, dt = 0.8, 1e-4
    nir.write(str(tmp_path / "leaky.nir"), _euler_graph(beta, np.full(4, 1.0), dt, weight))
    model = _bptt(import_nir(tmp_path / "leaky.nir", convention="euler", dt=dt))
    x = (torch.rand(2, 20, 6, generator=torch.Generator().manual_seed(6)) < 0.5).float()
    v = np.zeros((2, 4))
    expected = np.zeros((2, 20, 4))
    for t in range(20):  # snnTorch Leaky, reset by subtraction, one spike per step
        v = beta * v + x[:, t].numpy() @ weight.T
        spikes = v >= 1.0
        expected[:, t] = spikes
        v = v - spikes
    assert expected.sum() > 10
    np.testing.assert_allclose(_run(model, x).numpy(), expected)


def test_per_neuron_parameters_kept_or_collapsed_with_warning(tmp_path):
    weight = np.eye(4, dtype=np.float32)
    nir.write(str(tmp_path / "thr.nir"), _euler_graph(0.5, np.array([1.0, 1.0, 2.0, 2.0]), 1.0, weight))
    model = import_nir(tmp_path / "thr.nir", convention="euler")
    assert model[1].spike_threshold.tolist() == [1.0, 1.0, 2.0, 2.0]
    with pytest.warns(UserWarning, match="v_threshold differs across neurons.*mean 1.5"):
        collapsed = import_nir(tmp_path / "thr.nir", convention="euler", per_layer=True)
    assert float(collapsed[1].spike_threshold) == 1.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nir.write(str(tmp_path / "same.nir"), _euler_graph(0.5, np.full(4, 1.0), 1.0, weight))
        assert float(import_nir(tmp_path / "same.nir", per_layer=True)[1].spike_threshold) == 1.0


def test_refusals(tmp_path):
    with pytest.raises(SnnDeployError, match="layer 1: MaxPool2d: NIR 1.0 has no max-pooling node"):
        model_to_nir(SpikingSequential(nn.Conv2d(1, 1, 1), MaxPool2d(2)), (1, 4, 4))
    with pytest.raises(SnnDeployError, match="no NIR export"):
        model_to_nir(SpikingSequential(nn.ReLU()), (3,))
    branching = nir.NIRGraph(
        nodes={"input": nir.Input(input_type={"input": np.array([2])}),
               "a": nir.Affine(weight=np.eye(2), bias=np.zeros(2)), "b": nir.Affine(weight=np.eye(2), bias=np.zeros(2)),
               "output": nir.Output(output_type={"output": np.array([2])})},
        edges=[("input", "a"), ("input", "b"), ("a", "output"), ("b", "output")])
    nir.write(str(tmp_path / "branch.nir"), branching)
    with pytest.raises(SnnDeployError, match="only feed-forward chains"):
        import_nir(tmp_path / "branch.nir")
    delay = nir.NIRGraph.from_list(nir.Input(input_type={"input": np.array([2])}), nir.Delay(delay=np.ones(2)),
                                   nir.Output(output_type={"output": np.array([2])}))
    nir.write(str(tmp_path / "delay.nir"), delay)
    with pytest.raises(SnnDeployError, match="node 'delay' of type Delay cannot be imported"):
        import_nir(tmp_path / "delay.nir")
    with pytest.raises(SnnDeployError, match="does not exist"):
        import_nir(tmp_path / "missing.nir")
    (tmp_path / "junk.nir").write_text("not hdf5")
    with pytest.raises(SnnDeployError, match="not a readable NIR file"):
        import_nir(tmp_path / "junk.nir")


def test_euler_cubalif_matches_snntorch_synaptic(tmp_path):
    """snnTorch Synaptic(alpha, beta) as NIR CubaLIF: tau_syn = dt/(1-alpha), tau_mem = dt/(1-beta),
    w_in = tau_syn/dt, r = tau_mem/dt; update syn = alpha syn + W x, mem = beta mem + syn."""
    rng = np.random.default_rng(7)
    weight = rng.normal(0.3, 0.4, (3, 5)).astype(np.float32)
    alpha, beta, dt, n = 0.6, 0.85, 1e-3, 3
    tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
    graph = nir.NIRGraph.from_list(
        nir.Input(input_type={"input": np.array([5])}),
        nir.Affine(weight=weight, bias=np.zeros(n, np.float32)),
        nir.CubaLIF(tau_syn=np.full(n, tau_syn), tau_mem=np.full(n, tau_mem), r=np.full(n, tau_mem / dt),
                    v_leak=np.zeros(n), v_threshold=np.full(n, 1.0), w_in=np.full(n, tau_syn / dt)),
        nir.Output(output_type={"output": np.array([n])}),
    )
    nir.write(str(tmp_path / "syn.nir"), graph)
    model = _bptt(import_nir(tmp_path / "syn.nir", convention="euler", dt=dt))
    x = (torch.rand(2, 25, 5, generator=torch.Generator().manual_seed(8)) < 0.5).float()
    syn, mem = np.zeros((2, n)), np.zeros((2, n))
    expected = np.zeros((2, 25, n))
    for t in range(25):
        syn = alpha * syn + x[:, t].numpy() @ weight.T
        mem = beta * mem + syn
        expected[:, t] = mem >= 1.0
        mem = mem - expected[:, t]
    assert expected.sum() > 10
    np.testing.assert_allclose(_run(model, x).numpy(), expected)
