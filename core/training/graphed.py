"""The whole train step captured in one CUDA graph and replayed per batch.

Replaying a captured step is one launch instead of hundreds: at small batches
that launch overhead is most of the gap between a resident eager loop and the
hand-tuned limit (`train_graphs` in ../shared/bench/anchors.py; ANCHORS.md).
What a graph cannot follow is refused up front (`graph_eligibility`); anything
that still fails at capture leaves the run as it was and it trains eagerly.
"""
from __future__ import annotations

import contextlib
import copy
import os
import warnings
from typing import Any, Callable, Iterator

import torch
from torch import nn

from core.config import RunConfig
from core.training.device import on_device
from core.vocab import resolve_optimizer

# as in the anchor and torch's docs: lazy optimizer state and cuBLAS workspaces exist before the capture
WARMUP_STEPS = 3
GRAPHABLE_OPTIMIZERS = ("adam", "adamw", "sgd", "rmsprop")

# Layers whose forward and backward are device work only: no host sync, no Python state that a
# replay would freeze. Exact types: a subclass may override forward with anything.
SAFE_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Sequential, nn.ModuleList, nn.Identity, nn.Flatten, nn.Unflatten,
    nn.Linear, nn.Bilinear, nn.Conv1d, nn.Conv2d, nn.Conv3d,
    nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm,
    nn.ReLU, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Sigmoid, nn.Softplus, nn.Mish,
    nn.Dropout,  # torch registers its CUDA RNG with the graph: each replay draws a fresh mask
    nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d,
)


def graphs_enabled(flag: bool | None) -> bool:
    """The Trainer's `cuda_graphs` argument; None reads WORKBENCH_CUDA_GRAPHS (on unless "0")."""
    if flag is not None:
        return flag
    return os.environ.get("WORKBENCH_CUDA_GRAPHS", "1").strip() != "0"


def graph_eligibility(config: RunConfig, device: torch.device, model: nn.Module) -> tuple[bool, str]:
    """Whether this run's train step can be one CUDA graph, and why (not). Streamed data can: its
    batches are copied into a fixed device buffer that the graph reads."""
    if device.type != "cuda":
        return False, f"CUDA graphs need a CUDA device; this run trains on {device.type}"
    if config.train.precision == "fp16":
        return False, "fp16 needs a GradScaler, whose step reads the overflow check on the host"
    optimizer = resolve_optimizer(config.optim.name, config.model.kind)
    if optimizer not in GRAPHABLE_OPTIMIZERS:
        return False, f"optimizer {optimizer!r} has no capturable step"
    if config.schedule.name == "onecycle":
        return False, "one-cycle also cycles Adam's betas / SGD's momentum, which a captured step would freeze"
    for name, module in model.named_modules():
        # a layer of the zoo's own that does device work only says so with `graph_safe = True`
        if type(module) not in SAFE_LAYERS and not getattr(type(module), "graph_safe", False):
            return False, f"layer {name or 'model'} ({type(module).__name__}) is not known to be graph-safe"
        # momentum=None averages with 1/num_batches_tracked, read on the host every step
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and module.momentum is None:
            return False, f"layer {name} (BatchNorm with momentum=None) reads its batch count on the host"
    return True, "the whole train step replays as one CUDA graph"


class GraphedStep:
    """A captured `step(X[idx], y[idx])` for batches of exactly `batch_size` rows."""

    def __init__(self, graph: torch.cuda.CUDAGraph, static_idx: torch.Tensor, batch_size: int,
                 optimizer: torch.optim.Optimizer, lrs: list[torch.Tensor]):
        self.graph, self.static_idx, self.batch_size = graph, static_idx, batch_size
        self.optimizer, self.lrs = optimizer, lrs
        self._lr_values = [float(g["lr"]) for g in optimizer.param_groups]

    def replay(self, idx: torch.Tensor) -> None:
        # A scheduler sets param_groups' lr as a float, as in eager; the graph reads the device copy,
        # refreshed by one small kernel when it changes (no host sync).
        for i, (group, lr) in enumerate(zip(self.optimizer.param_groups, self.lrs)):
            if group["lr"] != self._lr_values[i]:
                lr.fill_(group["lr"])
                self._lr_values[i] = group["lr"]
        self.static_idx.copy_(idx)
        self.graph.replay()


def capture_step(step: Callable[[torch.Tensor, torch.Tensor], None], X: torch.Tensor, y: torch.Tensor,
                 batch_size: int, model: nn.Module, optimizer: torch.optim.Optimizer,
                 extra: list[torch.Tensor], follow_lr: bool) -> GraphedStep:
    """Warm up and capture `step` on device-resident X, y. The warm-up trains nothing: the model,
    the optimizer state, `extra` (the trainer's on-device sums) and the CUDA RNG are put back as they
    were, so the first replay is the step an eager run would take. `follow_lr`: a scheduler changes
    the lr, so the graph reads it from a device tensor instead of baking in a constant."""
    device = X.device
    static_idx = torch.arange(batch_size, device=device)
    # float32: the fused optimizers read a tensor lr as a float pointer
    lrs = [torch.tensor(float(g["lr"]), dtype=torch.float32, device=device)
           for g in optimizer.param_groups] if follow_lr else []
    graph = torch.cuda.CUDAGraph()
    # With that GPU current: torch.cuda.graph syncs and frees the current device, and a capture stream
    # of its own choosing would be a process-wide one made on whichever GPU was current the first time.
    with on_device(device):
        main = torch.cuda.current_stream(device)
        try:
            with preserved(model, optimizer, extra, device), _lr_as_tensors(optimizer, lrs):
                side = torch.cuda.Stream(device)
                side.wait_stream(main)
                with torch.cuda.stream(side), warnings.catch_warnings():
                    # capturable optimizers warn on their first uncaptured step; the warm-up is meant to be one
                    warnings.filterwarnings("ignore", message=".*capturable=True.*")
                    for _ in range(WARMUP_STEPS):
                        step(X[static_idx], y[static_idx])
                main.wait_stream(side)
                # the captured backward then allocates the grads from the graph's pool and writes them afresh
                optimizer.zero_grad(set_to_none=True)
                try:
                    with torch.cuda.graph(graph, stream=torch.cuda.Stream(device),
                                          capture_error_mode="thread_local"):
                        step(X[static_idx], y[static_idx])
                finally:
                    # a failed capture_end skips leaving the capture stream; the restore must run on `main`
                    torch.cuda.set_stream(main)
        except BaseException:
            optimizer.zero_grad(set_to_none=True)  # drop grads that point into the failed capture's pool
            raise
    return GraphedStep(graph, static_idx, batch_size, optimizer, lrs)


@contextlib.contextmanager
def preserved(model: nn.Module, optimizer: torch.optim.Optimizer, extra: list[torch.Tensor],
              device: torch.device) -> Iterator[None]:
    """Whatever trains inside leaves parameters, buffers, optimizer state, `extra` and the RNG as they
    were, writing back in place: a captured graph keeps the addresses it saw.

    State the optimizer creates inside (its first step) is zeroed: that is every optimizer's fresh
    state here (Adam's moments and step, RMSprop's averages), except SGD's momentum buffer, which
    its first step sets to the gradient; from zero the update gives momentum * 0 + grad, the same
    value (dampening is 0), and a graph needs the buffer to exist before it is captured.
    """
    tensors = [*model.parameters(), *model.buffers(), *extra]
    saved = [t.detach().clone() for t in tensors]
    had_state = {p: {k: v.detach().clone() if torch.is_tensor(v) else copy.deepcopy(v) for k, v in s.items()}
                 for p, s in optimizer.state.items()}
    rng = _rng_state(device)
    try:
        yield
    finally:
        with torch.no_grad():
            for t, value in zip(tensors, saved):
                t.copy_(value)
            for p, state in optimizer.state.items():
                before = had_state.get(p, {})
                for key, value in state.items():
                    if key in before and torch.is_tensor(value):
                        value.copy_(before[key])
                    elif key in before:
                        state[key] = before[key]
                    elif torch.is_tensor(value):
                        value.zero_()
        _set_rng_state(device, rng)


@contextlib.contextmanager
def _lr_as_tensors(optimizer: torch.optim.Optimizer, lrs: list[torch.Tensor]) -> Iterator[None]:
    """During warm-up and capture the param groups hold the device lr; schedulers see floats again after."""
    if not lrs:
        yield
        return
    floats = [g["lr"] for g in optimizer.param_groups]
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    try:
        yield
    finally:
        for group, value in zip(optimizer.param_groups, floats):
            group["lr"] = value


def _rng_state(device: torch.device) -> Any:
    return torch.cuda.get_rng_state(device) if device.type == "cuda" else torch.get_rng_state()


def _set_rng_state(device: torch.device, state: Any) -> None:
    if device.type == "cuda":
        torch.cuda.set_rng_state(state, device)
    else:
        torch.set_rng_state(state)
