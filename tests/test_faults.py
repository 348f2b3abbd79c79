"""Faults: SIGKILL at random moments, SIGTERM, stops, exceptions, NaN, OOM, a full disk, and
eight processes writing at once. After each: nothing left running, the database intact, every
recorded artifact matching its sha256, no half-written temp files."""
from __future__ import annotations

import errno
import multiprocessing
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path
from typing import Any, Iterator

import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from core.atomic import WriteError, sha256_file, write_atomic
from core.config import DataConfig, ModelConfig, RunConfig, TrainConfig
from core.engine import Engine
from core.runs import execute
from core.runs.execute import execute_run
from core.runs import recovery
from core.runs.recovery import TEMP_GLOB
from core.runs.store import RunStore
from core.vocab import ACTIVE
from core.training.callbacks import Callback
from tests.helpers import wait_for

KILLS = 20


# --- helpers --------------------------------------------------------------------------------
def tiny_config(epochs: int = 15, batch_size: int = 8) -> RunConfig:
    return RunConfig(data=DataConfig("iris", "species"), model=ModelConfig("mlp", {"hidden_sizes": [16]}),
                     train=TrainConfig(epochs=epochs, batch_size=batch_size, early_stopping=False, device="cpu"))


def long_config() -> RunConfig:
    return RunConfig(data=DataConfig("digits", "label"), model=ModelConfig("mlp", {"hidden_sizes": [64]}),
                     train=TrainConfig(epochs=200, batch_size=4, early_stopping=False, device="cpu"))


def training(store: RunStore, run_id: str) -> bool:
    """Steps are being taken (the heartbeat's progress counts them)."""
    return store.get(run_id).progress.get("step", 0) > 0


def assert_consistent(workspace: Path) -> None:
    """The invariants every fault must leave behind (after start-up recovery has run)."""
    store = RunStore(workspace)
    try:
        active = [(r.run_id, r.status) for r in store.list_runs() if r.status in ACTIVE]
        assert active == [], f"runs left active: {active}"
        assert_artifacts_match(store)
    finally:
        store.close()
    with sqlite3.connect(workspace / "workbench.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    leftovers = sorted(str(p.relative_to(workspace)) for p in workspace.rglob(TEMP_GLOB))
    assert leftovers == [], f"stray temp files: {leftovers}"


def assert_artifacts_match(store: RunStore) -> int:
    checked = 0
    for run in store.list_runs():
        for kind, art in store.artifacts(run.run_id).items():
            path = Path(art["path"])
            assert path.is_file(), f"{run.run_id}: artifact {kind} recorded but missing"
            assert sha256_file(path) == art["sha256"], f"{run.run_id}: artifact {kind} does not match its sha256"
            assert path.stat().st_size == art["bytes"]
            checked += 1
    return checked


def _worker(workspace: str, run_id: str) -> None:
    """The real worker entry point, forked from a server that has torch imported already."""
    from core.runs.worker import main

    torch.set_num_threads(1)  # tiny runs: thread hand-offs cost more than they bring on 2 cores
    os._exit(main([workspace, run_id]))


@pytest.fixture(scope="module")
def forkserver() -> Iterator[multiprocessing.context.BaseContext]:
    # A fresh `python -m core.runs.worker` costs ~3 s of imports; forking it from a server that
    # imported them once makes twenty kills affordable. The code that runs is the worker's own.
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(["core.runs.execute", "core.runs.worker", "torch._dynamo", __name__])
    # Each child re-runs the parent's __main__ by its path; after an AppTest that is a Streamlit page
    # script, which fails outside Streamlit, so no child would train. While this module's tests run,
    # __main__ is a bare module (pytest's own needs no re-run in a child either).
    real_main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield ctx
    finally:
        sys.modules["__main__"] = real_main


class InjectAt(nn.Module):
    """Wraps a model: from training forward call number `at` on, returns `value` (NaN, inf)."""

    def __init__(self, inner: nn.Module, at: int, value: float):
        super().__init__()
        self.inner, self.at, self.value, self.calls = inner, at, value, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        if self.training:
            self.calls += 1
            if self.calls >= self.at:
                return out * torch.tensor(self.value)
        return out


class Steps(Callback):
    """Records the last global step and the weights at the end of each epoch."""

    def __init__(self) -> None:
        self.last_step = 0
        self.epoch_states: list[dict[str, torch.Tensor]] = []

    def on_step_end(self, trainer: Any, *, step: int, **kwargs: Any) -> None:
        self.last_step = step

    def on_epoch_end(self, trainer: Any, *, epoch: int, logs: dict[str, float], **kwargs: Any) -> None:
        self.epoch_states.append(trainer.snapshot())


def wrap_model(monkeypatch: pytest.MonkeyPatch, wrapper: Any) -> list[nn.Module]:
    built: list[nn.Module] = []
    original = execute.build_model

    def build(*args: Any, **kwargs: Any) -> nn.Module:
        model = wrapper(original(*args, **kwargs))
        built.append(model)
        return model
    monkeypatch.setattr(execute, "build_model", build)
    return built


# --- SIGKILL --------------------------------------------------------------------------------
@pytest.mark.timeout(240)
def test_sigkill_worker_at_random_moments(workspace: Path, forkserver: Any) -> None:
    store = RunStore(workspace)
    config = tiny_config().to_dict()
    warm = forkserver.Process(target=os.getpid)  # starts the fork server (its imports take seconds)
    warm.start()
    warm.join(120)
    # One undisturbed run sets the time scale: kills land anywhere from start-up to its last write.
    # queued by this process, as the app's manager queues a run: a start-up recovery elsewhere in the
    # session must not take it for an orphan before its worker marks it running
    calibration = store.create_run(config, owner_pid=os.getpid())
    started = time.monotonic()
    proc = forkserver.Process(target=_worker, args=(str(workspace), calibration))
    proc.start()
    proc.join(120)
    duration = time.monotonic() - started
    calibrated = store.get(calibration)
    assert calibrated.status == "completed", (calibrated.status, calibrated.status_reason)
    rng = random.Random(5)
    killed: dict[str, float] = {}
    for _ in range(KILLS):
        run_id = store.create_run(config, pid=None)
        delay = rng.uniform(0.0, 0.95 * duration)
        proc = forkserver.Process(target=_worker, args=(str(workspace), run_id))
        proc.start()
        time.sleep(delay)  # the random moment itself, not a wait for a condition
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # it had already finished
        proc.join(30)
        killed[run_id] = delay
    # Before any recovery: whatever the kills interrupted, the records never lie.
    recorded = assert_artifacts_match(store)
    assert recorded >= 7  # the calibration run's artifacts, at least
    half_written = len(list(workspace.rglob(TEMP_GLOB)))
    Engine(workspace).close()  # start-up: orphans become interrupted, temp files are swept
    statuses = {run_id: store.get(run_id).status for run_id in killed}
    interrupted = [r for r, s in statuses.items() if s == "interrupted"]
    late = {r: s for r, s in statuses.items() if s != "interrupted"}
    # A kill may land after a run finished (a loaded machine runs faster or slower than the
    # calibration); such a run is complete, never left half-done.
    assert set(late.values()) <= {"completed"}, statuses
    assert len(interrupted) >= KILLS // 2, f"only {len(interrupted)} kills landed mid-run: {statuses}"
    for run_id in interrupted:
        assert "stopped" in (store.get(run_id).status_reason or "")
    assert_consistent(workspace)
    print(f"{len(interrupted)} of {KILLS} kills mid-run, {len(late)} after the end; {recorded} artifacts "
          f"recorded, {half_written} temp files left by kills mid-write (swept at start-up)")
    store.close()


@pytest.mark.timeout(240)
def test_sigkill_whole_cli_then_restart(workspace: Path) -> None:
    proc = subprocess.Popen([sys.executable, "-m", "workbench.cli", "train", "--data", "digits", "--target", "label",
                             "--epochs", "200", "--batch-size", "4", "--no-early-stopping", "--quiet",
                             "--workspace", str(workspace)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        probe = RunStore(workspace)
        run_id = wait_for(lambda: next(iter(probe.list_runs(status="running")), None), 180, what="a running run").run_id
        wait_for(lambda: training(probe, run_id), 180, what="training under way")
        time.sleep(random.Random(11).uniform(0.0, 1.0))  # a random moment mid-training
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert probe.get(run_id).status == "running"  # nobody has noticed yet
        Engine(workspace).close()  # start again
        record = probe.get(run_id)
        assert record.status == "interrupted" and "stopped unexpectedly" in record.status_reason
        assert_consistent(workspace)
        probe.close()
    finally:
        proc.kill()


def test_recovery_removes_temp_files_and_forgets_changed_artifacts(workspace: Path) -> None:
    store = RunStore(workspace)
    run_id = store.create_run({"data": {}}, status="running", pid=2**22 + 12345)  # a pid that is not alive
    folder = store.run_dir(run_id)
    write_atomic(folder / "model.json", "{}")
    store.add_artifact(run_id, "model_meta", folder / "model.json")
    write_atomic(folder / "split.json", "[]")
    store.add_artifact(run_id, "split", folder / "split.json")
    (folder / "split.json").write_text("[1]")  # changed after it was recorded
    (folder / ".model.safetensors.abc123.tmp").write_bytes(b"half")  # a killed writer's leftover
    (folder / "explain").mkdir()
    (folder / "explain" / ".values.npz.x.tmp").write_bytes(b"half")
    assert recovery.mark_orphans(store) == [run_id]
    assert store.get(run_id).status == "interrupted"
    assert set(store.artifacts(run_id)) == {"model_meta"}
    assert list(folder.rglob(TEMP_GLOB)) == []
    assert_consistent(workspace)


# --- cooperative stops, SIGTERM, exceptions ----------------------------------------------------
def test_stop_is_cancelled_with_a_checkpoint(engine: Engine) -> None:
    run_id = engine.store.create_run(tiny_config(epochs=50).to_dict())
    polls = iter(range(10**6))
    status = execute_run(engine.store, engine.catalog, run_id,
                         should_stop=lambda: "stopped by the user" if next(polls) >= 3 else None)
    record = engine.store.get(run_id)
    assert status == record.status == "cancelled" and record.status_reason == "stopped by the user"
    assert "checkpoint" in engine.store.artifacts(run_id)
    engine.store.request_stop(run_id)  # stopping twice is harmless
    assert engine.store.get(run_id).status == "cancelled"
    assert_consistent(engine.workspace)


def test_exception_fails_with_its_reason_in_words(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    class Exploding(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner, self.calls = inner, 0

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            self.calls += 1
            if self.calls == 7:
                raise ValueError("the layer exploded")
            return self.inner(x)
    wrap_model(monkeypatch, Exploding)
    run_id = engine.store.create_run(tiny_config().to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "failed"
    reason = engine.store.get(run_id).status_reason
    assert reason.startswith("internal error (ValueError: the layer exploded)")
    assert "ValueError: the layer exploded" in (engine.store.run_dir(run_id) / "error.log").read_text()
    assert_consistent(engine.workspace)


@pytest.mark.timeout(180)
def test_sigterm_cancels_with_a_checkpoint_at_the_next_step(workspace: Path, forkserver: Any) -> None:
    store = RunStore(workspace)
    run_id = store.create_run(long_config().to_dict())
    proc = forkserver.Process(target=_worker, args=(str(workspace), run_id))
    proc.start()
    try:
        wait_for(lambda: training(store, run_id), 180, what="training under way")
        sent = time.monotonic()
        os.kill(proc.pid, signal.SIGTERM)
        proc.join(30)
        took = time.monotonic() - sent
    finally:
        proc.kill()
    record = store.get(run_id)
    assert proc.exitcode == 0 and record.status == "cancelled" and record.status_reason == "stopped by SIGTERM", record.status_reason
    weights = load_file(store.artifact_path(run_id, "checkpoint"))
    assert weights and all(torch.isfinite(t).all() for t in weights.values())
    assert took < 10, f"the worker took {took:.1f} s to stop"  # one step, then a checkpoint write
    assert_consistent(workspace)


# --- concurrency ------------------------------------------------------------------------------
WRITER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from core.runs.store import MetricRow, RunStore
    workspace, run_id, go = sys.argv[1], sys.argv[2], Path(sys.argv[3])
    store = RunStore(workspace)
    while not go.exists():
        time.sleep(0.01)
    for step in range(150):
        store.log_metrics(run_id, [MetricRow(step, 1, "train", f"m{k}", float(step * k)) for k in range(8)])
        store.heartbeat(run_id, {"step": step})
        if step % 10 == 0:
            store.update(run_id, progress={"step": step})
""")


@pytest.mark.timeout(180)
def test_eight_processes_write_metrics_at_once(workspace: Path, tmp_path: Path) -> None:
    store = RunStore(workspace)
    runs = [store.create_run({"data": {}}, status="running") for _ in range(8)]
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(workspace), run_id, str(go)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for run_id in runs]
    go.touch()  # all eight start writing together
    outputs = [p.communicate(timeout=150) for p in procs]
    for p, (_, err) in zip(procs, outputs):
        assert "database is locked" not in err
        assert p.returncode == 0, err
    for run_id in runs:
        rows = store.epoch_rows(run_id)
        assert len(rows) == 150 * 8
        assert {(r["step"], r["name"]) for r in rows} == {(s, f"m{k}") for s in range(150) for k in range(8)}
    with sqlite3.connect(workspace / "workbench.db") as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


# --- numerics and memory ------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_loss_stops_within_five_steps(engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                 value: float) -> None:
    at = 23  # the 23rd training step: in the second epoch of diabetes at batch size 16
    wrap_model(monkeypatch, lambda model: InjectAt(model, at, value))
    steps = Steps()
    config = RunConfig(data=DataConfig("diabetes", "progression"), model=ModelConfig("mlp"),
                       train=TrainConfig(epochs=10, batch_size=16, early_stopping=False, device="cpu"))
    run_id = engine.store.create_run(config.to_dict())
    assert execute_run(engine.store, engine.catalog, run_id, callbacks=[steps]) == "failed"
    assert "non-finite loss" in engine.store.get(run_id).status_reason
    assert steps.last_step - at < 5, f"NaN at step {at}, still training at step {steps.last_step}"
    kept = load_file(engine.store.artifact_path(run_id, "checkpoint"))
    last_good = steps.epoch_states[-1]  # the end of the last epoch with a finite loss
    assert kept.keys() == last_good.keys()
    for name, tensor in kept.items():
        assert torch.isfinite(tensor).all() and torch.equal(tensor, last_good[name])
    assert_consistent(engine.workspace)


def test_simulated_cuda_oom_shrinks_the_batch(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    limit = 16

    class Tight(nn.Module):
        def __init__(self, inner: nn.Module):
            super().__init__()
            self.inner = inner

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.shape[0] > limit:
                raise torch.cuda.OutOfMemoryError(f"CUDA out of memory. Tried to allocate {x.shape[0]} rows")
            return self.inner(x)
    wrap_model(monkeypatch, Tight)
    run_id = engine.store.create_run(tiny_config(epochs=3, batch_size=64).to_dict())
    assert execute_run(engine.store, engine.catalog, run_id) == "completed", engine.store.get(run_id).status_reason
    summary = engine.store.get(run_id).summary
    assert summary["batch_size"] <= limit
    events = " | ".join(summary["events"])
    assert "out of memory at batch size 64" in events and f"batch size {summary['batch_size']}" in events
    assert "out of memory while evaluating" in events
    assert_consistent(engine.workspace)


# --- a full disk ------------------------------------------------------------------------------
def _no_space(*_: Any) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_full_disk_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "weights.bin"
    write_atomic(target, b"old contents")
    monkeypatch.setattr(os, "fsync", _no_space)
    with pytest.raises(WriteError, match="the disk is full") as info:
        write_atomic(target, b"new contents that never land" * 1000)
    assert "weights.bin" in str(info.value) and "\n" not in str(info.value)
    assert target.read_bytes() == b"old contents"
    with pytest.raises(WriteError, match="disk is full"):
        write_atomic(tmp_path / "fresh.bin", b"x" * 100)
    assert not (tmp_path / "fresh.bin").exists()  # none, never a truncated one
    assert list(tmp_path.glob(TEMP_GLOB)) == []


def test_full_disk_mid_write_keeps_the_old_file(tmp_path: Path) -> None:
    from core.atomic import write_atomic_with

    target = tmp_path / "predictions.parquet"
    write_atomic(target, b"old")

    def half_then_full(fh: Any) -> None:
        fh.write(b"half of the new file")
        _no_space()
    with pytest.raises(WriteError, match="disk is full"):
        write_atomic_with(target, half_then_full)
    assert target.read_bytes() == b"old" and list(tmp_path.glob(TEMP_GLOB)) == []


def test_full_disk_fails_the_run_with_a_clear_reason(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    run_id = engine.store.create_run(tiny_config(epochs=2).to_dict())
    monkeypatch.setattr(os, "fsync", _no_space)  # Python's fsync only: SQLite keeps working
    assert execute_run(engine.store, engine.catalog, run_id) == "failed"
    record = engine.store.get(run_id)
    # the first file the run writes says so: the live weights at the start (runs/<id>/live/), or
    # model.safetensors where nothing wrote before it
    assert record.status_reason.startswith("the disk is full: could not write "), record.status_reason
    assert record.summary.get("error_kind") == "storage"
    assert not (engine.store.run_dir(run_id) / "model.safetensors").exists()
    monkeypatch.undo()
    assert_consistent(engine.workspace)
