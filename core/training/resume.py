"""A fit's whole state, to stop and go on later, and the learning rate changed while it trains.

`capture(trainer)` takes everything a later fit of the same config needs to continue as if it had
never stopped: weights, optimiser state, schedule, epoch and step within it, the epoch's running sums,
early stopping's best so far, the history, and the random state (torch's default generator, which
dropout and augmentation draw from, and the trainer's own, which orders the rows). It is plain data
with CPU tensors in it; core.runs.checkpoints writes it as safetensors plus JSON, never pickle.

This module never imports the trainer (which imports it): it reads and sets the trainer's attributes.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from core.training.callbacks import clone_state

VERSION = 1
# optimiser settings that follow the device it trains on, not the run that saved the state
_DEVICE_FLAGS = ("fused", "foreach", "capturable", "differentiable")
# schedules keep these per param group (OneCycle: max_lr, min_lr) or per scheduler (base_lrs)
_GROUP_RATES = ("initial_lr", "max_lr", "min_lr")


def capture(trainer: Any) -> dict[str, Any]:
    """The trainer's state now (between two steps, or after an epoch's end)."""
    device = trainer.device_
    stopped_mid_epoch = trainer.epoch_ > 0 and not trainer.epoch_done_
    rng: dict[str, Any] = {"torch": torch.get_rng_state(), "generator": trainer.generator_.get_state().cpu()}
    if trainer._epoch_rng is not None:
        rng["epoch_generator"] = trainer._epoch_rng.cpu()
    if device.type == "cuda":
        rng["cuda"] = torch.cuda.get_rng_state(device)
    early = trainer.early_stopping_
    return {
        "version": VERSION,
        "epoch": trainer.epoch_, "step_in_epoch": trainer.step_in_epoch_, "epoch_done": trainer.epoch_done_,
        "global_step": trainer.global_step_, "samples_seen": trainer.samples_seen_,
        "train_seconds": trainer.train_seconds_, "batch_size": trainer.batch_size_,
        "best_epoch": trainer.best_epoch_,
        "epoch_sums": {"loss": float(trainer._loss_sum.item()), "correct": float(trainer._correct.item()),
                       "seen": int(getattr(trainer, "_epoch_seen", 0))} if stopped_mid_epoch else None,
        "model": clone_state({k: v.detach().cpu() for k, v in trainer.model_.state_dict().items()}),
        "optimizer": _cpu(trainer.optimizer_.state_dict()),
        "scheduler": _cpu(trainer.scheduler_.state_dict()) if trainer.scheduler_ is not None else None,
        "scaler": trainer.scaler_.state_dict() if trainer.scaler_ is not None else None,
        "early_stopping": None if early is None else {
            "best": early.best, "best_epoch": early.best_epoch, "wait": early.wait,
            "best_state": _cpu(early.best_state) if early.best_state is not None else None},
        "history": [dict(row) for row in trainer.history_],
        "rng": rng,
    }


def load(trainer: Any, state: dict[str, Any]) -> int:
    """Put `state` into an initialized trainer; returns the epoch the fit goes on with."""
    if state.get("version") != VERSION:
        raise ValueError(f"a training state of version {state.get('version')!r}; this version reads {VERSION}")
    trainer.model_.load_state_dict(state["model"])
    saved = state["optimizer"]
    for group, now in zip(saved["param_groups"], trainer.optimizer_.param_groups):
        for flag in _DEVICE_FLAGS:
            if flag in now:
                group[flag] = now[flag]
    trainer.optimizer_.load_state_dict(saved)
    if trainer.scheduler_ is not None and state.get("scheduler"):
        trainer.scheduler_.load_state_dict(state["scheduler"])
    if trainer.scaler_ is not None and state.get("scaler"):
        trainer.scaler_.load_state_dict(state["scaler"])
    early = trainer.early_stopping_
    if early is not None and state.get("early_stopping"):
        kept = state["early_stopping"]
        early.best, early.best_epoch, early.wait = kept["best"], kept["best_epoch"], kept["wait"]
        early.best_state = kept["best_state"]
    trainer.history_.extend(state.get("history") or [])
    trainer.global_step_ = int(state["global_step"])
    trainer.samples_seen_ = int(state["samples_seen"])
    trainer.train_seconds_ = float(state["train_seconds"])
    trainer.batch_size_ = int(state["batch_size"])
    trainer.best_epoch_ = state.get("best_epoch")
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    trainer.generator_.set_state(rng["generator"])
    if "cuda" in rng and trainer.device_.type == "cuda":
        torch.cuda.set_rng_state(rng["cuda"], trainer.device_)
    epoch = int(state["epoch"])
    if epoch == 0 or state["epoch_done"]:
        trainer.epoch_ = epoch
        return epoch + 1
    # part-way through `epoch`: draw its order again and skip the steps already taken
    trainer.epoch_, trainer.step_in_epoch_ = epoch, int(state["step_in_epoch"])
    trainer._resume_step = int(state["step_in_epoch"])
    trainer._epoch_rng = rng.get("epoch_generator")
    trainer._resume_sums = state.get("epoch_sums")
    return epoch


def scale_learning_rate(trainer: Any, lr: float) -> str:
    """Every param group at `lr` from the next step. A schedule goes on from the new rate: what it keeps
    of the base rate (initial, max and min rates, base_lrs) is scaled by new / old, so a cosine or
    step schedule keeps its shape from here. Returns what was done, in words."""
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        return f"learning rate not changed: {lr!r} is not a positive number"
    if trainer.full_batch_:
        return "learning rate not changed: L-BFGS picks each step's size itself (its line search)"
    groups = trainer.optimizer_.param_groups
    old = float(groups[0]["lr"])
    ratio = lr / old if old > 0 else None
    for group in groups:
        group["lr"] = lr
        for key in _GROUP_RATES:
            if key in group:
                group[key] = group[key] * ratio if ratio is not None else lr
    sched = trainer.scheduler_
    if sched is not None:
        if hasattr(sched, "base_lrs"):
            sched.base_lrs = [b * ratio if ratio is not None else lr for b in sched.base_lrs]
        if hasattr(sched, "_last_lr"):
            sched._last_lr = [lr for _ in groups]
    graph = getattr(trainer, "graph_", None)
    if graph is not None and not graph.lrs:
        # this graph baked the old rate in: the epoch's other steps run eagerly, the next captures anew
        trainer.graph_ = None
    at = f"epoch {trainer.epoch_}, step {trainer.step_in_epoch_}"
    then = " (the schedule goes on from it)" if sched is not None else ""
    return f"learning rate {old:.4g} \u2192 {lr:.4g} from the step after {at}{then}"


def _cpu(value: Any) -> Any:
    """A copy with every tensor on the CPU (an optimiser's state dict holds device tensors)."""
    if torch.is_tensor(value):
        return value.detach().cpu().clone()
    if isinstance(value, dict):
        return {k: _cpu(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_cpu(v) for v in value)
    return value
