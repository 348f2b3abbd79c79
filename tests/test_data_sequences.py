"""Time series and sequence tables: ordering, checks in words, leakage-free windows, train-only scaling."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from core.config import SequenceConfig
from core.data.prepared import load_preprocessor
from core.data.sequence_encoder import SequencePreprocessor
from core.data.sequences import build_sequences, preview_windows, summary
from core.data.series import describe_spacing
from core.errors import DataError


def daily(n=200, seed=0, start="2020-01-01") -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return pd.DataFrame({
        "date": pd.date_range(start, periods=n, freq="D").strftime("%Y-%m-%d"),
        "temp": 10 + 5 * np.sin(2 * np.pi * t / 7) + rng.normal(0, 0.5, n),
        "rain": rng.gamma(1.0, 1.0, n),
    })


def test_forecast_windows_are_chronological_and_never_straddle_parts():
    df = daily()
    shuffled = df.sample(frac=1.0, random_state=0)  # the file's order does not matter: the time column does
    data = build_sequences(shuffled, "temp", SequenceConfig(time_column="date", window=10, horizon=2))
    lay, win = data.layout, data.windows
    assert (lay.mode, lay.inputs, lay.spacing, lay.seasonal_period) == ("forecast", ("temp", "rain"), "1 day", 7)
    ends = {}
    for i, part in enumerate(("train", "val", "test")):
        w = win.of(part)
        first, last = win.start[w], win.target_row[w]
        assert (win.row_part[first] == i).all() and (win.row_part[last] == i).all()  # inputs and target in one part
        assert (last - first == lay.window - 1 + lay.horizon).all()
        ends[part] = (first.min(), last.max())
        assert data.X[part].shape == (len(w), 10, 2)
    # train's last target comes before val's first input row, which comes before test's
    assert ends["train"][1] < ends["val"][0] and ends["val"][1] < ends["test"][0]
    ordered = data.rows.frame
    assert list(ordered["date"]) == sorted(ordered["date"])
    # the target of a window is the temperature `horizon` days after its last input row
    first = win.of("test")[0]
    expect = ordered["temp"].iloc[win.start[first] + 11]
    assert np.isclose(data.preprocessor.decode_target(data.y["test"][:1])[0], expect)
    assert data.baselines["test"]["persistence"][0] == ordered["temp"].iloc[win.start[first] + 9]
    assert data.baselines["test"]["seasonal_naive"][0] == ordered["temp"].iloc[win.start[first] + 11 - 7]


def test_scaling_is_fitted_on_the_training_part_only():
    df = daily(300)
    df.loc[250:, "temp"] += 1000.0  # a jump in the test period must not move the scaler
    data = build_sequences(df, "temp", SequenceConfig(time_column="date", window=7))
    train_rows = data.windows.row_part == 0
    assert np.isclose(data.preprocessor.mean_[0], data.rows.frame["temp"][train_rows].mean())
    assert data.preprocessor.mean_[0] < 20
    assert abs(float(data.X["train"][..., 0].mean())) < 0.2


def test_gaps_duplicates_and_missing_values_are_reported_and_never_inside_a_window():
    df = daily(120)
    df = df.drop(index=range(40, 45))  # five missing days
    df = pd.concat([df, df.iloc[[10]]])  # a repeated day
    df.loc[df.index[80], "rain"] = np.nan
    data = build_sequences(df, "temp", SequenceConfig(time_column="date", window=5))
    codes = {c.code: c for c in data.checks}
    assert "5 steps are missing in 1 gaps" in codes["missing_steps"].message
    assert "repeat a time stamp" in codes["duplicate_times"].message
    assert "1 rows have a missing value" in codes["missing_values"].message
    times = data.rows.times
    for part in ("train", "val", "test"):
        w = data.windows.of(part)
        rows = data.windows.start[w][:, None] + np.arange(5 + 1)[None, :]
        assert (np.diff(times[rows], axis=1) == 86400).all()  # consecutive days only
    assert np.isfinite(data.X["train"]).all()


def test_many_series_in_long_format_are_cut_at_the_same_moments():
    parts = []
    for name, shift in (("a", 0.0), ("b", 100.0)):
        d = daily(90, seed=int(shift))
        d["temp"] += shift
        d["station"] = name
        parts.append(d)
    data = build_sequences(pd.concat(parts), "temp", SequenceConfig(time_column="date", series_id="station", window=7))
    assert summary(data)["series"] == 2
    for part in ("train", "val", "test"):
        assert set(data.keys[part]) == {"a", "b"}
    last_train = data.times["train"].max()
    assert data.times["val"].min() > last_train  # the same cut for both stations
    assert "station" not in data.layout.inputs


@pytest.mark.parametrize(("frame", "needle"), [
    (daily(12), r"fewer rows \(12\) than a window and its horizon need \(25\)"),
    (daily(60).assign(temp=3.0), "never changes"),
    (daily(60).assign(date="soon"), "do not read as dates"),
    (daily(60).assign(temp=["warm", "cold"] * 30), "give the series id column"),
])
def test_data_that_cannot_make_forecasts_says_why(frame, needle):
    with pytest.raises(DataError, match=needle):
        build_sequences(frame, "temp", SequenceConfig(time_column="date"))


def test_irregular_spacing_is_said_in_words():
    df = daily(80)
    rng = np.random.default_rng(1)
    df["date"] = pd.to_datetime("2020-01-01") + pd.to_timedelta(np.cumsum(rng.integers(1, 5, 80)), unit="D")
    data = build_sequences(df, "temp", SequenceConfig(time_column="date", window=5))
    assert any(c.code == "irregular_spacing" and "varies" in c.message for c in data.checks)


def test_spacing_words_and_seasons():
    assert describe_spacing(3600.0, False) == ("1 hour", 24)
    assert describe_spacing(86400.0 * 30.5, False) == ("1 month", 12)
    assert describe_spacing(2.0, True) == ("2 per step", None)


def wide(n=60, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = np.arange(n) % 2
    t = np.linspace(0, 3, 12)
    steps = np.where(label[:, None] == 1, t[None, :], -t[None, :]) + rng.normal(0, 0.3, (n, 12))
    df = pd.DataFrame(steps, columns=[f"s{i:02d}" for i in range(12)])
    df["label"] = np.where(label == 1, "up", "down")
    return df


def test_wide_sequences_to_classify_split_stratified_by_sequence():
    data = build_sequences(wide(), "label", SequenceConfig())
    lay = data.layout
    assert (lay.mode, lay.format, lay.window, lay.channels) == ("classify", "wide", 12, ("label",))
    assert data.X["train"].shape[1:] == (12, 1)
    parts = [set(getattr(data.split, p)) for p in ("train", "val", "test")]
    assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
    for p in ("val", "test"):
        assert set(data.y[p]) == {0, 1}  # stratified: both classes in every part


def test_long_sequences_to_classify_keep_their_order_and_one_label_each():
    w = wide(30)
    long = w.melt(id_vars="label", ignore_index=False, var_name="step", value_name="x").reset_index(names="id")
    long["step"] = long["step"].str[1:].astype(int)
    long = long.sample(frac=1.0, random_state=0)
    data = build_sequences(long, "label", SequenceConfig(series_id="id", time_column="step"))
    assert (data.layout.format, data.layout.window, data.layout.channels) == ("long", 12, ("x",))
    key = data.keys["test"][0]
    raw = w.loc[int(key), [f"s{i:02d}" for i in range(12)]].to_numpy(dtype=float)
    back = data.X["test"][0, :, 0] * data.preprocessor.std_[0] + data.preprocessor.mean_[0]
    assert np.allclose(back, raw, atol=1e-4)
    long.loc[long.id == 3, "label"] = ["up", "down"] * 6
    with pytest.raises(DataError, match="has 2 different labels"):
        build_sequences(long, "label", SequenceConfig(series_id="id", time_column="step"))


def test_preprocessor_round_trips_as_json_and_makes_serving_windows(tmp_path):
    df = daily(100)
    data = build_sequences(df, "temp", SequenceConfig(time_column="date", window=7))
    data.preprocessor.save(tmp_path / "pre.json")
    back = load_preprocessor(tmp_path / "pre.json")
    assert isinstance(back, SequencePreprocessor) and back.layout == data.layout
    X, keys = back.windows(df.iloc[50:60])
    assert X.shape == (1, 7, 2) and keys == [""]
    expect = back.scale(df.iloc[53:60][["temp", "rain"]].to_numpy())
    assert np.allclose(X[0], expect)
    with pytest.raises(DataError, match="last 7 rows"):
        back.windows(df.iloc[:3])
    with pytest.raises(DataError, match="lack the column 'rain'"):
        back.windows(df.drop(columns="rain"))


def test_preview_shows_the_rows_a_window_reads_and_its_target():
    data = build_sequences(daily(60), "temp", SequenceConfig(time_column="date", window=3, horizon=2))
    first = preview_windows(data, "train", 2)[0]
    assert list(first["step"]) == ["t-2", "t-1", "t", "t+2 (target)"]
    assert first["date"].iloc[-1] == "2020-01-05"


def test_a_series_alone_forecasts_from_its_own_past():
    data = build_sequences(daily(60).drop(columns="rain"), "temp", SequenceConfig(time_column="date", window=5))
    assert data.layout.channels == ("temp",) and data.X["train"].shape[1:] == (5, 1)
