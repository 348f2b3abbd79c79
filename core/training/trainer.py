"""Trainer: config in, work in `fit`.

Data lives on the device and is batched by index (a DataLoader loop is 2-100x
slower, ../shared/bench/ANCHORS.md); the host syncs only when a callback asks
for a number. Everything else (logging, stopping, checks) is a callback.

How the steps run is `step_mode_`: "cuda-graph" (the whole step replayed from one
capture, graphed.py), "eager", or, when data larger than the GPU stays on the host
and its batches stream over (streaming.py), "streaming-cuda-graph" or "streaming";
"ddp" when the run is one rank of several processes (distributed.py: each trains a
shard of every batch, DistributedDataParallel averages the gradients).
"""
from __future__ import annotations

import logging
import math
import time
from typing import Any, Callable, Iterable, Iterator, TypeVar

import numpy as np
import torch
from torch import nn

from core.config import RunConfig
from core.training import optim as optim_factory
from core.training.callbacks import (
    CancelFit, Callback, EarlyStopping, History, LastGoodWeights, NaNGuard, NonFiniteLoss, clone_state,
)
from core.training import resume as resume_state
from core.training import distributed
from core.training.device import autocast, autocast_dtype, is_oom, memory_mb, resolve_device
from core.errors import ConfigError
from core.training.full_batch import lbfgs_epoch
from core.training.graphed import GraphedStep, capture_step, graph_eligibility, graphs_enabled
from core.training.streaming import StreamingBatches, stream_reason
from core.vocab import FULL_BATCH_OPTIMIZERS, resolve_optimizer

log = logging.getLogger(__name__)

EVAL_BATCH = 8192
_T = TypeVar("_T")


class Trainer:
    """Trains one model for one RunConfig, as skorch's NeuralNet: `__init__` stores its arguments,
    `initialize()` builds the fitted state (the attributes ending in _), `fit()` initializes and trains.

    callbacks: notified by name with keyword arguments (`notify`), after the built-in ones (history,
    last good weights, NaN guard, early stopping).
    cuda_graphs: capture the train step in a CUDA graph where it is safe; None reads the environment
    variable WORKBENCH_CUDA_GRAPHS (on unless "0"), False always trains eagerly.
    streaming: keep the data in host memory and stream batches even when it would fit on the device
    (benchmarks, tests); otherwise that is decided from the data's size and on out-of-memory.
    batch_transform: applied to each training batch on the device before the model sees it (image
    augmentation), never to validation or prediction batches. It may draw from torch's default
    generator (seeded by the run's seed); a CUDA graph captures it only if it says `graph_safe = True`.

    X may be of any shape and dtype: uint8 (image batches) stays uint8 on the device, a quarter of the
    memory of float32, for the model's first layer to scale; anything else trains as float32.

    ranks: this process's place among the processes that train one run together (torchrun; the
    process group already joined). Every rank passes the whole data; the trainer trains its shard
    of each batch and agrees with the others on whatever ends the loop.

    resume: a training_state() of an earlier fit of the same config (core.training.resume): the fit
    goes on from where that one stopped (weights, optimiser, schedule, epoch and step, random state),
    as if it had never stopped. A fit ended by CancelFit leaves its own in `stopped_state_`.
    """

    def __init__(self, config: RunConfig, task: str, callbacks: Iterable[Callback] = (), *,
                 cuda_graphs: bool | None = None, streaming: bool = False,
                 batch_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
                 ranks: distributed.Ranks | None = None, resume: dict[str, Any] | None = None):
        self.config = config
        self.resume = resume
        self.task = task
        self.callbacks = list(callbacks)
        self.cuda_graphs = cuda_graphs
        self.streaming = streaming
        self.batch_transform = batch_transform
        self.ranks = ranks

    # --- public -----------------------------------------------------------------
    def initialize(self, model: nn.Module, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> "Trainer":
        """Builds everything a fit changes, afresh: device, model on it, data, optimizer, schedule,
        callbacks, history, counters. Seeds torch first, so the same config trains the same way."""
        cfg = self.config.train
        torch.manual_seed(cfg.seed)
        self.device_ = resolve_device(cfg.device)
        self.amp_dtype_ = autocast_dtype(self.device_, cfg.precision)
        self.model_ = model.to(self.device_)
        # the replica that trains: the model itself, or DDP around it (it shares the model's parameters,
        # so snapshots, early stopping and the saved weights read self.model_ as always)
        self.net_: nn.Module = self.model_ if self.ranks is None else nn.parallel.DistributedDataParallel(
            self.model_, device_ids=[self.device_.index] if self.device_.type == "cuda" else None)
        self.events_: list[str] = []
        self.stop_training_ = False
        self.paused_s_ = 0.0
        self.stopped_state_: dict[str, Any] | None = None
        self.epoch_done_ = False  # the current epoch's end-of-epoch work has begun (training_state)
        self._resume_step, self._epoch_rng, self._resume_sums = 0, None, None
        self.history_ = History()
        self.early_stopping_ = EarlyStopping(self._monitor(), cfg.patience) if cfg.early_stopping else None
        self.last_good_ = LastGoodWeights()
        builtins: list[Callback] = [self.history_, self.last_good_, NaNGuard()]
        if self.early_stopping_:
            builtins.append(self.early_stopping_)
        self.callbacks_: list[Callback] = builtins + self.callbacks
        self._place_data(X_train, y_train, X_val, y_val)
        # r2 from the MSE loss needs the target's variance (targets are standardised, so about 1)
        self._y_train_var = float(self.y_train_.float().var(unbiased=False)) if len(self.y_train_) > 1 else 1.0
        self.loss_fn_ = _loss_for(self.task)
        self.optimizer_name_ = resolve_optimizer(self.config.optim.name, self.config.model.kind)
        # full batch (L-BFGS): one step per epoch over every row; batch_size_ is then the chunk of rows
        # the loss is summed over on the device
        self.full_batch_ = self.optimizer_name_ in FULL_BATCH_OPTIMIZERS
        self.batch_size_ = min(EVAL_BATCH if self.full_batch_ else cfg.batch_size, len(self.X_train_))
        self.eval_batch_ = EVAL_BATCH
        self.step_mode_, self.step_mode_reason_ = self._step_mode()
        self.optimizer_ = optim_factory.build_optimizer(self.config.optim, self.model_, self.device_,
                                                        capturable=self.graphed_, name=self.optimizer_name_)
        self.scheduler_ = None if self.full_batch_ else optim_factory.build_scheduler(
            self.config.schedule, self.optimizer_, self.config, self.steps_per_epoch_)
        if self.full_batch_:
            self._full_batch_notes()
        self.scaler_ = torch.amp.GradScaler("cuda") if self.amp_dtype_ is torch.float16 else None
        self.graph_: GraphedStep | None = None
        # penalties on the weight matrices (never biases): L1, and the model's own L2 (a linear model's
        # scikit-learn penalty, core.models.zoo), per training row as the loss is a mean
        self._l2 = float(getattr(self.model_, "weight_penalty", 0.0)) / max(len(self.X_train_), 1)
        # L-BFGS takes no weight decay of its own: it is the loss's 0.5 * decay * |W|^2 there
        if self.full_batch_:
            self._l2 += 0.5 * self.config.optim.weight_decay
        penalised = self.config.optim.l1 > 0 or self._l2 > 0
        self._penalised = [p for p in self.model_.parameters() if p.dim() > 1] if penalised else []
        # on the training device in every mode, so that streamed and resident runs see the same order
        self.generator_ = torch.Generator(device=self.device_).manual_seed(cfg.seed)
        # on-device sums of the epoch: the graph adds into these very tensors, so they are never rebound
        self._nonfinite = torch.zeros((), dtype=torch.bool, device=self.device_)
        self._loss_sum = torch.zeros((), device=self.device_)
        self._correct = torch.zeros((), device=self.device_)
        self.epoch_, self.global_step_, self.step_in_epoch_ = 0, 0, 0
        self.best_epoch_: int | None = None
        self.samples_seen_, self.train_seconds_ = 0, 0.0
        self.start_time_ = time.time()
        self._fit_clock = self._epoch_clock = time.perf_counter()  # progress(): elapsed, live rate
        return self

    def fit(self, model: nn.Module, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> "Trainer":
        self.initialize(model, X_train, y_train, X_val, y_val)
        first = resume_state.load(self, self.resume) if self.resume else 1
        self._start_fraction = self.progress()["fraction"] if self.resume else 0.0
        self.notify("on_fit_start")
        status = "failed"
        try:
            for epoch in range(first, self.config.train.epochs + 1):
                self.epoch_ = epoch
                self.epoch_done_ = False
                self._epoch_clock = time.perf_counter()
                self.notify("on_epoch_start", epoch=epoch)
                logs = self._run_epoch_with_oom_retry()
                logs.update(self._evaluate_val())
                self.epoch_done_ = True
                self.notify("on_epoch_end", epoch=epoch, logs=logs)
                if self.ranks is not None:  # early stopping decides on each rank: all stop if one does
                    self.stop_training_ = distributed.reduce_max([float(self.stop_training_)], self._collective)[0] > 0
                if self.stop_training_:
                    break
            status = "completed"
        except CancelFit:
            self.stopped_state_ = self.training_state()  # before early stopping puts its best weights back
            raise
        except NonFiniteLoss:
            self.restore(self.last_good_.state)
            raise
        finally:
            self.notify("on_fit_end", status=status)
        return self

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Calls `hook` of every callback by name, with keyword arguments only (skorch's notify)."""
        for cb in self.callbacks_:
            getattr(cb, hook)(self, **kwargs)

    @property
    def steps_per_epoch_(self) -> int:
        """Optimizer steps in one epoch at the current batch size (it shrinks on out-of-memory)."""
        n, bs = len(self.X_train_), self.batch_size_
        if self.full_batch_:
            return 1
        if self.config.train.drop_last:
            return max(1, n // bs)
        # a last batch of one row breaks BatchNorm in training mode; that row is reshuffled next epoch
        return max(1, math.ceil(n / bs) - (1 if n % bs == 1 and n > 1 else 0))

    def progress(self) -> dict[str, Any]:
        """Where the fit stands, as plain data: the run store's heartbeat and the CLI's bar show it."""
        epochs = self.config.train.epochs
        steps = self.steps_per_epoch_
        done = (self.epoch_ - 1 + self.step_in_epoch_ / steps) if self.epoch_ else 0.0
        fraction = min(1.0, max(0.0, done / epochs))
        now = time.perf_counter()
        elapsed, epoch_elapsed = now - self._fit_clock - self.paused_s_, now - self._epoch_clock
        live_rate = self.step_in_epoch_ * self.batch_size_ / epoch_elapsed if epoch_elapsed > 0 else 0.0
        # a resumed fit's time left from its own pace, not from the epochs an earlier fit did
        this_fit = fraction - getattr(self, "_start_fraction", 0.0)
        return {
            "epoch": self.epoch_, "epochs": epochs, "step": self.step_in_epoch_, "steps_per_epoch": steps,
            "fraction": fraction, "elapsed_s": elapsed,
            "eta_s": elapsed * (1 - fraction) / this_fit if this_fit > 0 else None,
            "lr": float(self.optimizer_.param_groups[0]["lr"]), "optimizer": self.optimizer_name_,
            "samples_per_s": self.samples_per_s_ or live_rate, "batch_size": self.batch_size_,
            "gpu_mem_mb": memory_mb(self.device_), "device": str(self.device_), "step_mode": self.step_mode_,
            "processes": self.ranks.world if self.ranks else 1,
        }

    @property
    def samples_per_s_(self) -> float:
        return self.samples_seen_ / self.train_seconds_ if self.train_seconds_ > 0 else 0.0

    @torch.no_grad()
    def predict(self, X: Any) -> np.ndarray:
        """Raw model outputs (logits or standardised values) as float32 numpy, batched on the device."""
        self.model_.eval()
        X_t = _as_input(X)

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

    def set_learning_rate(self, lr: float) -> str:
        """From the next step every param group trains at `lr`; a schedule goes on from there, its base
        scaled by the same factor (core.training.resume.scale_learning_rate). Returns it in words."""
        return resume_state.scale_learning_rate(self, lr)

    def training_state(self) -> dict[str, Any]:
        """Everything a later fit needs to go on from here, as plain data with tensors on the CPU."""
        return resume_state.capture(self)

    def nonfinite_seen(self) -> bool:
        if self.ranks is not None:  # asked at step counts all ranks share (NaNGuard): one rank's NaN stops all
            return distributed.reduce_max([float(self._nonfinite.item())], self._collective)[0] > 0
        return bool(self._nonfinite.item())

    @property
    def _collective(self) -> torch.device:
        return distributed.collective_device(self.ranks) if self.ranks else self.device_

    def emit(self, message: str) -> None:
        """A line for the user (early stop, batch shrunk...): logged and passed to callbacks."""
        log.info(message)
        self.events_.append(message)
        self.notify("on_event", message=message)

    # --- the loop ---------------------------------------------------------------
    def _step_mode(self) -> tuple[str, str]:
        """How the steps will run, and why (see the module's docstring)."""
        if self.ranks is not None:
            return "ddp", f"{self.ranks.world} processes ({self.ranks.backend}), each training a shard of every batch"
        graphed, reason = graph_eligibility(self.config, self.device_, self.model_)
        if graphed and self.batch_transform is not None and not getattr(self.batch_transform, "graph_safe", False):
            graphed, reason = False, "the training-batch transform is not known to be graph-safe"
        if graphed and not graphs_enabled(self.cuda_graphs):
            graphed, reason = False, "CUDA graphs turned off"
        mode = ("cuda-graph" if graphed else "eager") if not self.streaming_ else \
            ("streaming-cuda-graph" if graphed else "streaming")
        log.info("train step: %s (%s)", mode, reason)
        return mode, reason

    @property
    def graphed_(self) -> bool:
        return self.step_mode_ in ("cuda-graph", "streaming-cuda-graph")

    def _run_epoch_with_oom_retry(self) -> dict[str, float]:
        while True:
            try:
                return self._run_epoch()
            except Exception as exc:  # noqa: BLE001 - only OOM is retried, the rest re-raised
                # ranks retrying apart would wait on each other for ever: a rank's OOM ends the run
                if not is_oom(exc) or self.batch_size_ <= 1 or self.ranks is not None:
                    raise
                self.optimizer_.zero_grad(set_to_none=True)
                if self.device_.type == "cuda":
                    torch.cuda.empty_cache()
                old = self.batch_size_
                self.batch_size_ = max(1, old // 2)
                self.emit(f"out of memory at batch size {old}: retrying the epoch with batch size {self.batch_size_}")

    def _run_epoch(self) -> dict[str, float]:
        if self.full_batch_:
            return self._run_full_batch_epoch()
        self.model_.train()
        n, bs = len(self.X_train_), self.batch_size_
        steps = self.steps_per_epoch_
        self.step_in_epoch_ = 0  # progress() of a new (or retried) epoch starts from its first step
        if self.graphed_ and (self.graph_ is None or self.graph_.batch_size != bs):
            self.graph_ = self._capture_graph(bs)  # before the clock starts: the anchors time replays only
        # the order's random state, kept so that a fit resumed part-way through this epoch draws it again
        if self._epoch_rng is not None and self._resume_step:
            self.generator_.set_state(self._epoch_rng)
        else:
            self._epoch_rng = self.generator_.get_state()
        perm = torch.randperm(n, device=self.device_, generator=self.generator_)
        self._loss_sum.zero_()
        self._correct.zero_()
        seen, skip = 0, self._resume_step
        if skip:  # resumed part-way: the steps already taken, and their sums, are the earlier fit's
            self._resume_step = 0
            sums = self._resume_sums or {}
            self._loss_sum.fill_(float(sums.get("loss", 0.0)))
            self._correct.fill_(float(sums.get("correct", 0.0)))
            seen = int(sums.get("seen", 0))
            perm = perm[min(skip * bs, n):]
        per_step_schedule = optim_factory.steps_per_batch(self.scheduler_)
        t0 = time.perf_counter()
        paused0 = self.paused_s_
        self._epoch_seen = seen
        for step, rows in enumerate(self._steps(perm, steps - skip, bs)):
            if per_step_schedule:
                optim_factory.step_scheduler(self.scheduler_)
            seen += rows
            self._epoch_seen = seen
            self.step_in_epoch_ = skip + step + 1
            self.global_step_ += 1
            self.notify("on_step_end", step=self.global_step_)
        loss_sum, correct = self._loss_sum, self._correct
        if self.ranks is not None:  # the epoch's sums over every rank's shards: the global batch's figures
            totals = torch.stack([loss_sum, correct, torch.tensor(float(seen), device=self.device_)]).to(self._collective)
            distributed.reduce_sum_([totals])
            loss_sum, correct, seen = totals[0], totals[1], int(totals[2].item())
        train_loss = (loss_sum / max(seen, 1)).item()  # the one sync of the epoch
        elapsed = time.perf_counter() - t0 - (self.paused_s_ - paused0)
        self.samples_seen_ += seen
        self.train_seconds_ += elapsed
        if not per_step_schedule:
            optim_factory.step_scheduler(self.scheduler_, None)
        logs = {"train/loss": train_loss, "lr": self.optimizer_.param_groups[0]["lr"],
                "samples_per_s": seen / elapsed if elapsed > 0 else 0.0, "batch_size": float(bs)}
        if self.task == "regression":
            logs["train/r2"] = 1.0 - train_loss / max(float(self._y_train_var), 1e-12)
        else:
            logs["train/accuracy"] = (correct / max(seen, 1)).item()
        return logs

    def _run_full_batch_epoch(self) -> dict[str, float]:
        """One L-BFGS step over every training row (core.training.full_batch); stops once converged."""
        self.step_in_epoch_ = self._resume_step = 0  # an epoch stopped after its one step is taken again
        t0 = time.perf_counter()
        result = lbfgs_epoch(self.model_, self.optimizer_, self.X_train_, self.y_train_, self.loss_fn_,
                             lambda out, yb: _n_correct(out, yb, self.task) if self.task != "regression"
                             else torch.zeros((), device=self.device_),
                             device=self.device_, amp_dtype=self.amp_dtype_, chunk=self.batch_size_,
                             penalty=self._penalty)
        elapsed = time.perf_counter() - t0
        n = len(self.X_train_)
        if result.nonfinite:
            self._nonfinite.fill_(True)
        self.step_in_epoch_ = 1
        self.global_step_ += 1
        self.notify("on_step_end", step=self.global_step_)
        self.samples_seen_ += n * result.evaluations
        self.train_seconds_ += elapsed
        if result.converged and not result.nonfinite:
            self.stop_training_ = True
            self.emit(f"L-BFGS converged at epoch {self.epoch_}: the training loss no longer changes")
        logs = {"train/loss": result.loss, "lr": self.optimizer_.param_groups[0]["lr"],
                "samples_per_s": n * result.evaluations / elapsed if elapsed > 0 else 0.0, "batch_size": float(n)}
        if self.task == "regression":
            logs["train/r2"] = 1.0 - result.loss / max(float(self._y_train_var), 1e-12)
        else:
            logs["train/accuracy"] = result.correct / max(n, 1)
        return logs

    def _penalty(self) -> torch.Tensor | None:
        """L1 and L2 on the weight matrices, added to the (mean) loss; None without either."""
        if not self._penalised:
            return None
        l1 = self.config.optim.l1
        term = sum(w.abs().sum() for w in self._penalised) * l1 if l1 > 0 else None
        if self._l2 > 0:
            quad = sum(w.pow(2).sum() for w in self._penalised) * self._l2
            term = quad if term is None else term + quad
        return term

    def _full_batch_notes(self) -> None:
        """What the run's settings ask that a full-batch L-BFGS fit does not do, said once."""
        cfg = self.config
        ignored = []
        if cfg.schedule.name != "constant":
            ignored.append(f"the {cfg.schedule.name} schedule")
        if cfg.train.grad_clip:
            ignored.append("gradient clipping")
        if self.batch_transform is not None:
            ignored.append("augmentation")
        self.emit("optimiser L-BFGS (full batch): every training row in each step, the step size from a line "
                  "search; the learning rate and batch size do not apply"
                  + (f", nor does {' or '.join(ignored)}" if ignored else ""))

    def _steps(self, perm: torch.Tensor, steps: int, bs: int) -> Iterator[int]:
        """Takes the epoch's steps one by one, yielding the rows each trained on."""
        if self.streaming_:
            feed = StreamingBatches(self.X_train_, self.y_train_, self.device_, bs)
            for xb, yb in feed.batches(perm.cpu(), steps):  # one copy of the order per epoch
                if self.graph_ is not None and len(xb) == bs:
                    # the graph reads one fixed buffer: a device-to-device copy, queued before the
                    # replay on this stream, so the feed refills the streamed buffer only after both
                    self._batch_x.copy_(xb)
                    self._batch_y.copy_(yb)
                    self.graph_.replay(self._batch_rows)
                else:
                    self._train_step(xb, yb)
                yield len(xb)
            return
        X, y = self.X_train_, self.y_train_
        for step in range(steps):
            idx = perm[step * bs:(step + 1) * bs]
            if self.ranks is not None:
                mine, scale = distributed.shard(idx, self.ranks)
                self._train_step(X[mine], y[mine], scale=scale)
                yield len(mine)  # this rank's rows: the epoch's sums add up every rank's
                continue
            if self.graph_ is not None and len(idx) == bs:
                self.graph_.replay(idx)
            else:
                # A short last batch steps eagerly with the same optimizer: its state tensors are the ones
                # the graph updates in place, so both see every step. zero_grad(set_to_none) hands this step
                # fresh grads; the graph keeps writing its own grad buffers, which it captured by address.
                self._train_step(X[idx], y[idx])
            yield len(idx)

    def _train_step(self, xb: torch.Tensor, yb: torch.Tensor, capturing: bool = False, scale: float = 1.0) -> None:
        """One optimizer step; its loss, correct count and non-finite flag are added up on the device.

        `scale`: a rank's share of the global batch (distributed.shard); its data loss is scaled by it
        for the backward pass, so DDP's average of the ranks' gradients is the global batch's."""
        model, opt = self.model_, self.optimizer_
        if self.batch_transform is not None:
            xb = self.batch_transform(xb)
        with autocast(self.device_, self.amp_dtype_, cache=not capturing):
            out = self.net_(xb)
        # a rank with no rows of a tiny batch still joins the gradient reduction, with zero gradients
        loss = self.loss_fn_(out.float(), yb) if len(xb) else out.float().sum() * 0.0
        backward = loss * scale if scale != 1.0 else loss
        penalty = self._penalty()
        if penalty is not None:  # the same on every rank: not scaled, so the average keeps it whole
            loss, backward = loss + penalty, backward + penalty
        opt.zero_grad(set_to_none=True)
        if self.scaler_ is not None:
            self.scaler_.scale(backward).backward()
            self.scaler_.unscale_(opt)
        else:
            backward.backward()
        if self.config.train.grad_clip:
            # foreach on CUDA: the norm and the scaling stay on the device, no host sync (and capturable)
            nn.utils.clip_grad_norm_(model.parameters(), self.config.train.grad_clip,
                                     foreach=True if self.device_.type == "cuda" else None)
        if self.scaler_ is not None:
            self.scaler_.step(opt)
            self.scaler_.update()
        else:
            opt.step()
        detached = loss.detach()
        self._nonfinite |= ~torch.isfinite(detached)
        self._loss_sum += detached * len(xb)
        if self.task != "regression":
            self._correct += _n_correct(out.detach(), yb, self.task)

    def _capture_graph(self, bs: int) -> GraphedStep | None:
        self.graph_ = None  # the old batch size's graph frees its memory pool before the new capture
        X, y = self.X_train_, self.y_train_
        if self.streaming_:
            # streamed batches land in this buffer; the warm-up trains (and then undoes) its first rows
            X = self._batch_x = X[:bs].to(self.device_, copy=True)  # never a view of the data it is fed
            y = self._batch_y = y[:bs].to(self.device_, copy=True)
            self._batch_rows = torch.arange(bs, device=self.device_)
        try:
            return capture_step(lambda xb, yb: self._train_step(xb, yb, capturing=True), X, y,
                                bs, self.model_, self.optimizer_,
                                [self._nonfinite, self._loss_sum, self._correct],
                                follow_lr=self.scheduler_ is not None)
        except Exception as exc:  # noqa: BLE001 - any failure to capture trains eagerly instead
            if is_oom(exc):
                raise  # the epoch retry halves the batch and captures again
            log.warning("CUDA graph capture failed; training eagerly", exc_info=True)
            self.step_mode_ = "streaming" if self.streaming_ else "eager"
            self.step_mode_reason_ = f"capture failed: {type(exc).__name__}"
            self.emit(f"CUDA graph capture failed ({type(exc).__name__}: {str(exc)[:200]}): training without it")
            return None

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

    def _place_data(self, X_train: Any, y_train: Any, X_val: Any, y_val: Any) -> None:
        """On the device when the data fits; otherwise it stays in host memory and batches stream over."""
        train, val = self._host_tensors(X_train, y_train), self._host_tensors(X_val, y_val)
        nbytes = sum(t.nelement() * t.element_size() for t in (*train, *val))
        reason = "streaming batches from host memory, as asked" if self.streaming else \
            stream_reason(nbytes, self.device_)
        if reason is None:
            try:
                (self.X_train_, self.y_train_), (self.X_val_, self.y_val_) = \
                    [(X.to(self.device_), y.to(self.device_)) for X, y in (train, val)]
            except Exception as exc:  # noqa: BLE001
                if not is_oom(exc):
                    raise
                torch.cuda.empty_cache()
                reason = "the data does not fit in GPU memory: streaming batches from host memory"
        self.streaming_ = reason is not None
        if self.streaming_ and self.ranks is not None:
            raise ConfigError(f"{reason}; a run across several processes keeps the whole data on each of them: "
                              "train it in one process, which streams")
        if self.streaming_:
            (self.X_train_, self.y_train_), (self.X_val_, self.y_val_) = train, val
            self.emit(reason)

    def _host_tensors(self, X: Any, y: Any) -> tuple[torch.Tensor, torch.Tensor]:
        X_t = _as_input(X)
        y_np = y if torch.is_tensor(y) else np.array(y)  # a copy: torch needs a writable array
        if self.task == "multiclass":
            return X_t, torch.as_tensor(y_np).long()
        return X_t, torch.as_tensor(y_np).float().reshape(-1, 1)


def _as_input(X: Any) -> torch.Tensor:
    """The model's input as a tensor: uint8 (pixels) unchanged, anything else as float32."""
    X_t = X if torch.is_tensor(X) else torch.as_tensor(np.ascontiguousarray(X))
    return X_t if X_t.dtype == torch.uint8 else X_t.float()


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
