"""Optimizers and learning-rate schedules from the config."""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from core.config import OptimConfig, RunConfig, ScheduleConfig


# L-BFGS: iterations per epoch (torch's default) and the history it keeps. Its strong-Wolfe line search
# picks each step's size, starting from a full step (lr 1), so the learning rate setting does not apply.
LBFGS_ITERATIONS = 20
LBFGS_HISTORY = 20


def build_optimizer(cfg: OptimConfig, model: nn.Module, device: torch.device,
                    capturable: bool = False, name: str | None = None) -> torch.optim.Optimizer:
    """`name`: the optimiser resolved from cfg.name (core.vocab.resolve_optimizer); cfg.name if None.

    `capturable`: the step may be captured in a CUDA graph (its step counters live on the device).
    It changes no arithmetic: fused Adam ignores the flag, and RMSprop's capturable branch differs
    only for a tensor learning rate, which the graph alone uses."""
    # torch 2.14 imports torch._dynamo (~2.5 s, sympy and triton with it) in every Optimizer's __init__
    # (add_param_group is @torch._disable_dynamo) and step (_use_grad_for_differentiable): no argument
    # avoids it (SGD, Adam foreach/fused/neither, RMSprop, LBFGS measured); warm workers preload it.
    name = name or cfg.name
    params = [p for p in model.parameters() if p.requires_grad]
    if name == "lbfgs":  # weight decay and L1 are terms of its loss (core.training.full_batch)
        return torch.optim.LBFGS(params, lr=1.0, max_iter=LBFGS_ITERATIONS, history_size=LBFGS_HISTORY,
                                 line_search_fn="strong_wolfe")
    # fused kernels on CUDA do the whole update in one launch; foreach elsewhere
    fast: dict[str, Any] = {"fused": True} if device.type == "cuda" else {"foreach": True}
    graph: dict[str, Any] = {"capturable": True} if capturable else {}
    if name == "sgd":  # no step counter, nothing to make capturable
        return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, nesterov=cfg.nesterov and cfg.momentum > 0,
                               weight_decay=cfg.weight_decay, **fast)
    if name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast, **graph)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay, **fast, **graph)
    if name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
                                   foreach=True, **graph)
    raise ValueError(f"unknown optimizer {name}")


def build_scheduler(cfg: ScheduleConfig, opt: torch.optim.Optimizer, run: RunConfig, steps_per_epoch: int) -> Any:
    total = max(1, run.train.epochs * steps_per_epoch)
    if cfg.name == "constant":
        return None
    if cfg.name == "step":
        return torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, cfg.step_size), gamma=cfg.gamma)
    if cfg.name == "cosine":
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=total)
        sched._wb_per_step = True  # type: ignore[attr-defined]
        return sched
    if cfg.name == "onecycle":
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=run.optim.lr, total_steps=total,
                                                    pct_start=min(max(cfg.warmup_fraction, 0.01), 0.99))
        sched._wb_per_step = True  # type: ignore[attr-defined]
        sched._wb_total = total  # type: ignore[attr-defined]
        return sched
    if cfg.name == "plateau":
        return torch.optim.lr_scheduler.ReduceLROnPlateau(opt, mode="min", factor=cfg.plateau_factor,
                                                          patience=cfg.plateau_patience)
    raise ValueError(f"unknown schedule {cfg.name}")


def steps_per_batch(sched: Any) -> bool:
    return bool(getattr(sched, "_wb_per_step", False))


def needs_metric(sched: Any) -> bool:
    return isinstance(sched, torch.optim.lr_scheduler.ReduceLROnPlateau)


def step_scheduler(sched: Any, metric: float | None = None) -> None:
    if sched is None:
        return
    if needs_metric(sched):
        if metric is not None and math.isfinite(metric):
            sched.step(metric)
        return
    total = getattr(sched, "_wb_total", None)
    # OneCycle raises past its last step (a shrunk batch adds steps): hold the final rate instead
    if total is not None and sched.last_epoch + 1 >= total:
        return
    sched.step()
