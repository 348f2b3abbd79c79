"""A corpus of hostile and degenerate data files, generated on demand (never committed).

Each `Case` names a file, the column to predict, and what must happen on the UI path
(catalog.add_upload + load + profile + run_checks + build_schema):

- refused="upload": add_upload raises DataError whose message contains `message`;
- refused="blocked": the file loads, but run_checks reports an error or build_schema raises DataError
  (training is refused before it starts), with `message` in one of them;
- refused=None: everything returns, and run_checks flags at least the codes in `flags`.

`cli=True` puts the case in the CLI subset (each CLI run costs seconds). Run
`python -m tests.robustness.corpus DIR` to write the corpus somewhere to look at.
"""
from __future__ import annotations

import codecs
import gzip
import io
import sys
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

XSS_NAME = '<script>alert("name")</script>'
XSS_IMG = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class Case:
    name: str  # file name, also the upload name
    target: str
    refused: str | None = None  # "upload" | "blocked" | None
    message: str = ""  # expected in the DataError (case-insensitive)
    flags: tuple[str, ...] = ()  # check codes run_checks must report
    cli: bool = False  # in the CLI subset
    build: Callable[[], bytes] = field(default=lambda: b"", repr=False)


def _csv(df: pd.DataFrame, **kw: object) -> bytes:
    return df.to_csv(index=False, **kw).encode("utf-8")


def _rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _base(n: int = 200) -> pd.DataFrame:
    """A small healthy table: two numeric features, one categorical, a binary target."""
    rng = _rng()
    x1, x2 = rng.normal(size=n), rng.normal(size=n)
    return pd.DataFrame({
        "x1": x1.round(4), "x2": x2.round(4), "colour": rng.choice(["red", "green", "blue"], n),
        "y": np.where(x1 + 0.5 * x2 + rng.normal(scale=0.5, size=n) > 0, "yes", "no"),
    })


def _text(rows: list[str]) -> bytes:
    return ("\n".join(rows) + "\n").encode("utf-8")


def _ragged() -> bytes:
    rows = ["a,b,y"] + [f"{i},{i * 2},{i % 2}" for i in range(40)]
    rows[17] = "16,32,0,extra,values"
    return _text(rows)


def _short_rows() -> bytes:
    rows = ["a,b,y"] + [f"{i},{i % 7},{i % 2}" for i in range(60)]
    rows[5] = "4"  # a short row: missing values, which pandas fills in
    return _text(rows)


def _bad_quotes() -> bytes:
    rows = ["a,b,y"] + [f"{i},{i % 5},{i % 2}" for i in range(30)]
    rows[10] = '9,"unclosed,1'
    return _text(rows)


def _encoded(encoding: str, bom: bytes = b"") -> Callable[[], bytes]:
    def build() -> bytes:
        rng = _rng()
        cities = ["München", "Köln", "Zürich", "Café Crème", "Ærø"]
        rows = ["city,größe,y"] + [f"{rng.choice(cities)},{rng.integers(1, 99)},{i % 2}" for i in range(80)]
        return bom + "\n".join(rows).encode(encoding) + "\n".encode(encoding)
    return build


def _utf16(bom: bool) -> bytes:
    rows = ["stadt\twert\ty"] + [f"Städte{i % 4}\t{i * 0.5}\t{i % 2}" for i in range(60)]
    text = "\n".join(rows) + "\n"
    return text.encode("utf-16") if bom else text.encode("utf-16-le")


def _shift_jis() -> bytes:
    names = ["東京", "大阪", "名古屋", "札幌", "福岡"]
    rows = ["都市,人口,評価"] + [f"{names[i % 5]},{1000 + i * 37},{'良い' if i % 3 else '悪い'}" for i in range(90)]
    return ("\n".join(rows) + "\n").encode("shift_jis")


def _decimal_comma() -> bytes:
    rng = _rng()
    rows = ["preis;menge;kategorie"] + [
        f"{rng.integers(1, 99)},{rng.integers(0, 99):02d};{rng.integers(1, 9)};{'A' if i % 2 else 'B'}"
        for i in range(80)]
    return _text(rows)


def _duplicate_names() -> bytes:
    df = _base()
    return _text(["x,x,colour,y"] + [f"{a},{b},{c},{y}" for a, b, c, y in df.itertuples(index=False)])


def _blank_names() -> bytes:
    df = _base()
    return _text([",x2,  ,y"] + [f"{a},{b},{c},{y}" for a, b, c, y in df.itertuples(index=False)])


def _wide() -> bytes:
    rng = _rng()
    data = rng.integers(0, 10, size=(30, 10_000))
    cols = [f"c{i}" for i in range(10_000)]
    df = pd.DataFrame(data, columns=cols)
    df["y"] = np.arange(30) % 2
    return _csv(df)


def _huge_ints() -> bytes:
    rows = ["big,small,y"] + [f"{2**64 + i * 7919},{i % 9},{i % 2}" for i in range(60)]
    rows[3] = f"{-(2**70)},1,1"
    return _text(rows)


def _type_change() -> bytes:
    n = 70_000
    parts = ["v,w,y\n"]
    parts += [f"{i % 97},{i % 13},{i % 2}\n" for i in range(65_600)]
    parts += [f"n/a-{i},{i % 13},{i % 2}\n" for i in range(n - 65_600)]
    return "".join(parts).encode()


def _units() -> bytes:
    rng = _rng()
    rows = ["weight,height,y"] + [
        f"{rng.integers(40, 120)} kg,{rng.integers(150, 200)}cm,{i % 2}" for i in range(120)]
    return _text(rows)


def _dates() -> bytes:
    days = pd.date_range("2020-01-01", periods=150, freq="D")
    rows = ["when,stamp,amount,y"] + [
        f"{d:%Y-%m-%d},{d:%d/%m/%Y %H:%M},{i * 1.5},{i % 3}" for i, d in enumerate(days)]
    return _text(rows)


def _with(column: str, values: Callable[[int], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        df = _base()
        df.insert(0, column, [values(i) for i in range(len(df))])
        return _csv(df)
    return build


def _many_levels() -> bytes:
    n = 40_000
    rng = _rng()
    df = pd.DataFrame({"code": [f"L{i % 20_000:05d}" for i in range(n)], "x": rng.normal(size=n).round(3),
                       "y": rng.integers(0, 2, n)})
    return _csv(df)


def _target(values: Callable[[pd.DataFrame], object]) -> Callable[[], bytes]:
    def build() -> bytes:
        df = _base()
        df["y"] = values(df)
        return _csv(df)
    return build


def _one_member() -> bytes:
    df = _base()
    df.loc[7, "y"] = "maybe"
    return _csv(df)


def _nan_target() -> bytes:
    df = _base()
    df.loc[df.index % 9 == 0, "y"] = np.nan
    return _csv(df)


def _inf_features() -> bytes:
    df = _base()
    df["x1"] = df["x1"].astype(object)
    df.loc[3, "x1"], df.loc[8, "x1"], df.loc[11, "x2"] = "inf", "-inf", np.inf
    return _csv(df)


def _extreme_values() -> bytes:
    df = _base()
    df["x1"] = np.where(np.arange(len(df)) % 2, 1e308, -1e308)
    df["x2"] = df["x2"] * 1e300
    return _csv(df)


def _target_copy() -> bytes:
    df = _base()
    df["y_copy"] = df["y"]
    df["x_leak"] = np.where(df["y"] == "yes", 1.0, 0.0) + _rng().normal(scale=0.001, size=len(df))
    return _csv(df)


def _html() -> bytes:
    df = _base()
    df.columns = ["x1", XSS_NAME, XSS_IMG, "y"]
    df[XSS_IMG] = [XSS_IMG if i % 2 else "<b>bold</b>" for i in range(len(df))]
    df["y"] = np.where(np.arange(len(df)) % 2, XSS_NAME, "</td><td>")
    return _csv(df)


def _formulas() -> bytes:
    df = _base()
    df["colour"] = [["=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(A1:A2)", "=HYPERLINK(\"http://x\")"][i % 5]
                    for i in range(len(df))]
    return _csv(df)


def _garbage() -> bytes:
    return _rng().integers(0, 256, 20_000, dtype=np.uint8).tobytes()


def _png() -> bytes:
    import struct

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    raw = b"".join(b"\x00" + bytes(16 * 3) for _ in range(16))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _parquet(df: pd.DataFrame, **kw: object) -> bytes:
    buf = io.BytesIO()
    df.to_parquet(buf, index=False, **kw)
    return buf.getvalue()


def _truncated_parquet() -> bytes:
    data = _parquet(_base(2000))
    return data[: len(data) * 2 // 3]


def _parquet_no_footer() -> bytes:
    data = _parquet(_base(500))
    return data[:-8] + b"XXXXXXXX"


def _gzip_bomb() -> bytes:
    # Gzip members concatenate: 400 copies of 10 MiB of zeros expand to 4 GiB, ~4 MB on disk.
    member = gzip.compress(b"0," * (5 << 20), compresslevel=9)
    return b"".join([gzip.compress(b"a,y\n")] + [member] * 400)


def _zip_bomb() -> bytes:
    # Eight entries share one deflate stream of 256 MiB of "0,": 2 GiB unpacked, ~9 MB on disk.
    import struct

    block = b"0," * (4 << 20)
    packer = zlib.compressobj(1, zlib.DEFLATED, -15)
    parts, crc = [], 0
    for _ in range(32):
        parts.append(packer.compress(block))
        crc = zlib.crc32(block, crc)
    stream = b"".join(parts) + packer.flush()
    size = len(block) * 32
    out, central = io.BytesIO(), io.BytesIO()
    for i in range(8):
        name = f"part{i}.csv".encode()
        offset = out.tell()
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 8, 0, 0x21, crc, len(stream), size, len(name), 0))
        out.write(name + stream)
        central.write(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 8, 0, 0x21, crc, len(stream), size,
                                  len(name), 0, 0, 0, 0, 0, offset) + name)
    start, directory = out.tell(), central.getvalue()
    out.write(directory)
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 8, 8, len(directory), start, 0))
    return out.getvalue()


def _parquet_bomb() -> bytes:
    # Null columns run-length encode to almost nothing: 120 M values in ~200 KB, gigabytes in pandas.
    rows = 60_000_000
    table = pa.table({"a": pa.nulls(rows), "y": pa.nulls(rows, pa.int8())})
    buf = io.BytesIO()
    pq.write_table(table, buf, row_group_size=rows)
    return buf.getvalue()


def _parquet_odd() -> bytes:
    n = 120
    rng = _rng()
    table = pa.table({
        "nested": pa.array([[int(v), 1] for v in rng.integers(0, 5, n)]),
        "struct": pa.array([{"a": int(v)} for v in rng.integers(0, 3, n)]),
        "when": pa.array(pd.date_range("2021-01-01", periods=n, freq="h", tz="Europe/Paris")),
        "blob": pa.array([bytes([i % 7]) * 3 for i in range(n)]),
        "dec": pa.array([__import__("decimal").Decimal(f"{i}.25") for i in range(n)]),
        "half": pa.array(rng.normal(size=n).astype(np.float16)),
        "cat": pa.array(rng.choice(["a", "b"], n)).dictionary_encode(),
        "y": pa.array(rng.integers(0, 2, n)),
    })
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _parquet_dup_names() -> bytes:
    n = 80
    rng = _rng()
    arrays = [pa.array(rng.normal(size=n)), pa.array(rng.normal(size=n)), pa.array(rng.integers(0, 2, n))]
    table = pa.Table.from_arrays(arrays, names=["x", "x", "y"])
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _parquet_empty() -> bytes:
    return _parquet(pd.DataFrame({"a": pd.Series([], dtype=float), "y": pd.Series([], dtype=int)}))


def _long_header() -> bytes:
    df = _base()
    df.columns = ["x1", "n" * 5000, "colour", "y"]
    return _csv(df)


def _long_cell() -> bytes:
    df = _base()
    df["notes"] = ["z" * 200_000 if i == 3 else f"note {i % 4}" for i in range(len(df))]
    return _csv(df)


def _nul_in_text() -> bytes:
    return _text(["a,b,y"] + [f"{i},{i % 3},{i % 2}" for i in range(30)]).replace(b"5,2", b"5\x002", 1)


def _cr_only() -> bytes:
    return "\r".join(["a,b,y"] + [f"{i},{i % 4},{i % 2}" for i in range(50)]).encode() + b"\r"


def _mixed_types() -> bytes:
    values = ["1", "two", "3.0", "", "4e2", "True", "NaN", "-", "5", "½"]
    return _text(["mixed,n,y"] + [f"{values[i % 10]},{i},{i % 2}" for i in range(100)])


def _no_delimiter() -> bytes:
    return _text(["just one column"] + [f"value {i}" for i in range(40)])


def _json_renamed() -> bytes:
    return b'{"rows": [{"a": 1, "y": 0}, {"a": 2, "y": 1}]}\n'


def _pickle_renamed() -> bytes:
    import pickle
    return pickle.dumps({"a": [1, 2, 3]}, protocol=4)


def _all_numeric_header() -> bytes:
    return _text(["1,2,3"] + [f"{i},{i * 3 % 7},{i % 2}" for i in range(40)])


def _sqlite() -> bytes:
    return b"SQLite format 3\x00" + bytes(2000)


def _xlsx() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("[Content_Types].xml", "<Types/>")
        zf.writestr("xl/workbook.xml", "<workbook/>")
    return buf.getvalue()


def _bool_target() -> bytes:
    df = _base()
    df["y"] = np.where(df["y"] == "yes", "True", "False")
    return _csv(df)


def _regression_const() -> bytes:
    df = _base()
    df["price"] = 4.0
    return _csv(df)


def _whitespace() -> bytes:
    return b"   \n\t\n  \r\n"


def _bom_only() -> bytes:
    return codecs.BOM_UTF8


def _tiny() -> bytes:
    return _text(["a,y", "1,0", "2,1", "3,0"])


def _id_only() -> bytes:
    n = 100
    return _text(["row_id,y"] + [f"{i},{i % 2}" for i in range(n)])


def _only_target() -> bytes:
    return _text(["y"] + [str(i % 2) for i in range(50)])


def _quoted_everything() -> bytes:
    return _text(['"a,b,y"'] + [f'"{i},{i % 3},{i % 2}"' for i in range(40)])


def _every_class_once() -> bytes:
    n = 60
    rng = _rng()
    return _text(["x,label"] + [f"{rng.normal():.3f},class_{i}" for i in range(n)])


def _html_page() -> bytes:
    return b"<!DOCTYPE html>\n<html><head><title>Sign in</title></head><body><form>...</form></body></html>\n"


def _bidi_names() -> bytes:
    df = _base()
    df.columns = ["x1\u202egnp.exe", "zero\u200bwidth", "\U0001F600 mood", "y"]
    return _csv(df)


def _duplicate_target() -> bytes:
    df = _base()
    return _text(["x1,y,colour,y"] + [f"{a},{y},{c},{y}" for a, _, c, y in df.itertuples(index=False)])


def cases() -> list[Case]:
    """Every case, with what must happen to it."""
    base = lambda: _csv(_base())  # noqa: E731 - a healthy control
    return [
        Case("control.csv", "y", build=base, cli=True),
        Case("empty.csv", "y", "upload", "is empty", build=lambda: b""),
        Case("whitespace.csv", "y", "upload", "is empty", build=_whitespace),
        Case("bom_only.csv", "y", "upload", "is empty", build=_bom_only),
        Case("header_only.csv", "y", "upload", "has column names but no rows", build=lambda: b"a,b,y\n"),
        Case("ragged_rows.csv", "y", "upload", "line 18 has 5 values", build=_ragged, cli=True),
        Case("short_rows.csv", "y", build=_short_rows),
        Case("bad_quotes.csv", "y", "upload", "quote", build=_bad_quotes),
        Case("bom_utf8.csv", "y", build=_encoded("utf-8", codecs.BOM_UTF8)),
        Case("utf16_bom.csv", "y", build=lambda: _utf16(True)),
        Case("utf16_no_bom.tsv", "y", build=lambda: _utf16(False)),
        Case("cp1252.csv", "y", build=_encoded("cp1252")),
        Case("latin1.csv", "y", build=_encoded("latin-1")),
        Case("shift_jis.csv", "評価", build=_shift_jis, cli=True),
        Case("decimal_comma.csv", "kategorie", build=_decimal_comma),
        Case("duplicate_names.csv", "y", build=_duplicate_names),
        Case("blank_names.csv", "y", build=_blank_names),
        Case("wide_10000.csv", "y", flags=("too_few_rows",), build=_wide, cli=True),
        Case("ints_over_2_64.csv", "y", build=_huge_ints),
        Case("type_change_65536.csv", "y", flags=("mixed_types",), build=_type_change),
        Case("numbers_with_units.csv", "y", flags=("units",), build=_units, cli=True),
        Case("dates.csv", "y", flags=("dates",), build=_dates),
        Case("all_nan_column.csv", "y", flags=("all_missing",), build=_with("empty", lambda i: "")),
        Case("constant_column.csv", "y", flags=("constant",), build=_with("const", lambda i: 7)),
        Case("id_column.csv", "y", flags=("id_like",), build=_with("customer_id", lambda i: 1000 + i)),
        Case("levels_20000.csv", "y", flags=("high_cardinality",), build=_many_levels),
        Case("single_class.csv", "y", "blocked", "only one class", flags=("single_class",),
             build=_target(lambda df: "yes"), cli=True),
        Case("one_member_class.csv", "y", flags=("rare_class",), build=_one_member, cli=True),
        Case("every_class_once.csv", "label", "blocked", "no classes to learn", flags=("target_all_unique",),
             build=_every_class_once),
        Case("nan_target.csv", "y", flags=("missing_target",), build=_nan_target),
        Case("all_nan_target.csv", "y", "blocked", "empty in every row", flags=("missing_target",),
             build=_target(lambda df: np.nan)),
        Case("constant_regression_target.csv", "price", "blocked", "only one class", flags=("single_class",),
             build=_regression_const),
        Case("inf_features.csv", "y", flags=("inf_values",), build=_inf_features, cli=True),
        Case("extreme_values.csv", "y", build=_extreme_values, cli=True),
        Case("target_copy.csv", "y", flags=("target_leak",), build=_target_copy),
        Case("html_names.csv", "y", build=_html, cli=True),
        Case("formula_cells.csv", "y", flags=("formula_cells",), build=_formulas),
        Case("binary_garbage.csv", "y", "upload", "binary data", build=_garbage),
        Case("png_renamed.csv", "y", "upload", "PNG image", build=_png, cli=True),
        Case("pickle_renamed.csv", "y", "upload", "Python pickle", build=_pickle_renamed),
        Case("sqlite_renamed.csv", "y", "upload", "SQLite database", build=_sqlite),
        Case("excel.xlsx", "y", "upload", "not a CSV or Parquet file", build=_xlsx),
        Case("excel_renamed.csv", "y", "upload", "save it as CSV", build=_xlsx),
        Case("truncated.parquet", "y", "upload", "damaged or truncated Parquet", build=_truncated_parquet),
        Case("bad_footer.parquet", "y", "upload", "damaged or truncated Parquet", build=_parquet_no_footer),
        Case("empty.parquet", "y", "upload", "no rows", build=_parquet_empty),
        Case("odd_types.parquet", "y", build=_parquet_odd),
        Case("dup_names.parquet", "y", build=_parquet_dup_names),
        Case("parquet_bomb.parquet", "y", "upload", "too large", build=_parquet_bomb, cli=True),
        Case("bomb.csv.gz", "y", "upload", "compressed", build=_gzip_bomb, cli=True),
        Case("gzip_renamed.csv", "y", "upload", "compressed", build=_gzip_bomb),
        Case("bomb.zip", "y", "upload", "zip bomb", build=_zip_bomb),  # a .zip is image data: refused as a bomb
        Case("long_header.csv", "y", build=_long_header),
        Case("long_cell.csv", "y", build=_long_cell),
        Case("nul_byte.csv", "y", "upload", "NUL", build=_nul_in_text),
        Case("cr_only.csv", "y", build=_cr_only),
        Case("mixed_types.csv", "y", build=_mixed_types),
        Case("one_column.csv", "y", "blocked", "No column named 'y'", build=_no_delimiter),
        Case("json_renamed.csv", "y", "upload", "looks like JSON", build=_json_renamed),
        Case("numeric_header.csv", "3", build=_all_numeric_header),
        Case("bool_target.csv", "y", build=_bool_target),
        Case("tiny.csv", "y", "blocked", "only 3 rows", flags=("too_few_rows",), build=_tiny),
        Case("id_only.csv", "y", "blocked", "No column is left", flags=("id_like",), build=_id_only),
        Case("only_target.csv", "y", "blocked", "No column is left", build=_only_target),
        Case("quoted_lines.csv", "y", "blocked", "No column named 'y'", build=_quoted_everything),
        Case("login_page.csv", "y", "upload", "web page", build=_html_page),
        Case("bidi_names.csv", "y", build=_bidi_names),
        Case("duplicate_target.csv", "y", flags=("target_leak",), build=_duplicate_target),
    ]


def write_corpus(folder: Path) -> dict[str, Path]:
    """Write every case's file into `folder`; returns name -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for case in cases():
        path = folder / case.name
        path.write_bytes(case.build())
        paths[case.name] = path
    return paths


if __name__ == "__main__":
    written = write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "corpus"))
    for name, path in written.items():
        print(f"{path.stat().st_size:>12,d}  {name}")
