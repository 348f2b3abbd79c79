"""load_table: CSV dialects and encodings, Parquet, and readable errors for bad files."""
from __future__ import annotations

import codecs
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.data import load_table
from core.data.loading import clean_column_names
from core.data.memory import BUDGET_ENV, memory_budget, shown_size, text_table_bytes
from core.errors import ConfigError, DataError


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_semicolon_with_decimal_comma(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "de.csv", b"name;price;qty\nApfel;1,5;3\nBirne;2,25;4\n"))
    assert list(df.columns) == ["name", "price", "qty"]
    assert df["price"].tolist() == [1.5, 2.25] and df["qty"].tolist() == [3, 4]


def test_utf8_bom(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "bom.csv", codecs.BOM_UTF8 + "città,n\nRoma,1\n".encode()))
    assert list(df.columns) == ["città", "n"]  # no BOM glued to the first name


def test_utf16_with_bom_and_tabs(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "u16.csv", "city\tn\nMünchen\t1\nKöln\t2\n".encode("utf-16")))
    assert df["city"].tolist() == ["München", "Köln"] and df["n"].tolist() == [1, 2]


def test_cp1252_fallback(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "win.csv", "name,price\nCafé,3\nNaïve €,4\n".encode("cp1252")))
    assert df["name"].tolist() == ["Café", "Naïve €"]


def test_tab_and_pipe_delimiters(tmp_path: Path) -> None:
    assert load_table(write(tmp_path, "t.tsv", b"a\tb\tc\n1\t2\t3\n")).shape == (1, 3)
    assert load_table(write(tmp_path, "p.txt", b"a|b\n1|2\n3|4\n"))["b"].tolist() == [2, 4]


def test_quoted_delimiters_and_crlf(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "q.csv", b'a,b\r\n"x, y",1\r\n"z",2\r\n'))
    assert df["a"].tolist() == ["x, y", "z"]


def test_column_names_are_cleaned(tmp_path: Path) -> None:
    df = load_table(write(tmp_path, "n.csv", b" a ,,a,a, b\n1,2,3,4,5\n"))
    assert list(df.columns) == ["a", "column_2", "a.1", "a.2", "b"]
    assert clean_column_names(["x", "x", None, 3]) == ["x", "x.1", "column_3", "3"]


def test_max_rows(tmp_path: Path) -> None:
    path = write(tmp_path, "m.csv", b"a\n" + b"".join(f"{i}\n".encode() for i in range(100)))
    assert len(load_table(path, max_rows=10)) == 10


def test_parquet_round_trip_and_max_rows(tmp_path: Path) -> None:
    df = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    df.to_parquet(tmp_path / "d.parquet")
    assert load_table(tmp_path / "d.parquet").to_dict("list") == df.to_dict("list")
    assert load_table(tmp_path / "d.parquet", max_rows=2).shape == (2, 2)
    (tmp_path / "d.parquet").rename(tmp_path / "misnamed.csv")  # magic bytes win over the extension
    assert load_table(tmp_path / "misnamed.csv").shape == (3, 2)


@pytest.mark.parametrize("name, data, message", [
    ("empty.csv", b"", "is empty"),
    ("blank.csv", b"\n \n\n", "is empty"),
    ("header.csv", b"a,b,c\n", "has column names but no rows"),
    ("image.csv", b"\x89PNG\r\n\x1a\n" + bytes(200), "is not a CSV or Parquet file: it looks like a PNG image"),
    ("noise.csv", np.random.default_rng(0).integers(0, 256, 4000, dtype=np.uint8).tobytes(),
     "is not a CSV or Parquet file"),
    ("book.xlsx", b"PK\x03\x04" + bytes(100), "save it as CSV"),
    ("pickle.csv", b"\x80\x04\x95" + bytes(50), "is not a CSV or Parquet file"),
    ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "line 3 has 3 values where the header has 2"),
    ("allwide.csv", b"a,b\n1,2,3\n4,5,6\n", "more values than the header"),
    ("fake.parquet", b"a,b\n1,2\n", "is not a Parquet file"),
])
def test_bad_files_give_one_readable_line(tmp_path: Path, name: str, data: bytes, message: str) -> None:
    with pytest.raises(DataError, match=message) as info:
        load_table(write(tmp_path, name, data))
    text = str(info.value)
    assert name in text and "\n" not in text and "Traceback" not in text


def test_truncated_parquet(tmp_path: Path) -> None:
    pd.DataFrame({"a": range(1000), "b": [f"v{i}" for i in range(1000)]}).to_parquet(tmp_path / "full.parquet")
    data = (tmp_path / "full.parquet").read_bytes()
    with pytest.raises(DataError, match="damaged or truncated Parquet"):
        load_table(write(tmp_path, "cut.parquet", data[: len(data) // 2]))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Cannot find the file 'nope.csv'"):
        load_table(tmp_path / "nope.csv")


def test_label_names_the_file_in_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="'report.csv'"):
        load_table(write(tmp_path, "abc123_report.csv", b""), label="report.csv")


def test_loading_never_unpickles() -> None:
    folder = Path(__file__).resolve().parents[1] / "core" / "data"
    source = "".join(p.read_text() for p in folder.glob("*.py"))
    assert source
    assert "read_pickle" not in source and "allow_pickle=True" not in source and "import pickle" not in source


_CSVISH = st.text(st.sampled_from(list('ab1,;\t|"\n\r. -x9é€?')), max_size=120)


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=200), _CSVISH.map(str.encode),
                      _CSVISH.map(lambda t: t.encode("utf-16"))),
       name=st.sampled_from(["f.csv", "f.tsv", "f.parquet", "f.txt"]))
def test_any_bytes_load_or_fail_with_one_readable_line(tmp_path: Path, data: bytes, name: str) -> None:
    try:
        df = load_table(write(tmp_path, name, data))
    except DataError as exc:
        assert "\n" not in str(exc)
        return
    assert len(set(df.columns)) == df.shape[1] and all(isinstance(c, str) and c for c in df.columns)
    assert len(df) > 0


# --- the memory bound: refused before parsing, with the sizes in the message ------------------------------
def _numeric_csv(tmp_path: Path, name: str = "big.csv", rows: int = 4000) -> Path:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(rng.normal(size=(rows, 4)).round(4), columns=["a", "b", "c", "y"])
    path = tmp_path / name
    df.to_csv(path, index=False)
    return path


def test_a_text_file_over_the_memory_budget_is_refused_before_parsing(tmp_path: Path, monkeypatch) -> None:
    path = _numeric_csv(tmp_path)  # about 150 KB of text, about 400 KB once parsed
    monkeypatch.setenv(BUDGET_ENV, "0.1")
    parsed: list[object] = []
    monkeypatch.setattr(pd, "read_csv", lambda *a, **k: parsed.append(a))
    with pytest.raises(DataError) as caught:
        load_table(path)
    message = str(caught.value)
    assert parsed == []
    assert "'big.csv' is too large to load" in message and "\n" not in message
    assert f"the file is {shown_size(path.stat().st_size)}" in message
    assert f"more than 102.4 KB (the limit set by {BUDGET_ENV})" in message and f"raise {BUDGET_ENV}" in message


def test_within_the_budget_loads_and_max_rows_needs_less(tmp_path: Path, monkeypatch) -> None:
    path = _numeric_csv(tmp_path)
    monkeypatch.setenv(BUDGET_ENV, "0.1")
    assert load_table(path, max_rows=200).shape == (200, 4)  # the first rows fit where the whole file does not
    monkeypatch.setenv(BUDGET_ENV, "5")
    assert load_table(path).shape == (4000, 4)


def test_the_estimate_counts_empty_cells() -> None:
    # 1 MB of commas is 1 M values once parsed: far more memory than 1 MB of numbers
    commas = ",,,,,,,,,\n" * 1000
    digits = "1.23,4.56\n" * 1000
    sparse = text_table_bytes(2**20, len(commas), commas, ",")
    dense = text_table_bytes(2**20, len(digits), digits, ",")
    assert sparse > 3 * dense and dense > 3 * 2**20


def test_a_parquet_file_over_the_budget_is_refused(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.parquet"
    pd.read_csv(_numeric_csv(tmp_path)).to_parquet(path)
    monkeypatch.setenv(BUDGET_ENV, "0.1")
    with pytest.raises(DataError, match=f"too large to load: the file is .* \\(the limit set by {BUDGET_ENV}\\)"):
        load_table(path)


@pytest.mark.parametrize("value", ["lots", "0", "-5", "nan", "inf"])
def test_a_bad_budget_setting_is_named(tmp_path: Path, monkeypatch, value: str) -> None:
    monkeypatch.setenv(BUDGET_ENV, value)
    with pytest.raises(ConfigError, match=f"{BUDGET_ENV} must be a number of megabytes"):
        load_table(_numeric_csv(tmp_path, rows=10))


def test_without_a_setting_the_budget_is_the_free_memory(monkeypatch) -> None:
    monkeypatch.delenv(BUDGET_ENV, raising=False)
    budget = memory_budget()
    assert budget is not None and budget[0] > 0 and "free" in budget[1]
