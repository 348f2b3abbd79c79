"""Read a user's CSV/TSV/Parquet file into a DataFrame, or say plainly why not.

Text files vary: the delimiter is sniffed (, ; tab |), the encoding is found from the BOM or
by trial (UTF-8, then Windows-1252, then Latin-1) and a ';' file with values like 1,5 gets a
decimal comma. Nothing here ever unpickles: a file is data, never code.
"""
from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import DataError

if TYPE_CHECKING:
    from core.data.catalog import DatasetRef

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", "")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50
# Formats people rename to .csv by mistake, so the error can say what the file really is.
KNOWN_BINARY = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"), (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file is one: save it as CSV)"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file (save it as CSV)"),
    (b"\x1f\x8b", "a gzip archive (unzip it first)"),
    (b"\x80\x02", "a Python pickle"), (b"\x80\x03", "a Python pickle"), (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"), (b"\x93NUMPY", "a NumPy array file"), (b"SQLite format 3", "an SQLite database"),
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def load_table(path: str | Path, max_rows: int | None = None, *, label: str | None = None) -> pd.DataFrame:
    """The file as a DataFrame with clean, unique column names. `label` names it in errors."""
    path = Path(path)
    name = label or path.name
    if not path.is_file():
        raise DataError(f"Cannot find the file '{name}': check the path, or upload it again.")
    with open(path, "rb") as fh:
        head = fh.read(SNIFF_BYTES)
    if not head:
        raise DataError(f"'{name}' is empty: export the data again with a header row and at least one row.")
    suffix = path.suffix.lower()
    if head.startswith(PARQUET_MAGIC):
        df = _read_parquet(path, name, max_rows)
    elif suffix in PARQUET_SUFFIXES:
        raise DataError(f"'{name}' is not a Parquet file (it lacks the Parquet signature): export it again.")
    else:
        what = _binary_kind(head)
        if what or suffix not in TEXT_SUFFIXES:
            found = f": it looks like {what}" if what else ""
            raise DataError(f"'{name}' is not a CSV or Parquet file{found}. Upload a .csv, .tsv or .parquet file.")
        df = _read_text(path, name, head, max_rows)
    if df.shape[1] == 0:
        raise DataError(f"'{name}' has no columns: export the data again with a header row.")
    if len(df) == 0:
        raise DataError(f"'{name}' has column names but no rows: export it again with the data.")
    df.columns = clean_column_names(list(df.columns))
    log.info("loaded %s: %d rows x %d columns", name, *df.shape)
    return df


def load_dataset(ref: DatasetRef) -> pd.DataFrame:
    """Load a catalog entry (a sample or a file)."""
    return load_table(ref.path, label=ref.name)


def clean_column_names(names: list[object]) -> list[str]:
    """Strip names, name blanks by position ("column_3"), and number duplicates ("x", "x.1")."""
    cleaned: list[str] = []
    for i, raw in enumerate(names, start=1):
        # Line breaks inside a quoted header cell would break every message that names the column.
        text = "" if raw is None else re.sub(r"[\r\n\t\v\f]+", " ", str(raw)).strip()
        if not text or re.fullmatch(r"Unnamed: \d+", text):  # pandas' name for a blank header cell
            text = f"column_{i}"
        cleaned.append(text)
    seen: set[str] = set()
    unique: list[str] = []
    for text in cleaned:
        candidate, k = text, 0
        while candidate in seen:
            k += 1
            candidate = f"{text}.{k}"
        seen.add(candidate)
        unique.append(candidate)
    return unique


def _binary_kind(head: bytes) -> str | None:
    """What a non-text file is ('a PNG image'), 'binary data' for unknown binary, None for text."""
    for magic, what in KNOWN_BINARY:
        if head.startswith(magic):
            return what
    if any(head.startswith(bom) for bom, _ in _BOMS):
        return None
    sample = head[:4096]
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 13)) + sample.count(127)
    return "binary data" if b"\x00" in sample or control > 0.01 * len(sample) else None


def _guess_encoding(head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    for encoding in _FALLBACK_ENCODINGS:
        try:
            # final=False: the 64 KiB head may end inside a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
            return encoding
        except UnicodeDecodeError:
            continue
    return "latin-1"


def _sniff(text: str, suffix: str) -> tuple[str, str]:
    """(delimiter, decimal) from the first lines: the delimiter that splits them most consistently."""
    lines = [ln for ln in text.splitlines()[:SNIFF_LINES] if ln.strip()]
    if len(lines) > 1 and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the sample may cut the last line short
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        widths = [len(row) for row in csv.reader(lines, delimiter=delimiter)]
        if not widths or widths[0] < 2:
            continue
        consistent = sum(w == widths[0] for w in widths) / len(widths)
        score = (consistent + (0.01 if delimiter == "\t" and suffix == ".tsv" else 0.0), widths[0])
        if score > best_score:
            best, best_score = delimiter, score
    decimal = "."
    if best == ";":
        fields = [f for row in csv.reader(lines[1:], delimiter=";") for f in row]
        if any(_DECIMAL_COMMA.match(f) for f in fields):
            decimal = ","
    return best, decimal


def _read_text(path: Path, name: str, head: bytes, max_rows: int | None) -> pd.DataFrame:
    encoding = _guess_encoding(head)
    sniff_text = codecs.getincrementaldecoder(encoding)(errors="replace").decode(head, final=False)
    sniff_text = sniff_text.lstrip("\ufeff")
    delimiter, decimal = _sniff(sniff_text, path.suffix.lower())
    df = _read_csv(path, name, encoding, delimiter, decimal, max_rows)
    # pandas renames duplicate headers ("x", "x.1") and blanks ("Unnamed: 2") before any stripping,
    # so " x" and "x" would end up "x" and "x"; clean the raw header row instead when it lines up.
    if (header := _header_row(sniff_text, delimiter)) is not None and len(header) == df.shape[1]:
        df.columns = header
    return df


def _header_row(text: str, delimiter: str) -> list[str] | None:
    try:
        rows = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        return next((row for row in rows if row), None)
    except csv.Error:
        return None  # keep pandas' own names


def _read_csv(path: Path, name: str, encoding: str, delimiter: str, decimal: str,
              max_rows: int | None) -> pd.DataFrame:
    candidates = [encoding] + [e for e in _FALLBACK_ENCODINGS[1:] if e != encoding and encoding != "utf-16"]
    for i, enc in enumerate(candidates):
        try:
            with warnings.catch_warnings():
                # With index_col=False, pandas only *warns* when rows are longer than the header
                # and drops the extra values; that silent data loss must be an error.
                warnings.simplefilter("error", pd.errors.ParserWarning)
                return pd.read_csv(
                    path, sep=delimiter, decimal=decimal, encoding=enc, nrows=max_rows,
                    index_col=False, engine="c", low_memory=False,
                )
        except UnicodeDecodeError:
            if i + 1 < len(candidates):
                log.info("%s is not %s; trying %s", name, enc, candidates[i + 1])
                continue
            raise DataError(f"Cannot read the text in '{name}': save it as UTF-8 CSV and upload it again.") from None
        except pd.errors.EmptyDataError:
            raise DataError(f"'{name}' is empty: export the data again with a header row "
                            "and at least one row.") from None
        except pd.errors.ParserWarning:
            raise DataError(f"'{name}' has rows with more values than the header has names: "
                            "fix those rows or export the file again.") from None
        except pd.errors.ParserError as exc:
            raise DataError(f"'{name}' has uneven rows ({_row_problem(exc)}): "
                            "fix that row or export the file again.") from None
        except (ValueError, OSError) as exc:
            raise DataError(f"Cannot read '{name}' as CSV ({_first_line(exc)}): check the file.") from None
    raise AssertionError("unreachable")


def _row_problem(exc: Exception) -> str:
    found = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(exc))
    if found:
        expected, line, saw = found.groups()
        return f"line {line} has {saw} values where the header has {expected}"
    return _first_line(exc)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_parquet(path: Path, name: str, max_rows: int | None) -> pd.DataFrame:
    try:
        if max_rows is None:
            table = pq.read_table(path)
        else:
            batches = pq.ParquetFile(path).iter_batches(batch_size=max(1, max_rows))
            first = next(batches, None)
            table = pa.Table.from_batches([first]) if first is not None else pq.read_schema(path).empty_table()
        return table.to_pandas()
    except (pa.ArrowException, OSError, ValueError) as exc:
        log.info("cannot read parquet %s: %s", name, exc)
        raise DataError(f"'{name}' is a damaged or truncated Parquet file: export or upload it again.") from None

