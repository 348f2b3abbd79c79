"""Statistics over repeated runs and between two models: plain numpy and scipy, no UI.

- `seed_interval`: mean, sample standard deviation (ddof=1) and a 95% Student-t interval for the
  mean of a metric over N seeds: mean +- t(0.975, N-1) * std / sqrt(N). With the seeds as the only
  thing that varies, it says how far the mean of *these settings* could move with other seeds.
- `paired_bootstrap`: how much better model A is than model B on the same test rows. The rows are
  resampled with replacement (B times, seeded); each resample scores both models on the *same* rows,
  so the difference's spread reflects only which rows were drawn, not two independent samples
  (Efron & Tibshirani 1993, ch. 16; the paired test of Koehn 2004 / Berg-Kirkpatrick et al. 2012).
  The interval is the 2.5th..97.5th percentile of the differences.

Metrics that are a mean over rows (accuracy, MSE, MAE, and R² from its sums) are scored for every
resample at once from per-row terms; any other (ROC AUC, F1, log loss) one resample at a time with
core.evaluation.metrics, which the fast path is tested against.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from core.numbers import finite_or_none

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


@dataclass(frozen=True)
class SeedInterval:
    mean: float | None
    std: float | None  # sample standard deviation over the seeds (ddof=1); None with fewer than 2
    n: int
    low: float | None  # the 95% t interval for the mean; None with fewer than 2 values
    high: float | None
    values: tuple[float | None, ...]  # one per member, None where it has no value

    def to_dict(self) -> dict:
        return {"mean": self.mean, "std": self.std, "n": self.n, "low": self.low, "high": self.high,
                "values": list(self.values), "interval": "t"}


def seed_interval(values: Sequence[float | None], confidence: float = CONFIDENCE,
                  bounds: tuple[float, float] = (-math.inf, math.inf)) -> SeedInterval:
    """`bounds`: the values the metric can take (core.vocab.metric_bounds); the interval is clipped to
    them, so an accuracy's never reaches above 1."""
    kept = tuple(finite_or_none(v) for v in values)
    x = np.array([v for v in kept if v is not None], dtype=np.float64)
    if x.size == 0:
        return SeedInterval(None, None, 0, None, None, kept)
    mean = float(x.mean())
    if x.size < 2:
        return SeedInterval(mean, None, 1, None, None, kept)
    std = float(x.std(ddof=1))
    from scipy import stats as scipy_stats  # a second of start-up that only intervals need

    half = float(scipy_stats.t.ppf(0.5 + confidence / 2, x.size - 1)) * std / math.sqrt(x.size)
    low, high = max(mean - half, bounds[0]), min(mean + half, bounds[1])
    return SeedInterval(mean, std, int(x.size), low, high, kept)


# --- paired bootstrap -------------------------------------------------------------------
@dataclass(frozen=True)
class PairedDifference:
    metric: str
    a: float  # the metric of A on all the rows
    b: float
    difference: float  # a - b
    low: float  # percentile interval of a - b over the resamples
    high: float
    n_rows: int
    resamples: int
    p_not_better: float  # the share of resamples where A is not better than B (a one-sided bootstrap p)


# per-row terms whose mean is the metric, for the metrics that are one
_ROW_MEANS = {"accuracy", "mse", "mae"}


def row_terms(metric: str, y_true: np.ndarray, prediction: np.ndarray) -> np.ndarray | None:
    """(n,) terms whose mean over rows is `metric` (rmse: its square; r2: the squared errors of its
    numerator); None for a metric that is none of these.
    Classification: `prediction` holds predicted labels; regression: predicted values."""
    if metric == "accuracy":
        return (np.asarray(prediction) == np.asarray(y_true)).astype(np.float64)
    if metric in ("mse", "rmse", "r2"):
        return (np.asarray(prediction, dtype=np.float64) - np.asarray(y_true, dtype=np.float64)) ** 2
    if metric == "mae":
        return np.abs(np.asarray(prediction, dtype=np.float64) - np.asarray(y_true, dtype=np.float64))
    return None


def resample_indices(n: int, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> np.ndarray:
    """(resamples, n) row numbers drawn with replacement, seeded: the same draw for A and for B."""
    return np.random.default_rng(seed).integers(0, n, size=(resamples, n))


def resampled_scores(metric: str, y_true: np.ndarray, predictions: Sequence[np.ndarray], idx: np.ndarray,
                     score: Callable[[np.ndarray, np.ndarray], float] | None = None) -> np.ndarray:
    """The metric on each resample (rows `idx`), averaged over `predictions` (one per member of a group:
    a single run is a group of one). `score(y, members' rows)` scores one resample where the metric
    is no mean over rows; it is called with the rows' indices."""
    y = np.asarray(y_true)
    if metric in _ROW_MEANS or metric in ("r2", "rmse"):
        if metric == "rmse":  # a group's RMSE is the mean of its members' RMSEs, as its reported mean
            return np.mean([np.sqrt(row_terms(metric, y, p)[idx].mean(axis=1)) for p in predictions], axis=0)
        terms = np.mean([row_terms(metric, y, p) for p in predictions], axis=0)  # (n,)
        per_resample = terms[idx].mean(axis=1)
        if metric != "r2":
            return per_resample
        yt = y.astype(np.float64)[idx]
        total = ((yt - yt.mean(axis=1, keepdims=True)) ** 2).mean(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(total > 0, 1.0 - per_resample / total, np.nan)
    if score is None:
        raise ValueError(f"{metric} is no mean over rows: give `score`")
    return np.array([score(y[rows], rows) for rows in idx], dtype=np.float64)


def paired_bootstrap(metric: str, direction: str, scores_a: np.ndarray, scores_b: np.ndarray,
                     full_a: float, full_b: float, n_rows: int, confidence: float = CONFIDENCE) -> PairedDifference:
    """The difference a - b from the resampled scores of both models on the same resamples."""
    diff = np.asarray(scores_a, dtype=np.float64) - np.asarray(scores_b, dtype=np.float64)
    diff = diff[np.isfinite(diff)]
    if diff.size == 0:
        raise ValueError(f"{metric} is undefined on every resample of these rows")
    tail = (1 - confidence) / 2
    low, high = np.quantile(diff, [tail, 1 - tail])
    not_better = diff <= 0 if direction == "max" else diff >= 0
    return PairedDifference(metric, float(full_a), float(full_b), float(full_a - full_b), float(low), float(high),
                            int(n_rows), int(diff.size), float(not_better.mean()))


def difference_words(d: PairedDifference, name_a: str, name_b: str, label: str, direction: str) -> str:
    """'A is better than B by 0.012 accuracy, 95% interval [0.004, 0.020]', or that the two are not
    clearly different when the interval holds 0. "Better by" is always a positive amount: for a metric
    where lower is better (a loss, an error) it is b - a."""
    sign = 1.0 if direction == "max" else -1.0
    gain = sign * d.difference
    low, high = sorted((sign * d.low, sign * d.high))
    rows = f"on the same {d.n_rows} test rows ({d.resamples} paired bootstrap resamples)"
    if low > 0:
        return f"{name_a} is better than {name_b} by {gain:.3f} {label}, 95% interval [{low:.3f}, {high:.3f}], {rows}."
    if high < 0:
        return (f"{name_b} is better than {name_a} by {-gain:.3f} {label}, 95% interval [{-high:.3f}, {-low:.3f}], "
                f"{rows}.")
    return (f"{name_a} and {name_b} are not clearly different: {name_a} - {name_b} = {d.difference:+.3f} {label}, "
            f"95% interval [{d.low:.3f}, {d.high:.3f}] holds 0, {rows}.")


__all__ = [
    "CONFIDENCE", "BOOTSTRAP_RESAMPLES", "SeedInterval", "seed_interval", "PairedDifference", "row_terms",
    "resample_indices", "resampled_scores", "paired_bootstrap", "difference_words",
]
