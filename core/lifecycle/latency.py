"""CPU latency of a predictor at batch 1 and batch 256: p50 and p99 over repeated calls, in ms.

Every variant is timed the same way, on one CPU thread (torch and onnxruntime alike), so the rows of
one trade-off table compare; a busy machine moves all of them. Each setting stops after `budget_s`
or `repeats` calls, whichever comes first, after a few warm-up calls.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Callable, Iterator

import numpy as np
import torch

BATCHES = (1, 256)
THREADS = 1
BUDGET_S = 0.6  # per batch size and variant
REPEATS = 300  # at batch 1; a quarter of that at 256


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def time_calls(call: Callable[[], object], repeats: int, budget_s: float, warmup: int = 3) -> dict[str, float]:
    for _ in range(warmup):
        call()
    times: list[float] = []
    deadline = time.perf_counter() + budget_s
    while len(times) < repeats and (len(times) < 5 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        call()
        times.append((time.perf_counter() - t0) * 1000.0)
    return {"p50_ms": float(np.percentile(times, 50)), "p99_ms": float(np.percentile(times, 99)), "calls": len(times)}


def latency(predict: Callable[[np.ndarray], object], pick: Callable[[int], object], budget_s: float | None = None,
            repeats: int | None = None) -> dict[str, dict[str, float]]:
    """{"batch_1": {p50_ms, p99_ms, calls}, "batch_256": {...}}; `pick(n)` gives an input of n rows."""
    budget_s = BUDGET_S if budget_s is None else budget_s
    repeats = REPEATS if repeats is None else repeats
    out = {}
    with torch_threads(THREADS), torch.inference_mode():
        for batch in BATCHES:
            x = pick(batch)
            out[f"batch_{batch}"] = time_calls(lambda: predict(x), repeats if batch == 1 else repeats // 4, budget_s)
    return out


__all__ = ["BATCHES", "THREADS", "latency", "time_calls"]
