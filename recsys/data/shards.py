"""Data bigger than memory is comfortable with: user-sorted Parquet shards, written and read back.

`ingest_to_shards` streams a CSV/TSV/JSON Lines/Parquet file (plain or gzip) chunk by chunk
(`formats.ChunkedTable`) through the cleaning of `load_dataset`, keeping only compact arrays per kept
event (user/item int32, rating float32, timestamp int64, 20 bytes; 4 more per title/description/
category column, as in Online Retail) plus one dictionary per id kind and text column: never a frame of
id strings for all rows. It then numbers ids exactly as `load_dataset` does (natural order), sorts by
(user, timestamp, file row) and writes:

    events-00000.parquet ...  user, item, rating, timestamp; user-sorted, each shard holds whole users
    users.parquet             user, user_id (the original ids as text)
    items.parquet             item_id, title, text, categories, n_events (from the items file, else from text
                              columns of the interactions: each item's most frequent value, as load_dataset)
    report.json               the `Dataset.report` keys (dropped rows with counts and examples, ...)
    manifest.json             written last: shard list, sizes, fingerprint (== load_dataset's fingerprint)

`ShardedEvents` reads a shard folder one shard at a time and is Dataset-like enough to name a run;
`load_sharded_dataset` turns small shard folders back into a `Dataset`. `write_windows` and
`WindowShards` store training windows as Parquet and stream them back through `tf.data`.

Example:
    >>> ingest_to_shards("events-20M.csv", "shards/")        # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from recsys.data.catalogue import TEXT_ROLES, TextCodes, build_catalogue, load_item_metadata
from recsys.data.clean import (add_drop, clean_rows, drop_warnings, event_order, in_reason_order, merge_drops,
                               no_rows_left, require_two_users_and_items)
from recsys.data.columns import KNOWN_NAMES, EventColumns
from recsys.data.dataset import Dataset
from recsys.data.errors import DataError, display_name, only_data_errors, stream_failure
from recsys.data.formats import ChunkedTable
from recsys.data.ids import IdDictionary, id_codes
from recsys.data.report import dataset_report
from recsys.data.values import as_strings

MANIFEST = "manifest.json"
DEFAULT_SHARD_EVENTS = 1_000_000
"""Target events per shard; a shard ends at the first user boundary after it."""
_SHARD_FORMAT = "recsys-shards/1"
_EVENT_COLUMNS = ("user", "item", "rating", "timestamp")


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
    columns = EventColumns({"user_col": user_col, "item_col": item_col, "rating_col": rating_col,
                            "time_col": time_col}, label)
    metadata = load_item_metadata(items) if items is not None else None
    stream = ChunkedTable(path, name=label, known_names=KNOWN_NAMES, choose_columns=columns, chunk_rows=chunk_rows)
    users_dict, items_dict = IdDictionary(), IdDictionary()
    parts: dict = {column: [] for column in _EVENT_COLUMNS}
    dropped: dict = {}
    units: list = []
    rows_parsed = 0
    role_lost: set = set()
    texts: dict = {}
    with only_data_errors(label, failure=stream_failure,
                          out_of_memory=f"{label}: a chunk does not fit in memory; pass a smaller chunk_rows."):
        for chunk in stream:
            roles = columns.roles
            table = chunk.table
            rows_parsed += table.num_rows
            if table.num_rows == 0:
                continue
            user_codes, user_values = id_codes(table.column(roles["user"]), role="user",
                                               column_name=roles["user"], name=label)
            item_codes, item_values = id_codes(table.column(roles["item"]), role="item",
                                               column_name=roles["item"], name=label)
            clean = clean_rows(chunk, roles, user_codes, item_codes, name=label, allow_empty=True)
            merge_drops(dropped, clean.dropped)
            kept = clean.kept
            for role, reason in (("rating", "missing_rating"), ("timestamp", "missing_timestamp")):
                if roles.get(role) is not None and clean.roles.get(role) is None:  # empty in this chunk only
                    role_lost.add(role)
                    add_drop(dropped, reason, chunk.data_rows(kept))
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
                    tally = texts.setdefault(role, TextCodes(roles[role], max_text_values))
                    values = as_strings(table.column(roles[role]))
                    tally.add(values[kept] if select else values)
            n_kept = len(kept)
            parts["rating"].append(clean.ratings[:n_kept].astype(np.float32))
            parts["timestamp"].append(clean.seconds[:n_kept].astype(np.int64))
            del chunk, table, clean, user_codes, item_codes, user_values, item_values

    roles = columns.roles
    rows_read = rows_parsed + len(stream.skipped_rows)
    n_kept = sum(len(p) for p in parts["user"])
    add_drop(dropped, "malformed_row", stream.skipped_rows)
    dropped = in_reason_order(dropped)
    if n_kept == 0:
        raise no_rows_left(label, rows_read, dropped)
    user_rank, user_ids = users_dict.natural_numbering()
    item_rank, interacted_ids = items_dict.natural_numbering()
    del users_dict, items_dict
    require_two_users_and_items(label, user_ids, interacted_ids)
    users = user_rank[np.concatenate(parts.pop("user"))].astype(np.int32)
    item_codes = item_rank[np.concatenate(parts.pop("item"))].astype(np.int32)
    ratings = np.concatenate(parts.pop("rating"))
    seconds = np.concatenate(parts.pop("timestamp"))
    order = event_order(users, seconds, len(user_ids))
    if order is not None:  # one column at a time: the peak holds one extra column, not four
        users = users[order]
        item_codes = item_codes[order]
        ratings = ratings[order]
        seconds = seconds[order]
    derived = {role: tally.per_item(order, item_codes, len(interacted_ids))
               for role, tally in texts.items() if not tally.given_up}
    del order

    warnings_ = list(stream.warnings) + drop_warnings(dropped)
    if role_lost:
        warnings_.append(f"the {' and '.join(sorted(role_lost))} column was empty in a whole chunk of the file; "
                         "those rows were dropped")
    if len(set(units)) > 1:
        warnings_.append(f"timestamps were read in different units in different parts of the file ({sorted(set(units))})")
    for tally in texts.values():
        if tally.given_up:
            warnings_.append(f"column {tally.column!r} has more than {max_text_values:,} distinct values, so it "
                             "was not used for item texts; pass an items file with one row per item")
    catalog_ids, items_frame = build_catalogue(derived, item_codes, interacted_ids, metadata, warnings_)
    has_ratings, has_timestamps = roles.get("rating") is not None, roles.get("timestamp") is not None
    events = pd.DataFrame({"user": users, "item": item_codes, "rating": ratings, "timestamp": seconds}, copy=False)
    dataset = Dataset(events=events, items=items_frame, user_ids=np.asarray(user_ids, dtype=object),
                      item_ids=np.asarray(catalog_ids, dtype=object), report={}, name=label,
                      has_timestamps=has_timestamps, has_ratings=has_ratings)
    dataset.report = dataset_report(dataset, roles=roles, info=stream.info, rows_read=rows_read,
                                    dropped=dropped, time_unit=units[0] if units else None,
                                    meta_report=metadata[1] if metadata is not None else None,
                                    warnings_=warnings_, n_interacted=len(interacted_ids))
    dataset.report["streamed"] = True
    return _write_shards(dataset, Path(out_dir), shard_events=shard_events)


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


def write_windows(windows: dict, path, *, first_user: int = 0) -> None:
    """Write `training_windows` output as one window file that `WindowShards` reads.

    `first_user` is added to the users (shards number their users from 0, see `ShardedEvents`).
    """
    length = windows["inputs"].shape[1]  # [W, L]

    def lists(values, kind):
        return pa.FixedSizeListArray.from_arrays(pa.array(values.reshape(-1), type=kind), length)

    table = pa.table({"user": pa.array(windows["user"] + np.int32(first_user), type=pa.int32()),
                      "inputs": lists(windows["inputs"], pa.int32()), "targets": lists(windows["targets"], pa.int32()),
                      "weights": lists(windows["weights"], pa.float32())})
    pq.write_table(table, path, row_group_size=64 * 1024)
