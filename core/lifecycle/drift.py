"""Input drift per column: new rows against the rows the model was trained on.

Two numbers per column, because each misses what the other sees:

    PSI   the population stability index over ten bins (a number's training deciles, or a category's
          levels): how much the distribution moved, whatever the sample size
    test  whether the move is more than chance at this sample size: Kolmogorov-Smirnov for a number
          (scipy.stats.ks_2samp), chi-square for a category (scipy.stats.chi2_contingency)

A column is flagged as drifted when its PSI is 0.25 or more (a major shift), or 0.1 or more with a
test p-value under 0.01 (a moderate shift that is no accident). THRESHOLDS says so in words.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

PSI_MODERATE = 0.1
PSI_MAJOR = 0.25
P_SIGNIFICANT = 0.01
MIN_ROWS = 30
BINS = 10
_EPS = 1e-4  # a share of 0 in either sample would make the index infinite
THRESHOLDS = (f"PSI under {PSI_MODERATE:g}: no real change; {PSI_MODERATE:g} to {PSI_MAJOR:g}: a moderate change, "
              f"flagged when the test also finds it (p < {P_SIGNIFICANT:g}); {PSI_MAJOR:g} or more: a major shift, "
              "flagged. The test is Kolmogorov-Smirnov for numbers and chi-square for categories.")


@dataclass
class ColumnDrift:
    column: str
    kind: str  # "numeric" | "categorical"
    psi: float
    test: str  # "KS" | "chi-square"
    statistic: float
    p_value: float
    drifted: bool
    verdict: str  # in words
    reference_mean: float | None = None  # numbers: where the column sat in training, and now
    current_mean: float | None = None
    missing_share: float = 0.0  # among the new rows

    def to_dict(self) -> dict:
        return asdict(self)


def psi(reference_share: np.ndarray, current_share: np.ndarray) -> float:
    r = np.clip(np.asarray(reference_share, dtype=float), _EPS, None)
    c = np.clip(np.asarray(current_share, dtype=float), _EPS, None)
    return float(np.sum((c - r) * np.log(c / r)))


def _verdict(value: float, p: float) -> tuple[bool, str]:
    significant = p < P_SIGNIFICANT
    if value >= PSI_MAJOR:
        return True, "major shift"
    if value >= PSI_MODERATE:
        return (True, "moderate shift, significant") if significant else (False, "moderate change, within chance")
    return False, "stable"


def numeric_drift(column: str, reference: pd.Series, current: pd.Series) -> ColumnDrift:
    ref = pd.to_numeric(reference, errors="coerce").to_numpy(dtype=float)
    cur = pd.to_numeric(current, errors="coerce").to_numpy(dtype=float)
    missing = float(np.isnan(cur).mean()) if len(cur) else 0.0
    ref, cur_ok = ref[np.isfinite(ref)], cur[np.isfinite(cur)]
    # the training deciles as bin edges (ties merged), open at both ends; missing values are a bin too
    inner = np.unique(np.quantile(ref, np.linspace(0, 1, BINS + 1)[1:-1])) if len(ref) else np.array([])
    def shares(values: np.ndarray, n_missing: int, n: int) -> np.ndarray:
        counts = np.bincount(np.searchsorted(inner, values, side="right"), minlength=len(inner) + 1)
        return np.append(counts, n_missing) / max(n, 1)
    value = psi(shares(ref, 0, len(ref)), shares(cur_ok, len(cur) - len(cur_ok), len(cur)))
    if len(ref) and len(cur_ok):
        ks = stats.ks_2samp(ref, cur_ok)
        statistic, p = float(ks.statistic), float(ks.pvalue)
    else:
        statistic, p = float("nan"), 1.0
    drifted, verdict = _verdict(value, p)
    return ColumnDrift(column, "numeric", value, "KS", statistic, p, drifted, verdict,
                       float(ref.mean()) if len(ref) else None, float(cur_ok.mean()) if len(cur_ok) else None,
                       missing)


def categorical_drift(column: str, reference: pd.Series, current: pd.Series) -> ColumnDrift:
    ref = reference.astype("string").fillna("(missing)")
    cur = current.astype("string").fillna("(missing)")
    levels = sorted(set(ref.unique()) | set(cur.unique()))
    ref_counts = ref.value_counts().reindex(levels, fill_value=0).to_numpy()
    cur_counts = cur.value_counts().reindex(levels, fill_value=0).to_numpy()
    value = psi(ref_counts / max(ref_counts.sum(), 1), cur_counts / max(cur_counts.sum(), 1))
    table = np.vstack([ref_counts, cur_counts])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] >= 2:
        chi = stats.chi2_contingency(table)
        statistic, p = float(chi.statistic), float(chi.pvalue)
    else:
        statistic, p = 0.0, 1.0
    drifted, verdict = _verdict(value, p)
    return ColumnDrift(column, "categorical", value, "chi-square", statistic, p, drifted, verdict,
                       missing_share=float(current.isna().mean()) if len(current) else 0.0)


def drift_report(reference: pd.DataFrame, current: pd.DataFrame, numeric: set[str] | list[str],
                 columns: list[str]) -> dict:
    """Every column of `columns`: new rows (`current`) against the training rows (`reference`)."""
    n = len(current)
    out: dict = {"rows": n, "reference_rows": len(reference), "thresholds": THRESHOLDS, "columns": [],
                 "drifted": []}
    if n < MIN_ROWS:
        out["note"] = (f"{n} new row(s) so far: drift is judged from {MIN_ROWS} rows on, so that chance alone "
                       "does not flag a column")
        return out
    missing = [c for c in columns if c not in current.columns]
    for column in columns:
        if column in missing:
            continue
        fn = numeric_drift if column in numeric else categorical_drift
        out["columns"].append(fn(column, reference[column], current[column]).to_dict())
    out["columns"].sort(key=lambda c: -c["psi"])
    out["drifted"] = [c["column"] for c in out["columns"] if c["drifted"]]
    if missing:
        out["note"] = f"the new rows lack {len(missing)} column(s) the model uses: {', '.join(missing[:5])}"
    return out


__all__ = ["BINS", "ColumnDrift", "MIN_ROWS", "P_SIGNIFICANT", "PSI_MAJOR", "PSI_MODERATE", "THRESHOLDS",
           "categorical_drift", "drift_report", "numeric_drift", "psi"]
