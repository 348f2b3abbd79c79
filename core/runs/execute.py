"""execute_run: one run from queued to a terminal status, with its artifacts.

Called in a worker process by the RunManager and in-process by `workbench train`;
the same code path either way. A run whose folder already holds a split file when it
starts (a cross-validation fold: it was written at submit) trains on those rows; any other
run on its config's seeded split, which is saved as the split file once it has trained.

A run whose folder holds a resume checkpoint when it starts (core.runs.checkpoints; a stopped run
reopened by core.runs.resume) goes on from it, appending to its own metrics. A run stopped part-way
keeps that checkpoint, and its kept weights are evaluated on the test rows like a completed run's,
so it can be explained and exported.

A run of several processes (device cuda:all, or `processes` > 1) is handed to core.runs.launch,
which starts torchrun; each rank then comes back here with its `ranks`, and only rank 0 writes.
"""
from __future__ import annotations

import json
import logging
import os
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
import pandas as pd
import torch

from safetensors.torch import save as safetensors_bytes

from core.atomic import WriteError, write_atomic, write_atomic_with
from core.config import RunConfig
from core.data import Catalog
from core.data.split import SPLIT_FILE, load_split, save_split
from core.errors import WorkbenchError
from core.models import build_model, count_parameters, output_size, resolve_params
from core.runs import checkpoints, sequence_results
from core.runs.baselines import run_baselines
from core.runs.content_hash import pin_content_hash
from core.runs.insight import importance_words, insight_callbacks, snapshot_every
from core.runs.launch import launch, needs_launch
from core.runs.prepare import PreparedData, prepare_data
from core.runs.sink import StoreLogger
from core.runs.steering import StoreSteering
from core.runs.store import RunStore, this_host
from core.runs.warm_start import apply_init, check_same_schema, load_parent
from core.training.callbacks import Callback, CancelFit, Checkpointer, NonFiniteLoss, Steering, StopCheck
from core.training.augment import make_augment
from core.training.distributed import Ranks, SyncedStop
from core.training.device import device_label, is_oom, memory_mb, resolve_device
from core.training.trainer import Trainer
from core.vocab import ALL_GPUS

log = logging.getLogger(__name__)

CHECKPOINT_EVERY_S = 60.0  # a run killed outright resumes from at most this long ago


def execute_run(store: RunStore, catalog: Catalog, run_id: str, *, callbacks: Iterable[Callback] = (),
                should_stop: Callable[[], str | None] | None = None, ranks: Ranks | None = None) -> str:
    """Train, evaluate and save one run. Returns its terminal status; never raises for a run's own failure.

    `ranks`: this process is one rank of a run trained by several (core.runs.rank); rank 0 alone
    writes its records and files, the others train and return."""
    writer = ranks is None or ranks.is_writer
    # The claim: a run that has ended (stopped while it was queued, or trained already) is not trained
    # again, so nothing here overwrites what it recorded. A rank's run is its launcher's: its pid.
    mine = {"pid": os.getpid(), "host": this_host()} if ranks is None else {}
    if writer and not store.set_status(run_id, "running", **mine):
        return _ended_as(store, run_id)
    if ranks is None and _launched(store, run_id):
        return _launch(store, run_id, should_stop)
    if not writer:
        store = ReadOnlyStore(store)  # type: ignore[assignment]
    run_dir = store.run_dir(run_id)
    trainer: Trainer | None = None
    prepared: PreparedData | None = None
    try:
        record = store.get(run_id)
        given = run_dir / SPLIT_FILE
        config = RunConfig.from_dict(record.config)
        parent = load_parent(store, config.init)
        prepared = prepare_data(config, catalog, load_split(given) if given.is_file() else None,
                                fitted=parent.trained.preprocessor if parent else None)
        # pinned when it was recorded; again here in case the file changed while the run was queued
        pinned = pin_content_hash(config, prepared.ref)
        config = pinned.config
        store.update(run_id, task=prepared.schema.task, dataset=prepared.ref.label, config=config.to_dict())
        model_params = resolve_params(config.model.kind, config.model.params)
        augment = make_augment(config.train.augment)
        torch.manual_seed(config.train.seed)  # the initial weights are part of "same seed, same result"
        model = build_model(config.model.kind, model_params, _n_inputs(prepared),
                            output_size(prepared.schema.task, prepared.schema.n_classes), prepared.schema.image_shape,
                            prepared.data_kind)
        init_notes = []
        if parent is not None:
            check_same_schema(parent, prepared.schema, _n_features(prepared),
                              output_size(prepared.schema.task, prepared.schema.n_classes))
            init_notes = apply_init(model, parent, config.init.freeze)
        stop = should_stop or (lambda: "stopped by the user" if store.stop_requested(run_id) else None)
        logger = StoreLogger(store, run_id)
        # what was said when the run was recorded (the data has changed), then its start and its data checks
        # (once each: a resumed run's earlier events say them already)
        logger.events.extend(dict.fromkeys([*record.summary.get("events", []), *pinned.events, *init_notes,
                                            *prepared.warnings]))
        if augment is not None and prepared.data_kind != "image":
            logger.events.append("augmentation is for image data: this table trains without it")
            augment = None
        stopper = StopCheck(stop) if ranks is None else SyncedStop(stop, ranks)
        insight = insight_callbacks(store, run_id, config, prepared) if writer else []
        if snapshot_every(config) and (words := importance_words(prepared.data_kind)):
            logger.events.append(words)
        resume = checkpoints.load(run_dir)
        if resume is not None:
            logger.events.append(_resumed_words(resume))
            # rows logged after the checkpoint (a run killed outright) are trained again: not twice
            store.drop_metrics_after(run_id, _epochs_done(resume))
        prior_s = float(resume.get("duration_s", 0.0)) if resume else 0.0
        steer: list[Callback] = []
        if ranks is None:  # steering a run of several processes would need every rank to agree on each step
            steer = [Steering(StoreSteering(store, run_id, logger), should_stop=stop)]
        if writer:
            steer.append(Checkpointer(lambda state: _save_resume(run_dir, state, prior_s), CHECKPOINT_EVERY_S))
        trainer = Trainer(_rank_config(config, ranks), prepared.schema.task,
                          [logger, stopper, *steer, *insight, *callbacks],
                          batch_transform=augment, ranks=ranks, resume=resume)
        store.update(run_id, device=_device_name(config, ranks))
        trainer.fit(model, prepared.X["train"], prepared.y["train"], prepared.X["val"], prepared.y["val"])
        if not writer:
            return "completed"
        summary = _finish(store, run_id, run_dir, config, prepared, trainer, model_params)
        summary["duration_s"] += prior_s
        summary["baselines"], baseline_notes = run_baselines(prepared)
        summary["events"] = logger.events + baseline_notes
        # the final metrics and "completed" in one statement: a CV parent counting its folds never sees a
        # completed fold without them, and nothing rewrites them once the run has ended
        if not store.set_status(run_id, "completed", summary=summary,
                                device=_with_ranks(device_label(trainer.device_), ranks)):
            return _ended_as(store, run_id)
        checkpoints.discard(run_dir)  # nothing left to resume
        return "completed"
    except CancelFit as stop:
        if writer:
            _save_checkpoint(store, run_id, run_dir, trainer)
            if trainer is not None and trainer.stopped_state_ is not None:
                _save_resume(run_dir, trainer.stopped_state_, prior_s)
                _keep_stopped_model(store, run_id, run_dir, config, prepared, trainer, model_params, logger,
                                    prior_s, stop.reason)
        store.set_status(run_id, stop.status, stop.reason)
        return stop.status
    except NonFiniteLoss as exc:
        if writer:
            _save_checkpoint(store, run_id, run_dir, trainer)
        store.set_status(run_id, "failed", str(exc))
        return "failed"
    except WriteError as exc:  # a full disk: the user can act on it, but it is no bad input
        store.update(run_id, summary={"error_kind": "storage"})
        store.set_status(run_id, "failed", str(exc))
        return "failed"
    except WorkbenchError as exc:  # bad data or config: the CLI exits 2 on these
        store.update(run_id, summary={"error_kind": "input"})
        store.set_status(run_id, "failed", str(exc))
        return "failed"
    except Exception as exc:  # noqa: BLE001 - the run fails with a reason; the trace goes to its log file
        if is_oom(exc):
            reason = "out of memory even at batch size 1: use a smaller model or the CPU"
        elif isinstance(exc, MemoryError):
            reason = "the computer ran out of memory: use a sample of the rows, fewer columns or a smaller model"
        else:
            reason = f"internal error ({type(exc).__name__}: {exc}); details in {run_dir / 'error.log'}"
        if writer:
            _write_error_log(run_dir)
        store.set_status(run_id, "failed", reason)
        # The trace is in error.log; the console (the CLI's stderr) gets one line, never a traceback.
        log.error("run %s failed: %s", run_id, reason)
        return "failed"


def _ended_as(store: RunStore, run_id: str) -> str:
    """The status a run ended with elsewhere; "failed" for one deleted meanwhile."""
    try:
        return store.get(run_id).status
    except WorkbenchError:
        return "failed"


def _resumed_words(state: dict[str, Any]) -> str:
    epoch, step = int(state["epoch"]), int(state["step_in_epoch"])
    where = f"after epoch {epoch}" if state["epoch_done"] or not epoch else f"in epoch {epoch}, after step {step}"
    return f"resumed from its checkpoint {where}"


def _epochs_done(state: dict[str, Any]) -> int:
    epoch = int(state["epoch"])
    return epoch if state["epoch_done"] else max(epoch - 1, 0)


def _save_resume(run_dir: Path, state: dict[str, Any], prior_s: float) -> None:
    """The whole training state, to go on from (a failed save costs the resume, never the run)."""
    try:
        checkpoints.save(run_dir, {**state, "duration_s": prior_s + float(state.get("train_seconds", 0.0))})
    except (OSError, WorkbenchError, TypeError) as exc:
        log.warning("could not save a resume checkpoint in %s: %s", run_dir, exc)


def _keep_stopped_model(store: RunStore, run_id: str, run_dir: Path, config: RunConfig, prepared: PreparedData | None,
                        trainer: Trainer, model_params: dict[str, Any], logger: StoreLogger, prior_s: float,
                        reason: str) -> None:
    """A run stopped part-way keeps its weights as a model: evaluated on the test rows, with the files a
    completed run has, so it can be explained, exported and served (RunRecord.has_model)."""
    if prepared is None or trainer.epoch_ < 1:
        return
    try:
        summary = _finish(store, run_id, run_dir, config, prepared, trainer, model_params)
    except Exception:  # noqa: BLE001 - the stop itself must go through; the trace goes to the log
        log.warning("could not evaluate the kept weights of stopped run %s", run_id, exc_info=True)
        return
    state = trainer.stopped_state_ or {}
    summary["duration_s"] += prior_s
    summary["kept_model"] = True
    summary["stopped_at"] = {"epoch": int(state.get("epoch", trainer.epoch_)),
                             "step": int(state.get("step_in_epoch", 0)), "epochs": config.train.epochs}
    words = f"stopped at epoch {summary['stopped_at']['epoch']} of {config.train.epochs} ({reason})"
    if trainer.best_epoch_ is not None:
        words += f": the weights of its best epoch, {trainer.best_epoch_}, are kept"
    summary["events"] = [*logger.events, words + "; their test metrics are measured on the test rows"]
    store.update(run_id, summary=summary)


def _launched(store: RunStore, run_id: str) -> bool:
    try:
        return needs_launch(RunConfig.from_dict(store.get(run_id).config))
    except WorkbenchError:
        return False  # a config that does not load fails below, with its reason


def _launch(store: RunStore, run_id: str, should_stop: Callable[[], str | None] | None) -> str:
    try:
        return launch(store, run_id, RunConfig.from_dict(store.get(run_id).config), should_stop=should_stop)
    except WorkbenchError as exc:  # cuda:all without GPUs, more processes than GPUs: bad input
        store.update(run_id, summary={"error_kind": "input"})
        store.set_status(run_id, "failed", str(exc))
        return "failed"


def _rank_config(config: RunConfig, ranks: Ranks | None) -> RunConfig:
    """What one rank trains with: its own GPU (cuda:LOCAL_RANK) for cuda:all; the config as it is otherwise."""
    if ranks is None or config.train.device != ALL_GPUS:
        return config
    return config.evolve(train={"device": f"cuda:{ranks.local_rank}"})


def _with_ranks(label: str, ranks: Ranks | None) -> str:
    return label if ranks is None or ranks.world == 1 else f"{label} \u00d7 {ranks.world}"


class ReadOnlyStore:
    """The store as a rank other than 0 sees it: it reads (its config, its data, the stop flag) and
    writes nothing, so the run has one set of metrics, artifacts and statuses: rank 0's."""

    _WRITES = frozenset({"create_run", "update", "set_status", "heartbeat", "request_stop", "delete",
                         "log_metrics", "add_artifact", "forget_artifact", "drop_metrics_after", "reopen",
                         "request_control", "mark_control_applied"})

    def __init__(self, store: RunStore):
        self._store = store

    def __getattr__(self, name: str) -> Any:
        if name in self._WRITES:
            return lambda *args, **kwargs: None
        return getattr(self._store, name)


def _n_features(prepared: PreparedData) -> int:
    """Inputs per example: a table's encoded columns, an image's channels x height x width."""
    return int(np.prod(prepared.X["train"].shape[1:]))


def _n_inputs(prepared: PreparedData) -> int:
    """The model's input width: a sequence's channels per step, or _n_features."""
    return sequence_results.n_inputs(prepared) if sequence_results.is_sequence(prepared) else _n_features(prepared)


def _device_name(config: RunConfig, ranks: Ranks | None = None) -> str:
    """Named as the finished run will be (device_label), so a run stopped or failed part-way still says
    which GPU of several it was on."""
    try:
        return _with_ranks(device_label(resolve_device(_rank_config(config, ranks).train.device)), ranks)
    except WorkbenchError:
        return config.train.device


def _finish(store: RunStore, run_id: str, run_dir: Path, config: RunConfig, prepared: PreparedData,
            trainer: Trainer, model_params: dict[str, Any]) -> dict[str, Any]:
    # sklearn (and scipy.stats with it) is imported once the run has trained: a warm worker has it
    # loaded already, and `import core.runs.execute` stays light for the CLI's start-up
    from core.evaluation.metrics import compute_metrics

    task = prepared.schema.task
    metrics, predictions = {}, []
    for part in ("val", "test"):
        outputs = trainer.predict(prepared.X[part])
        if sequence_results.is_sequence(prepared):
            metrics[part] = sequence_results.sequence_metrics(prepared, part, outputs)
        else:
            y_true, y_out = _for_metrics(task, prepared, prepared.y[part], outputs)
            metrics[part] = compute_metrics(task, y_true, y_out)
        predictions.append(_prediction_frame(part, prepared, outputs))
    pred = pd.concat(predictions, ignore_index=True)
    _save_model(store, run_id, run_dir, trainer, prepared, config, model_params)
    write_atomic_with(run_dir / "predictions.parquet", lambda fh: pred.to_parquet(fh, index=False))
    store.add_artifact(run_id, "predictions", run_dir / "predictions.parquet")
    write_atomic(run_dir / "evaluation.json", json.dumps(_evaluation(task, prepared, pred[pred.split == "test"])))
    store.add_artifact(run_id, "evaluation", run_dir / "evaluation.json")
    extra = {"baseline": sequence_results.baselines(prepared)} if sequence_results.is_sequence(prepared) else {}
    return {
        **extra, "metrics": metrics, "duration_s": time.time() - trainer.start_time_,
        "samples_per_s": trainer.samples_per_s_, "epochs_run": trainer.epoch_, "best_epoch": trainer.best_epoch_,
        "optimizer": trainer.optimizer_name_, "step_mode": trainer.step_mode_, "step_mode_reason": trainer.step_mode_reason_, "batch_size": trainer.batch_size_, "n_parameters": count_parameters(trainer.model_),
        "n_features": _n_inputs(prepared), "data_kind": prepared.data_kind, "rows": {k: int(len(v)) for k, v in prepared.y.items()},
        "data_hash": prepared.ref.sha256, "gpu_mem_mb": memory_mb(trainer.device_),
        "classes": list(prepared.schema.classes or []),
        "skipped_files": [{"file": name, "why": why} for name, why in prepared.skipped],
    }


def _for_metrics(task: str, prepared: PreparedData, y_enc: np.ndarray, outputs: np.ndarray):
    if task == "regression":  # metrics in the user's units, not the standardised ones
        return prepared.preprocessor.decode_target(y_enc), prepared.preprocessor.decode_target(outputs[:, 0])
    return y_enc, outputs


def _prediction_frame(part: str, prepared: PreparedData, outputs: np.ndarray) -> pd.DataFrame:
    from core.evaluation.metrics import outputs_to_proba

    pre, schema = prepared.preprocessor, prepared.schema
    rows = getattr(prepared.split, part)
    y_enc = prepared.y[part]
    frame = pd.DataFrame({"row": rows, "split": part})
    if sequence_results.is_sequence(prepared):  # each example's series, time and the baselines' forecasts
        for name, values in sequence_results.prediction_columns(prepared, part).items():
            frame[name] = values
    if schema.task == "regression":
        frame["y_true"] = pre.decode_target(y_enc).astype(float)
        frame["y_pred"] = pre.decode_target(outputs[:, 0]).astype(float)
        return frame
    proba = outputs_to_proba(schema.task, outputs)
    frame["y_true"] = pre.decode_target(y_enc).astype(str)
    frame["y_pred"] = pre.decode_target(proba.argmax(axis=1)).astype(str)
    for k, label in enumerate(schema.classes or []):
        frame[f"proba_{label}"] = proba[:, k]
    return frame


def _evaluation(task: str, prepared: PreparedData, test: pd.DataFrame) -> dict[str, Any]:
    from core.evaluation.curves import calibration, confusion, pr_curves, residuals, roc_curves

    if task == "regression":
        return {"task": task, "residuals": residuals(test.y_true.to_numpy(), test.y_pred.to_numpy())}
    classes = [str(c) for c in prepared.schema.classes or []]
    index = {c: i for i, c in enumerate(classes)}
    y_true = test.y_true.map(index).to_numpy()
    y_pred = test.y_pred.map(index).to_numpy()
    proba = test[[f"proba_{c}" for c in classes]].to_numpy()
    return {"task": task, "classes": classes, "confusion": confusion(y_true, y_pred, classes),
            "roc": roc_curves(y_true, proba, classes), "pr": pr_curves(y_true, proba, classes),
            "calibration": calibration(y_true, proba)}


def _save_model(store: RunStore, run_id: str, run_dir: Path, trainer: Trainer, prepared: PreparedData,
                config: RunConfig, model_params: dict[str, Any]) -> None:
    state = {k: v.detach().cpu().contiguous() for k, v in trainer.model_.state_dict().items()}
    write_atomic(run_dir / "model.safetensors", safetensors_bytes(state))
    meta = {"kind": config.model.kind, "params": model_params, "task": prepared.schema.task,
            "n_features": _n_inputs(prepared), "data_kind": prepared.data_kind,
            "n_outputs": output_size(prepared.schema.task, prepared.schema.n_classes),
            "image_shape": list(prepared.schema.image_shape) if prepared.schema.image_shape else None,
            "feature_names": prepared.preprocessor.feature_names, "schema": prepared.schema.to_dict(),
            **(sequence_results.meta(prepared) if sequence_results.is_sequence(prepared) else {})}
    write_atomic(run_dir / "model.json", json.dumps(meta, indent=1))
    prepared.preprocessor.save(run_dir / "preprocessor.json")
    write_atomic(run_dir / "config.yaml", config.to_yaml())
    save_split(prepared.split, run_dir / SPLIT_FILE)
    for kind, name in (("weights", "model.safetensors"), ("model_meta", "model.json"),
                       ("preprocessor", "preprocessor.json"), ("config", "config.yaml"), ("split", SPLIT_FILE)):
        store.add_artifact(run_id, kind, run_dir / name)


def _save_checkpoint(store: RunStore, run_id: str, run_dir: Path, trainer: Trainer | None) -> None:
    """A stopped or failed run keeps its last good weights, written atomically."""
    if trainer is None or not hasattr(trainer, "model_"):
        return
    try:
        state = {k: v.detach().cpu().contiguous() for k, v in trainer.model_.state_dict().items()}
        write_atomic(run_dir / "checkpoint.safetensors", safetensors_bytes(state))
        store.add_artifact(run_id, "checkpoint", run_dir / "checkpoint.safetensors")
    except (OSError, WorkbenchError) as exc:
        log.warning("could not save a checkpoint for %s: %s", run_id, exc)


def _write_error_log(run_dir: Path) -> None:
    try:
        write_atomic(run_dir / "error.log", traceback.format_exc())
    except (OSError, WorkbenchError):
        pass


