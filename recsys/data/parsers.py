"""Parsers: bytes of a known format (delimited text, JSON Lines / JSON array, Parquet) into a `RawTable`.

`recsys.data.formats` decides the format and the delimited layout; these functions only parse, and turn
every pyarrow/json failure into a `DataError` that names the file (and the line, where one is known).
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

from recsys.data.errors import DataError


@dataclass
class RawTable:
    """A parsed file before any user/item interpretation.

    Attributes:
        table: the parsed columns (delimited text: all strings; Parquet/JSON: native types).
        info: JSON-serialisable format description (container, format, delimiter, has_header, encoding).
        skipped_rows: 1-based data-row numbers of rows dropped for a wrong number of fields.
        warnings: human-readable notes collected while reading.
    """

    table: pa.Table
    info: dict
    skipped_rows: list = field(default_factory=list)
    warnings: list = field(default_factory=list)

    def data_rows(self, positions) -> np.ndarray:
        """Map 0-based positions in `table` to 1-based data-row numbers of the file."""
        positions = np.asarray(positions, dtype=np.int64)
        if not self.skipped_rows:
            return positions + 1
        skipped = np.sort(np.asarray(self.skipped_rows, dtype=np.int64))
        kept_before = skipped - np.arange(len(skipped)) - 1
        return positions + 1 + np.searchsorted(kept_before, positions, side="right")


@dataclass
class DelimitedLayout:
    """What sniffing found in a delimited text file (for JSON and Parquet: `header` holds the column names)."""

    delimiter: str | None
    header: list[str] | None  # the header fields, or None for a headerless file
    n_columns: int
    sample_rows: list[list[str]]  # first data rows (after the header)


def first_byte(data: bytes) -> bytes:
    """The first non-whitespace byte, or b"" if there is none."""
    match = re.compile(rb"\s*").match(data)
    return data[match.end():match.end() + 1]


def collapse_spaces(text):
    """Space-aligned text to single-space separated: trim each line and collapse runs of spaces."""
    if isinstance(text, bytes):
        return re.sub(rb" {2,}", b" ", re.sub(rb"(?m)^ +| +(?=\r?$)", b"", text))
    return re.sub(r" {2,}", " ", re.sub(r"(?m)^ +| +(?=\r?$)", "", text))


def _substitute_separator(data: bytes) -> bytes:
    for candidate in (b"\x1f", b"\x1e", b"\x1d", b"\x1c"):
        if candidate not in data:
            return candidate
    raise DataError("the file uses '::' as delimiter and also contains ASCII separator bytes; "
                    "convert it to CSV first.")


def read_delimited(data: bytes, layout: DelimitedLayout, *, name: str, column_names: list[str],
                   include: list[str], newlines_in_values: bool = False) -> RawTable:
    """Parse delimited UTF-8 text into string columns `include` (rows with a wrong field count are skipped)."""
    delimiter = layout.delimiter
    quote: str | bool = '"'
    if delimiter == " ":
        data = collapse_spaces(data)
    if delimiter == "::":
        separator = _substitute_separator(data)
        data = data.replace(b"::", separator)
        delimiter, quote = separator.decode(), False
    skipped: list = []

    def on_invalid(row) -> str:
        skipped.append(row.number)
        return "skip"

    def parse(use_threads: bool, block_size: int, multiline: bool) -> pa.Table:
        skipped.clear()
        return pa_csv.read_csv(
            io.BytesIO(data),
            read_options=pa_csv.ReadOptions(column_names=column_names, skip_rows=1 if layout.header else 0,
                                            block_size=block_size, use_threads=use_threads),
            parse_options=pa_csv.ParseOptions(delimiter=delimiter, quote_char=quote, double_quote=True,
                                              escape_char=False, newlines_in_values=multiline,
                                              ignore_empty_lines=True, invalid_row_handler=on_invalid),
            convert_options=pa_csv.ConvertOptions(column_types={c: pa.string() for c in include},
                                                  include_columns=include, null_values=[""],
                                                  strings_can_be_null=True, quoted_strings_can_be_null=True))

    def attempt(multiline: bool) -> tuple[pa.Table, list]:
        block_size = 4 << 20
        try:
            table = parse(True, block_size, multiline)
        except pa.ArrowInvalid as exc:
            if "straddling" not in str(exc) and "block" not in str(exc):
                raise
            block_size = min(len(data) + 1, 2**31 - 1)
            table = parse(True, block_size, multiline)
        if skipped and any(number is None for number in skipped):
            table = parse(False, block_size, multiline)  # single-threaded parsing knows the row numbers
        return table, list(skipped)

    errors = (pa.ArrowException, ValueError, OverflowError, MemoryError)
    table, bad, failure = None, [], None
    try:
        table, bad = attempt(newlines_in_values)
    except errors as exc:
        failure = exc
    if (failure is not None or bad) and not newlines_in_values and quote and b'"' in data:
        try:  # quoted values spanning lines: slower multi-line parsing, kept when it loses fewer rows
            retry, retry_bad = attempt(True)
            if failure is not None or len(retry_bad) < len(bad):
                table, bad, failure = retry, retry_bad, None
        except errors:
            pass
    if failure is not None:
        message = str(failure).splitlines()[0][:200] if str(failure) else type(failure).__name__
        raise DataError(f"{name} could not be parsed as delimited text ({message}); "
                        "check the delimiter, quotes and that each row has the same number of fields.") from failure
    skipped = bad
    offset = 1 if layout.header else 0
    rows = sorted(int(number) - offset for number in skipped if number is not None)
    info = {"format": "delimited", "delimiter": layout.delimiter, "has_header": layout.header is not None}
    return RawTable(table=table, info=info, skipped_rows=rows)


def _json_value(value):
    """Normalise a JSON value for the Python fallback reader: scalars to str, containers to JSON text."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() and abs(value) < 2**53 else repr(value)
    if isinstance(value, (str, int)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _records_to_table(records: list, *, name: str, unit: str = "line") -> pa.Table:
    columns: dict[str, list] = {}
    for line, record in enumerate(records, start=1):
        if not isinstance(record, dict):
            raise DataError(f"{name} {unit} {line} is not a JSON object (got {type(record).__name__}); "
                            "each record must be one object like {\"user\": ..., \"item\": ...}.")
        for key in record:
            if str(key) not in columns:
                columns[str(key)] = [None] * (line - 1)
        for key, values in columns.items():
            values.append(_json_value(record.get(key)))
    return pa.table({key: pa.array(values, type=pa.string()) for key, values in columns.items()})


def read_json(data: bytes, *, name: str) -> RawTable:
    """Parse JSON Lines (or a JSON array of objects) into a table; a bad line is named in the error."""
    info = {"format": "jsonl", "delimiter": None, "has_header": True}
    if first_byte(data) == b"[":
        info["format"] = "json"
        try:
            records = json.loads(data)
        except (ValueError, RecursionError) as exc:
            line = getattr(exc, "lineno", "?")
            raise DataError(f"{name} is not valid JSON (line {line}: {str(exc)[:120]}); "
                            "export it as JSON Lines (one object per line) or CSV.") from exc
        if not isinstance(records, list):
            raise DataError(f"{name} holds a JSON value, not a list of objects; export one object per row.")
        return RawTable(table=_records_to_table(records, name=name, unit="element"), info=info)
    try:
        table = pa_json.read_json(io.BytesIO(data), read_options=pa_json.ReadOptions(block_size=4 << 20),
                                  parse_options=pa_json.ParseOptions(newlines_in_values=False,
                                                                     unexpected_field_behavior="infer"))
        return RawTable(table=table, info=info)
    except (pa.ArrowException, ValueError, OverflowError):
        pass
    records = []
    text = data.decode("utf-8", errors="replace")
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except (ValueError, RecursionError) as exc:
            reason = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else str(exc)[:120]
            raise DataError(f"{name} line {line_number} is not valid JSON ({reason}); "
                            "fix or remove that line (JSON Lines needs one complete object per line).") from exc
        if not isinstance(records[-1], dict):
            raise DataError(f"{name} line {line_number} is not a JSON object; "
                            "each line must be one object like {\"user\": ..., \"item\": ...}.")
    if not records:
        raise DataError(f"{name} holds no JSON objects; add one object per line.")
    return RawTable(table=_records_to_table(records, name=name), info=info)


def read_parquet(data: bytes, *, name: str) -> RawTable:
    """Parse a Parquet file; a damaged file becomes a `DataError` naming it."""
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError, ValueError, TypeError, IndexError, KeyError, OverflowError, MemoryError) as exc:
        message = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        raise DataError(f"{name} could not be read as Parquet ({message}); "
                        "write it again (e.g. pandas.DataFrame.to_parquet) or export CSV.") from exc
    return RawTable(table=table, info={"format": "parquet", "delimiter": None, "has_header": True})
