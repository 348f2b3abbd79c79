"""Repeats: the same settings trained with N seeds on one split, reported as mean, spread and interval.

A parent run (tagged `repeats`) and one ordinary child run per seed, as cross-validation has one per
fold. Only the training seed changes (initial weights, batch order, dropout, augmentation): every
child trains, validates and tests on the parent's split, written into its folder before it is queued,
so the spread is the training's own randomness and the members can be compared row by row
(core.runs.paired). Seeds are the config's seed, +1, +2 ...: the first member is the single run the
same settings would give.

Each metric gets its mean, sample standard deviation over the seeds (ddof=1) and a 95% t interval for
the mean (core.evaluation.stats.seed_interval). The parent finishes when its last member ends: the
Engine hands `finalize_repeat_parents` to the run manager's ended-run hooks.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import pandas as pd

from core.config import RunConfig
from core.data import Catalog, Split
from core.errors import ConfigError, RunNotFound
from core.evaluation.stats import seed_interval
from core.numbers import finite_or_none
from core.runs.content_hash import pin_content_hash
from core.runs.prepare import prepare_data
from core.runs.service import RunService
from core.runs.store import RunRecord, RunStore
from core.training.callbacks import Callback
from core.vocab import ACTIVE, metric_bounds

REPEATS_TAG = "repeats"
MEMBER_TAG = "repeat:"  # + the member's number, 1-based: "repeat:2"
MAX_REPEATS = 50


def member_number(record: RunRecord) -> int | None:
    for tag in record.tags:
        if tag.startswith(MEMBER_TAG) and tag[len(MEMBER_TAG):].isdigit():
            return int(tag[len(MEMBER_TAG):])
    return None


def is_group(record: RunRecord) -> bool:
    return REPEATS_TAG in record.tags


@dataclass
class RepeatPlan:
    parent_id: str
    config: RunConfig  # with the data's content hash filled in
    split: Split
    seeds: list[int]
    task: str


def plan_repeats(store: RunStore, catalog: Catalog, config: RunConfig, n: int) -> RepeatPlan:
    """Check the data once, fix the split, and record the parent run (running, owned by this process)."""
    if not isinstance(n, int) or isinstance(n, bool) or not 2 <= n <= MAX_REPEATS:
        raise ConfigError(f"repeats need between 2 and {MAX_REPEATS} seeds, got {n!r}")
    config.validate()
    prepared = prepare_data(config, catalog)  # bad data or a model that cannot fit fails here, before any run
    pinned = pin_content_hash(config, prepared.ref)
    config = pinned.config
    seeds = [config.train.seed + i for i in range(n)]
    parent_id = store.create_run(config.to_dict(), name=config.name, task=prepared.schema.task,
                                 model=config.model.kind, dataset=prepared.ref.name, status="running",
                                 tags=(REPEATS_TAG,), pid=os.getpid(), split=prepared.split,
                                 summary=pinned.run_summary(repeats=n, seeds=seeds))
    store.set_status(parent_id, "running")
    return RepeatPlan(parent_id, config, prepared.split, seeds, prepared.schema.task)


def _member(store: RunStore, plan: RepeatPlan, number: int) -> tuple[RunConfig, str, tuple[str, ...]]:
    seed = plan.seeds[number - 1]
    return (plan.config.evolve(train={"seed": seed}), f"{store.get(plan.parent_id).name}-seed{seed}",
            ("repeat-member", f"{MEMBER_TAG}{number}"))


def submit_repeats(service: RunService, config: RunConfig, n: int, *, executor: str | None = None) -> str:
    """N seeds through the run manager (one queued member each, `executor` as RunManager.submit's);
    returns the parent's run id."""
    plan = plan_repeats(service.store, service.catalog, config, n)
    for number in range(1, n + 1):
        member, name, tags = _member(service.store, plan, number)
        service.manager.submit(member, name=name, parent_id=plan.parent_id, tags=tags, split=plan.split,
                               executor=executor)
    return plan.parent_id


def run_repeats_inline(store: RunStore, catalog: Catalog, config: RunConfig, n: int, *,
                       callbacks: Iterable[Callback] = (), should_stop: Callable[[], str | None] | None = None,
                       on_member: Callable[[int, str], None] | None = None) -> str:
    """N seeds in this process, one after another (`workbench train --repeats N`); returns the parent's id."""
    from core.runs.execute import execute_run

    plan = plan_repeats(store, catalog, config, n)
    dataset = store.get(plan.parent_id).dataset
    for number in range(1, n + 1):
        member, name, tags = _member(store, plan, number)
        child = store.create_run(member.to_dict(), name=name, task=plan.task, model=member.model.kind,
                                 dataset=dataset, parent_id=plan.parent_id, tags=tags, split=plan.split,
                                 owner_pid=os.getpid())
        reason = should_stop() if should_stop else None
        if reason:
            store.set_status(child, "cancelled", reason)
            continue
        status = execute_run(store, catalog, child, callbacks=callbacks, should_stop=should_stop)
        if on_member:
            on_member(number, status)
    finalize_repeats(store, plan.parent_id)
    return plan.parent_id


def stop_repeats(service: RunService, parent_id: str) -> None:
    """Stop every member still to run, the queued ones first so none of them starts in between."""
    members = sorted(service.store.list_runs(parent_id=parent_id), key=lambda r: r.status == "running")
    for member in members:
        if member.status in ACTIVE:
            service.manager.stop(member.run_id)
    service.store.request_stop(parent_id)
    finalize_repeats(service.store, parent_id)


# --- results ---------------------------------------------------------------------------
@dataclass
class RepeatResult:
    parent_id: str
    n: int
    members: list[RunRecord]  # in member order
    stats: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)  # part -> metric -> interval

    @property
    def done(self) -> bool:
        return len(self.members) >= self.n and all(m.status not in ACTIVE for m in self.members)

    @property
    def completed(self) -> list[RunRecord]:
        return [m for m in self.members if m.status == "completed"]


def members(store: RunStore, parent_id: str) -> list[RunRecord]:
    found = [r for r in store.list_runs(parent_id=parent_id) if member_number(r) is not None]
    return sorted(found, key=lambda r: member_number(r) or 0)


def repeat_result(store: RunStore, parent_id: str) -> RepeatResult:
    """The members so far and each metric's mean, std and 95% t interval over the completed ones."""
    parent = store.get(parent_id)
    found = members(store, parent.run_id)
    n = int(parent.summary.get("repeats") or len(found))
    stats: dict[str, dict[str, dict[str, Any]]] = {}
    done = [m for m in found if m.status == "completed"]
    for part in ("val", "test"):
        names = list(dict.fromkeys(name for m in done for name in (m.metrics.get(part) or {})))
        stats[part] = {name: seed_interval([(m.metrics.get(part) or {}).get(name) for m in done],
                                           bounds=metric_bounds(name)).to_dict() for name in names}
    return RepeatResult(parent.run_id, n, found, stats)


def stats_table(result: RepeatResult, part: str = "test") -> pd.DataFrame:
    """metric, mean, std, low, high, n: what the page and the CLI print."""
    rows = [{"metric": name, **{k: s[k] for k in ("mean", "std", "low", "high", "n")}}
            for name, s in result.stats.get(part, {}).items()]
    return pd.DataFrame(rows, columns=["metric", "mean", "std", "low", "high", "n"])


def finalize_repeats(store: RunStore, parent_id: str) -> bool:
    """Once every member has ended: the parent's summary and terminal status. False while members run."""
    result = repeat_result(store, parent_id)
    if not result.done:
        return False
    parent = store.get(parent_id)
    if parent.status not in ACTIVE:
        return True  # finished already: the first finalizer's summary stands (as finalize_cv)
    completed = result.completed
    summary = {
        **parent.summary,
        "metrics": {"repeats": result.stats, **{part: {k: v["mean"] for k, v in result.stats[part].items()}
                                                for part in ("val", "test")}},
        "members": [{"number": member_number(m), "run_id": m.run_id, "seed": m.config.get("train", {}).get("seed"),
                     "status": m.status} for m in result.members],
        "duration_s": sum(finite_or_none(m.summary.get("duration_s")) or 0.0 for m in completed),
    }
    device = next((m.device for m in completed if m.device), None)
    if completed:
        missing = len(result.members) - len(completed)
        status, reason = "completed", f"{missing} of {len(result.members)} seeds did not complete" if missing else None
    elif any(m.status == "failed" for m in result.members):
        first = next(m for m in result.members if m.status == "failed")
        status, reason = "failed", f"every seed failed; seed {first.name}: {first.status_reason}"
    else:
        status, reason = "cancelled", "stopped before any seed completed"
    # summary and status in one write, only while the parent is active: computed once (finalize_cv)
    store.set_status(parent.run_id, status, reason, summary=summary, device=device)
    return True


def finalize_repeat_parents(store: RunStore, run_ids: Iterable[str]) -> None:
    """An ended-run hook of the run manager (the Engine wires it): finish the groups of these runs."""
    parents = set()
    for run_id in run_ids:
        try:
            record = store.get(run_id)
        except RunNotFound:
            continue
        if record.parent_id and member_number(record) is not None:
            parents.add(record.parent_id)
    for parent_id in parents:
        try:
            parent = store.get(parent_id)
        except RunNotFound:
            continue
        if parent.status in ACTIVE and is_group(parent):
            finalize_repeats(store, parent_id)


def seed_bands(history: pd.DataFrame, member_ids: Sequence[str]) -> pd.DataFrame:
    """Per epoch and curve (split, name): the members' mean, std (ddof=1) and count, for shaded bands.
    An epoch only some members reached (early stopping) is averaged over those; its n says how many."""
    columns = ["split", "name", "epoch", "mean", "std", "n", "low", "high"]
    if history.empty:
        return pd.DataFrame(columns=columns)
    rows = history[history["run_id"].isin(list(member_ids)) & history["value"].notna()]
    # one value per member and epoch: the last logged (an OOM retry may log an epoch twice)
    last = rows.sort_values("id").groupby(["run_id", "split", "name", "epoch"], as_index=False).last()
    grouped = last.groupby(["split", "name", "epoch"])["value"]
    out = grouped.agg(mean="mean", std=lambda v: float(v.std(ddof=1)) if len(v) > 1 else 0.0, n="count").reset_index()
    out["low"], out["high"] = out["mean"] - out["std"], out["mean"] + out["std"]
    return out[columns].sort_values(["split", "name", "epoch"], ignore_index=True)


__all__ = [
    "REPEATS_TAG", "MEMBER_TAG", "MAX_REPEATS", "member_number", "is_group", "RepeatPlan", "plan_repeats",
    "submit_repeats", "run_repeats_inline", "stop_repeats", "RepeatResult", "members", "repeat_result",
    "stats_table", "finalize_repeats", "finalize_repeat_parents", "seed_bands",
]
