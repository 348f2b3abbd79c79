"""Read a user's CSV/TSV/Parquet file into a DataFrame, or say plainly why not.

Text files vary: the delimiter is sniffed (, ; tab |), the encoding is found from the BOM, the
pattern of zero bytes (UTF-16 without a BOM) or by trial (UTF-8, Shift-JIS when the text reads
as Japanese, Windows-1252, Latin-1) and a ';' file with values like 1,5 gets a decimal comma.
Nothing here ever unpickles: a file is data, never code. Compressed files are refused rather than
unpacked, since a few kilobytes can expand to gigabytes; a Parquet file's size is bounded from
its footer before any of it is decoded, and a text file's from its first rows before it is parsed
(core.data.memory: a file too large for the memory there is gets a message, not an OOM kill).
"""
from __future__ import annotations

import codecs
import csv
import io
import json
import logging
import re
import warnings
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from core.data.memory import check_fits, text_table_bytes
from core.data.ref import DatasetRef
from core.errors import DataError

log = logging.getLogger(__name__)

TEXT_SUFFIXES = (".csv", ".tsv", ".txt", ".dat", "")
PARQUET_SUFFIXES = (".parquet", ".pq")
SUPPORTED_SUFFIXES = (".csv", ".tsv", ".txt", ".parquet", ".pq")
DELIMITERS = (",", ";", "\t", "|")
PARQUET_MAGIC = b"PAR1"
SNIFF_BYTES = 64 * 1024
SNIFF_LINES = 50
# Bounds on what one table may expand to in memory (about 8 bytes a value as float64), checked
# from a Parquet footer before decoding: run-length encoding packs 100 M empty cells in kilobytes.
MAX_CELLS = 100_000_000
MAX_PARQUET_BYTES = 4 * 2**30
WIDE_COLUMNS = 256
# Formats people rename to .csv by mistake, so the error can say what the file really is.
KNOWN_BINARY = (
    (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"), (b"GIF8", "a GIF image"),
    (b"%PDF", "a PDF document"),
    (b"\xd0\xcf\x11\xe0", "an old Excel/Office file (save it as CSV)"),
    (b"\x80\x02", "a Python pickle"), (b"\x80\x03", "a Python pickle"), (b"\x80\x04", "a Python pickle"),
    (b"\x80\x05", "a Python pickle"), (b"\x93NUMPY", "a NumPy array file"), (b"SQLite format 3", "an SQLite database"),
    (b"ARROW1", "an Arrow/Feather file (save it as Parquet)"), (b"\x7fELF", "a program"),
)
COMPRESSED_SUFFIXES = (".gz", ".gzip", ".tgz", ".bz2", ".xz", ".zst", ".zip", ".7z", ".rar", ".tar", ".lz4")
_COMPRESSED = (
    (re.compile(rb"\x1f\x8b"), "gzip"), (re.compile(rb"BZh[1-9]1AY&SY"), "bzip2"),
    (re.compile(rb"\xfd7zXZ\x00"), "xz"), (re.compile(rb"\x28\xb5\x2f\xfd"), "zstd"),
    (re.compile(rb"7z\xbc\xaf\x27\x1c"), "7-Zip"), (re.compile(rb"Rar!\x1a\x07"), "RAR"),
    (re.compile(rb"\x04\x22\x4d\x18"), "LZ4"), (re.compile(rb"PK\x03\x04"), "ZIP"),
)
_OFFICE_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".numbers")
_TEXT_FORMATS = (  # text that is not a table, recognised from its first characters
    (re.compile(rb"^\s*(\{|\[\s*[\[{\"])"), "JSON (export the data as CSV)"),
    (re.compile(rb"^\s*(<!doctype html|<html)", re.I), "a web page (HTML), perhaps a login or error page"),
    (re.compile(rb"^\s*<\?xml", re.I), "XML (export the data as CSV)"),
)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
_FALLBACK_ENCODINGS = ("utf-8", "cp1252", "latin-1")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")
_INVISIBLE = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff\uff00-\uffef]")


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
    elif (problem := unsupported_reason(name, head, suffix)) is not None:
        raise DataError(problem)
    else:
        df = _read_text(path, name, head, max_rows)
    if df.shape[1] == 0:
        raise DataError(f"'{name}' has no columns: export the data again with a header row.")
    if len(df) == 0:
        raise DataError(f"'{name}' has column names but no rows: export it again with the data.")
    df.columns = clean_column_names(list(df.columns))
    if df.shape[1] > WIDE_COLUMNS and df.size <= MAX_CELLS // 2:
        # The CSV reader gives each column its own block; on thousands of columns every later
        # row selection then loops over them all (seconds). A copy stores them as one block.
        df = df.copy()
    log.info("loaded %s: %d rows x %d columns", name, *df.shape)
    return df


def load_dataset(ref: DatasetRef) -> pd.DataFrame:
    """Load a catalog entry (a sample or a file)."""
    return load_table(ref.path, label=ref.label)


def clean_column_names(names: list[object]) -> list[str]:
    """Strip names, name blanks by position ("column_3"), and number duplicates ("x", "x.1")."""
    cleaned: list[str] = []
    for i, raw in enumerate(names, start=1):
        # Line breaks inside a quoted header cell would break every message that names the column,
        # and invisible controls (a right-to-left override) would make a name read as another.
        text = "" if raw is None else _INVISIBLE.sub("", re.sub(r"[\r\n\t\v\f]+", " ", str(raw))).strip()
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


def unsupported_reason(name: str, head: bytes, suffix: str | None = None) -> str | None:
    """Why a file (named `name`, starting with `head`) cannot be read as a table; None if it may be.

    The upload path asks this before storing anything, so an upload gets the same specific
    message as a file given on the command line."""
    suffix = (Path(name).suffix if suffix is None else suffix).lower()
    if head.startswith(PARQUET_MAGIC):
        return None
    if suffix in _OFFICE_SUFFIXES:
        return (f"'{name}' is not a CSV or Parquet file: it looks like a spreadsheet workbook; "
                "save it as CSV and upload that.")
    packed = next((kind for magic, kind in _COMPRESSED if magic.match(head)), None)
    if packed or suffix in COMPRESSED_SUFFIXES:
        hint = " If it is an Excel .xlsx file, save it as CSV instead." if packed == "ZIP" else ""
        return (f"'{name}' is a compressed file ({packed or suffix.lstrip('.')}), and compressed files are not opened "
                f"(a small one can unpack to gigabytes): unpack it and upload the CSV or Parquet file inside.{hint}")
    if suffix in PARQUET_SUFFIXES:
        return f"'{name}' is not a Parquet file (it lacks the Parquet signature): export it again."
    what = _binary_kind(head)
    if what is None and suffix in TEXT_SUFFIXES:
        what = next((kind for pattern, kind in _TEXT_FORMATS if pattern.match(head.lstrip(codecs.BOM_UTF8))), None)
    if what or suffix not in TEXT_SUFFIXES:
        found = f": it looks like {what}" if what else ""
        return f"'{name}' is not a CSV or Parquet file{found}. Upload a .csv, .tsv or .parquet file."
    if _utf16_order(head) is None and b"\x00" in head:
        line = head[: head.index(b"\x00")].count(b"\n") + 1
        return (f"'{name}' contains NUL bytes (the first on line {line}), so it is damaged or not plain text: "
                "export it again as CSV.")
    return None


def _binary_kind(head: bytes) -> str | None:
    """What a non-text file is ('a PNG image'), 'binary data' for unknown binary, None for text."""
    for magic, what in KNOWN_BINARY:
        if head.startswith(magic):
            return what
    if any(head.startswith(bom) for bom, _ in _BOMS) or _utf16_order(head):
        return None
    sample = head[:4096]
    # A stray NUL in a text file is damage, reported apart; many control bytes mean binary.
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 13)) + sample.count(127)
    return "binary data" if control > 0.05 * len(sample) else None


def _utf16_order(head: bytes) -> str | None:
    """'utf-16-le' / 'utf-16-be' for UTF-16 text without a BOM: ASCII there has a zero in every other byte."""
    sample = head[:4096]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    zeros_even, zeros_odd = even.count(0) / len(even), odd.count(0) / len(odd)
    if zeros_odd > 0.3 and zeros_even < 0.02:
        return "utf-16-le"
    if zeros_even > 0.3 and zeros_odd < 0.02:
        return "utf-16-be"
    return None


def _guess_encoding(head: bytes) -> str:
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding
    if order := _utf16_order(head):
        return order
    for encoding in _FALLBACK_ENCODINGS:
        try:
            # final=False: the 64 KiB head may end inside a multi-byte character.
            codecs.getincrementaldecoder(encoding)().decode(head, final=False)
        except UnicodeDecodeError:
            if encoding == "utf-8" and _reads_as_japanese(head):
                return "cp932"
            continue
        return encoding
    return "latin-1"


def _reads_as_japanese(head: bytes) -> bool:
    """Shift-JIS (cp932) decodes cleanly and most non-ASCII characters are kana, kanji or full-width.

    Windows-1252 would also 'decode' such a file, into mojibake, so Japanese is tried first but
    only accepted when the result looks like Japanese."""
    try:
        text = codecs.getincrementaldecoder("cp932")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    wide = [ch for ch in text if ord(ch) > 127]
    return bool(wide) and sum(1 for ch in wide if _JAPANESE.match(ch)) >= 0.8 * len(wide)


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
    file_bytes = path.stat().st_size
    check_fits(name, file_bytes, text_table_bytes(file_bytes, len(head), sniff_text, delimiter, max_rows))
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
    fixed = encoding.startswith("utf-16")  # a BOM or the zero-byte pattern leaves no doubt
    candidates = [encoding] + [e for e in _FALLBACK_ENCODINGS[1:] if e != encoding and not fixed]
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
            if "EOF inside string" in str(exc):
                raise DataError(f"'{name}' has a quote (\") that is never closed ({_quote_problem(exc)}): "
                                "fix that cell or export the file again.") from None
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


def _quote_problem(exc: Exception) -> str:
    found = re.search(r"starting at row (\d+)", str(exc))
    return f"it opens on line {int(found.group(1)) + 1}" if found else "the rest of the file reads as one cell"


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]


def _read_parquet(path: Path, name: str, max_rows: int | None) -> pd.DataFrame:
    try:
        source = pq.ParquetFile(path)
        _check_parquet_size(source.metadata, name, max_rows, path.stat().st_size)
        if max_rows is None:
            table = source.read()
        else:
            first = next(source.iter_batches(batch_size=max(1, max_rows)), None)
            table = pa.Table.from_batches([first]) if first is not None else source.schema_arrow.empty_table()
        frame = _plain_columns(table).to_pandas()
    except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
        log.info("cannot read parquet %s: %s", name, exc)
        raise DataError(f"'{name}' is a damaged or truncated Parquet file: export or upload it again.") from None
    if any(level is not None for level in frame.index.names):
        frame = frame.reset_index()  # a named index saved by pandas ("id") is data the user should see
    return frame


def _check_parquet_size(meta: pq.FileMetaData, name: str, max_rows: int | None, file_bytes: int) -> None:
    rows = meta.num_rows if max_rows is None else min(meta.num_rows, max_rows)
    cells = rows * max(meta.num_columns, 1)
    share = rows / meta.num_rows if meta.num_rows else 0.0
    unpacked = share * sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    if cells > MAX_CELLS or unpacked > MAX_PARQUET_BYTES:
        raise DataError(f"'{name}' is too large to load: {meta.num_rows:,} rows x {meta.num_columns:,} columns "
                        f"(about {max(unpacked, cells * 8) / 2**30:.1f} GB in memory; the limit is "
                        f"{MAX_CELLS / 1e6:.0f} million values). Use a sample of the rows or fewer columns.")
    # the Arrow table and the DataFrame made from it are both held until the conversion ends
    check_fits(name, file_bytes, int(2 * max(unpacked, cells * 8)))


def _plain_columns(table: pa.Table) -> pa.Table:
    """Unique names, and only columns pandas turns into hashable cells: nested values become JSON
    text, decimals floats, dictionary-encoded columns their plain values."""
    table = table.rename_columns(clean_column_names(list(table.column_names)))
    for i, field in enumerate(table.schema):
        kind, column = field.type, table.column(i)
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
            column = pc.cast(column, kind)
        if pa.types.is_decimal(kind):
            column = pc.cast(column, pa.float64())
        elif pa.types.is_nested(kind):
            column = pa.array([None if v is None else json.dumps(v, default=str) for v in column.to_pylist()],
                              type=pa.string())
        if column is not table.column(i):
            table = table.set_column(i, pa.field(field.name, column.type), column)
    return table
