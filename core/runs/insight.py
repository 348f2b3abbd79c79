"""Callbacks that let a user see inside a run while it trains.

ShapSnapshots: every few epochs, a small global SHAP importance (mean |SHAP| per column) of the
model as it is then, saved as the run's `shap_over_time` artifact (JSON). It uses the algorithm of
shap.GradientExplainer (expected gradients: SHAP values of a differentiable model as the average,
over background rows x' and points on the line from x' to x, of (x - x') times the gradient) written
out in torch, because importing shap costs a worker 5-10 s, more than many runs take; a linear or
logistic model gets the exact phi_j = w_j (x_j - E[x_j]) of shap.LinearExplainer. The cost is measured
and kept under BUDGET of the run's time: when snapshots take more, they come less often, said in words.

LiveWeights: the model's weights about every few seconds in runs/<id>/live/, with the files
TrainedModel.load reads, so the Train page can draw the decision boundary of a run still training.

Both are for tables only: an image has thousands of inputs and a sequence is not columns side by side.
Neither touches the training: their random draws come from a generator of their own, and the input
gradients are taken with torch.autograd.grad, never into the parameters' .grad.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import torch
from safetensors.torch import save as safetensors_bytes

from core.atomic import write_atomic
from core.config import RunConfig
from core.data.prepared import PreparedData
from core.data.split import SPLIT_FILE, save_split
from core.models import output_size, resolve_params
from core.runs import sequence_results
from core.runs.store import RunStore
from core.training.callbacks import Callback, TrainerView
from core.vocab import LINEAR_KINDS

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "shap_over_time.json"
SNAPSHOT_KIND = "shap_over_time"
LIVE_DIR = "live"
BACKGROUND_ROWS = 50
EXPLAINED_ROWS = 100
PAIRS = 20  # (background row, point on the line) draws per explained row
BUDGET = 0.10  # share of the run's time the snapshots may take
FLOOR_S = 0.25  # ... beyond this much in all: a run of a second is not slowed by a few milliseconds
LIVE_EVERY_S = 2.0


def snapshot_every(config: RunConfig) -> int:
    """Epochs between two importance snapshots: the setting, or max(1, epochs // 5); 0 is off."""
    every = config.train.shap_every
    return max(1, config.train.epochs // 5) if every is None else int(every)


def insight_callbacks(store: RunStore, run_id: str, config: RunConfig, prepared: PreparedData) -> list[Callback]:
    """The callbacks of this module that fit the run, and a sentence for the ones that do not."""
    if prepared.data_kind != "table" or sequence_results.is_sequence(prepared):
        return []
    out: list[Callback] = [LiveWeights(store.run_dir(run_id), config, prepared)]
    every = snapshot_every(config)
    if every > 0 and len(prepared.X["train"]):
        out.append(ShapSnapshots(store, run_id, config, prepared, every))
    return out


def importance_words(data_kind: str) -> str | None:
    """Why a run has no importance snapshots, when its kind of data is the reason."""
    if data_kind == "image":
        return ("importance over time is not computed for image runs: an image has thousands of inputs, so "
                "even a small SHAP every few epochs would slow training down; explain the finished run instead")
    return None


class ShapSnapshots(Callback):
    def __init__(self, store: RunStore, run_id: str, config: RunConfig, prepared: PreparedData, every: int):
        self.store, self.run_id, self.every = store, run_id, every
        self.path: Path | None = None  # the file the run's artifact row names now
        self._version = 0
        self.linear = config.model.kind in LINEAR_KINDS
        rng = np.random.default_rng(config.train.seed)
        train = np.asarray(prepared.X["train"], dtype=np.float32)
        pool = np.asarray(prepared.X["val"], dtype=np.float32)
        pool = pool if len(pool) >= 10 else train
        self.background = train[_sample(rng, len(train), BACKGROUND_ROWS)]
        self.explained = pool[_sample(rng, len(pool), EXPLAINED_ROWS)]
        self.groups = {str(k): [int(i) for i in v] for k, v in prepared.preprocessor.feature_groups.items()}
        self.generator = torch.Generator().manual_seed(config.train.seed)
        self.snapshots: list[dict[str, Any]] = []
        self.seconds = 0.0
        self.notes: list[str] = []
        self._fit_clock = time.perf_counter()

    def on_fit_start(self, trainer: TrainerView, **kwargs: Any) -> None:
        self._fit_clock = time.perf_counter()

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        if epoch % self.every == 0 and epoch < trainer.config.train.epochs:  # the last epoch: at fit end
            self._take(trainer, epoch, final=False)
            self._keep_in_budget(trainer)

    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None:
        # after early stopping restored its best weights (built-in callbacks come first): the final model
        if status == "completed":
            self._take(trainer, trainer.epoch_, final=True)

    def _keep_in_budget(self, trainer: TrainerView) -> None:
        elapsed = time.perf_counter() - self._fit_clock
        if self.seconds > max(BUDGET * elapsed, FLOOR_S):
            self.every *= 2
            note = (f"importance snapshots took {self.seconds:.1f} s of {elapsed:.1f} s: now every "
                    f"{self.every} epochs, to keep them under {BUDGET:.0%} of the run")
            self.notes.append(note)
            trainer.emit(note)

    def _take(self, trainer: TrainerView, epoch: int, *, final: bool) -> None:
        started = time.perf_counter()
        model = getattr(trainer, "model_")
        try:
            values = self._values(model)
        except (RuntimeError, ValueError) as exc:  # a model this cannot explain: say it once, go on training
            log.warning("importance snapshot of %s failed: %s", self.run_id, exc)
            self.every = 10 ** 9
            trainer.emit(f"importance snapshots stopped: {type(exc).__name__} on this model")
            return
        grouped = np.stack([values[:, idx, :].sum(axis=1) for idx in self.groups.values()], axis=1)
        importance = np.abs(grouped).mean(axis=(0, 2))
        seconds = time.perf_counter() - started
        self.seconds += seconds
        self.snapshots = [s for s in self.snapshots if s["epoch"] != epoch or s["final"]]
        self.snapshots.append({"epoch": int(epoch), "final": final, "seconds": round(seconds, 4),
                               "importance": {c: float(v) for c, v in zip(self.groups, importance)}})
        self._save(trainer)

    def _values(self, model: torch.nn.Module) -> np.ndarray:
        """(n, d, K) SHAP values of the explained rows, in the model's raw output (logit / scaled value)."""
        was_training = model.training
        model.eval()
        device = next(model.parameters()).device
        try:
            if self.linear:
                return _linear_values(model, self.explained, self.background)
            return _expected_gradients(model, self.explained, self.background, self.generator, device)
        finally:
            model.train(was_training)

    def _save(self, trainer: TrainerView) -> None:
        elapsed = time.perf_counter() - self._fit_clock
        doc = {"method": "linear" if self.linear else "expected_gradients", "every": self.every,
               "background_rows": len(self.background), "explained_rows": len(self.explained),
               "space": "raw", "columns": list(self.groups), "seconds": round(self.seconds, 4),
               "fit_seconds": round(elapsed, 4), "notes": self.notes, "snapshots": self.snapshots}
        # Each save is a new file, recorded, and only then is the previous one removed: a run killed
        # between the write and the record leaves a row that still matches its file (rewriting one
        # file in place would leave a row whose sha256 names the old contents).
        self._version += 1
        previous, self.path = self.path, self.store.run_dir(self.run_id) / SNAPSHOT_FILE.replace(
            ".json", f".{self._version}.json")
        write_atomic(self.path, json.dumps(doc, allow_nan=False))
        self.store.add_artifact(self.run_id, SNAPSHOT_KIND, self.path)
        if previous is not None:
            previous.unlink(missing_ok=True)


def _sample(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    return np.sort(rng.choice(n, size=size, replace=False)) if n > size else np.arange(n)


def _linear_values(model: torch.nn.Module, X: np.ndarray, bg: np.ndarray) -> np.ndarray:
    layer = model[0]  # type: ignore[index]
    weight = layer.weight.detach().cpu().double().numpy()  # (K, d)
    return (X.astype(np.float64) - bg.astype(np.float64).mean(axis=0))[:, :, None] * weight.T[None]


def _expected_gradients(model: torch.nn.Module, X: np.ndarray, bg: np.ndarray, generator: torch.Generator,
                        device: torch.device) -> np.ndarray:
    x = torch.from_numpy(X)
    b = torch.from_numpy(bg)
    n, d = x.shape
    pick = torch.randint(len(b), (n, PAIRS), generator=generator)
    alpha = torch.rand(n, PAIRS, 1, generator=generator)
    ref = b[pick]  # (n, P, d)
    delta = (x[:, None, :] - ref).to(device)
    points = (ref + alpha * (x[:, None, :] - ref)).reshape(n * PAIRS, d).to(device).requires_grad_(True)
    out = model(points).float()
    k = out.shape[1]
    values = torch.empty(n, d, k, device=device)
    for j in range(k):
        (grad,) = torch.autograd.grad(out[:, j].sum(), points, retain_graph=j < k - 1)
        values[:, :, j] = (grad.reshape(n, PAIRS, d) * delta).mean(dim=1)
    return values.detach().cpu().double().numpy()


class LiveWeights(Callback):
    """Writes runs/<id>/live/: model.json, preprocessor.json, config.yaml and the split at the start,
    model.safetensors at most every LIVE_EVERY_S seconds at an epoch's end, and at the end of the fit."""

    def __init__(self, run_dir: Path, config: RunConfig, prepared: PreparedData):
        self.folder = run_dir / LIVE_DIR
        self.config, self.prepared = config, prepared
        self._last = 0.0

    def on_fit_start(self, trainer: TrainerView, **kwargs: Any) -> None:
        p = self.prepared
        meta = {"kind": self.config.model.kind, "params": resolve_params(self.config.model.kind,
                                                                         self.config.model.params),
                "task": p.schema.task, "n_features": int(p.X["train"].shape[1]), "data_kind": p.data_kind,
                "n_outputs": output_size(p.schema.task, p.schema.n_classes), "image_shape": None,
                "feature_names": p.preprocessor.feature_names, "schema": p.schema.to_dict()}
        write_atomic(self.folder / "model.json", json.dumps(meta))
        p.preprocessor.save(self.folder / "preprocessor.json")
        write_atomic(self.folder / "config.yaml", self.config.to_yaml())
        save_split(p.split, self.folder / SPLIT_FILE)
        self._write(trainer, 0)

    def on_epoch_end(self, trainer: TrainerView, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        if time.monotonic() - self._last >= LIVE_EVERY_S or epoch == trainer.config.train.epochs:
            self._write(trainer, epoch)

    def on_fit_end(self, trainer: TrainerView, *, status: str, **kwargs: Any) -> None:
        try:  # the weights kept (early stopping has restored its best); never hides why a fit ended
            self._write(trainer, trainer.epoch_)
        except Exception as exc:  # noqa: BLE001 - a view's file, not the run's
            log.warning("could not write the live weights: %s", exc)

    def _write(self, trainer: TrainerView, epoch: int) -> None:
        model = getattr(trainer, "model_")
        state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
        write_atomic(self.folder / "model.safetensors", safetensors_bytes(state, metadata={"epoch": str(epoch)}))
        self._last = time.monotonic()


__all__ = ["SNAPSHOT_FILE", "SNAPSHOT_KIND", "LIVE_DIR", "snapshot_every", "insight_callbacks",
           "importance_words", "ShapSnapshots", "LiveWeights"]
