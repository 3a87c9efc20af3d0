"""The one format sniffer: read bytes safely, unwrap gzip/zip, recognise the format and parse it.

This is the lowest layer of the data loader. It knows nothing about users or items: it turns a path or
bytes into a `RawTable` plus a description of what it found (container, format, delimiter, header,
encoding). `open_table` reads a whole file; `ChunkedTable` is its streaming mode, for files bigger than
memory: the same sniffing on the first block, then one block at a time.

Formats are recognised from content, never from the user: gzip (``1f8b``), zip (``PK``), Parquet
(``PAR1``), JSON Lines / JSON arrays (first character ``{`` / ``[``), otherwise delimited text whose
delimiter is sniffed among ``::``, tab, comma, ``|``, ``;`` and (as a last resort) runs of spaces.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.data.errors import DataError, display_name, stream_failure
from recsys.data.parsers import (DelimitedLayout, RawTable, collapse_spaces, first_byte, read_delimited, read_json,
                                 read_parquet)


DEFAULT_MAX_BYTES = 512 * 1024 * 1024
"""Largest file (and largest decompressed content) accepted by default: 512 MiB."""

DELIMITERS = ("::", "\t", ",", "|", ";", " ")
"""Delimiters tried when sniffing text files, in order of preference on ties (runs of spaces count as one)."""

DATA_EXTENSIONS = (".csv", ".tsv", ".tab", ".txt", ".dat", ".data", ".parquet", ".pq", ".jsonl",
                   ".ndjson", ".json", ".gz", ".item", ".gzip")
"""Member names inside a zip archive that count as data files."""

_SAMPLE_BYTES = 64 * 1024
_MAX_SAMPLE_BYTES = 16 * 1024 * 1024
_STREAM_SAMPLE_BYTES = 1 << 20
DATE_LIKE = re.compile(r"\d{4}-\d{1,2}-\d{1,2}|\d{1,2}/\d{1,2}/\d{2,4}|\d{1,2}:\d{2}")
"""Pattern of a date or time inside a cell (2024-01-31, 1/31/2024, 12:30)."""
_NUMBER = re.compile(r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$")
_COMMENTS = re.compile(rb"(?:[ \t]*(?:[#%][^\n]*)?\r?\n)+")


def normalise_name(name: str) -> str:
    """A column name as known names are compared: lower case, letters and digits only ("User_ID" -> "userid")."""
    return re.sub(r"[^a-z0-9]", "", str(name).lower())


def is_number(text: str) -> bool:
    """True when `text` looks like a plain decimal number (``"42"``, ``"-1.5e3"``)."""
    return bool(_NUMBER.match(text))


def _blank(data: bytes) -> bool:
    """True for empty or whitespace-only content (without copying large inputs)."""
    return not data or data.isspace()


def _mib(n: int) -> str:
    return f"{n / 1024 / 1024:.1f} MiB" if n >= 1024 * 1024 else f"{n:,} bytes"


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


def _binary_kind(data: bytes) -> str | None:
    """What a file's first bytes say it is: "gzip", "zip", "parquet", or None (text)."""
    if data[:2] == b"\x1f\x8b":
        return "gzip"
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return "zip"
    if data[:4] == b"PAR1":
        return "parquet"
    return None


def unwrap(data: bytes, *, name: str, limit: int) -> tuple[bytes, list[str], str]:
    """Undo gzip/zip layers (at most 3). Returns (content, containers, inner name)."""
    containers: list[str] = []
    inner = name
    for _ in range(3):
        kind = _binary_kind(data)
        if kind == "gzip":
            data = _gunzip(data, name=name, limit=limit)
            inner = inner[:-3] if inner.lower().endswith(".gz") else inner
        elif kind == "zip":
            data, inner = _unzip(data, name=name, limit=limit)
        else:
            break
        containers.append(kind)
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


def _strip_preamble(data: bytes) -> tuple[bytes, int]:
    """UTF-8 text without Excel's "sep=;" hint line and leading '#'/'%' comment or blank lines (e.g. KONECT
    files); returns the text and the number of comment lines removed. The delimiter is sniffed anyway."""
    if data[:4].lower() == b"sep=" and b"\n" in data[:16]:
        data = data[data.index(b"\n") + 1:]
    comments = _COMMENTS.match(data)
    if not comments:
        return data, 0
    return data[comments.end():], data[:comments.end()].count(b"\n")


def _is_json(data: bytes) -> bool:
    """True when text starts (after whitespace) like JSON: an object (JSON Lines) or an array."""
    return first_byte(data) in (b"{", b"[")


def _columns_layout(names: list[str]) -> DelimitedLayout:
    """The layout handed to `choose_columns` for a self-describing format (JSON, Parquet): its column names."""
    return DelimitedLayout(None, list(names), len(names), [])


def _skipped_rows_warning(skipped: list, n_columns: int) -> str:
    """The report warning for rows dropped because their number of fields differs from the first row's."""
    return f"skipped {len(skipped)} rows with a wrong number of fields (expected {n_columns}); e.g. rows {skipped[:5]}"


def _comments_warning(n_comments: int) -> str:
    return f"skipped {n_comments} leading comment or blank lines"


def _latin1_warning(label: str) -> str:
    return f"{label} is not valid UTF-8; it was read as Latin-1"


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


def _split_rows(text: str, delimiter: str, quoting: bool) -> list[list[str]]:
    if delimiter == "::":
        text, delimiter, quoting = text.replace("::", "\x1f"), "\x1f", False
    if delimiter == " ":
        text = collapse_spaces(text)
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

    cells = [cell for cell in first if cell.strip()]
    if cells and all(is_number(cell) for cell in cells):
        has_header = False
    elif any(normalise_name(cell) in known_names for cell in first):
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


def open_table(source, *, name: str | None, max_bytes: int, known_names: set[str],
               choose_columns, newlines_in_values: bool = False) -> RawTable:
    """Read `source` into a `RawTable`, sniffing container, format, encoding, delimiter and header.

    Args:
        source: path, bytes or file-like object.
        name: file name for messages (defaults to the path's name).
        max_bytes: limit for the file and for its decompressed content.
        known_names: normalised column names that mark a first row as a header.
        choose_columns: callable(layout) -> (names, include): names to give the columns and the subset to
            parse; lets the caller map roles before parsing. For JSON and Parquet, `layout.header` holds
            the file's column names.
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
    if _binary_kind(data) == "parquet":
        raw = _chosen(read_parquet(data, name=label), choose_columns)
        raw.info.update(container=container, encoding=None)
        return raw
    data, encoding = to_utf8(data, name=label)
    data, n_comments = _strip_preamble(data)
    if n_comments and _blank(data):
        raise DataError(f"{label} holds only comment lines; add the data rows.")
    if _is_json(data):
        raw = _chosen(read_json(data, name=label), choose_columns)
    else:
        layout = sniff_layout(data, name=label, known_names=known_names)
        names, include = choose_columns(layout)
        raw = read_delimited(data, layout, name=label, column_names=names, include=include,
                             newlines_in_values=newlines_in_values)
        if raw.skipped_rows:
            raw.warnings.append(_skipped_rows_warning(raw.skipped_rows, layout.n_columns))
    raw.info.update(container=container, encoding=encoding)
    if n_comments:
        raw.warnings.append(_comments_warning(n_comments))
    if encoding == "latin-1":
        raw.warnings.append(_latin1_warning(label))
    return raw


def _chosen(raw: RawTable, choose_columns) -> RawTable:
    """A JSON/Parquet table cut down to the columns `choose_columns` picks from its names."""
    names = list(raw.table.column_names)
    _, include = choose_columns(_columns_layout(names))
    if set(include) != set(names):
        raw.table = raw.table.select(list(include))
    return raw


def format_label(info: dict) -> str:
    """A format description for people: "csv", "tsv (no header)", "jsonl in gzip", "parquet"."""
    fmt = info.get("format", "?")
    if fmt == "delimited":
        fmt = {"\t": "tsv", ",": "csv", "::": "'::'-separated text", "|": "'|'-separated text",
               ";": "';'-separated text", " ": "space-separated text"}.get(info.get("delimiter"), "text")
        fmt += "" if info.get("has_header") else " (no header)"
    if info.get("container"):
        fmt += f" in {info['container']}"
    return fmt


@dataclass
class Chunk(RawTable):
    """One parsed block of a streamed file; `data_rows` gives 1-based data-row numbers of the whole file."""

    row_offset: int = 0
    block_skipped: list = field(default_factory=list)

    def data_rows(self, positions) -> np.ndarray:
        return self.row_offset + RawTable(self.table, self.info, self.block_skipped).data_rows(positions)


class _Blocks:
    """Byte blocks of a (possibly gzip) file, each ending at a line end, read `block_bytes` at a time."""

    def __init__(self, path: Path, *, gzip: bool, block_bytes: int):
        self.stream = pa.input_stream(str(path), compression="gzip" if gzip else None)
        self.block_bytes = max(int(block_bytes), 1024)
        self.rest = b""

    def __iter__(self):
        try:
            while True:
                data = self.stream.read(self.block_bytes)
                if not data:
                    if self.rest.strip():
                        yield self.rest
                    return
                data = self.rest + data
                cut = data.rfind(b"\n")
                if cut < 0:
                    self.rest = data
                    continue
                self.rest = data[cut + 1:]
                yield data[:cut + 1]
        finally:
            self.stream.close()


class ChunkedTable:
    """A plain or gzip file read as `Chunk`s of about `chunk_rows` rows: the streaming mode of `open_table`.

    The first block is sniffed as `open_table` sniffs a whole file (encoding, comment lines, JSON or
    delimiter and header) and `choose_columns` picks the parsed columns the same way; then one block is
    parsed at a time, so memory stays bounded. Zip archives and JSON arrays cannot be streamed and are
    refused. While iterating, `info`, `skipped_rows` (1-based data rows of the whole file), `warnings` and
    `layout` fill in; they are complete once the iteration ends.
    """

    def __init__(self, path, *, name: str, known_names: set[str], choose_columns, chunk_rows: int):
        self.path, self.name, self.known_names = Path(path), name, known_names
        self.choose_columns, self.chunk_rows = choose_columns, max(int(chunk_rows), 1)
        self.info: dict = {}
        self.skipped_rows: list = []
        self.warnings: list = []
        self.layout: DelimitedLayout | None = None

    def __iter__(self):
        kind, sample = self._sniff()
        if kind == "parquet":
            yield from self._parquet_chunks()
        else:
            yield from self._text_chunks(sample, gzip=kind == "gzip")

    def _sniff(self) -> tuple[str | None, bytes]:
        """The container ("parquet", "gzip" or None) and the first decompressed bytes of the file."""
        label = self.name
        try:
            with open(self.path, "rb") as handle:
                head = handle.read(_STREAM_SAMPLE_BYTES)
        except OSError as exc:
            raise DataError(f"{label} could not be opened ({exc.strerror or exc}); check the path.") from exc
        if _blank(head):
            raise DataError(f"{label} is empty; choose a file with a header and data rows.")
        kind = _binary_kind(head)
        if kind == "zip":
            raise DataError(f"{label} is a zip archive; streaming ingest reads plain or gzip files - unzip it first.")
        if kind != "gzip":
            return kind, head
        try:
            with pa.input_stream(str(self.path), compression="gzip") as stream:
                sample = stream.read(_STREAM_SAMPLE_BYTES)
        except (pa.ArrowException, OSError) as exc:
            raise stream_failure(label, exc) from exc
        if _binary_kind(sample) == "parquet":
            raise DataError(f"{label} is a gzip-compressed Parquet file; decompress it first (Parquet is compressed inside).")
        if _blank(sample):
            raise DataError(f"{label} is empty once decompressed; compress the real data file.")
        return kind, sample

    def _parquet_chunks(self):
        try:
            parquet = pq.ParquetFile(str(self.path))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"{self.name} could not be read as Parquet ({str(exc)[:160]}); write it again or export CSV.") from exc
        self.layout = _columns_layout(list(parquet.schema_arrow.names))
        _, include = self.choose_columns(self.layout)
        self.info = {"format": "parquet", "delimiter": None, "has_header": True, "container": None, "encoding": None}
        offset = 0
        for batch in parquet.iter_batches(batch_size=self.chunk_rows, columns=list(include)):
            table = pa.Table.from_batches([batch])
            yield Chunk(table=table, info=self.info, row_offset=offset)
            offset += table.num_rows

    def _text_chunks(self, sample: bytes, *, gzip: bool):
        label = self.name
        cut = sample.rfind(b"\n")
        head = sample[:cut + 1] if 0 < cut < len(sample) - 1 else sample
        block_bytes = max(int(len(head) / max(head.count(b"\n"), 1) * self.chunk_rows), 4096)
        self.info = {"container": "gzip" if gzip else None}
        names = include = None
        offset = 0
        for block in _Blocks(self.path, gzip=gzip, block_bytes=block_bytes):
            block, encoding = to_utf8(block, name=label)
            if self.layout is None:  # no rows yet: the block starts the file (after any comment-only blocks)
                block, n_comments = _strip_preamble(block)
                if n_comments:
                    self.warnings.append(_comments_warning(n_comments))
                if _blank(block):
                    continue
                self.info["encoding"] = encoding
                if _is_json(block):
                    if first_byte(block) == b"[":
                        raise DataError(f"{label} is one JSON array; streaming ingest needs JSON Lines (one object "
                                        "per line) or CSV.")
                    self.info.update(format="jsonl", delimiter=None, has_header=True)
                else:
                    self.layout = sniff_layout(block, name=label, known_names=self.known_names)
                    self.info.update(format="delimited", delimiter=self.layout.delimiter,
                                     has_header=self.layout.header is not None)
                    names, include = self.choose_columns(self.layout)
                    block_layout = self.layout
            elif encoding == "latin-1":
                self.info["encoding"] = "latin-1"
            if self.info["format"] == "jsonl":
                table = read_json(block, name=label).table
                if self.layout is None:
                    self.layout = _columns_layout(list(table.column_names))
                    _, include = self.choose_columns(self.layout)
                for column in include:  # a key missing from every line of this block
                    if column not in table.column_names:
                        table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
                yield Chunk(table=table.select(list(include)), info=self.info, row_offset=offset)
                offset += table.num_rows
                continue
            raw = read_delimited(block, block_layout, name=label, column_names=names, include=include)
            block_layout = DelimitedLayout(self.layout.delimiter, None, self.layout.n_columns, [])
            self.skipped_rows.extend(offset + r for r in raw.skipped_rows)
            yield Chunk(table=raw.table, info=self.info, row_offset=offset, block_skipped=list(raw.skipped_rows))
            offset += raw.table.num_rows + len(raw.skipped_rows)
        if self.layout is None:
            raise DataError(f"{label} holds no data rows; add interactions (one row per event).")
        if self.skipped_rows:
            self.warnings.insert(0, _skipped_rows_warning(self.skipped_rows, self.layout.n_columns))
        if self.info["encoding"] == "latin-1":
            self.warnings.append(_latin1_warning(label))

