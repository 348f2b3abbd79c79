"""Hypothesis fuzz of the loader: any bytes, any CSV-ish text, under any supported name.

load_table returns a frame with unique, clean string column names and at least one row, or
raises DataError with one readable line; profile and run_checks then never crash on it.
Derandomized and bounded, so a run is deterministic and takes seconds.
"""
from __future__ import annotations

import tempfile
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data import load_table, profile, run_checks
from core.errors import DataError
from tests.robustness.readable import assert_readable

SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", "")
FUZZ = settings(max_examples=150, deadline=timedelta(seconds=5), derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])

cells = st.one_of(
    st.integers(-10**25, 10**25).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=12), st.sampled_from(["", "NA", "null", "inf", "-", '"', '""', "1,5", "=1+1", "<b>x</b>"]),
)


@st.composite
def csv_text(draw: st.DrawFn) -> bytes:
    sep = draw(st.sampled_from([",", ";", "\t", "|"]))
    width = draw(st.integers(1, 6))
    rows = draw(st.lists(st.lists(cells, min_size=max(1, width - 1), max_size=width + 1), max_size=25))
    header = draw(st.lists(st.text(max_size=8), min_size=width, max_size=width))
    text = "\n".join(sep.join(row) for row in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    return text.encode(encoding, errors="replace")


def _check(data: bytes, suffix: str) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"fuzz{suffix}"
        path.write_bytes(data)
        try:
            frame = load_table(path)
        except DataError as exc:
            assert_readable(str(exc), limit=800)
            return
    names = list(frame.columns)
    assert len(frame) >= 1 and names
    assert all(isinstance(n, str) and n and n == n.strip() and "\n" not in n for n in names)
    assert len(set(names)) == len(names)
    profile(frame)
    for check in run_checks(frame, names[-1]):
        assert_readable(check.message, limit=800)


@FUZZ
@given(data=st.binary(max_size=2048), suffix=st.sampled_from(SUFFIXES))
def test_any_bytes(data: bytes, suffix: str) -> None:
    _check(data, suffix)


@FUZZ
@given(data=csv_text(), suffix=st.sampled_from(SUFFIXES[:3]))
def test_csv_like_text(data: bytes, suffix: str) -> None:
    _check(data, suffix)


@FUZZ
@given(data=csv_text(), cut=st.integers(0, 4096))
def test_truncated_and_corrupted(data: bytes, cut: int) -> None:
    _check(data[: cut % (len(data) + 1)] + b"\xff\xfe\x00"[: cut % 4], ".csv")
