"""Data-parallel training: 2 CPU processes (gloo) equal 1 process with the same global batch, and
the rank-0 checkpoint of the 2-process run resumes in 1 process (another world size).

Tolerance: the two runs add the same per-sample gradients in a different order (DDP averages
two half-batch means instead of one full-batch mean), so weights may differ by float32 rounding:
after 3 SGD steps we allow 1e-5 absolute (the weights are O(0.1-1); rounding is ~1e-7 per step)."""

from __future__ import annotations

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp

from snndeploy.train import SumOverTimeCrossEntropy, build_model, fit, make_loader
from snndeploy.train.distributed import (
    DistributedContext,
    ShardedEpochSampler,
    init_distributed,
    make_sharded_loader,
    max_abs_difference,
    reduce_metrics,
    save_checkpoint_on_main,
    shutdown,
    unwrap_model,
    wrap_model,
)

GLOBAL_BATCH, STEPS, WORLD = 8, 3, 2
TOLERANCE = 1e-5


def _data():
    g = torch.Generator().manual_seed(0)
    frames = (torch.rand(GLOBAL_BATCH * STEPS, 6, 5, generator=g) < 0.5).float()
    labels = torch.randint(0, 3, (GLOBAL_BATCH * STEPS,), generator=g)
    return torch.utils.data.TensorDataset(frames, labels)


def _model():
    torch.manual_seed(1)
    return build_model("5-16-3", neuron="iaf", backend="bptt")


def _optimizer(model):
    return torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)


def _train(model, loader, optimizer=None, epochs=1, **kwargs):
    optimizer = optimizer or _optimizer(model)
    return fit(model, loader, SumOverTimeCrossEntropy(), epochs=epochs, optimizer=optimizer, seed=None,
               progress=False, **kwargs)


def _worker(rank: int, port: int, out_dir: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(WORLD), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    ctx = init_distributed()
    model = wrap_model(_model(), ctx)
    optimizer = _optimizer(model)
    history = _train(model, make_sharded_loader(_data(), GLOBAL_BATCH // WORLD, ctx, seed=3), optimizer)
    record = reduce_metrics(history[-1], ctx)
    save_checkpoint_on_main(ctx, os.path.join(out_dir, "run"), 1, model, None, optimizer, [record])
    if ctx.is_main:
        torch.save({"weights": _parameters(unwrap_model(model)), "record": record}, os.path.join(out_dir, "rank0.pt"))
    shutdown(ctx)


def _parameters(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_two_gloo_processes_equal_one_process_with_the_same_global_batch(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD, join=True)
    result = torch.load(tmp_path / "rank0.pt", weights_only=True)
    single = _model()
    initial = _parameters(single)
    history = _train(single, make_loader(_data(), GLOBAL_BATCH, seed=3))
    moved = max_abs_difference(initial, _parameters(single))
    assert moved > 1e-2  # the 3 steps changed the weights
    assert max_abs_difference(result["weights"], _parameters(single)) < TOLERANCE
    assert result["record"]["train_loss"] == pytest.approx(history[-1]["train_loss"], abs=1e-5)
    assert result["record"]["train_accuracy"] == pytest.approx(history[-1]["train_accuracy"], abs=1e-9)
    # resume the 2-process checkpoint in 1 process (same global batch) for epoch 2
    assert (tmp_path / "run" / "epoch-0001.safetensors").is_file()
    torch.manual_seed(99)  # other initial weights: only the checkpoint can make `resumed` equal
    resumed = build_model("5-16-3", neuron="iaf", backend="bptt")
    _train(resumed, make_loader(_data(), GLOBAL_BATCH, seed=3), epochs=2, checkpoint_dir=tmp_path / "run",
           resume=True)
    straight = _model()
    _train(straight, make_loader(_data(), GLOBAL_BATCH, seed=3), epochs=2)
    assert max_abs_difference(_parameters(straight), _parameters(single)) > 1e-2  # epoch 2 moved on
    assert max_abs_difference(_parameters(resumed), _parameters(straight)) < TOLERANCE


def test_shards_make_up_the_global_batches():
    from snndeploy.train import EpochShuffleSampler

    whole = EpochShuffleSampler(24, seed=5)
    whole.set_epoch(2)
    order = list(whole)
    shards = []
    for rank in range(3):
        sampler = ShardedEpochSampler(24, rank, 3, seed=5)
        sampler.set_epoch(2)
        shards.append(list(sampler))
    for k in range(3):  # global batch k (size 6) = the union of each rank's local batch k (size 2)
        local = sorted(i for shard in shards for i in shard[2 * k: 2 * k + 2])
        assert local == sorted(order[6 * k: 6 * k + 6])
    uneven = [list(ShardedEpochSampler(5, r, 2, seed=0)) for r in range(2)]
    assert len(uneven[0]) == len(uneven[1]) == 3 and set(uneven[0] + uneven[1]) == set(range(5))


def test_single_process_context_without_torchrun(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    ctx = init_distributed()
    assert ctx == DistributedContext() and ctx.is_main and not ctx.active
    model = _model()
    assert wrap_model(model, ctx) is model and reduce_metrics({"a": 1.0}, ctx) == {"a": 1.0}
