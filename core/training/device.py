"""Device and precision: which accelerator a run uses and what it can do."""
from __future__ import annotations

import contextlib
import os
from typing import Any

import torch

from core.config import device_problem
from core.errors import ConfigError
from core.vocab import ALL_GPUS


def resolve_device(name: str = "auto") -> torch.device:
    """auto: cuda (the default GPU) > mps > cpu; "cuda:N": GPU number N; "cuda:all": every GPU, a process
    each (this answers rank 0's, GPU 0). A forced device that is missing
    is a clear error, raised before anything is put on it."""
    problem = device_problem(name)
    if problem:
        raise ConfigError(problem)
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _has_mps():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ConfigError(f"device {name!r} was asked for but no CUDA GPU is available here; "
                              "use --device auto or cpu")
        if name == ALL_GPUS:  # one process per GPU (core.runs.launch); the first GPU is rank 0's
            return torch.device("cuda", 0)
        index = name.partition(":")[2]
        count = torch.cuda.device_count()
        if index and int(index) >= count:
            known = "cuda:0" if count == 1 else f"cuda:0..cuda:{count - 1}"
            raise ConfigError(f"device {name!r} was asked for but this machine has {count} GPU(s): {known}")
    if name == "mps" and not _has_mps():
        raise ConfigError("device 'mps' was asked for but Apple's MPS is not available here; use --device auto or cpu")
    return torch.device(name)


def _has_mps() -> bool:
    return getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()


def on_device(device: torch.device) -> contextlib.AbstractContextManager[Any]:
    """Makes `device` the current GPU: work that takes no device (a capture stream, a capability query)
    otherwise lands on GPU 0 while the run trains on cuda:1."""
    if device.type != "cuda":
        return contextlib.nullcontext()
    return torch.cuda.device(device)


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype to autocast to, or None for fp32. Mixed precision is a CUDA feature here."""
    if precision == "fp32" or device.type != "cuda":
        return None
    if precision == "bf16":
        with on_device(device):  # the question is asked of the current GPU; several may differ
            supported = torch.cuda.is_bf16_supported()
        if not supported:
            raise ConfigError("this GPU does not support bf16; choose fp16 or fp32")
        return torch.bfloat16
    return torch.float16


def autocast(device: torch.device, dtype: torch.dtype | None,
             cache: bool = True) -> contextlib.AbstractContextManager[Any]:
    """`cache=False` for CUDA-graph capture: a cast cached outside the capture would be replayed stale."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype, cache_enabled=cache)


def device_label(device: torch.device) -> str:
    """What a run record shows: 'cuda:NVIDIA H100', or 'cuda:1 (NVIDIA H100)' when there are several GPUs."""
    if device.type != "cuda":
        return device.type
    name = torch.cuda.get_device_name(device)
    if torch.cuda.device_count() > 1:
        index = torch.cuda.current_device() if device.index is None else device.index
        return f"cuda:{index} ({name})"
    return f"cuda:{name}"


def memory_mb(device: torch.device) -> float | None:
    """Peak memory allocated by this process on a CUDA device, in MiB."""
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**20


def available_devices() -> list[dict[str, Any]]:
    """What the Home and Train pages show: each device with its name and free memory."""
    out: list[dict[str, Any]] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            free, total = torch.cuda.mem_get_info(i)
            out.append({"id": "cuda", "index": i, "name": torch.cuda.get_device_name(i),
                        "free_gb": free / 2**30, "total_gb": total / 2**30})
    if _has_mps():
        out.append({"id": "mps", "name": "Apple GPU (MPS)", "free_gb": None, "total_gb": None})
    threads = cpu_threads()
    out.append({"id": "cpu", "name": f"CPU ({threads} thread{'s' if threads > 1 else ''})", "free_gb": None,
                "total_gb": None})
    return out


def is_oom(exc: BaseException) -> bool:
    if isinstance(exc, torch.cuda.OutOfMemoryError):
        return True
    return isinstance(exc, RuntimeError) and "out of memory" in str(exc).lower()


def cpu_threads(cores: int | None = None) -> int:
    """Intra-op threads for a run in a worker: every core but one, which stays with the app and its browser.

    On 2 cores one thread also trains the zoo's small models faster than two (digits MLP, batch
    32: 28.7k vs 16.9k samples/s while the app was in use), since two threads wait on each
    other whenever anything else runs. WORKBENCH_CPU_THREADS overrides.
    """
    wanted = os.environ.get("WORKBENCH_CPU_THREADS", "").strip()
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return max(1, (cores or os.cpu_count() or 1) - 1)

