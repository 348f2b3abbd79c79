"""Checks on text columns that are really something else: dates, numbers with units, numbers with
stray text, and cells a spreadsheet would run as formulas.

Each finding is (level, code, message, advice); `checks.run_checks` wraps them as Checks. The
shapes are judged on a sample of distinct values, so a 20,000-level column costs no more than
a small one; formula cells are looked for in every distinct value, since one is enough.
"""
from __future__ import annotations

import re

import pandas as pd

from core.data.columns import shown

Finding = tuple[str, str, str, str]  # level, code, message, advice
SAMPLE = 2000
SHAPE_SHARE = 0.9  # share of sampled values that must look like dates / numbers with units
NUMBER_SHARE = (0.5, 0.95)  # mostly numbers, yet not enough to be read as numbers (schema: 0.95)

_DATE = re.compile(
    r"^(\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4}"
    r"|\d{1,2} [A-Za-z]{3,9}\.? \d{2,4}|[A-Za-z]{3,9}\.? \d{1,2},? \d{2,4})"
    r"([ T]\d{1,2}:\d{2}(:\d{2}(\.\d+)?)?\s*([AaPp][Mm])?)?\s*(Z|[+-]\d{2}:?\d{2})?$")
_UNIT = re.compile(r"^[-+]?\d+(?:[.,]\d+)?\s*(%|[^\W\d_][^\W\d_/²³.]*(?:/[^\W\d_]+)?[²³]?\.?)$")
_CURRENCY = re.compile(r"^([$€£¥₹])\s*[-+]?\d[\d,]*(?:\.\d+)?$|^[-+]?\d[\d,]*(?:\.\d+)?\s*([$€£¥₹])$")
_FORMULA = re.compile(r"^\s*([=@]|[+-]\s*[^\d\s.,]|[+-][\d.]+\s*[-+*/^&])")


def text_column_checks(s: pd.Series, name: str) -> list[Finding]:
    """Findings for one text column (`name` is the column's name as shown in messages)."""
    present = s.dropna()
    if present.empty:
        return []
    values = present.astype(str).str.strip()
    distinct = pd.Series(values.unique())
    sample = distinct.head(SAMPLE)
    found: list[Finding] = []
    shape = _shape(sample, name)
    if shape is not None:
        found.append(shape)
    else:
        mixed = _mixed_numbers(values, name)
        if mixed is not None:
            found.append(mixed)
    formulas = distinct[distinct.str.match(_FORMULA)]
    if len(formulas):
        cells = int(values.isin(set(formulas)).sum())
        found.append(("info", "formula_cells",
                      f"Column '{name}' has {cells} cells that start like spreadsheet formulas, "
                      f"such as '{shown(formulas.iloc[0])}'.",
                      "Here they are plain text. A spreadsheet may run them if you open this data, or predictions "
                      "made from it, there: remove them unless they are expected."))
    return found


def looks_like_dates(s: pd.Series) -> bool:
    """Text whose distinct values (a sample of them) nearly all read as dates or times."""
    sample = pd.Series(s.dropna().astype(str).str.strip().unique()).head(SAMPLE)
    return bool(len(sample)) and float(sample.str.match(_DATE).mean()) >= SHAPE_SHARE


def _shape(sample: pd.Series, name: str) -> Finding | None:
    dates = sample.str.match(_DATE)
    if dates.mean() >= SHAPE_SHARE:
        return ("info", "dates", f"Column '{name}' holds dates, such as '{shown(sample[dates].iloc[0])}'.",
                "The models cannot read dates (each would count as an unrelated category), so it starts as "
                "ignore. To use it, derive numbers from it at the source (month, weekday, days since a start).")
    units = sample.str.extract(_UNIT)[0]
    money = sample.str.extract(_CURRENCY)
    units = units.fillna(money[0]).fillna(money[1])
    if units.notna().mean() >= SHAPE_SHARE and units.str.lower().value_counts().iloc[0] >= 0.5 * units.notna().sum():
        example = sample[units.notna()].iloc[0]
        return ("warning", "units", f"Column '{name}' holds numbers with a unit or symbol, such as "
                f"'{shown(example)}', so it is read as text.",
                "Remove the unit from the cells (name it in the column header instead) so the column can be "
                "used as a number.")
    return None


def _mixed_numbers(values: pd.Series, name: str) -> Finding | None:
    numbers = pd.to_numeric(values, errors="coerce")
    share = float(numbers.notna().mean())
    low, high = NUMBER_SHARE
    if not low <= share < high:
        return None
    example = values[numbers.isna()].iloc[0]
    return ("warning", "mixed_types",
            f"Column '{name}' holds numbers in {share:.0%} of its rows but text such as '{shown(example)}' in "
            "the others, so it is read as text.",
            "Fix or blank out the text cells so the column can be used as a number.")
