"""Interaction files bigger than memory is comfortable with: streamed into user-sorted Parquet shards.

`ingest_to_shards` reads a CSV/TSV/JSON Lines/Parquet file (plain or gzip) block by block, with the
sniffing, column detection, id normalisation, timestamp parsing and drop rules of `recsys.data`, and
keeps only compact arrays per kept event (user/item int32, rating float32, timestamp int64, 20 bytes;
4 more per title/description/category column, as in Online Retail) plus one dictionary per id kind and
text column: never a frame of id strings for all rows. It then numbers ids exactly
as `load_dataset` does (natural order), sorts by (user, timestamp, file row) and writes:

    events-00000.parquet ...  user, item, rating, timestamp; user-sorted, each shard holds whole users
    users.parquet             user, user_id (the original ids as text)
    items.parquet             item_id, title, text, categories, n_events (from the items file, else from text
                              columns of the interactions: each item's most frequent value, as load_dataset)
    report.json               the `Dataset.report` keys (dropped rows with counts and examples, ...)
    manifest.json             written last: shard list, sizes, fingerprint (== load_dataset's fingerprint)

`ShardedEvents` reads a shard folder one shard at a time and is Dataset-like enough to name a run;
`load_sharded_dataset` turns small shard folders back into a `Dataset`.

Streaming training (`train_sharded`) cuts next-item windows shard by shard (shards hold whole users,
so the cut is the same as on the whole data), writes them as Parquet window shards and feeds them to
Keras through `tf.data` (`WindowShards.pipeline`): the window set never sits in memory.

Example:
    >>> ingest_to_shards("events-20M.csv", "shards/")        # doctest: +SKIP
    >>> train_sharded("shards/", TrainConfig(), run_dir="runs/big")   # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.data import (_DROP_EXPLANATIONS, _KNOWN_NAMES, DROP_REASONS, TEXT_ROLES, DataError, Dataset, _catalogue,
                         _clean_rows, _event_order, _event_roles, _headerless_roles, _id_codes, _mode_code_per_item,
                         _natural_order, _strings, dataset_report, load_item_metadata,
                         require_two_users_and_items)
from recsys.formats import RawTable, display_name, read_delimited, read_json, sniff_layout, to_utf8

__all__ = ["ingest_to_shards", "ShardedEvents", "load_sharded_dataset", "WindowShards", "build_window_shards",
           "train_sharded", "MANIFEST", "DEFAULT_SHARD_EVENTS"]

MANIFEST = "manifest.json"
DEFAULT_SHARD_EVENTS = 1_000_000
"""Target events per shard; a shard ends at the first user boundary after it."""
_SHARD_FORMAT = "recsys-shards/1"
_EVENT_COLUMNS = ("user", "item", "rating", "timestamp")
_EXAMPLES = 5
_SAMPLE_BYTES = 1 << 20
_COMMENTS = re.compile(rb"(?:[ \t]*(?:[#%][^\n]*)?\r?\n)+")


# --------------------------------------------------------------------------------------------- reading


@dataclass
class _Chunk(RawTable):
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


def _open_error(label: str, exc: Exception) -> DataError:
    message = " ".join(str(exc).split())[:160] or type(exc).__name__
    return DataError(f"{label} could not be read ({type(exc).__name__}: {message}); check the path and that it is "
                     "a CSV/TSV/JSON Lines/Parquet file (plain or .gz).")


def _sniff(path: Path, label: str) -> dict:
    """Container, format and (for text) the first decompressed bytes of a file."""
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise DataError(f"{label} could not be opened ({exc.strerror or exc}); check the path.") from exc
    if not magic.strip():
        raise DataError(f"{label} is empty; choose a file with a header and data rows.")
    if magic[:2] in (b"PK",):
        raise DataError(f"{label} is a zip archive; streaming ingest reads plain or gzip files - unzip it first.")
    if magic == b"PAR1":
        return {"format": "parquet", "gzip": False, "sample": b""}
    gzip = magic[:2] == b"\x1f\x8b"
    try:
        with pa.input_stream(str(path), compression="gzip" if gzip else None) as stream:
            sample = stream.read(_SAMPLE_BYTES)
    except (pa.ArrowException, OSError) as exc:
        raise _open_error(label, exc) from exc
    if sample[:4] == b"PAR1":
        raise DataError(f"{label} is a gzip-compressed Parquet file; decompress it first (Parquet is compressed inside).")
    if not sample.strip():
        raise DataError(f"{label} is empty once decompressed; compress the real data file.")
    first = sample.lstrip()[:1]
    if first == b"[":
        raise DataError(f"{label} is one JSON array; streaming ingest needs JSON Lines (one object per line) or CSV.")
    return {"format": "jsonl" if first == b"{" else "delimited", "gzip": gzip, "sample": sample}


def _chunks(path: Path, label: str, overrides: dict, *, chunk_rows: int, state: dict):
    """Yield `_Chunk`s of at most about `chunk_rows` rows; fills `state` with roles, info and skipped rows."""
    sniffed = _sniff(path, label)
    state["skipped"], state["warnings"] = [], []
    if sniffed["format"] == "parquet":
        try:
            parquet = pq.ParquetFile(str(path))
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise DataError(f"{label} could not be read as Parquet ({str(exc)[:160]}); write it again or export CSV.") from exc
        columns = list(parquet.schema_arrow.names)
        roles = _event_roles(columns, overrides, label)
        include = list(dict.fromkeys(v for v in roles.values() if v is not None))
        state.update(roles=roles, info={"format": "parquet", "delimiter": None, "has_header": True,
                                        "container": None, "encoding": None})
        offset = 0
        for batch in parquet.iter_batches(batch_size=chunk_rows, columns=include):
            table = pa.Table.from_batches([batch])
            yield _Chunk(table=table, info=state["info"], row_offset=offset)
            offset += table.num_rows
        return
    sample = sniffed["sample"]
    cut = sample.rfind(b"\n")
    head = sample[:cut + 1] if 0 < cut < len(sample) - 1 else sample
    lines = max(head.count(b"\n"), 1)
    block_bytes = max(int(len(head) / lines * chunk_rows), 4096)
    container = "gzip" if sniffed["gzip"] else None
    blocks = iter(_Blocks(path, gzip=sniffed["gzip"], block_bytes=block_bytes))
    first = True
    offset = 0
    layout = None
    encoding = None
    for block in blocks:
        if first:
            block, encoding = to_utf8(block, name=label)
            if block[:4].lower() == b"sep=" and b"\n" in block[:16]:
                block = block[block.index(b"\n") + 1:]
            comments = _COMMENTS.match(block)
            n_comments = block[:comments.end()].count(b"\n") if comments else 0
            if n_comments:
                block = block[comments.end():]
                state["warnings"].append(f"skipped {n_comments} leading comment or blank lines")
            if not block.strip():
                continue
        else:
            block, block_encoding = to_utf8(block, name=label)
            if block_encoding == "latin-1":
                encoding = "latin-1"
        if sniffed["format"] == "jsonl":
            raw = read_json(block, name=label)
            if first:
                state["roles"] = _event_roles(list(raw.table.column_names), overrides, label)
                state["info"] = {"format": "jsonl", "delimiter": None, "has_header": True,
                                 "container": container, "encoding": encoding}
            missing = [c for c in state["roles"].values() if c is not None and c not in raw.table.column_names]
            table = raw.table
            for column in missing:
                table = table.append_column(column, pa.nulls(table.num_rows, pa.string()))
            first = False
            yield _Chunk(table=table, info=state["info"], row_offset=offset)
            offset += table.num_rows
            continue
        if first:
            layout = sniff_layout(block, name=label, known_names=_KNOWN_NAMES)
            if layout.header is not None:
                names, defaults = layout.header, None
            else:
                names, defaults = _headerless_roles(layout)
            roles = _event_roles(names, overrides, label, defaults)
            include = list(dict.fromkeys(v for v in roles.values() if v is not None))
            state.update(roles=roles, names=names, include=include, n_columns=layout.n_columns,
                         info={"format": "delimited", "delimiter": layout.delimiter,
                               "has_header": layout.header is not None, "container": container,
                               "encoding": encoding})
            block_layout = layout
        else:
            block_layout = type(layout)(layout.delimiter, None, layout.n_columns, [])
        raw = read_delimited(block, block_layout, name=label, column_names=state["names"], include=state["include"])
        first = False
        state["skipped"].extend(offset + r for r in raw.skipped_rows)
        yield _Chunk(table=raw.table, info=state["info"], row_offset=offset, block_skipped=list(raw.skipped_rows))
        offset += raw.table.num_rows + len(raw.skipped_rows)
    if first:
        raise DataError(f"{label} holds no data rows; add interactions (one row per event).")
    state["info"]["encoding"] = encoding
    if encoding == "latin-1":
        state["warnings"].append(f"{label} is not valid UTF-8; it was read as Latin-1")


# --------------------------------------------------------------------------------------------- ingest


class _IdDictionary:
    """Original ids (normalised text) -> contiguous codes in order of first appearance; grows chunk by chunk."""

    def __init__(self):
        self.codes: dict = {}

    def encode(self, codes: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Global codes for a chunk's factorised `codes` (indices into its unique `values`)."""
        present = np.flatnonzero(np.bincount(codes, minlength=len(values)) > 0)
        lookup = np.full(len(values), -1, dtype=np.int64)
        table = self.codes
        lookup[present] = [table.setdefault(v, len(table)) for v in values[present]]
        return lookup[codes]

    def natural_numbering(self) -> tuple[np.ndarray, np.ndarray]:
        """(new index per global code, ids in natural order) - the numbering `load_dataset` gives."""
        ids = np.array(list(self.codes), dtype=object)
        order = _natural_order(ids)
        rank = np.empty(len(ids), dtype=np.int64)
        rank[order] = np.arange(len(ids))
        return rank, ids[order]


class _TextCodes:
    """One text column of the interactions (title/description/categories) as an int32 code per event.

    Codes index distinct non-empty values (-1 = empty), so an item's most frequent value can be picked at
    the end exactly as `load_dataset` does, at 4 bytes per event. A column with more distinct values than
    `max_values` (free text per event, not per item) is given up with a warning instead of growing.
    """

    def __init__(self, column: str, max_values: int):
        self.column, self.max_values = column, max_values
        self.index: dict = {}
        self.parts: list = []
        self.given_up = False

    def add(self, values: np.ndarray) -> None:
        if self.given_up:
            return
        codes, uniques = pd.factorize(pd.Series(values, dtype=object))
        index = self.index
        lookup = np.array([-1 if u == "" else index.setdefault(u, len(index)) for u in uniques] + [-1],
                          dtype=np.int32)
        if len(index) > self.max_values:
            self.given_up, self.index, self.parts = True, {}, []
            return
        self.parts.append(lookup[codes])

    def per_item(self, order: np.ndarray | None, items: np.ndarray, n_items: int) -> np.ndarray:
        codes = np.concatenate(self.parts) if self.parts else np.zeros(0, np.int32)
        if order is not None:
            codes = codes[order]
        values = np.append(np.array(list(self.index), dtype=object), "")
        return values[_mode_code_per_item(items, codes, n_items)]


def _merge_drops(total: dict, dropped: dict) -> None:
    for reason, entry in dropped.items():
        slot = total.setdefault(reason, {"count": 0, "examples": []})
        slot["count"] += int(entry["count"])
        slot["examples"] = (slot["examples"] + [int(r) for r in entry["examples"]])[:_EXAMPLES]


def _add_drop(total: dict, reason: str, rows: np.ndarray) -> None:
    if len(rows):
        _merge_drops(total, {reason: {"count": len(rows), "examples": rows[:_EXAMPLES].tolist()}})


def _split_shards(users: np.ndarray, shard_events: int) -> list[tuple[int, int]]:
    """[start, end) event ranges of about `shard_events` events that never split a user."""
    n = len(users)
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if n else np.array([], dtype=np.int64)
    bounds, position = [], 0
    while position < n:
        nxt = int(np.searchsorted(starts, position + max(int(shard_events), 1)))
        end = int(starts[nxt]) if nxt < len(starts) else n
        bounds.append((position, end))
        position = end
    return bounds


def ingest_to_shards(source, out_dir, *, items=None, name: str | None = None, user_col: str | None = None,
                     item_col: str | None = None, rating_col: str | None = None, time_col: str | None = None,
                     chunk_rows: int = 2_000_000, shard_events: int = DEFAULT_SHARD_EVENTS,
                     max_memory_mb: int | None = None, max_text_values: int = 5_000_000) -> dict:
    """Stream an interaction file into user-sorted Parquet shards, with the same cleaning as `load_dataset`.

    Args:
        source: path of a CSV/TSV (any delimiter `load_dataset` sniffs), JSON Lines or Parquet file, plain or gzip.
        out_dir: folder for the shards (created; an earlier shard folder there is replaced).
        items: optional item metadata file (read whole: catalogues are small); adds titles, texts, cold items.
        name: data set name (default: the file name).
        user_col, item_col, rating_col, time_col: explicit column names overriding auto-detection.
        chunk_rows: rows parsed per chunk; the id strings of one chunk are all that is held at a time.
        shard_events: target events per shard (shards end at user boundaries).
        max_memory_mb: optional cap on a chunk's parsing memory; lowers `chunk_rows` to fit (about
            200 bytes per row while a chunk is parsed and cleaned).
        max_text_values: title/description/category columns inside the interactions are kept as 4-byte
            codes per event; one with more distinct values than this is not used for item texts (warned).

    Returns:
        The manifest (dict): name, fingerprint, n_events, n_users, n_items, shards [{path, n_events,
        first_user, last_user}], has_timestamps, has_ratings. Ids, events and the report equal what
        `load_dataset` gives for the same file.

    Raises:
        DataError: one line naming the file, the row/column and what to do.
    """
    path = Path(source)
    label = name or display_name(path, None)
    if not path.is_file():
        raise DataError(f"{label}: file not found at {str(path)[:200]}; check the path.")
    chunk_rows = max(int(chunk_rows), 1)
    if max_memory_mb is not None:
        chunk_rows = max(1000, min(chunk_rows, int(max_memory_mb) * (1 << 20) // 200))
    overrides = {"user_col": user_col, "item_col": item_col, "rating_col": rating_col, "time_col": time_col}
    metadata = load_item_metadata(items) if items is not None else None
    users_dict, items_dict = _IdDictionary(), _IdDictionary()
    parts: dict = {column: [] for column in _EVENT_COLUMNS}
    dropped: dict = {}
    units: list = []
    state: dict = {}
    rows_parsed = 0
    role_lost: set = set()
    texts: dict = {}
    try:
        for chunk in _chunks(path, label, overrides, chunk_rows=chunk_rows, state=state):
            roles = state["roles"]
            table = chunk.table
            rows_parsed += table.num_rows
            if table.num_rows == 0:
                continue
            user_codes, user_values = _id_codes(table.column(roles["user"]), role="user",
                                                column_name=roles["user"], name=label)
            item_codes, item_values = _id_codes(table.column(roles["item"]), role="item",
                                                column_name=roles["item"], name=label)
            clean = _clean_rows(chunk, roles, user_codes, item_codes, name=label, allow_empty=True)
            _merge_drops(dropped, clean.dropped)
            kept = clean.kept
            for role, reason in (("rating", "missing_rating"), ("timestamp", "missing_timestamp")):
                if roles.get(role) is not None and clean.roles.get(role) is None:  # empty in this chunk only
                    role_lost.add(role)
                    _add_drop(dropped, reason, chunk.data_rows(kept))
                    kept = kept[:0]
            if clean.time_unit:
                units.append(clean.time_unit)
            if not len(kept):
                continue
            select = len(kept) < table.num_rows
            parts["user"].append(users_dict.encode(user_codes[kept] if select else user_codes, user_values)
                                 .astype(np.int32))
            parts["item"].append(items_dict.encode(item_codes[kept] if select else item_codes, item_values)
                                 .astype(np.int32))
            for role in TEXT_ROLES:
                if roles.get(role):
                    tally = texts.setdefault(role, _TextCodes(roles[role], max_text_values))
                    values = _strings(table.column(roles[role]))
                    tally.add(values[kept] if select else values)
            n_kept = len(kept)
            parts["rating"].append(clean.ratings[:n_kept].astype(np.float32))
            parts["timestamp"].append(clean.seconds[:n_kept].astype(np.int64))
            del chunk, table, clean, user_codes, item_codes, user_values, item_values
    except DataError:
        raise
    except MemoryError as exc:
        raise DataError(f"{label}: a chunk does not fit in memory; pass a smaller chunk_rows.") from exc
    except Exception as exc:  # noqa: BLE001 - the loader promises DataError for every bad file
        raise _open_error(label, exc) from exc

    roles = state["roles"]
    skipped = state["skipped"]
    rows_read = rows_parsed + len(skipped)
    n_kept = sum(len(p) for p in parts["user"])
    report_drops: dict = {}
    if skipped:
        report_drops["malformed_row"] = {"count": len(skipped), "examples": [int(r) for r in skipped[:_EXAMPLES]]}
    for reason in DROP_REASONS[1:]:
        if reason in dropped:
            report_drops[reason] = dropped[reason]
    if n_kept == 0:
        counts = ", ".join(f"{reason} {entry['count']}" for reason, entry in report_drops.items())
        raise DataError(f"{label}: no usable rows left after cleaning ({rows_read} read; dropped: {counts}); fix "
                        "those rows or choose other columns with user_col/item_col/rating_col/time_col.")
    user_rank, user_ids = users_dict.natural_numbering()
    item_rank, interacted_ids = items_dict.natural_numbering()
    del users_dict, items_dict
    require_two_users_and_items(label, user_ids, interacted_ids)
    users = user_rank[np.concatenate(parts.pop("user"))].astype(np.int32)
    item_codes = item_rank[np.concatenate(parts.pop("item"))].astype(np.int32)
    ratings = np.concatenate(parts.pop("rating"))
    seconds = np.concatenate(parts.pop("timestamp"))
    order = _event_order(users, seconds, len(user_ids))
    if order is not None:  # one column at a time: the peak holds one extra column, not four
        users = users[order]
        item_codes = item_codes[order]
        ratings = ratings[order]
        seconds = seconds[order]
    derived = {role: tally.per_item(order, item_codes, len(interacted_ids))
               for role, tally in texts.items() if not tally.given_up}
    del order

    warnings_ = list(state["warnings"])
    if skipped:
        warnings_.insert(0, f"skipped {len(skipped)} rows with a wrong number of fields (expected "
                            f"{state.get('n_columns')}); e.g. rows {skipped[:5]}")
    for reason, entry in report_drops.items():
        if reason != "malformed_row":
            warnings_.append(f"dropped {entry['count']} {_DROP_EXPLANATIONS[reason]}; e.g. rows {entry['examples']}")
    if role_lost:
        warnings_.append(f"the {' and '.join(sorted(role_lost))} column was empty in a whole chunk of the file; "
                         "those rows were dropped")
    if len(set(units)) > 1:
        warnings_.append(f"timestamps were read in different units in different parts of the file ({sorted(set(units))})")
    for tally in texts.values():
        if tally.given_up:
            warnings_.append(f"column {tally.column!r} has more than {max_text_values:,} distinct values, so it "
                             "was not used for item texts; pass an items file with one row per item")
    catalog_ids, items_frame = _catalogue(derived, item_codes, interacted_ids, metadata, warnings_)
    has_ratings, has_timestamps = roles.get("rating") is not None, roles.get("timestamp") is not None
    events = pd.DataFrame({"user": users, "item": item_codes, "rating": ratings, "timestamp": seconds}, copy=False)
    dataset = Dataset(events=events, items=items_frame, user_ids=np.asarray(user_ids, dtype=object),
                      item_ids=np.asarray(catalog_ids, dtype=object), report={}, name=label,
                      has_timestamps=has_timestamps, has_ratings=has_ratings)
    dataset.report = dataset_report(dataset, roles=roles, info=state["info"], rows_read=rows_read,
                                    dropped=report_drops, time_unit=units[0] if units else None,
                                    meta_report=metadata[1] if metadata is not None else None,
                                    warnings_=warnings_, n_interacted=len(interacted_ids))
    dataset.report["streamed"] = True
    return _write_shards(dataset, Path(out_dir), shard_events=shard_events)


def _write_json(path: Path, obj) -> None:
    path.write_text(json.dumps(obj, indent=2, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))


def _write_shards(dataset: Dataset, out: Path, *, shard_events: int) -> dict:
    """Write a shard folder (manifest last, so a half-written folder is never read as complete)."""
    if out.exists() and not out.is_dir():
        raise DataError(f"{out} is a file; choose a folder for the shards.")
    if out.is_dir() and any(out.iterdir()) and not (out / MANIFEST).is_file():
        raise DataError(f"{out} is not empty and holds no shards; choose a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)
    for old in out.glob("events-*.parquet"):
        old.unlink()
    events = dataset.events
    users = events["user"].to_numpy()
    shards = []
    columns = {c: events[c].to_numpy() for c in _EVENT_COLUMNS}
    for number, (start, end) in enumerate(_split_shards(users, shard_events)):
        file = f"events-{number:05d}.parquet"
        table = pa.table({c: columns[c][start:end] for c in _EVENT_COLUMNS})
        pq.write_table(table, out / file, row_group_size=256 * 1024)
        shards.append({"path": file, "n_events": int(end - start), "first_user": int(users[start]),
                       "last_user": int(users[end - 1])})
    pq.write_table(pa.table({"user": np.arange(dataset.n_users, dtype=np.int32),
                             "user_id": pa.array(dataset.user_ids.tolist(), type=pa.string())}), out / "users.parquet")
    items = dataset.items[["item_id", "title", "text", "categories", "n_events"]].copy()
    items["categories"] = items["categories"].map(lambda c: list(c))
    items.to_parquet(out / "items.parquet")
    _write_json(out / "report.json", dataset.report)
    manifest = {"format": _SHARD_FORMAT, "name": dataset.name, "fingerprint": dataset.fingerprint(),
                "n_events": int(len(events)), "n_users": dataset.n_users, "n_items": dataset.n_items,
                "has_timestamps": bool(dataset.has_timestamps), "has_ratings": bool(dataset.has_ratings),
                "sort": ["user", "timestamp", "file row"], "shards": shards}
    _write_json(out / MANIFEST, manifest)
    return manifest


# --------------------------------------------------------------------------------------------- reading shards


class ShardedEvents:
    """A shard folder written by `ingest_to_shards`: events one shard at a time, ids, items and report.

    Dataset-like where runs need it (name, fingerprint(), n_users, n_items, user_ids, item_ids, items,
    report), so `recsys.store.write_run` can store a run trained from shards.
    """

    def __init__(self, path):
        self.path = Path(path)
        manifest = self.path / MANIFEST
        if not manifest.is_file():
            raise DataError(f"{self.path} holds no complete shard folder (no {MANIFEST}); run "
                            "`python -m recsys ingest` first.")
        self.manifest = json.loads(manifest.read_text())
        if self.manifest.get("format") != _SHARD_FORMAT:
            raise DataError(f"{self.path}: unknown shard format {self.manifest.get('format')!r}; ingest the file again.")
        self._user_ids = None
        self._items = None

    name = property(lambda self: self.manifest["name"])
    n_users = property(lambda self: int(self.manifest["n_users"]))
    n_items = property(lambda self: int(self.manifest["n_items"]))
    n_events = property(lambda self: int(self.manifest["n_events"]))
    has_timestamps = property(lambda self: bool(self.manifest["has_timestamps"]))
    has_ratings = property(lambda self: bool(self.manifest["has_ratings"]))

    def fingerprint(self) -> str:
        """The content hash stored at ingest; equals `load_dataset(...).fingerprint()` of the same file."""
        return self.manifest["fingerprint"]

    @property
    def report(self) -> dict:
        return json.loads((self.path / "report.json").read_text())

    @property
    def shard_paths(self) -> list[Path]:
        return [self.path / s["path"] for s in self.manifest["shards"]]

    def __len__(self) -> int:
        return len(self.manifest["shards"])

    def __iter__(self):
        """Each shard as a frame (user int32, item int32, rating float32, timestamp int64), RangeIndex."""
        for path in self.shard_paths:
            yield pq.read_table(path).to_pandas()

    def read_columns(self, columns) -> pd.DataFrame:
        """Some event columns of every shard in one frame (numbers only: 4-8 bytes per event and column)."""
        return pq.read_table(self.shard_paths, columns=list(columns)).to_pandas() if len(self) else \
            pd.DataFrame({c: [] for c in columns})

    @property
    def user_ids(self) -> np.ndarray:
        if self._user_ids is None:
            self._user_ids = pq.read_table(self.path / "users.parquet")["user_id"].to_numpy(zero_copy_only=False) \
                .astype(object)
        return self._user_ids

    @property
    def items(self) -> pd.DataFrame:
        if self._items is None:
            items = pd.read_parquet(self.path / "items.parquet")
            items["categories"] = items["categories"].map(lambda c: [str(x) for x in c] if c is not None else [])
            self._items = items
        return self._items

    @property
    def item_ids(self) -> np.ndarray:
        return self.items["item_id"].to_numpy(dtype=object)


def load_sharded_dataset(path) -> Dataset:
    """All shards of a folder as one in-memory `Dataset` (for data that fits, e.g. tests and the app)."""
    shards = ShardedEvents(path)
    events = pd.concat(list(shards), ignore_index=True) if len(shards) else pd.DataFrame(
        {"user": np.array([], np.int32), "item": np.array([], np.int32), "rating": np.array([], np.float32),
         "timestamp": np.array([], np.int64)})
    items = shards.items.copy()
    items["item_id"] = items["item_id"].astype(str)
    return Dataset(events=events, items=items, user_ids=shards.user_ids, item_ids=shards.item_ids,
                   report=shards.report, name=shards.name, has_timestamps=shards.has_timestamps,
                   has_ratings=shards.has_ratings)


# --------------------------------------------------------------------------------------------- streaming training


@dataclass
class WindowShards:
    """Training windows stored as Parquet shards, read back through `tf.data` one record batch at a time.

    Each file has columns user int32, inputs/targets (fixed-size lists of `seq_len` int32) and weights
    (fixed-size list of float32), as `recsys.features.training_windows` returns them. `fit_hybrid`
    accepts this object as `windows=` in place of the in-memory dict.

    Attributes:
        paths: window files (one per event shard that had windows).
        n_windows: windows in all files; sets the steps per epoch.
        seq_len: window length L.
        item_counts: training events per item [n_items]; items with 0 get no CF vector.
        weight_scale: factor applied to every weight when read (1 / mean rating with rating weights).
        shuffle_buffer: windows held by the seeded shuffle (memory: about 12·L bytes each).
        read_rows: windows per Parquet record batch read by the generator.
    """

    paths: list
    n_windows: int
    seq_len: int
    item_counts: np.ndarray
    weight_scale: float = 1.0
    shuffle_buffer: int = 65_536
    read_rows: int = 4096

    def __len__(self) -> int:
        return int(self.n_windows)

    @property
    def trained_mask(self) -> np.ndarray:
        return self.item_counts > 0

    def batches(self, path):
        """(x, y) dicts of numpy arrays, one per record batch of one window file."""
        length, scale = self.seq_len, np.float32(self.weight_scale)
        reader = pq.ParquetFile(os.fsdecode(path))
        for batch in reader.iter_batches(batch_size=self.read_rows):
            def matrix(name, dtype):
                return batch.column(name).flatten().to_numpy(zero_copy_only=False).astype(dtype).reshape(-1, length)

            weights = matrix("weights", np.float32)
            if scale != 1.0:
                weights = weights * scale
            targets = matrix("targets", np.int32)
            yield ({"user": batch.column("user").to_numpy(zero_copy_only=False).astype(np.int32),
                    "inputs": matrix("inputs", np.int32), "targets": targets},
                   {"targets": targets, "weights": weights})

    def pipeline(self, *, batch_size: int, seed: int, distributed: bool = False):
        """Shuffled, batched `(x, y)` pairs streamed from the files (`tf.data`, TensorFlow backend only).

        Files are visited in a seeded order that changes every epoch, four at a time (interleave), and
        windows pass through a seeded shuffle buffer of `shuffle_buffer` rows before batching.
        """
        import tensorflow as tf

        length = self.seq_len
        signature = ({"user": tf.TensorSpec([None], tf.int32), "inputs": tf.TensorSpec([None, length], tf.int32),
                      "targets": tf.TensorSpec([None, length], tf.int32)},
                     {"targets": tf.TensorSpec([None, length], tf.int32),
                      "weights": tf.TensorSpec([None, length], tf.float32)})
        files = tf.data.Dataset.from_tensor_slices([os.fspath(p) for p in self.paths])
        files = files.shuffle(max(len(self.paths), 1), seed=seed, reshuffle_each_iteration=True)
        ds = files.interleave(
            lambda path: tf.data.Dataset.from_generator(self.batches, args=(path,), output_signature=signature),
            cycle_length=max(1, min(4, len(self.paths))), block_length=1)
        ds = ds.unbatch().shuffle(max(1, min(self.shuffle_buffer, self.n_windows)), seed=seed,
                                  reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).apply(tf.data.experimental.assert_cardinality(math.ceil(self.n_windows / batch_size)))
        ds = ds.prefetch(tf.data.AUTOTUNE)
        if distributed:
            options = tf.data.Options()
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
            ds = ds.with_options(options)
        return ds


def _local(frame: pd.DataFrame, first_user: int) -> pd.DataFrame:
    """A shard's events with users renumbered from 0 (so per-shard arrays stay shard-sized)."""
    frame = frame.copy()
    frame["user"] = frame["user"].to_numpy() - np.int32(first_user)
    return frame


@dataclass
class _ShardPlan:
    """What one pass over the event shards yields besides the window files."""

    windows: WindowShards
    validation_users: np.ndarray
    validation_targets: np.ndarray
    validation_sequences: np.ndarray
    exclude_pairs: tuple
    serving_sequences: np.ndarray
    n_train_events: int


def build_window_shards(shards: ShardedEvents, config, *, out_dir, max_validation_users: int | None = 5000) -> _ShardPlan:
    """One pass over the event shards: window files, the validation hold-out and the serving sequences.

    Per shard (whole users, so this equals the in-memory `train_run` preparation): each user's last new
    item is held out (`leave_last_out_split`), the events before it are thresholded (`min_rating`) and
    cut into windows (`training_windows`) that go to `out_dir/windows-*.parquet`. A seeded sample of
    at most about `max_validation_users` held-out users is kept for early stopping (None: all), and
    every user's last `seq_len` events (all events) give the served LSTM input.
    """
    from recsys.evaluate import history_before
    from recsys.features import last_sequences, training_windows
    from recsys.split import leave_last_out_split

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_users, n_items, length = shards.n_users, shards.n_items, config.seq_len
    share = 1.0 if max_validation_users is None else min(1.0, max_validation_users / max(n_users, 1))
    serving = np.zeros((n_users, length), np.int32)
    item_counts = np.zeros(n_items, np.int64)
    paths, n_windows, n_train = [], 0, 0
    rating_sum, rating_count = 0.0, 0
    val_users, val_targets, val_sequences, ex_users, ex_items = [], [], [], [], []
    for number, (frame, meta) in enumerate(zip(shards, shards.manifest["shards"])):
        first, last = int(meta["first_user"]), int(meta["last_user"])
        local = _local(frame, first)
        n_local = last - first + 1
        serving[first:last + 1] = last_sequences(local, n_users=n_local, seq_len=length)
        split = leave_last_out_split(local)
        train = history_before(local, split.test) if len(split.test) else local
        if len(split.test):
            rng = np.random.default_rng([int(config.seed), number])
            chosen = split.test[rng.random(len(split.test)) < share]
            if len(chosen):
                users = chosen["user"].to_numpy(np.int64)
                val_users.append(users + first)
                val_targets.append(chosen["item"].to_numpy(np.int64))
                val_sequences.append(last_sequences(train, n_users=n_local, seq_len=length)[users])
                member = np.isin(train["user"].to_numpy(), users)
                ex_users.append(train["user"].to_numpy(np.int64)[member] + first)
                ex_items.append(train["item"].to_numpy(np.int64)[member])
        if config.min_rating is not None:  # training.apply_rating_threshold, without importing TensorFlow
            train = train[train["rating"].to_numpy() >= config.min_rating]
        n_train += len(train)
        if not len(train):
            continue
        item_counts += np.bincount(train["item"].to_numpy(), minlength=n_items)[:n_items]
        weights = None
        if config.rating_weights:
            r = train["rating"].to_numpy(np.float32)
            weights = np.where(np.isfinite(r) & (r > 0), r, 1.0).astype(np.float32)
            rating_sum, rating_count = rating_sum + float(weights.sum(dtype=np.float64)), rating_count + len(weights)
        windows = training_windows(train, seq_len=length, weights=weights)
        if not len(windows["user"]):
            continue
        def lists(values, kind):
            return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=kind), length)

        table = pa.table({"user": pa.array(windows["user"] + np.int32(first), type=pa.int32()),
                          "inputs": lists(windows["inputs"], pa.int32()), "targets": lists(windows["targets"], pa.int32()),
                          "weights": lists(windows["weights"], pa.float32())})
        path = out / f"windows-{number:05d}.parquet"
        pq.write_table(table, path, row_group_size=64 * 1024)
        paths.append(path)
        n_windows += len(windows["user"])
    scale = 1.0 / max(rating_sum / rating_count, 1e-6) if rating_count else 1.0  # event_weights: r / mean(r)

    def cat(parts, dtype, shape=(0,)):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)

    return _ShardPlan(
        windows=WindowShards(paths=paths, n_windows=n_windows, seq_len=length, item_counts=item_counts,
                             weight_scale=scale),
        validation_users=cat(val_users, np.int64), validation_targets=cat(val_targets, np.int64),
        validation_sequences=cat(val_sequences, np.int32, (0, length)),
        exclude_pairs=(cat(ex_users, np.int64), cat(ex_items, np.int64)), serving_sequences=serving,
        n_train_events=n_train)


def train_sharded(shard_dir, config, *, run_dir, progress=None, cancel=None, strategy=None, is_chief: bool = True,
                  max_validation_users: int | None = 5000, work_dir=None):
    """Train on a shard folder without loading its events or windows into memory; store a normal run.

    Same protocol as `recsys.training.train_run` (each user's last new item held out for early
    stopping, the rest trains; serving uses every event), with windows streamed from Parquet through
    `tf.data`. Validation ranks a seeded sample of at most about `max_validation_users` users.
    The run's id and fingerprint equal those `train_run` gives for the same file and config, so the
    app recognises it; the stored run serves from all events (user, item, timestamp: 16 bytes each).

    Args:
        shard_dir: folder written by `ingest_to_shards`.
        config: a `TrainConfig`.
        run_dir: folder of the run (a complete run of the same id there is returned at once).
        progress, cancel, strategy, is_chief: as for `train_run`.
        work_dir: where the temporary window files go (default: next to `run_dir`); removed afterwards.

    Returns:
        The stored `recsys.store.Run` (None on a non-chief worker).
    """
    from recsys.metrics import interaction_matrix
    from recsys.store import load_run, run_key, write_run
    from recsys.training import Progress, ValidationData, backend_name, fit_hybrid, stored_run_or_check_writable

    shards = ShardedEvents(shard_dir)
    key = run_key(shards.fingerprint(), config)
    path = Path(run_dir)
    existing = stored_run_or_check_writable(path, key, progress=progress, is_chief=is_chief)
    if existing is not None:  # else checked writable before the window pass and training
        return existing
    if progress:
        progress(Progress(phase="preparing", epochs=config.epochs))
    parent = Path(work_dir) if work_dir is not None else path.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".windows-", dir=parent))
    try:
        plan = build_window_shards(shards, config, out_dir=scratch, max_validation_users=max_validation_users)
        if plan.n_train_events == 0:
            raise ValueError("no training events left: lower min_rating or check the data")
        validation = None
        if len(plan.validation_users):
            ex_users, ex_items = plan.exclude_pairs
            exclude = interaction_matrix(pd.DataFrame({"user": ex_users, "item": ex_items}), n_users=shards.n_users,
                                         n_items=shards.n_items)
            validation = ValidationData(users=plan.validation_users, targets=plan.validation_targets,
                                        sequences=plan.validation_sequences, exclude=exclude)
        trained = fit_hybrid(None, shards.items, n_users=shards.n_users, config=config, validation=validation,
                             windows=plan.windows, serving_sequences=plan.serving_sequences, progress=progress,
                             cancel=cancel, strategy=strategy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not is_chief:
        return None
    metrics = {"validation": trained.validation, "train_seconds": trained.train_seconds, "device": trained.device,
               "best_epoch": trained.best_epoch, "n_train_events": int(plan.n_train_events),
               "n_events": shards.n_events, "backend": backend_name(), "input": "parquet shards (streamed)",
               "n_windows": len(plan.windows), "replicas": int(strategy.num_replicas_in_sync) if strategy is not None else 1}
    events = shards.read_columns(["user", "item", "timestamp"])
    write_run(path, trained=trained, dataset=shards, config=config, events=events, metrics=metrics, key=key)
    run = load_run(path)
    if progress:
        progress(Progress(phase="done", epoch=trained.best_epoch, epochs=config.epochs, history=trained.history,
                          best_val_ndcg=trained.validation.get("ndcg@10"), elapsed_s=trained.train_seconds))
    return run
