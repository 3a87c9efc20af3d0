"""File formats: read bytes safely, unwrap gzip/zip, sniff the format and parse it into an Arrow table.

This is the lowest layer of the data loader. It knows nothing about users or items: it turns a path or
bytes into a `pyarrow.Table` plus a description of what it found (container, format, delimiter, header,
encoding). Every failure becomes a `DataError` whose message names the file and says what to do, so no
pyarrow/zlib/zipfile exception reaches the caller.

Formats are recognised from content, never from the user: gzip (``1f8b``), zip (``PK``), Parquet
(``PAR1``), JSON Lines / JSON arrays (first character ``{`` / ``[``), otherwise delimited text whose
delimiter is sniffed among ``::``, tab, comma, ``|``, ``;`` and (as a last resort) runs of spaces.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq

DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Largest file (and largest decompressed content) accepted by default: 512 MiB."""

DELIMITERS = ("::", "\t", ",", "|", ";", " ")
"""Delimiters tried when sniffing text files, in order of preference on ties (runs of spaces count as one)."""

DATA_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".dat", ".data", ".parquet", ".pq", ".jsonl",
                   ".ndjson", ".json", ".gz", ".item", ".gzip")
"""Member names inside a zip archive that count as data files."""

MISSING_TOKENS = ("", "nan", "none", "null", "na", "n/a", "<na>", "nat")
"""Cell values read as missing (compared case-insensitively after stripping spaces)."""

_SAMPLE_BYTES = 64 * 1024
_MAX_SAMPLE_BYTES = 16 * 1024 * 1024
DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}")
"""Pattern of a date or time inside a cell (2024-01-31, 1/31/2024, 12:30)."""
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")


class DataError(ValueError):
    """A data file cannot be used; `str(e)` is one line naming the file, the place and what to do."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


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


def is_number(text: str) -> bool:
    """True when `text` looks like a plain decimal number (``"42"``, ``"-1.5e3"``)."""
    return bool(_NUMBER.match(text))


def _blank(data: bytes) -> bool:
    """True for empty or whitespace-only content (without copying large inputs)."""
    return not data or data.isspace()


def _first_byte(data: bytes) -> bytes:
    """The first non-whitespace byte, or b"" if there is none."""
    match = re.compile(rb"\s*").match(data)
    return data[match.end():match.end() + 1]


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


def display_name(source, name: str | None) -> str:
    """The file name used in messages: `name` if given, else the path's name, else ``"upload"``."""
    if name:
        label = str(name)
    elif isinstance(source, (str, Path)):
        label = Path(source).name or str(source)
    else:
        label = str(getattr(source, "name", None) or "upload")
    return label if len(label) <= 120 else label[:117] + "..."


def read_source_bytes(source, *, name: str, max_bytes: int) -> bytes:
    """Read a path, bytes or file-like object, refusing anything larger than `max_bytes`."""
    hint = "pass a larger max_bytes=<bytes> to load_dataset, or load a sample of the file"
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if len(data) > max_bytes:
            raise DataError(f"{name} is {_mib(len(data))}, over the {_mib(max_bytes)} limit (max_bytes); {hint}.")
        return data
    if isinstance(source, (str, Path)):
        path = Path(source)
        try:
            if not path.exists():
                raise DataError(f"{name}: file not found at {str(path)[:200]}; check the path.")
            if path.is_dir():
                raise DataError(f"{name} is a folder, not a file; pass the data file inside it.")
            size = path.stat().st_size
            if size > max_bytes:
                raise DataError(f"{name} is {_mib(size)}, over the {_mib(max_bytes)} limit (max_bytes); {hint}.")
            with path.open("rb") as handle:
                data = handle.read(max_bytes + 1)
        except OSError as exc:
            raise DataError(f"{name} could not be opened ({exc.strerror or exc}); check the path and permissions.") from exc
    elif hasattr(source, "read"):
        try:
            if hasattr(source, "seek"):
                source.seek(0)
            data = source.read(max_bytes + 1)
        except Exception as exc:  # noqa: BLE001 - any reader failure is a data problem for the user
            raise DataError(f"{name} could not be read ({exc}); upload the file again.") from exc
        if isinstance(data, str):
            data = data.encode("utf-8")
    else:
        raise DataError(f"{name}: expected a file path or bytes, got {type(source).__name__}.")
    if len(data) > max_bytes:
        raise DataError(f"{name} is over the {_mib(max_bytes)} limit (max_bytes); {hint}.")
    return data


def _gunzip(data: bytes, *, name: str, limit: int) -> bytes:
    """Stream-decompress (possibly multi-member) gzip, stopping as soon as `limit` bytes are exceeded."""
    out = bytearray()
    decomp = zlib.decompressobj(wbits=31)
    pending = data
    try:
        while True:
            chunk = decomp.decompress(pending, limit + 1 - len(out))
            out += chunk
            if len(out) > limit:
                raise DataError(
                    f"{name} expands to more than {_mib(limit)} when decompressed (limit max_bytes; a possible "
                    "decompression bomb); if the file is genuine pass a larger max_bytes, otherwise use a sample.")
            if decomp.unconsumed_tail:
                pending = decomp.unconsumed_tail
                continue
            if decomp.eof:
                rest = decomp.unused_data
                if rest[:2] == b"\x1f\x8b":
                    decomp = zlib.decompressobj(wbits=31)
                    pending = rest
                    continue
                return bytes(out)
            if not chunk:
                raise DataError(f"{name} is a truncated gzip file (the stream ends early); download or compress it again.")
            pending = b""
    except zlib.error as exc:
        raise DataError(f"{name} is a damaged gzip file ({exc}); download or compress it again.") from exc


def _unzip(data: bytes, *, name: str, limit: int) -> tuple[bytes, str]:
    """Return the single data member of a zip archive (read with a byte cap) and its name."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
        raise DataError(f"{name} is a damaged zip archive ({exc}); download or compress it again.") from exc
    names = [info.filename for info in infos]
    if "[Content_Types].xml" in names or any(n.startswith("xl/") for n in names):
        raise DataError(f"{name} is an Excel workbook; save the sheet as CSV (File > Save As > CSV) and load that.")
    files = [info for info in infos if not info.is_dir() and not info.filename.startswith("__MACOSX/")
             and not Path(info.filename).name.startswith(".")]
    if not files:
        raise DataError(f"{name} is an empty zip archive; put the data file (CSV, TSV, JSON Lines or Parquet) in it.")
    if len(files) > 1:
        data_files = [info for info in files if info.filename.lower().endswith(DATA_EXTENSIONS)]
        if len(data_files) == 1:
            files = data_files
        else:
            listed = ", ".join(info.filename for info in files[:8]) + (" ..." if len(files) > 8 else "")
            raise DataError(f"{name} holds {len(files)} files ({listed}); zip exactly one data file, "
                            "or extract the one you want and load it directly.")
    member = files[0]
    try:
        with archive.open(member) as handle:
            content = handle.read(limit + 1)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, zlib.error, OSError, ValueError, EOFError) as exc:
        raise DataError(f"{name}: the member {member.filename} cannot be read ({exc}); "
                        "use an unencrypted, standard (deflate) zip or the plain file.") from exc
    if len(content) > limit:
        raise DataError(
            f"{name} expands to more than {_mib(limit)} when decompressed (limit max_bytes; a possible "
            "decompression bomb); if the file is genuine pass a larger max_bytes, otherwise use a sample.")
    return content, member.filename


def unwrap(data: bytes, *, name: str, limit: int) -> tuple[bytes, list[str], str]:
    """Undo gzip/zip layers (at most 3). Returns (content, containers, inner name)."""
    containers: list[str] = []
    inner = name
    for _ in range(3):
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, name=name, limit=limit)
            containers.append("gzip")
            inner = inner[:-3] if inner.lower().endswith(".gz") else inner
        elif data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
            data, inner = _unzip(data, name=name, limit=limit)
            containers.append("zip")
        else:
            break
    return data, containers, inner


def to_utf8(data: bytes, *, name: str) -> tuple[bytes, str]:
    """Return UTF-8 bytes (BOM removed) and the encoding that was detected.

    UTF-8 (with or without BOM) and UTF-16 with a BOM are recognised; anything else that is not valid
    UTF-8 is read as Latin-1, which never fails.
    """
    if data[:3] == b"\xef\xbb\xbf":
        data, encoding = data[3:], "utf-8-sig"
    elif data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        try:
            return data.decode("utf-16").encode("utf-8"), "utf-16"
        except UnicodeDecodeError as exc:
            raise DataError(f"{name} starts with a UTF-16 mark but is not valid UTF-16; save it as UTF-8 CSV.") from exc
    else:
        encoding = "utf-8"
    head = data[:8192]
    if b"\x00" in head:
        raise DataError(f"{name} looks like a binary file, not text (it contains NUL bytes); "
                        "export the data as CSV, TSV, JSON Lines or Parquet.")
    if head:
        controls = sum(1 for byte in head if byte < 32 and byte not in (9, 10, 12, 13))
        if controls / len(head) > 0.05:
            raise DataError(f"{name} looks like a binary file, not text (many control bytes); "
                            "export the data as CSV, TSV, JSON Lines or Parquet.")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1").encode("utf-8"), "latin-1"
    return data, encoding


def _sample_text(data: bytes) -> str:
    """The first complete lines of `data` (at least two lines when the first one is huge)."""
    size = _SAMPLE_BYTES
    while True:
        sample = data[:size]
        if len(sample) == len(data):
            break
        cut = sample.rfind(b"\n")
        if cut > 0 and sample.count(b"\n") >= 2 or size >= _MAX_SAMPLE_BYTES:
            sample = sample[:cut + 1] if cut > 0 else sample
            break
        size *= 4
    return sample.decode("utf-8", errors="replace")


def _collapse_spaces(text):
    """Space-aligned text to single-space separated: trim each line and collapse runs of spaces."""
    if isinstance(text, bytes):
        return re.sub(rb" {2,}", b" ", re.sub(rb"(?m)^ +| +(?=\r?$)", b"", text))
    return re.sub(r" {2,}", " ", re.sub(r"(?m)^ +| +(?=\r?$)", "", text))


def _split_rows(text: str, delimiter: str, quoting: bool) -> list[list[str]]:
    if delimiter == "::":
        text, delimiter, quoting = text.replace("::", "\x1f"), "\x1f", False
    if delimiter == " ":
        text = _collapse_spaces(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter,
                        quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE, strict=False)
    rows = []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append(row)
            if len(rows) >= 500:
                break
    except csv.Error:
        pass
    return rows


def sniff_delimiter(sample: str) -> str:
    """Pick the delimiter whose field count is most consistent across the sample lines.

    Candidates are `DELIMITERS`; a candidate must split lines into at least two fields. Among equally
    consistent candidates the one giving more fields wins (``u;i;4,5;100`` is ';'-separated), then the
    earlier one in `DELIMITERS`. A space is a last resort, used only when no other candidate splits at
    least half of the lines consistently (text values often contain spaces).
    """
    best, best_score = ",", (-1.0, 0, 0)
    for priority, delimiter in enumerate(DELIMITERS):
        if delimiter not in sample or (delimiter == " " and best_score[0] >= 0.5):
            continue
        rows = _split_rows(sample, delimiter, quoting=delimiter != "::")
        if not rows:
            continue
        counts = [len(row) for row in rows]
        mode = max(set(counts), key=lambda c: (counts.count(c), c))
        if mode < 2:
            continue
        share = round(counts.count(mode) / len(counts), 2)
        score = (share, mode, -priority)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _substitute_separator(data: bytes) -> bytes:
    for candidate in (b"\x1f", b"\x1e", b"\x1d", b"\x1c"):
        if candidate not in data:
            return candidate
    raise DataError("the file uses '::' as delimiter and also contains ASCII separator bytes; "
                    "convert it to CSV first.")


def _dedupe_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for position, raw in enumerate(names):
        base = raw.strip() or f"column_{position + 1}"
        candidate = base
        while candidate in seen:
            seen[base] += 1
            candidate = f"{base}.{seen[base]}"
        seen.setdefault(candidate, 0)
        out.append(candidate)
    return out


@dataclass
class DelimitedLayout:
    """What sniffing found in a delimited text file."""

    delimiter: str
    header: list[str] | None  # the header fields, or None for a headerless file
    n_columns: int
    sample_rows: list[list[str]]  # first data rows (after the header)


def sniff_layout(data: bytes, *, name: str, known_names: set[str]) -> DelimitedLayout:
    """Sniff delimiter and header of UTF-8 text.

    A first row whose cells all look numeric is data. Otherwise it is a header when one of its cells is a
    known column name, or when some column is numeric in later rows but not in the first one; when no
    column is numeric, it is data if one of its cells looks like a number or a date.
    """
    sample = _sample_text(data)
    if not sample.strip():
        raise DataError(f"{name} is empty; choose a file with a header and data rows.")
    delimiter = sniff_delimiter(sample)
    rows = _split_rows(sample, delimiter, quoting=delimiter != "::")
    if not rows:
        raise DataError(f"{name} has no readable rows; check that it is a CSV/TSV text file.")
    first, rest = rows[0], rows[1:]
    n_columns = len(first)

    def normal(text: str) -> str:
        return re.sub(r"[^a-z0-9]", "", text.lower())

    cells = [cell for cell in first if cell.strip()]
    if cells and all(is_number(cell) for cell in cells):
        has_header = False
    elif any(normal(cell) in known_names for cell in first):
        has_header = True
    else:
        has_header = None
        for column in range(n_columns):
            later = [row[column] for row in rest if column < len(row) and row[column].strip()]
            if later and all(is_number(value) for value in later):
                if not is_number(first[column]):
                    has_header = True
                    break
                has_header = False
        if has_header is None:  # all-text columns: a header cell is never a number or a date
            has_header = not any(is_number(cell) or DATE_LIKE.search(cell) for cell in cells)
    if has_header:
        return DelimitedLayout(delimiter, _dedupe_names(first), n_columns, rest)
    return DelimitedLayout(delimiter, None, n_columns, rows)


def read_delimited(data: bytes, layout: DelimitedLayout, *, name: str, column_names: list[str],
                   include: list[str], newlines_in_values: bool = False) -> RawTable:
    """Parse delimited UTF-8 text into string columns `include` (rows with a wrong field count are skipped)."""
    delimiter = layout.delimiter
    quote: str | bool = '"'
    if delimiter == " ":
        data = _collapse_spaces(data)
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
    if _first_byte(data) == b"[":
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


def open_table(source, *, name: str | None, max_bytes: int, known_names: set[str],
               choose_columns, newlines_in_values: bool = False) -> RawTable:
    """Read `source` into a `RawTable`, sniffing container, format, encoding, delimiter and header.

    Args:
        source: path, bytes or file-like object.
        name: file name for messages (defaults to the path's name).
        max_bytes: limit for the file and for its decompressed content.
        known_names: normalised column names that mark a first row as a header.
        choose_columns: callable(column_names, layout) -> (names, include): names to give the columns
            of a delimited file and the subset to parse. Lets the caller map roles before parsing.
        newlines_in_values: allow quoted values that span lines (slower; for metadata files).
    """
    label = display_name(source, name)
    data = read_source_bytes(source, name=label, max_bytes=max_bytes)
    if _blank(data):
        raise DataError(f"{label} is empty; choose a file with a header and data rows.")
    data, containers, inner = unwrap(data, name=label, limit=max_bytes)
    container = "+".join(containers) or None
    if _blank(data):
        raise DataError(f"{label} is empty once decompressed; compress the real data file.")
    if data[:4] == b"PAR1":
        raw = read_parquet(data, name=label)
        raw.info.update(container=container, encoding=None)
        return raw
    data, encoding = to_utf8(data, name=label)
    if data[:4].lower() == b"sep=" and b"\n" in data[:16]:
        data = data[data.index(b"\n") + 1:]  # Excel's "sep=;" hint line; the delimiter is sniffed anyway
    comments = re.compile(rb"(?:[ \t]*(?:[#%][^\n]*)?\r?\n)+").match(data)
    n_comments = data[:comments.end()].count(b"\n") if comments else 0
    if n_comments:
        data = data[comments.end():]  # leading '#'/'%' comment lines (e.g. KONECT files)
        if _blank(data):
            raise DataError(f"{label} holds only comment lines; add the data rows.")
    if _first_byte(data) in (b"{", b"["):
        raw = read_json(data, name=label)
    else:
        layout = sniff_layout(data, name=label, known_names=known_names)
        names, include = choose_columns(layout)
        raw = read_delimited(data, layout, name=label, column_names=names, include=include,
                             newlines_in_values=newlines_in_values)
        if raw.skipped_rows:
            raw.warnings.append(f"skipped {len(raw.skipped_rows)} rows with a wrong number of fields "
                                f"(expected {layout.n_columns}); e.g. rows {raw.skipped_rows[:5]}")
    raw.info.update(container=container, encoding=encoding)
    if n_comments:
        raw.warnings.append(f"skipped {n_comments} leading comment or blank lines")
    if encoding == "latin-1":
        raw.warnings.append(f"{label} is not valid UTF-8; it was read as Latin-1")
    return raw
