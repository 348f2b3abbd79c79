"""One run trained by several processes at once (torch.distributed, launched by torchrun).

Each process ("rank") holds the whole data and the same seeded model; every global batch is cut
into one contiguous shard per rank, and DistributedDataParallel averages the gradients. A rank's
loss is scaled by its share of the batch (rows x ranks / batch rows), so the averaged gradient is
the gradient of the global batch's mean loss: the same step a single process takes, to rounding,
also when the batch does not divide evenly.

Decisions that end the loop (a stop request, a NaN, early stopping) are reduced across ranks at
step counts every rank shares, so all ranks stop at the same step and none waits forever in a
collective. nccl on CUDA, gloo on the CPU.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Callable

import torch
import torch.distributed as dist

from core.training.callbacks import Callback, CancelFit, TrainerView

# How long a rank waits on the others in one collective before it gives up: a peer that died is
# noticed by torchrun first (it stops the other ranks); this only bounds a hang torchrun cannot see.
TIMEOUT = timedelta(minutes=10)


@dataclass(frozen=True)
class Ranks:
    """Where this process stands in its run: rank (0 writes the run's records), how many, which local GPU."""

    rank: int
    world: int
    local_rank: int
    backend: str

    @property
    def is_writer(self) -> bool:
        return self.rank == 0


def from_environment() -> Ranks | None:
    """The ranks torchrun describes in this process's environment (RANK, WORLD_SIZE, LOCAL_RANK), or None."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return None
    use_cuda = os.environ.get("WORKBENCH_DDP_BACKEND", "gloo") == "nccl"
    return Ranks(rank=int(os.environ["RANK"]), world=int(os.environ["WORLD_SIZE"]),
                 local_rank=int(os.environ.get("LOCAL_RANK", "0")), backend="nccl" if use_cuda else "gloo")


def init(ranks: Ranks) -> None:
    """Join the process group (torchrun's rendezvous, from the environment). Called once per rank."""
    if dist.is_initialized():
        return
    if ranks.backend == "nccl":
        torch.cuda.set_device(ranks.local_rank)
    dist.init_process_group(ranks.backend, timeout=TIMEOUT)


def close() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def shard(rows: torch.Tensor, ranks: Ranks) -> tuple[torch.Tensor, float]:
    """This rank's contiguous part of one global batch, and the factor its mean loss is scaled by."""
    mine = torch.tensor_split(rows, ranks.world)[ranks.rank]
    return mine, len(mine) * ranks.world / max(len(rows), 1)


def reduce_max(values: list[float], device: torch.device) -> list[float]:
    """The largest of each value over all ranks (flags: 1.0 where any rank raised it)."""
    t = torch.tensor(values, dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def reduce_sum_(tensors: list[torch.Tensor]) -> None:
    """Sum each (on-device) tensor over all ranks, in place."""
    for t in tensors:
        dist.all_reduce(t, op=dist.ReduceOp.SUM)


def gather_ints(value: int, device: torch.device) -> list[int]:
    """Every rank's `value`, in rank order (each rank's process id, for the run's record)."""
    out = [torch.zeros(1, dtype=torch.int64, device=device) for _ in range(dist.get_world_size())]
    dist.all_gather(out, torch.tensor([value], dtype=torch.int64, device=device))
    return [int(t.item()) for t in out]


def collective_device(ranks: Ranks) -> torch.device:
    """Where a collective's tensors live: nccl reduces on the rank's GPU, gloo on the CPU."""
    return torch.device("cuda", ranks.local_rank) if ranks.backend == "nccl" else torch.device("cpu")


class SyncedStop(Callback):
    """StopCheck for ranks: every `every` steps and at each epoch's end (counts every rank shares), the
    ranks pool their verdicts, so all of them stop at the same step. `should_stop` is asked at most
    every `interval_s` (rank 0's asks the store); a verdict, once given, stays."""

    def __init__(self, should_stop: Callable[[], str | None], ranks: Ranks, every: int = 10,
                 interval_s: float = 0.2):
        self.should_stop, self.ranks, self.every, self.interval_s = should_stop, ranks, every, interval_s
        self._verdict: str | None = None
        self._next = 0.0

    def on_step_end(self, trainer: TrainerView, *, step: int, **kwargs: Any) -> None:
        if step % self.every == 0:
            self._check()

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self._check()

    def _check(self) -> None:
        now = time.monotonic()
        if self._verdict is None and now >= self._next:
            self._next = now + self.interval_s
            self._verdict = self.should_stop()
        mine = 0.0 if not self._verdict else 2.0 if self._verdict.startswith("interrupted") else 1.0
        worst = reduce_max([mine], collective_device(self.ranks))[0]
        if worst:
            status = "interrupted" if worst == 2.0 else "cancelled"
            reason = self._verdict if mine == worst else (
                "interrupted: another process of this run stopped" if status == "interrupted"
                else "stopped: another process of this run was asked to stop")
            raise CancelFit(reason, status)
