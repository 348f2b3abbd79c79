"""Training data larger than the GPU: batches gathered on the host, copied ahead of use.

The rows stay in ordinary host memory. Each batch is gathered into a pinned
staging buffer (a copy from pinned memory is truly asynchronous) and sent to the
device on a side stream, two batches in flight: the copy of batch k+1 overlaps
the compute of batch k. Pinning the whole data set instead would only add a
second, page-locked copy of it; the gather into staging has to happen anyway.
"""
from __future__ import annotations

from typing import Iterator

import torch

from core.training.device import on_device

# Stream when the data would take more than this share of the free GPU memory: the model,
# its activations, the optimizer state and the evaluation need the rest.
MAX_SHARE_OF_FREE = 0.5
SLOTS = 2  # double buffering


def free_device_memory(device: torch.device) -> int:
    """Free bytes on a CUDA device (the tests replace this to set a memory budget)."""
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def stream_reason(nbytes: int, device: torch.device) -> str | None:
    """Why the data should stay in host memory, or None when it fits on the device."""
    if device.type != "cuda":
        return None
    free = free_device_memory(device)
    if nbytes <= MAX_SHARE_OF_FREE * free:
        return None
    return (f"the data ({nbytes / 2**30:.2f} GiB) would take more than half of the GPU's free memory "
            f"({free / 2**30:.2f} GiB): streaming batches from host memory")


class StreamingBatches:
    """Yields the batches `X[idx], y[idx]` of a host-side permutation, on `device`.

    The yielded tensors are views of two reused buffers: a batch is valid until the consumer asks for
    the next one (the work it queued on the batch until then is waited for before its buffer is
    refilled). On devices other than CUDA there is nothing to overlap; the same gather runs in line.
    """

    def __init__(self, X: torch.Tensor, y: torch.Tensor, device: torch.device, batch_size: int):
        self.X, self.y, self.device, self.batch_size = X, y, device, batch_size
        self.cuda = device.type == "cuda"
        with on_device(device):  # pinned memory belongs to the current GPU's context: the run's, not GPU 0's
            self._staging = [(_buffer(X, batch_size, pin=self.cuda), _buffer(y, batch_size, pin=self.cuda))
                             for _ in range(SLOTS)]
        if self.cuda:
            self._copy_stream = torch.cuda.Stream(device)
            self._on_device = [(torch.empty_like(xs, device=device), torch.empty_like(ys, device=device))
                               for xs, ys in self._staging]
            for pair in self._on_device:
                for t in pair:  # freed while a copy may be in flight (a cancelled run): wait for that stream
                    t.record_stream(self._copy_stream)
            self._copied = [torch.cuda.Event() for _ in range(SLOTS)]
            self._consumed = [torch.cuda.Event() for _ in range(SLOTS)]

    def batches(self, perm: torch.Tensor, steps: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """`steps` batches of `batch_size` rows of `perm` (a CPU index tensor); the last may be short."""
        bs = self.batch_size
        if steps > 0:
            self._fetch(0, perm[:bs])
        for k in range(steps):
            if k + 1 < steps:
                self._fetch((k + 1) % SLOTS, perm[(k + 1) * bs:(k + 2) * bs])
            slot, rows = k % SLOTS, len(perm[k * bs:(k + 1) * bs])
            if not self.cuda:
                xs, ys = self._staging[slot]
                yield xs[:rows].to(self.device), ys[:rows].to(self.device)
                continue
            current = torch.cuda.current_stream(self.device)
            current.wait_event(self._copied[slot])
            xd, yd = self._on_device[slot]
            yield xd[:rows], yd[:rows]
            # the step that read this buffer is queued: the copy that refills it waits for it on the GPU
            self._consumed[slot].record(current)

    def _fetch(self, slot: int, idx: torch.Tensor) -> None:
        xs, ys = self._staging[slot]
        rows = len(idx)
        if self.cuda:
            # the previous copy out of this staging buffer must have left it before the host overwrites it
            self._copied[slot].synchronize()
        torch.index_select(self.X, 0, idx, out=xs[:rows])
        torch.index_select(self.y, 0, idx, out=ys[:rows])
        if not self.cuda:
            return
        xd, yd = self._on_device[slot]
        with torch.cuda.stream(self._copy_stream):
            self._copy_stream.wait_event(self._consumed[slot])
            xd[:rows].copy_(xs[:rows], non_blocking=True)
            yd[:rows].copy_(ys[:rows], non_blocking=True)
            self._copied[slot].record(self._copy_stream)


def _buffer(like: torch.Tensor, rows: int, pin: bool) -> torch.Tensor:
    return torch.empty((rows, *like.shape[1:]), dtype=like.dtype, pin_memory=pin)
