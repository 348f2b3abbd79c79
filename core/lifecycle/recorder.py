"""What a served model predicted, and the labels that came back: one small SQLite file per run.

`workbench serve` writes runs/<run>/monitor.db (WAL, so the Monitor page reads while the server
writes): one row per predicted record (time, the request's latency, the inputs, the prediction and
its probabilities) and one per label sent to POST /feedback. The log is bounded: rows older than
`max_days` and all but the newest `max_rows` are dropped as new ones arrive. Settings come from the
environment (below) or `workbench serve --no-record / --record-rows / --record-days`, and are kept in
the file, so the Monitor page can say how the log is bounded.

    WORKBENCH_MONITOR       0 turns recording off              (default: on)
    WORKBENCH_MONITOR_ROWS  predictions kept                   (default: 100,000)
    WORKBENCH_MONITOR_DAYS  days a prediction is kept          (default: 30)

The run's own folder holds the file until the run store has a table for it (see the issue's notes).
"""
from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import pandas as pd

from core.errors import ConfigError

MONITOR_FILE = "monitor.db"
DEFAULT_ROWS = 100_000
DEFAULT_DAYS = 30.0
TRIM_EVERY = 200  # predictions between two trims

_SCHEMA = """
CREATE TABLE IF NOT EXISTS predictions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    request INTEGER NOT NULL,
    latency_ms REAL NOT NULL,
    inputs TEXT NOT NULL,
    prediction TEXT NOT NULL,
    proba TEXT
);
CREATE INDEX IF NOT EXISTS predictions_by_time ON predictions(time);
CREATE TABLE IF NOT EXISTS feedback (
    prediction_id INTEGER PRIMARY KEY,
    label TEXT NOT NULL,
    time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True)
class RecordSettings:
    enabled: bool = True
    max_rows: int = DEFAULT_ROWS
    max_days: float = DEFAULT_DAYS

    def validate(self) -> "RecordSettings":
        if self.max_rows < 1:
            raise ConfigError(f"the prediction log keeps at least 1 row, got {self.max_rows}")
        if not self.max_days > 0:
            raise ConfigError(f"the prediction log keeps rows for more than 0 days, got {self.max_days}")
        return self

    def words(self) -> str:
        if not self.enabled:
            return "recording is off"
        days = f"{self.max_days:g} day{'s' if self.max_days != 1 else ''}"
        return f"keeps the last {self.max_rows:,} predictions, none older than {days}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "RecordSettings":
        env = os.environ if environ is None else environ
        try:
            return cls(enabled=env.get("WORKBENCH_MONITOR", "1").strip() not in ("0", "false", "off", "no"),
                       max_rows=int(env.get("WORKBENCH_MONITOR_ROWS") or DEFAULT_ROWS),
                       max_days=float(env.get("WORKBENCH_MONITOR_DAYS") or DEFAULT_DAYS)).validate()
        except ValueError:
            raise ConfigError("WORKBENCH_MONITOR_ROWS is a whole number and WORKBENCH_MONITOR_DAYS a number of "
                              "days") from None


def _json_value(value: Any) -> Any:
    """JSON-safe: NaN and infinities as null, numpy scalars as Python numbers."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class PredictionLog:
    """The prediction log of one served model. Safe to share between threads (a connection per thread)."""

    def __init__(self, path: str | Path, settings: RecordSettings | None = None):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._since_trim = 0
        self._con().executescript(_SCHEMA)
        if settings is not None:
            self.write_settings(settings.validate())

    def _con(self) -> sqlite3.Connection:
        con = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            con.execute("PRAGMA journal_mode=WAL")
            con.execute("PRAGMA busy_timeout=30000")
            con.execute("PRAGMA synchronous=NORMAL")
            self._local.con = con
        return con

    def close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    # --- settings -----------------------------------------------------------------------------
    def write_settings(self, settings: RecordSettings) -> None:
        rows = [(k, json.dumps(v)) for k, v in {**asdict(settings), "served_since": time.time()}.items()]
        with self._lock:
            self._con().executemany("INSERT OR REPLACE INTO settings (key, value) VALUES (?, ?)", rows)

    def settings(self) -> dict[str, Any]:
        return {k: json.loads(v) for k, v in self._con().execute("SELECT key, value FROM settings")}

    def bounds(self) -> RecordSettings:
        s = self.settings()
        return RecordSettings(bool(s.get("enabled", True)), int(s.get("max_rows", DEFAULT_ROWS)),
                              float(s.get("max_days", DEFAULT_DAYS)))

    # --- writing --------------------------------------------------------------------------------
    def record(self, inputs: Sequence[Mapping[str, Any]], predictions: Sequence[Any],
               probabilities: Sequence[Mapping[str, float]] | None, latency_ms: float,
               now: float | None = None) -> list[int]:
        """One row per predicted record (one request); returns their ids, which feedback refers to."""
        now = time.time() if now is None else now
        rows = [(now, float(latency_ms), json.dumps({k: _json_value(v) for k, v in record.items()}),
                 json.dumps(_json_value(pred)), json.dumps(probabilities[i]) if probabilities else None)
                for i, (record, pred) in enumerate(zip(inputs, predictions))]
        if not rows:
            return []
        with self._lock:
            con = self._con()
            con.execute("BEGIN IMMEDIATE")
            try:
                request = con.execute("SELECT COALESCE(MAX(request), 0) + 1 FROM predictions").fetchone()[0]
                con.executemany("INSERT INTO predictions (time, request, latency_ms, inputs, prediction, proba)"
                                " VALUES (?, ?, ?, ?, ?, ?)", [(r[0], request, *r[1:]) for r in rows])
                last = con.execute("SELECT MAX(id) FROM predictions").fetchone()[0]
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._since_trim += len(rows)
            if self._since_trim >= TRIM_EVERY:
                self._trim(now)
        # one writer at a time (BEGIN IMMEDIATE), so the rows' ids are the last len(rows) ones
        return list(range(last - len(rows) + 1, last + 1))

    def _trim(self, now: float) -> None:
        bounds = self.bounds()
        con = self._con()
        con.execute("DELETE FROM predictions WHERE time < ? OR id <= (SELECT MAX(id) FROM predictions) - ?",
                    (now - bounds.max_days * 86400.0, bounds.max_rows))
        con.execute("DELETE FROM feedback WHERE prediction_id NOT IN (SELECT id FROM predictions)")
        self._since_trim = 0

    def trim(self, now: float | None = None) -> None:
        with self._lock:
            self._trim(time.time() if now is None else now)

    def add_feedback(self, labels: Iterable[tuple[int, Any]], now: float | None = None) -> tuple[int, list[int]]:
        """Labels for earlier predictions, by id; returns (how many were stored, the ids that are unknown)."""
        items = [(int(i), label) for i, label in labels]
        now = time.time() if now is None else now
        with self._lock:
            con = self._con()
            known = {row[0] for row in con.execute(
                f"SELECT id FROM predictions WHERE id IN ({','.join('?' * len(items))})", [i for i, _ in items])} \
                if items else set()
            good = [(i, json.dumps(_json_value(label)), now) for i, label in items if i in known]
            con.executemany("INSERT OR REPLACE INTO feedback (prediction_id, label, time) VALUES (?, ?, ?)", good)
        return len(good), [i for i, _ in items if i not in known]

    # --- reading --------------------------------------------------------------------------------
    def predictions(self, since: float | None = None) -> pd.DataFrame:
        """One row per prediction: id, time, request, latency_ms, inputs (dict), prediction, proba, label."""
        sql = ("SELECT p.id, p.time, p.request, p.latency_ms, p.inputs, p.prediction, p.proba, f.label"
               " FROM predictions p LEFT JOIN feedback f ON f.prediction_id = p.id")
        args: list[Any] = []
        if since is not None:
            sql += " WHERE p.time >= ?"
            args.append(since)
        frame = pd.read_sql_query(sql + " ORDER BY p.id", self._con(), params=args)
        # a column with NULLs comes back with NaN in their place
        frame["has_label"] = [isinstance(v, str) for v in frame["label"]]
        for col in ("inputs", "prediction", "proba", "label"):
            frame[col] = pd.Series([json.loads(v) if isinstance(v, str) else None for v in frame[col]],
                                   index=frame.index, dtype=object)
        return frame

    def count(self) -> int:
        return int(self._con().execute("SELECT COUNT(*) FROM predictions").fetchone()[0])


def monitor_path(run_dir: Path) -> Path:
    return Path(run_dir) / MONITOR_FILE


__all__ = ["MONITOR_FILE", "PredictionLog", "RecordSettings", "monitor_path"]
