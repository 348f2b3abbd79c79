"""Time series and sequence tables: what the columns are, rows in order, and checks in words.

Two shapes of table become sequences (core.config.SequenceConfig says which columns are what):

- a forecast: a numeric target, a time column (or the file's row order), optional series id for many
  series in long format; each example is a window of rows and the target `horizon` steps later;
- a sequence to classify: a class target, one row per sequence whose step columns are the steps
  (wide), or the rows of one series id, ordered by the time column, with one label each (long).

`resolve_layout` turns the settings into a `SeriesLayout` with every default filled in; `order_rows`
parses and sorts; `series_checks` says what is odd about the series, as core.data.checks does for tables.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Mapping

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from core.config import SequenceConfig
from core.data.checks import Check
from core.data.columns import shown
from core.errors import DataError
from core.vocab import is_classification

FORECAST_WINDOW = 24  # steps, when the settings name none
MAX_BAD_TIMES = 0.05  # share of time stamps that may fail to parse (those rows are dropped)
REGULAR_SHARE = 0.8  # share of steps at the usual spacing for the series to count as regular
_DAY = 86_400.0
# usual spacing in seconds -> (words, the season in steps that the seasonal-naive baseline repeats)
_SPACINGS: tuple[tuple[float, str, int | None], ...] = (
    (1.0, "second", 60), (60.0, "minute", 60), (300.0, "5 minutes", 288), (900.0, "15 minutes", 96),
    (1800.0, "30 minutes", 48), (3600.0, "hour", 24), (_DAY, "day", 7), (7 * _DAY, "week", 52),
    (30.44 * _DAY, "month", 12), (91.31 * _DAY, "quarter", 4), (365.25 * _DAY, "year", None),
)


@dataclass(frozen=True)
class SeriesLayout:
    """The sequence settings with every default resolved, saved with the run."""
    mode: str  # "forecast" | "classify"
    format: str  # "long" (rows are steps) | "wide" (a row is a sequence, its step columns the steps)
    target: str
    inputs: tuple[str, ...]  # forecast and long: the channels; wide: the step columns, oldest first
    time_column: str | None
    series_id: str | None
    window: int
    stride: int
    horizon: int
    seasonal_period: int | None
    spacing_s: float | None = None  # the usual time between rows, in seconds (None: no time stamps)
    spacing: str = ""  # the same in words: "1 day"

    @property
    def channels(self) -> tuple[str, ...]:
        """The columns one step has: what the model's input width and the heat map's columns are."""
        return (self.target,) if self.format == "wide" else self.inputs

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["inputs"] = list(self.inputs)
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> SeriesLayout:
        try:
            return cls(**{**raw, "inputs": tuple(str(c) for c in raw["inputs"])})
        except (KeyError, TypeError) as exc:
            raise DataError(f"The saved sequence layout is damaged ({exc}): train the model again.") from None


def resolve_layout(frame: pd.DataFrame, target: str, task: str, seq: SequenceConfig) -> SeriesLayout:
    """Check the named columns exist and fill in the defaults; a DataError names what is wrong."""
    named = [c for c in (seq.time_column, seq.series_id, *seq.inputs) if c]
    missing = [c for c in [target, *named] if c not in frame.columns]
    if missing:
        cols = ", ".join(f"'{shown(c)}'" for c in list(frame.columns)[:10])
        raise DataError(f"There is no column named '{shown(missing[0])}' (the columns are: {cols}).")
    mode = "classify" if is_classification(task) else "forecast"
    if mode == "classify" and seq.time_column and not seq.series_id:
        raise DataError(f"The target '{shown(target)}' holds classes, and one series with a time column has no "
                        "sequences to classify: give the series id column that names each sequence, or forecast "
                        "a numeric column.")
    fmt = "long" if (mode == "forecast" or seq.series_id) else "wide"
    skip = {target, seq.time_column, seq.series_id}
    if seq.inputs:
        inputs = tuple(seq.inputs)
    else:
        inputs = tuple(str(c) for c in frame.columns
                       if c not in skip - ({target} if mode == "forecast" else set())
                       and ptypes.is_numeric_dtype(frame[c].dtype) and not ptypes.is_bool_dtype(frame[c].dtype))
        if mode == "forecast" and target in inputs:  # the target's own past first: the heat map's first column
            inputs = (target, *[c for c in inputs if c != target])
    if not inputs:
        raise DataError("No numeric input columns to read the sequences from: name the input columns.")
    for col in inputs if mode == "forecast" or fmt == "long" else ():
        if not ptypes.is_numeric_dtype(frame[col].dtype) or ptypes.is_bool_dtype(frame[col].dtype):
            raise DataError(f"Input column '{shown(col)}' is not numeric: sequence models read numbers only. "
                            "Leave it out of the inputs.")
    if mode == "forecast" and not ptypes.is_numeric_dtype(frame[target].dtype):
        raise DataError(f"The target '{shown(target)}' is not numeric, so it cannot be forecast; "
                        "a class target is classified per sequence instead (give a series id).")
    if fmt == "wide":
        bad = [c for c in inputs if not ptypes.is_numeric_dtype(frame[c].dtype)]
        if bad:
            raise DataError(f"Step column '{shown(bad[0])}' is not numeric: each column of a wide sequence "
                            "table is one step's value.")
        window = len(inputs)
    elif mode == "classify":
        window = seq.window or int(frame.groupby(seq.series_id, sort=False).size().max())
    else:
        window = seq.window or FORECAST_WINDOW
    spacing_s, words, season = None, "", None
    if seq.time_column:
        spacing_s = _usual_spacing(parse_times(frame[seq.time_column], seq.time_column)[0],
                                   frame[seq.series_id] if seq.series_id else None)
        words, season = describe_spacing(spacing_s, ptypes.is_numeric_dtype(frame[seq.time_column].dtype))
    return SeriesLayout(mode=mode, format=fmt, target=target, inputs=inputs, time_column=seq.time_column,
                        series_id=seq.series_id, window=int(window), stride=seq.stride, horizon=seq.horizon,
                        seasonal_period=seq.seasonal_period or season, spacing_s=spacing_s, spacing=words)


def parse_times(values: pd.Series, name: str) -> tuple[pd.Series, int]:
    """Time stamps as float seconds (numbers stay numbers: steps); how many failed to parse (NaN)."""
    if ptypes.is_bool_dtype(values.dtype):
        raise DataError(f"The time column '{shown(name)}' holds true/false values, not times.")
    if ptypes.is_numeric_dtype(values.dtype):
        return values.astype("float64"), 0
    if ptypes.is_datetime64_any_dtype(values.dtype):
        stamps = values
    else:
        text = values.astype("string")
        stamps = pd.to_datetime(text, errors="coerce", format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    present = values.notna()
    failed = int((stamps.isna() & present).sum())
    if present.sum() and failed > MAX_BAD_TIMES * present.sum():
        example = values[stamps.isna() & present].iloc[0]
        raise DataError(f"{failed} of {int(present.sum())} values of '{shown(name)}' do not read as dates or times "
                        f"(for example '{shown(str(example), 40)}'): pick the time column, or fix those values.")
    seconds = stamps.astype("datetime64[ns]").astype("int64").astype("float64") / 1e9
    return seconds.where(stamps.notna()), failed


def describe_spacing(spacing_s: float | None, numeric: bool) -> tuple[str, int | None]:
    """'1 day' and its season (7), or plain steps for a numeric time column (no season)."""
    if spacing_s is None or not math.isfinite(spacing_s) or spacing_s <= 0:
        return "", None
    if numeric:
        return f"{spacing_s:g} per step", None
    for seconds, words, season in _SPACINGS:
        if abs(spacing_s - seconds) <= 0.05 * seconds:
            return (words if words[0].isdigit() else f"1 {words}"), season
    days = spacing_s / _DAY
    return (f"{days:.3g} days" if days >= 1 else f"{spacing_s:.3g} seconds"), None


def _usual_spacing(seconds: pd.Series, series: pd.Series | None) -> float | None:
    steps = _steps(seconds, series)
    steps = steps[steps > 0]
    return float(np.median(steps)) if len(steps) else None


def _steps(seconds: pd.Series, series: pd.Series | None) -> np.ndarray:
    frame = pd.DataFrame({"t": seconds.to_numpy(), "s": series.to_numpy() if series is not None else 0})
    frame = frame.dropna(subset=["t"]).sort_values(["s", "t"], kind="stable")
    diffs = frame.groupby("s", sort=False)["t"].diff()
    return diffs.dropna().to_numpy()


@dataclass
class OrderedRows:
    """The rows that make sequences, sorted (series, time), renumbered 0..n-1, with what was dropped."""
    frame: pd.DataFrame
    times: np.ndarray | None  # float seconds (or steps) per row, sorted within each series
    series: np.ndarray  # each row's series key as text ("" for a single series)
    checks: list[Check]


def order_rows(frame: pd.DataFrame, layout: SeriesLayout) -> OrderedRows:
    """Long tables: parse the time column, sort each series by it, drop repeated time stamps."""
    checks: list[Check] = []
    df = frame.reset_index(drop=True)
    if layout.format == "wide":
        return OrderedRows(df, None, np.arange(len(df)).astype(str), checks)
    series = (df[layout.series_id].astype("string").fillna("<missing>").to_numpy(dtype=str)
              if layout.series_id else np.full(len(df), "", dtype=object).astype(str))
    times = None
    if layout.time_column:
        seconds, failed = parse_times(df[layout.time_column], layout.time_column)
        keep = seconds.notna().to_numpy()
        if failed or not keep.all():
            checks.append(Check("warning", "bad_times", layout.time_column,
                                f"{int((~keep).sum())} rows have no readable time in '{shown(layout.time_column)}' "
                                "and are left out.", "Fix or remove those rows."))
        df, series, seconds = df[keep].reset_index(drop=True), series[keep], seconds[keep].reset_index(drop=True)
        order = np.lexsort((seconds.to_numpy(), series))
        df, series, times = df.iloc[order].reset_index(drop=True), series[order], seconds.to_numpy()[order]
        repeated = np.zeros(len(df), dtype=bool)
        repeated[1:] = (series[1:] == series[:-1]) & (times[1:] == times[:-1])
        if repeated.any():
            checks.append(Check("warning", "duplicate_times", layout.time_column,
                                f"{int(repeated.sum())} rows repeat a time stamp of their series; "
                                "the first row of each time is kept.",
                                "Aggregate the repeated rows (a sum or mean per time) before uploading if that "
                                "is what they mean."))
            df, series, times = df[~repeated].reset_index(drop=True), series[~repeated], times[~repeated]
    elif layout.series_id:  # no time column: each series in file order, series after series
        order = np.argsort(series, kind="stable")
        df, series = df.iloc[order].reset_index(drop=True), series[order]
    return OrderedRows(df, times, series, checks)


def series_checks(rows: OrderedRows, layout: SeriesLayout) -> list[Check]:
    """Irregular spacing, missing steps, series too short for the window, constant series, in words."""
    checks = list(rows.checks)
    if layout.format == "wide":
        values = rows.frame[list(layout.inputs)].to_numpy(dtype="float64", na_value=np.nan)
        flat = np.nanmax(values, axis=1) - np.nanmin(values, axis=1) == 0
        if flat.any():
            checks.append(Check("warning", "constant_sequence", None,
                                f"{int(flat.sum())} sequences have the same value at every step.",
                                "They carry no shape to learn from; check that they are real data."))
        gaps = int(np.isnan(values).any(axis=1).sum())
        if gaps:
            checks.append(Check("warning", "missing_steps", None,
                                f"{gaps} sequences have missing steps; they are filled with the sequence's "
                                "previous value.", "Fill them yourself if another rule fits better."))
        return checks
    checks += _spacing_checks(rows, layout)
    need = layout.window + (layout.horizon if layout.mode == "forecast" else 0)
    sizes = pd.Series(rows.series).value_counts(sort=False)
    short = sizes[sizes < need] if layout.mode == "forecast" else sizes[sizes < layout.window]
    if len(short) and layout.mode == "forecast":
        name = "The series has" if len(sizes) == 1 else f"{len(short)} of {len(sizes)} series have"
        checks.append(Check("error" if len(short) == len(sizes) else "warning", "series_too_short",
                            layout.series_id,
                            f"{name} fewer rows ({int(short.min())}) than a window and its horizon need ({need}).",
                            "Shorten the window or the horizon, or add rows." if len(short) == len(sizes)
                            else "Those series are left out of training."))
    elif len(short):
        checks.append(Check("info", "sequence_padded", layout.series_id,
                            f"{len(short)} sequences are shorter than the window ({layout.window} steps); their "
                            "start is padded with the average value.", "Nothing to do unless that is wrong."))
    target = rows.frame[layout.target]
    if layout.mode == "forecast":
        spread = target.groupby(rows.series, sort=False).agg(lambda s: s.max() - s.min())
        flat = spread[spread == 0]
        if len(flat):
            name = "The target never changes" if len(spread) == 1 else \
                f"The target is constant in {len(flat)} of {len(spread)} series"
            checks.append(Check("error" if len(flat) == len(spread) else "warning", "constant_series",
                                layout.target, f"{name}: there is nothing to forecast.",
                                "Pick another target column."))
    else:
        labels = target.groupby(rows.series, sort=False).nunique()
        mixed = labels[labels > 1]
        if len(mixed):
            checks.append(Check("error", "mixed_labels", layout.target,
                                f"Sequence '{shown(str(mixed.index[0]))}' has {int(mixed.iloc[0])} different labels "
                                f"in '{shown(layout.target)}'; a sequence needs one.",
                                "Give each sequence one label, or forecast the column instead."))
    missing = int(rows.frame[list({*layout.inputs, layout.target})].isna().any(axis=1).sum())
    if missing:
        checks.append(Check("warning", "missing_values", None,
                            f"{missing} rows have a missing value in the inputs or the target; no window "
                            "includes them.", "Fill the gaps (for example with the previous value) to keep "
                            "the windows around them."))
    return sorted(checks, key=lambda c: ("error", "warning", "info").index(c.level))


def _spacing_checks(rows: OrderedRows, layout: SeriesLayout) -> list[Check]:
    if rows.times is None or not layout.spacing_s:
        return []
    steps = _steps(pd.Series(rows.times), pd.Series(rows.series))
    if not len(steps):
        return []
    usual = layout.spacing_s
    regular = np.abs(steps - usual) <= 0.05 * usual
    if regular.mean() < REGULAR_SHARE:
        return [Check("warning", "irregular_spacing", layout.time_column,
                      f"The time between rows varies: only {regular.mean():.0%} of steps are the usual "
                      f"{layout.spacing}. Windows are taken row by row, so they cover different lengths of time.",
                      "Resample the data to a fixed spacing (one row per day, per hour...) for steadier forecasts.")]
    gap = steps > 1.5 * usual
    if not gap.any():
        return []
    lost = np.rint(steps[gap] / usual) - 1
    return [Check("warning", "missing_steps", layout.time_column,
                  f"{int(lost.sum())} steps are missing in {int(gap.sum())} gaps (the longest: "
                  f"{int(lost.max())} steps of {layout.spacing}). No window spans a gap.",
                  "Fill the missing steps if windows across them make sense.")]


def is_gap(rows: OrderedRows, layout: SeriesLayout) -> np.ndarray:
    """Per row: does a new run of regularly spaced rows start here (a missing step before it)?"""
    start = np.zeros(len(rows.series), dtype=bool)
    if rows.times is None or not layout.spacing_s or len(start) < 2:
        return start
    steps = np.diff(rows.times)
    same = rows.series[1:] == rows.series[:-1]
    regular = np.abs(steps[same] - layout.spacing_s) <= 0.05 * layout.spacing_s
    if regular.mean() < REGULAR_SHARE if len(regular) else True:
        return start  # irregular: windows are taken row by row, as said in the checks
    start[1:] = same & (steps > 1.5 * layout.spacing_s)
    return start


__all__ = ["SeriesLayout", "OrderedRows", "FORECAST_WINDOW", "resolve_layout", "parse_times", "describe_spacing",
           "order_rows", "series_checks", "is_gap"]
