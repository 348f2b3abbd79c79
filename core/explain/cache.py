"""Explanations cached as run artifacts: runs/<id>/explain/<key>/ with NPZ, Parquet and JSON.

The key hashes the run, the method, the rows and every parameter, so asking
the same question again reads the answer back, also after a restart. Files are
written atomically, meta.json last: a folder without it is an unfinished write
and counts as a miss. Nothing is pickled (np.load(allow_pickle=False)).
"""
from __future__ import annotations

import hashlib
import io
import json
import logging
from pathlib import Path
from typing import Any, Mapping

import numpy as np
import pandas as pd

from core.atomic import sha256_file, write_atomic
from core.runs.store import RunStore

log = logging.getLogger(__name__)

FORMAT_VERSION = 1  # part of every key: a new layout never reads an old one
ARRAYS, TABLE, META = "arrays.npz", "rows.parquet", "meta.json"


def cache_key(run_id: str, method: str, rows: list[int] | None, params: Mapping[str, Any]) -> str:
    """A short stable hash of everything that changes the answer."""
    payload = {"v": FORMAT_VERSION, "run": run_id, "method": method, "rows": rows, "params": dict(params)}
    text = json.dumps(payload, sort_keys=True, default=str)
    return f"{method}-{hashlib.sha256(text.encode('utf-8')).hexdigest()[:16]}"


def artifact_kind(key: str) -> str:
    return f"explain:{key}"


def save(store: RunStore, run_id: str, key: str, arrays: Mapping[str, np.ndarray], table: pd.DataFrame,
         meta: Mapping[str, Any]) -> Path:
    folder = store.run_dir(run_id) / "explain" / key
    npz = io.BytesIO()
    np.savez(npz, **{k: np.asarray(v) for k, v in arrays.items()})  # type: ignore[arg-type]
    write_atomic(folder / ARRAYS, npz.getvalue())
    write_atomic(folder / TABLE, _safe_table(table).to_parquet(index=True) or b"")
    files = {name: sha256_file(folder / name) for name in (ARRAYS, TABLE)}
    write_atomic(folder / META, json.dumps({**meta, "files": files}, allow_nan=False, default=_json_default))
    store.add_artifact(run_id, artifact_kind(key), folder / META)
    log.info("cached explanation %s of run %s", key, run_id)
    return folder


def load(store: RunStore, run_id: str, key: str) -> tuple[dict[str, np.ndarray], pd.DataFrame, dict[str, Any]] | None:
    """The cached parts, or None on a miss (never cached, half written, or changed on disk)."""
    path = store.artifact_path(run_id, artifact_kind(key))
    if path is None or not path.is_file():
        return None
    folder = path.parent
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
        for name, digest in meta.pop("files", {}).items():
            if sha256_file(folder / name) != digest:
                log.warning("cached explanation %s has a changed %s: recomputing", key, name)
                return None
        with np.load(folder / ARRAYS, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        table = pd.read_parquet(folder / TABLE)
    except (OSError, ValueError, KeyError) as exc:
        log.warning("cached explanation %s is unreadable (%s): recomputing", key, exc)
        return None
    return arrays, table, meta


def cached_keys(store: RunStore, run_id: str) -> list[str]:
    return sorted(k.split(":", 1)[1] for k in store.artifacts(run_id) if k.startswith("explain:"))


def _safe_table(table: pd.DataFrame) -> pd.DataFrame:
    # Parquet wants string column names and one type per column; a mixed object column becomes text.
    out = table.copy()
    out.columns = [str(c) for c in out.columns]
    for col in out.columns:
        if out[col].dtype == object:
            out[col] = out[col].map(lambda v: v if v is None or isinstance(v, str) else str(v))
    return out


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return str(value)


__all__ = ["cache_key", "artifact_kind", "save", "load", "cached_keys"]
