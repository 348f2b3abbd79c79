"""Examples cut from ordered rows, and train/validation/test parts that cannot leak.

A forecast splits by time: the rows of every series are cut at the same two moments into a train,
a validation and a test part (never shuffled), and windows are cut inside one part only. A window
and its target therefore never straddle two parts: the first window of the validation part starts
at its first row, `window + horizon - 1` rows after the last training target, which is the gap
between them. Missing steps and missing values cut a part into runs that windows do not cross either.

Sequences to classify are whole examples, split by sequence (each id in one part only), stratified.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from core.data.series import OrderedRows, SeriesLayout, is_gap
from core.errors import DataError

PARTS = ("train", "val", "test")


@dataclass(frozen=True)
class ForecastWindows:
    start: np.ndarray  # int64: the first input row of each window, in the ordered rows
    target_row: np.ndarray  # int64: the row whose target each window forecasts
    part: np.ndarray  # int8: 0 train, 1 val, 2 test, per window
    row_part: np.ndarray  # int8 per ordered row (-1: a row no window may use)
    run: np.ndarray  # int64 per ordered row: its run of consecutive usable rows in one part (-1: unusable)

    def of(self, part: str) -> np.ndarray:
        """Window numbers of one part, in time order within each series."""
        return np.flatnonzero(self.part == PARTS.index(part))


def chronological_parts(rows: OrderedRows, val_fraction: float, test_fraction: float) -> np.ndarray:
    """0/1/2 per row: train up to the first cut, then validation, then test. With time stamps the cuts
    are the same moments for every series (no series' future trains while another's is tested); without,
    each series is cut at the same shares of its rows."""
    n = len(rows.series)
    parts = np.zeros(n, dtype=np.int8)
    first, second = 1.0 - val_fraction - test_fraction, 1.0 - test_fraction
    if rows.times is not None:
        moments = np.unique(rows.times)
        k1, k2 = int(round(len(moments) * first)), int(round(len(moments) * second))
        if not 0 < k1 < k2 < len(moments):
            raise DataError(f"{len(moments)} time stamps are too few to split into train, validation and test.")
        parts[rows.times >= moments[k1]] = 1
        parts[rows.times >= moments[k2]] = 2
        return parts
    _, starts, sizes = np.unique(rows.series, return_index=True, return_counts=True)
    for s, size in zip(starts, sizes):
        position = np.arange(size) / size
        parts[s:s + size] = (position >= first).astype(np.int8) + (position >= second)
    return parts


def forecast_windows(rows: OrderedRows, layout: SeriesLayout, valid: np.ndarray,
                     val_fraction: float, test_fraction: float) -> ForecastWindows:
    """Every window of `layout.window` rows whose rows and target row are valid and in one part and run."""
    parts = chronological_parts(rows, val_fraction, test_fraction)
    n = len(parts)
    breaks = np.ones(n, dtype=bool)
    if n > 1:
        breaks[1:] = (rows.series[1:] != rows.series[:-1]) | (parts[1:] != parts[:-1]) | ~valid[:-1]
    breaks |= is_gap(rows, layout)
    run = np.cumsum(breaks)
    run[~valid] = -1
    span = layout.window + layout.horizon  # rows from a window's first row to its target row, inclusive
    starts: list[np.ndarray] = []
    for label in np.unique(run[run >= 0]):
        where = np.flatnonzero(run == label)
        first, last = int(where[0]), int(where[-1])  # runs are contiguous by construction
        if last - first + 1 >= span:
            starts.append(np.arange(first, last - span + 2, layout.stride, dtype=np.int64))
    start = np.concatenate(starts) if starts else np.zeros(0, dtype=np.int64)
    target_row = start + layout.window - 1 + layout.horizon
    part = parts[start] if len(start) else np.zeros(0, dtype=np.int8)
    row_part = np.where(valid, parts, -1).astype(np.int8)
    counts = {name: int((part == i).sum()) for i, name in enumerate(PARTS)}
    empty = [name for name, count in counts.items() if count == 0]
    if empty:
        rows_in = {name: int((row_part == i).sum()) for i, name in enumerate(PARTS)}
        shown = "validation" if empty[0] == "val" else empty[0]
        raise DataError(f"The {shown} part has no complete window: it has {rows_in[empty[0]]} usable rows, and a "
                        f"window of {layout.window} steps with a horizon of {layout.horizon} needs {span} in a row. "
                        "Shorten the window or the horizon, or raise the validation and test shares.")
    order = np.lexsort((start, part))  # part by part; in time order (series after series) within each
    return ForecastWindows(start[order], target_row[order], part[order], row_part, run)


def seasonal_lag(period: int, horizon: int) -> int:
    """Seasonal naive's lag: whole seasons back from the target (m * ceil(horizon / m) steps), so that the
    value it repeats is known when the forecast is made."""
    return int(period * math.ceil(horizon / period))


def gather_windows(values: np.ndarray, start: np.ndarray, window: int) -> np.ndarray:
    """(n_rows, C) values -> (n_windows, window, C) float32, oldest step first."""
    index = start[:, None] + np.arange(window)[None, :]
    return np.ascontiguousarray(values[index], dtype=np.float32)


def sequence_groups(rows: OrderedRows) -> tuple[np.ndarray, list[np.ndarray]]:
    """Long format: each sequence's id and its rows in order (rows are sorted by series already)."""
    keys, starts = np.unique(rows.series, return_index=True)
    order = np.argsort(starts)
    keys, starts = keys[order], starts[order]
    ends = np.append(starts[1:], len(rows.series))
    return keys, [np.arange(s, e, dtype=np.int64) for s, e in zip(starts, ends)]


def gather_sequences(values: np.ndarray, groups: list[np.ndarray], window: int) -> np.ndarray:
    """Each sequence's last `window` steps as (n, window, C); shorter ones are padded at the start with 0,
    the average of scaled values; a missing step takes the previous step's value (0 before any)."""
    out = np.zeros((len(groups), window, values.shape[1]), dtype=np.float32)
    for i, rows in enumerate(groups):
        seq = values[rows[-window:]]
        out[i, window - len(seq):] = fill_forward(seq)
    return out


def fill_forward(seq: np.ndarray) -> np.ndarray:
    """NaN steps take the last value before them, per column; leading NaNs become 0."""
    seq = np.array(seq, dtype=np.float32)
    mask = np.isnan(seq)
    if not mask.any():
        return seq
    index = np.where(~mask, np.arange(len(seq))[:, None], 0)
    np.maximum.accumulate(index, axis=0, out=index)
    filled = seq[index, np.arange(seq.shape[1])[None, :]]
    return np.nan_to_num(filled, nan=0.0)


__all__ = ["PARTS", "ForecastWindows", "chronological_parts", "forecast_windows", "seasonal_lag", "gather_windows",
           "sequence_groups", "gather_sequences", "fill_forward"]
