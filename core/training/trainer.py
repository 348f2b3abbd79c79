"""Trainer: config in, work in `fit`.

Data lives on the device and is batched by index (a DataLoader loop is 2-100x
slower, ../shared/bench/ANCHORS.md); the host syncs only when a callback asks
for a number. Everything else (logging, stopping, checks) is a callback.
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterable, TypeVar

import numpy as np
import torch
from torch import nn

from core.config import RunConfig
from core.training import optim as optim_factory
from core.training.callbacks import (
    Callback, CallbackList, EarlyStopping, History, LastGoodWeights, NaNGuard, NonFiniteLoss, clone_state,
)
from core.training.device import autocast, autocast_dtype, is_oom, resolve_device

log = logging.getLogger(__name__)

EVAL_BATCH = 8192
_T = TypeVar("_T")


class Trainer:
    """Trains one model for one RunConfig. Attributes ending in _ exist after fit()."""

    def __init__(self, config: RunConfig, task: str, callbacks: Iterable[Callback] = ()):
        self.config = config
        self.task = task
        self.extra_callbacks = list(callbacks)
        self.stop_training = False

    # --- public -----------------------------------------------------------------
    def fit(self, model: nn.Module, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> "Trainer":
        cfg = self.config.train
        torch.manual_seed(cfg.seed)
        self.device_ = resolve_device(cfg.device)
        self.amp_dtype_ = autocast_dtype(self.device_, cfg.precision)
        self.model_ = model.to(self.device_)
        self.events_: list[str] = []
        self.X_train_, self.y_train_ = self._to_device(X_train, y_train)
        self.X_val_, self.y_val_ = self._to_device(X_val, y_val)
        # r2 from the MSE loss needs the target's variance (targets are standardised, so about 1)
        self._y_train_var = float(self.y_train_.float().var(unbiased=False)) if len(self.y_train_) > 1 else 1.0
        self.loss_fn_ = _loss_for(self.task)
        self.batch_size_ = min(cfg.batch_size, len(self.X_train_))
        self.eval_batch_ = EVAL_BATCH
        self.optimizer_ = optim_factory.build_optimizer(self.config.optim, self.model_, self.device_)
        self.scheduler_ = optim_factory.build_scheduler(self.config.schedule, self.optimizer_, self.config,
                                                        self._steps_per_epoch())
        self.scaler_ = torch.amp.GradScaler("cuda") if self.amp_dtype_ is torch.float16 else None
        self.history = History()
        self.early_stopping = EarlyStopping(self._monitor(), cfg.patience) if cfg.early_stopping else None
        self.last_good = LastGoodWeights()
        builtins: list[Callback] = [self.history, self.last_good, NaNGuard()]
        if self.early_stopping:
            builtins.append(self.early_stopping)
        self.callbacks_ = CallbackList(builtins + self.extra_callbacks)
        self.generator_ = torch.Generator(device=self.X_train_.device).manual_seed(cfg.seed)
        self._nonfinite = torch.zeros((), dtype=torch.bool, device=self.device_)
        self.epoch_, self.global_step_, self.step_in_epoch_ = 0, 0, 0
        self.best_epoch_: int | None = None
        self.samples_seen_, self.train_seconds_ = 0, 0.0
        self.start_time_ = time.time()

        self.callbacks_.call("on_fit_start", self)
        status = "failed"
        try:
            for epoch in range(1, cfg.epochs + 1):
                self.epoch_ = epoch
                self.callbacks_.call("on_epoch_start", self, epoch)
                logs = self._run_epoch_with_oom_retry()
                logs.update(self._evaluate_val())
                self.callbacks_.call("on_epoch_end", self, epoch, logs)
                if self.stop_training:
                    break
            status = "completed"
        except NonFiniteLoss:
            self.restore(self.last_good.state)
            raise
        finally:
            self.callbacks_.call("on_fit_end", self, status)
        return self

    @property
    def history_(self) -> list[dict[str, float]]:
        return self.history.rows

    @property
    def samples_per_s_(self) -> float:
        return self.samples_seen_ / self.train_seconds_ if self.train_seconds_ > 0 else 0.0

    @torch.no_grad()
    def predict(self, X: Any) -> np.ndarray:
        """Raw model outputs (logits or standardised values) as float32 numpy, batched on the device."""
        self.model_.eval()
        X_t = torch.as_tensor(np.asarray(X, dtype=np.float32)) if not torch.is_tensor(X) else X

        def outputs(bs: int) -> np.ndarray:
            outs = []
            for start in range(0, len(X_t), bs):
                xb = X_t[start:start + bs].to(self.device_, non_blocking=True)
                with autocast(self.device_, self.amp_dtype_):
                    outs.append(self.model_(xb).float().cpu())
            return torch.cat(outs).numpy() if outs else np.zeros((0, 1), dtype=np.float32)
        return self._with_eval_batch(outputs, len(X_t))

    def _with_eval_batch(self, work: Callable[[int], _T], rows: int) -> _T:
        """Run `work(batch)`, halving the evaluation batch on out-of-memory (training's batch shrinks
        apart, in the epoch retry); the smaller batch is kept for later evaluations."""
        while True:
            try:
                return work(self.eval_batch_)
            except Exception as exc:  # noqa: BLE001 - only OOM is retried, the rest re-raised
                if not is_oom(exc) or min(self.eval_batch_, rows) <= 1:
                    raise
                if self.device_.type == "cuda":
                    torch.cuda.empty_cache()
                self.eval_batch_ = max(1, min(self.eval_batch_, rows) // 2)
                self.emit(f"out of memory while evaluating: evaluating in batches of {self.eval_batch_}")

    def snapshot(self) -> dict[str, Any]:
        return clone_state(self.model_.state_dict())

    def restore(self, state: dict[str, Any] | None) -> None:
        if state is not None:
            self.model_.load_state_dict(state)

    def nonfinite_seen(self) -> bool:
        return bool(self._nonfinite.item())

    def emit(self, message: str) -> None:
        """A line for the user (early stop, batch shrunk...): logged and passed to callbacks."""
        log.info(message)
        self.events_.append(message)
        self.callbacks_.call("on_event", self, message)

    # --- the loop ---------------------------------------------------------------
    def _steps_per_epoch(self) -> int:
        n, bs = len(self.X_train_), self.batch_size_
        if self.config.train.drop_last:
            return max(1, n // bs)
        # a last batch of one row breaks BatchNorm in training mode; that row is reshuffled next epoch
        return max(1, math.ceil(n / bs) - (1 if n % bs == 1 and n > 1 else 0))

    def _run_epoch_with_oom_retry(self) -> dict[str, float]:
        while True:
            try:
                return self._run_epoch()
            except Exception as exc:  # noqa: BLE001 - only OOM is retried, the rest re-raised
                if not is_oom(exc) or self.batch_size_ <= 1:
                    raise
                self.optimizer_.zero_grad(set_to_none=True)
                if self.device_.type == "cuda":
                    torch.cuda.empty_cache()
                old = self.batch_size_
                self.batch_size_ = max(1, old // 2)
                self.emit(f"out of memory at batch size {old}: retrying the epoch with batch size {self.batch_size_}")

    def _run_epoch(self) -> dict[str, float]:
        model, opt, loss_fn = self.model_, self.optimizer_, self.loss_fn_
        model.train()
        X, y, bs = self.X_train_, self.y_train_, self.batch_size_
        n = len(X)
        perm = torch.randperm(n, device=X.device, generator=self.generator_)
        steps = self._steps_per_epoch()
        loss_sum = torch.zeros((), device=self.device_)
        correct = torch.zeros((), device=self.device_)
        l1 = self.config.optim.l1
        weights = [p for name, p in model.named_parameters() if p.dim() > 1] if l1 > 0 else []
        clip = self.config.train.grad_clip
        per_step_schedule = optim_factory.steps_per_batch(self.scheduler_)
        t0 = time.perf_counter()
        seen = 0
        for step in range(steps):
            idx = perm[step * bs:(step + 1) * bs]
            xb, yb = X[idx], y[idx]
            if xb.device != self.device_:  # data kept on the host: pinned, overlapped copies
                xb, yb = xb.to(self.device_, non_blocking=True), yb.to(self.device_, non_blocking=True)
            with autocast(self.device_, self.amp_dtype_):
                out = model(xb)
            loss = loss_fn(out.float(), yb)
            if weights:
                loss = loss + l1 * sum(w.abs().sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            if self.scaler_ is not None:
                self.scaler_.scale(loss).backward()
                self.scaler_.unscale_(opt)
            else:
                loss.backward()
            if clip:
                nn.utils.clip_grad_norm_(model.parameters(), clip)
            if self.scaler_ is not None:
                self.scaler_.step(opt)
                self.scaler_.update()
            else:
                opt.step()
            if per_step_schedule:
                optim_factory.step_scheduler(self.scheduler_)
            detached = loss.detach()
            self._nonfinite |= ~torch.isfinite(detached)
            loss_sum += detached * len(idx)
            if self.task != "regression":
                correct += _n_correct(out.detach(), yb, self.task)
            seen += len(idx)
            self.step_in_epoch_ = step + 1
            self.global_step_ += 1
            self.callbacks_.call("on_step_end", self, self.global_step_)
        train_loss = (loss_sum / max(seen, 1)).item()  # the one sync of the epoch
        elapsed = time.perf_counter() - t0
        self.samples_seen_ += seen
        self.train_seconds_ += elapsed
        if not per_step_schedule:
            optim_factory.step_scheduler(self.scheduler_, None)
        logs = {"train/loss": train_loss, "lr": opt.param_groups[0]["lr"],
                "samples_per_s": seen / elapsed if elapsed > 0 else 0.0, "batch_size": float(bs)}
        if self.task == "regression":
            logs["train/r2"] = 1.0 - train_loss / max(float(self._y_train_var), 1e-12)
        else:
            logs["train/accuracy"] = (correct / max(seen, 1)).item()
        return logs

    @torch.no_grad()
    def _evaluate_val(self) -> dict[str, float]:
        if len(self.X_val_) == 0:
            return {}
        self.model_.eval()

        def sums(bs: int) -> tuple[torch.Tensor, torch.Tensor]:
            loss_sum = torch.zeros((), device=self.device_)
            correct = torch.zeros((), device=self.device_)
            for start in range(0, len(self.X_val_), bs):
                xb = self.X_val_[start:start + bs].to(self.device_, non_blocking=True)
                yb = self.y_val_[start:start + bs].to(self.device_, non_blocking=True)
                with autocast(self.device_, self.amp_dtype_):
                    out = self.model_(xb).float()
                loss_sum += self.loss_fn_(out, yb) * len(xb)
                if self.task != "regression":
                    correct += _n_correct(out, yb, self.task)
            return loss_sum, correct
        loss_sum, correct = self._with_eval_batch(sums, len(self.X_val_))
        n = len(self.X_val_)
        val_loss = (loss_sum / n).item()
        logs = {"val/loss": val_loss}
        if self.task == "regression":
            var = float(self.y_val_.float().var(unbiased=False)) if n > 1 else 1.0
            logs["val/r2"] = 1.0 - val_loss / max(var, 1e-12)
        else:
            logs["val/accuracy"] = (correct / n).item()
        if self.scheduler_ is not None and optim_factory.needs_metric(self.scheduler_):
            optim_factory.step_scheduler(self.scheduler_, val_loss)
        return logs

    # --- helpers ----------------------------------------------------------------
    def _monitor(self) -> str:
        name = self.config.train.monitor or "loss"
        return name if "/" in name else f"val/{name}"

    def _to_device(self, X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        X_t = torch.as_tensor(np.ascontiguousarray(X, dtype=np.float32)) if not torch.is_tensor(X) else X.float()
        y_np = y if torch.is_tensor(y) else np.array(y)  # a copy: torch needs a writable array
        if self.task == "multiclass":
            y_t = torch.as_tensor(y_np).long()
        else:
            y_t = torch.as_tensor(y_np).float().reshape(-1, 1)
        try:
            return X_t.to(self.device_), y_t.to(self.device_)
        except Exception as exc:  # noqa: BLE001
            if not is_oom(exc):
                raise
            # larger than the GPU: keep it in pinned host memory and copy batches over
            torch.cuda.empty_cache()
            self.events_.append("the data does not fit in GPU memory: streaming batches from pinned host memory")
            return X_t.pin_memory(), y_t.pin_memory()


def _loss_for(task: str) -> nn.Module:
    if task == "regression":
        return nn.MSELoss()
    if task == "binary":
        return nn.BCEWithLogitsLoss()
    return nn.CrossEntropyLoss()


def _n_correct(out: torch.Tensor, y: torch.Tensor, task: str) -> torch.Tensor:
    if task == "binary":
        return ((out > 0).float() == y).sum()
    return (out.argmax(dim=1) == y).sum()
