"""Data-parallel training over processes (torch.distributed): one process per device.

Launch with torchrun; each process trains a replica on its shard of every global batch and
DistributedDataParallel averages the gradients, so N processes with per-process batch B/N
take the same steps as one process with batch B (up to float summation order):

    torchrun --standalone --nproc_per_node 2 "$(which snndeploy)" train ... --batch-size 32
    # one machine, 2 processes of 16 samples per batch (`snndeploy train` splits the global batch)

Pieces (each usable on its own):
- `init_distributed()` reads torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK,
  MASTER_ADDR/PORT) and joins the process group: gloo on CPU, nccl when CUDA is available.
  Without torchrun (WORLD_SIZE unset or 1) it returns a single-process context and joins nothing.
- `ShardedEpochSampler`: the same per-epoch order as `snndeploy.train.EpochShuffleSampler`
  (a function of seed and epoch only), rank r taking positions r, r+N, r+2N, ... Local batch k
  of all ranks together is then exactly global batch k of one process with batch B = N·b
  (when the dataset size is a multiple of B; otherwise the order is padded by repeating its
  first indices, as torch's DistributedSampler does, so every rank runs the same number of steps).
- `wrap_model(model, ctx)`: DistributedDataParallel (or the model itself in one process).
- `reduce_metrics(record, ctx)`: the per-rank epoch metrics averaged over ranks (sums for
  throughput), so every rank reports the global numbers.
- Checkpoints: only rank 0 writes (`ctx.is_main`); every rank resumes from the same files. A
  checkpoint holds the unwrapped model's weights, the optimizer state and the epoch, none of which
  depend on the number of processes, so a run may resume with a different world size (keep the
  global batch, N·b, the same to continue the same optimisation).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
from torch import nn

from snndeploy.errors import SnnDeployError

# metrics that add up across ranks; every other numeric metric is averaged
SUMMED_METRICS = ("samples_per_s",)


@dataclass(frozen=True)
class DistributedContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world_size > 1

    def device(self) -> torch.device:
        if self.backend == "nccl":
            return torch.device("cuda", self.local_rank)
        return torch.device("cpu")


def _env_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise SnnDeployError(f"environment variable {name}={text!r} must be an integer (set by torchrun)") from None


def init_distributed(backend: str | None = None) -> DistributedContext:
    """Join the process group torchrun describes; a single-process context without torchrun."""
    import torch.distributed as dist

    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistributedContext()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    if backend == "nccl":
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        missing = [v for v in ("MASTER_ADDR", "MASTER_PORT") if v not in os.environ]
        if missing:
            raise SnnDeployError(f"WORLD_SIZE={world} but {', '.join(missing)} unset; launch with torchrun "
                                 "(see docs/distributed.md)")
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistributedContext(rank, world, local_rank, backend)


def shutdown(ctx: DistributedContext) -> None:
    import torch.distributed as dist

    if ctx.active and dist.is_initialized():
        dist.destroy_process_group()


class ShardedEpochSampler(torch.utils.data.Sampler):
    """Rank `rank`'s share of `EpochShuffleSampler(size, seed)`'s order (see the module docstring)."""

    def __init__(self, size: int, rank: int, world_size: int, seed: int = 0, shuffle: bool = True) -> None:
        if not 0 <= rank < world_size:
            raise SnnDeployError(f"rank {rank} is outside 0..{world_size - 1}")
        self.size, self.rank, self.world_size, self.seed, self.shuffle = size, rank, world_size, seed, shuffle
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self) -> list[int]:
        if not self.shuffle:
            return list(range(self.size))
        from snndeploy.train.loop import EpochShuffleSampler

        whole = EpochShuffleSampler(self.size, self.seed)
        whole.set_epoch(self.epoch)
        return list(iter(whole))

    def __iter__(self):
        order = self._order()
        total = len(self) * self.world_size
        order = (order * (total // max(1, len(order)) + 1))[:total]
        return iter(order[self.rank::self.world_size])

    def __len__(self) -> int:
        return -(-self.size // self.world_size)


def make_sharded_loader(dataset, batch_size: int, ctx: DistributedContext, seed: int = 0,
                        shuffle: bool = True) -> torch.utils.data.DataLoader:
    """A loader of per-rank batches of `batch_size` (the global batch is batch_size · world_size)."""
    if batch_size < 1:
        raise SnnDeployError(f"batch size must be at least 1, got {batch_size}")
    sampler = ShardedEpochSampler(len(dataset), ctx.rank, ctx.world_size, seed, shuffle)
    return torch.utils.data.DataLoader(dataset, batch_size=batch_size, sampler=sampler)


def wrap_model(model: nn.Module, ctx: DistributedContext) -> nn.Module:
    """DistributedDataParallel around `model` when several processes train, else `model`."""
    if not ctx.active:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device = ctx.device()
    model = model.to(device)
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The trained module inside a DistributedDataParallel wrapper (what checkpoints store)."""
    return getattr(model, "module", model)


def reduce_metrics(record: dict, ctx: DistributedContext) -> dict:
    """Numeric metrics averaged over ranks (SUMMED_METRICS summed); others left as they are."""
    if not ctx.active:
        return dict(record)
    import torch.distributed as dist

    keys = [k for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "epoch"]
    values = torch.tensor([float(record[k]) for k in keys], dtype=torch.float64, device=ctx.device())
    dist.all_reduce(values)
    reduced = dict(record)
    for key, total in zip(keys, values.tolist()):
        reduced[key] = total if key in SUMMED_METRICS else total / ctx.world_size
    return reduced


def barrier(ctx: DistributedContext) -> None:
    if ctx.active:
        import torch.distributed as dist

        dist.barrier()


def save_checkpoint_on_main(ctx: DistributedContext, directory, epoch: int, model: nn.Module, model_spec=None,
                            optimizer=None, history=None, options=None):
    """Rank 0 writes the checkpoint of the unwrapped model (`snndeploy.train.save_checkpoint`);
    every rank then waits until it is complete. Returns its path on rank 0, None elsewhere."""
    from snndeploy.train.checkpoint import save_checkpoint

    path = None
    if ctx.is_main:
        path = save_checkpoint(directory, epoch, unwrap_model(model), model_spec, optimizer, history, options)
    barrier(ctx)
    return path


def max_abs_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest |a - b| over matching tensors (used to compare replicas and runs)."""
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a) if a else 0.0


__all__ = [
    "DistributedContext", "ShardedEpochSampler", "barrier", "init_distributed", "make_sharded_loader",
    "max_abs_difference", "reduce_metrics", "save_checkpoint_on_main", "shutdown", "unwrap_model",
    "wrap_model",
]

