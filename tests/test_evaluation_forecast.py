"""sMAPE and MASE against hand computations, and the baselines' definitions."""
from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import mean_absolute_error

from core.data.windows import seasonal_lag
from core.evaluation.forecast import forecast_metrics, mase, naive_scale, smape
from core.vocab import FORECAST_METRICS, metric_direction, metrics_for_task


def test_smape_by_hand():
    actual, forecast = [100.0, 200.0, 0.0, 50.0], [110.0, 180.0, 0.0, 0.0]
    # 2|F-A|/(|A|+|F|): 20/210, 40/380, 0/0 counts as no miss, 100/50
    expect = 100.0 / 4 * (20 / 210 + 40 / 380 + 0.0 + 2.0)
    assert math.isclose(smape(actual, forecast), expect)
    assert smape([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert math.isclose(smape([1.0], [-1.0]), 200.0)  # the upper bound
    assert smape([3.0, 5.0], [4.0, 1.0]) == smape([4.0, 1.0], [3.0, 5.0])  # symmetric in A and F


def test_mase_by_hand_and_the_naive_forecast_scores_one_in_sample():
    train = np.array([1.0, 3.0, 2.0, 6.0, 4.0])
    scale = naive_scale(train, np.zeros(5, dtype=int), 1)
    assert math.isclose(scale, (2 + 1 + 4 + 2) / 4)
    assert math.isclose(mase([5.0, 7.0], [4.0, 4.0], scale), ((1 + 3) / 2) / 2.25)
    # the naive forecast on the very data the scale came from: MASE 1 by definition
    assert math.isclose(mase(train[1:], train[:-1], scale), 1.0)
    # seasonal lag 2, and differences never taken across two runs (two series, or a gap)
    runs = np.array([0, 0, 0, 1, 1, 1])
    values = np.array([1.0, 2.0, 4.0, 10.0, 20.0, 11.0])
    assert math.isclose(naive_scale(values, runs, 2), (3 + 1) / 2)
    assert math.isnan(mase([1.0], [2.0], 0.0)) and math.isnan(mase([1.0], [2.0], None))


def test_forecast_metrics_use_sklearn_and_skip_missing_baseline_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    f = np.array([1.5, np.nan, 2.0, 4.0])
    got = forecast_metrics(y, f, scale=1.0)
    assert math.isclose(got["mae"], mean_absolute_error([1.0, 3.0, 4.0], [1.5, 2.0, 4.0]))
    assert math.isclose(got["mase"], got["mae"])
    assert set(FORECAST_METRICS) <= set(got)
    assert metric_direction("test/smape") == "min" and metric_direction("mase") == "min"
    assert metrics_for_task("regression", "sequence")[-2:] == ("smape", "mase")


def test_seasonal_lag_reaches_back_whole_seasons_to_a_known_value():
    assert seasonal_lag(7, 1) == 7 and seasonal_lag(7, 7) == 7 and seasonal_lag(7, 8) == 14
