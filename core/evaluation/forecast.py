"""Forecast errors and the baselines a forecasting network has to beat.

MAE and RMSE come from sklearn.metrics (core.evaluation.metrics). sMAPE and MASE are not in
sklearn, so they are written here, as Hyndman & Koehler (2006) define them:

- sMAPE = 100/n * sum 2|F - A| / (|A| + |F|), in percent (0..200); a step where both the actual and
  the forecast are 0 counts as no error (0/0 is no miss).
- MASE = MAE / the in-sample MAE of the seasonal-naive forecast (lag m; m = 1, the naive forecast,
  where no season is known) on the training part: below 1, better than that naive forecast did there.

The baselines are computed on exactly the windows the network is tested on:
- persistence: the window's last value of the target (y at t predicts y at t + horizon);
- seasonal naive: the value one season before the target, taken whole seasons back far enough to be
  known at forecast time (core.data.windows.seasonal_lag).
Both are taken from the data in core.data.sequences; this module scores them.
"""
from __future__ import annotations

import math

import numpy as np

from core.evaluation.metrics import regression_metrics

BASELINES = ("persistence", "seasonal_naive")
BASELINE_LABELS = {"persistence": "persistence (last value)", "seasonal_naive": "seasonal naive"}


def smape(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    a = np.asarray(y_true, dtype=np.float64).reshape(-1)
    f = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if not len(a):
        return math.nan
    denom = np.abs(a) + np.abs(f)
    terms = np.divide(2.0 * np.abs(f - a), denom, out=np.zeros_like(denom), where=denom > 0)
    return float(100.0 * terms.mean())


def mase(y_true: np.ndarray, y_pred: np.ndarray, scale: float | None) -> float:
    """MAE over `scale` (naive_scale of the training part); NaN where the scale is 0 or unknown."""
    a = np.asarray(y_true, dtype=np.float64).reshape(-1)
    f = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    if not len(a) or scale is None or not math.isfinite(scale) or scale <= 0:
        return math.nan
    return float(np.abs(a - f).mean() / scale)


def naive_scale(values: np.ndarray, run: np.ndarray, lag: int) -> float | None:
    """In-sample MAE of y_t - y_(t-lag) where both steps lie in the same run (series, part, no gap);
    `run` labels each value's run, -1 for values to leave out."""
    v = np.asarray(values, dtype=np.float64)
    r = np.asarray(run)
    if len(v) <= lag:
        return None
    same = (r[lag:] == r[:-lag]) & (r[lag:] >= 0)
    diffs = np.abs(v[lag:] - v[:-lag])[same & np.isfinite(v[lag:]) & np.isfinite(v[:-lag])]
    return float(diffs.mean()) if len(diffs) else None


def forecast_metrics(y_true: np.ndarray, y_pred: np.ndarray, scale: float | None) -> dict[str, float]:
    """Regression metrics (sklearn's) with sMAPE and MASE, in the target's units; NaN forecasts (a
    baseline with no value one season back) are left out."""
    a = np.asarray(y_true, dtype=np.float64).reshape(-1)
    f = np.asarray(y_pred, dtype=np.float64).reshape(-1)
    keep = np.isfinite(a) & np.isfinite(f)
    a, f = a[keep], f[keep]
    if not len(a):
        return {name: math.nan for name in ("mse", "rmse", "mae", "r2", "smape", "mase")}
    return {**regression_metrics(a, f), "smape": smape(a, f), "mase": mase(a, f, scale)}


__all__ = ["BASELINES", "BASELINE_LABELS", "smape", "mase", "naive_scale", "forecast_metrics"]
