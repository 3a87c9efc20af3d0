"""Exports that are safe to open in a spreadsheet."""

from __future__ import annotations

import re

import pandas as pd

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")


def neutralise_cell(value):
    """Prefixes a text cell that a spreadsheet would run as a formula with an apostrophe.

    Plain numbers such as "-3" or "+1.5" are left alone. Carriage returns inside a cell become line
    feeds: CSV writers quote a cell holding a line feed but not one holding a bare CR, which a
    spreadsheet reads as a row break, so "x<CR>=1+1" would start a new row with a formula.
    """
    if isinstance(value, str) and value.startswith(_FORMULA_START) and not _NUMBER.match(value):
        value = "'" + value
    if isinstance(value, str) and "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value


def safe_for_csv(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy whose text columns cannot inject spreadsheet formulas (=HYPERLINK(…), +, -, @)."""
    out = frame.copy()
    for col in out.columns:
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(neutralise_cell)
    return out


def to_csv_bytes(frame: pd.DataFrame) -> bytes:
    return safe_for_csv(frame).to_csv(index=False).encode("utf-8")
