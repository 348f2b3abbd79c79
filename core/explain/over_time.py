"""Importance over time: the SHAP snapshots a run took while it trained (core.runs.insight), read back.

    importance_history(store, run_id) -> ImportanceHistory | None
    history.frame()                    -> one row per (epoch, column): importance and rank
    history.final()                    -> the last snapshot's importances, largest first
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from core.runs.insight import SNAPSHOT_KIND
from core.runs.store import RunStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ImportanceHistory:
    run_id: str
    method: str  # expected_gradients | linear
    columns: list[str]
    snapshots: list[dict[str, Any]]  # {"epoch", "final", "seconds", "importance": {column: value}}
    seconds: float  # all snapshots together
    fit_seconds: float  # the training they were taken in
    background_rows: int
    explained_rows: int
    notes: list[str] = field(default_factory=list)

    @property
    def epochs(self) -> list[int]:
        return [int(s["epoch"]) for s in self.snapshots]

    def frame(self) -> pd.DataFrame:
        """epoch, final, column, importance, rank (1 = most important at that epoch)."""
        rows = []
        for snap in self.snapshots:
            ranked = sorted(self.columns, key=lambda c: -snap["importance"].get(c, 0.0))
            for column in self.columns:
                rows.append({"epoch": int(snap["epoch"]), "final": bool(snap["final"]), "column": column,
                             "importance": float(snap["importance"].get(column, 0.0)),
                             "rank": ranked.index(column) + 1})
        return pd.DataFrame(rows, columns=["epoch", "final", "column", "importance", "rank"])

    def final(self) -> dict[str, float]:
        if not self.snapshots:
            return {}
        last = self.snapshots[-1]["importance"]
        return dict(sorted(last.items(), key=lambda kv: -kv[1]))

    def cost_text(self) -> str:
        share = self.seconds / self.fit_seconds if self.fit_seconds > 0 else 0.0
        how = "exact linear SHAP" if self.method == "linear" else "expected gradients (as shap.GradientExplainer)"
        return (f"{len(self.snapshots)} snapshots by {how}, each of {self.explained_rows} validation rows against "
                f"{self.background_rows} training rows; {self.seconds:.2f} s in all, {share:.1%} of the training time.")


def importance_history(store: RunStore, run_id: str) -> ImportanceHistory | None:
    """The run's snapshots, or None when it took none (images, switched off, an older run)."""
    path = store.artifact_path(run_id, SNAPSHOT_KIND)
    if path is None or not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return ImportanceHistory(run_id=run_id, method=str(doc["method"]), columns=[str(c) for c in doc["columns"]],
                                 snapshots=list(doc["snapshots"]), seconds=float(doc["seconds"]),
                                 fit_seconds=float(doc["fit_seconds"]), background_rows=int(doc["background_rows"]),
                                 explained_rows=int(doc["explained_rows"]), notes=list(doc.get("notes", [])))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("importance snapshots of %s are unreadable: %s", run_id, exc)
        return None


__all__ = ["ImportanceHistory", "importance_history"]
