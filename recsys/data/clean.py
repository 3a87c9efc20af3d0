"""Row cleaning: the drop rules, counted per reason with example rows, and the event order.

A row is dropped under the first reason of `DROP_REASONS` it fails; the report keeps a count and the
first 1-based data rows per reason, so a user can find them in the file. The same rules and the same
report serve a whole file (`load_dataset`) and a file streamed chunk by chunk (`ingest_to_shards`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from recsys.data.columns import QUANTITY_NAMES
from recsys.data.errors import DataError
from recsys.data.formats import normalise_name
from recsys.data.parsers import RawTable
from recsys.data.values import single_array, to_float, to_seconds


DROP_REASONS = ("malformed_row", "repeated_header", "missing_user", "missing_item", "cancelled", "missing_rating", "nan_rating",
                "infinite_rating", "negative_rating", "non_positive_quantity", "missing_timestamp")
"""Drop reasons in the order they are checked; a row is counted under the first reason it fails."""

_DROP_EXPLANATIONS = {
    "malformed_row": "rows with a wrong number of fields",
    "repeated_header": "repeated header lines (e.g. concatenated CSV files)",
    "missing_user": "rows without a user id",
    "missing_item": "rows without an item id",
    "cancelled": "cancellation rows (invoice number starting with 'C')",
    "missing_rating": "rows with an empty rating",
    "nan_rating": "rows whose rating is NaN",
    "infinite_rating": "rows whose rating is infinite",
    "negative_rating": "rows with a negative rating",
    "non_positive_quantity": "rows whose quantity/weight is zero or negative (returns, adjustments)",
    "missing_timestamp": "rows without a timestamp",
}
_EXAMPLES = 5


def merge_drops(total: dict, dropped: dict) -> None:
    """Add a chunk's drop report to `total` (counts add up, the first examples are kept)."""
    for reason, entry in dropped.items():
        slot = total.setdefault(reason, {"count": 0, "examples": []})
        slot["count"] += int(entry["count"])
        slot["examples"] = (slot["examples"] + [int(r) for r in entry["examples"]])[:_EXAMPLES]


def add_drop(total: dict, reason: str, rows) -> None:
    """Count the 1-based data `rows` as dropped for `reason` in `total`."""
    if len(rows):
        merge_drops(total, {reason: {"count": len(rows), "examples": [int(r) for r in rows[:_EXAMPLES]]}})


def in_reason_order(dropped: dict) -> dict:
    """A drop report with its reasons in `DROP_REASONS` order, as the report lists them."""
    return {reason: dropped[reason] for reason in DROP_REASONS if reason in dropped}


def drop_warnings(dropped: dict) -> list[str]:
    """One report warning per drop reason (malformed rows have their own, from the reader)."""
    return [f"dropped {entry['count']} {_DROP_EXPLANATIONS[reason]}; e.g. rows {entry['examples']}"
            for reason, entry in dropped.items() if reason != "malformed_row"]


def no_rows_left(name: str, rows_read: int, dropped: dict) -> DataError:
    """The error for a file whose every row was dropped, with the counts per reason."""
    counts = ", ".join(f"{reason} {entry['count']}" for reason, entry in dropped.items())
    return DataError(f"{name}: no usable rows left after cleaning ({rows_read} read; dropped: {counts}); fix "
                     "those rows or choose other columns with user_col/item_col/rating_col/time_col.")


def require_two_users_and_items(name: str, user_ids, item_ids) -> None:
    """Raises DataError when cleaning left a single user or item: nothing to recommend from."""
    if len(user_ids) < 2:
        raise DataError(f"{name}: only one user ({user_ids[0]!r}) is left after cleaning; a recommender needs "
                        "events from at least 2 users - check the user column (user_col=).")
    if len(item_ids) < 2:
        raise DataError(f"{name}: only one item ({item_ids[0]!r}) is left after cleaning; a recommender needs "
                        "at least 2 items - check the item column (item_col=).")


def _drop_report(reasons: np.ndarray, raw: RawTable) -> dict:
    """Counts and example rows per reason code of `clean_rows` (plus the reader's malformed rows)."""
    dropped: dict = {}
    if raw.skipped_rows:
        dropped["malformed_row"] = {"count": len(raw.skipped_rows), "examples": [int(r) for r in raw.skipped_rows[:_EXAMPLES]]}
    for code, reason in enumerate(DROP_REASONS[1:], start=1):
        positions = np.flatnonzero(reasons == code)
        if len(positions):
            dropped[reason] = {"count": int(len(positions)),
                               "examples": [int(r) for r in raw.data_rows(positions[:_EXAMPLES])]}
    return dropped


def event_order(users: np.ndarray, seconds: np.ndarray, n_users: int) -> np.ndarray | None:
    """Permutation sorting events by (user, timestamp, current position); None if already sorted.

    Packs user, time and position into one int64 so a fast unstable sort gives the stable order; falls
    back to a stable argsort of (user, time) or `np.lexsort` when the bits do not fit.
    """
    n = len(users)
    low = int(seconds.min())
    relative = seconds - low
    if n_users * (int(relative.max()) + 1) < 2**62:
        key = users.astype(np.int64) * (int(relative.max()) + 1) + relative
        if np.all(key[:-1] <= key[1:]):
            return None
    position_bits = max(int(n - 1).bit_length(), 1)
    user_bits = max(int(n_users - 1).bit_length(), 1)
    time_bits = max(int(relative.max()).bit_length(), 1)
    if user_bits + time_bits + position_bits <= 63:
        key = (users.astype(np.int64) << (time_bits + position_bits)) | (relative.astype(np.int64) << position_bits)
        key |= np.arange(n, dtype=np.int64)
        return np.sort(key) & ((1 << position_bits) - 1)
    if user_bits + time_bits <= 63:
        return np.argsort((users.astype(np.int64) << time_bits) | relative.astype(np.int64), kind="stable")
    return np.lexsort((seconds, users))


@dataclass
class CleanRows:
    """Per-row values after the drop rules: kept positions (file order) and their ratings/times."""

    kept: np.ndarray
    ratings: np.ndarray
    seconds: np.ndarray
    dropped: dict
    roles: dict
    time_unit: str | None
    warnings: list


def clean_rows(raw: RawTable, roles: dict, user_codes: np.ndarray, item_codes: np.ndarray, *,
               name: str, allow_empty: bool = False) -> CleanRows:
    """Apply the drop rules of `DROP_REASONS` in order; each dropped row is counted under its first reason.

    `allow_empty` lets a chunk of a streamed file (`ingest_to_shards`) lose every row without an error.
    """
    table = raw.table
    n_rows = table.num_rows
    reasons = np.zeros(n_rows, dtype=np.int8)
    warnings_: list = list(raw.warnings)

    def flag(reason: str, mask: np.ndarray) -> None:
        if mask.any():
            reasons[(reasons == 0) & mask] = DROP_REASONS.index(reason)

    if raw.info.get("format") == "delimited" and raw.info.get("has_header"):
        header = pc.and_(pc.equal(table.column(roles["user"]), roles["user"]),
                         pc.equal(table.column(roles["item"]), roles["item"])).fill_null(False)
        flag("repeated_header", header.to_numpy(zero_copy_only=False))
    flag("missing_user", user_codes < 0)
    flag("missing_item", item_codes < 0)
    if roles.get("invoice"):
        invoices = single_array(table.column(roles["invoice"]))
        if not (pa.types.is_string(invoices.type) or pa.types.is_large_string(invoices.type)):
            invoices = invoices.cast(pa.string())
        starts = pc.starts_with(pc.utf8_upper(pc.utf8_trim_whitespace(invoices)), "C").fill_null(False)
        flag("cancelled", starts.to_numpy(zero_copy_only=False))
    for role in ("rating", "timestamp"):
        if roles.get(role) is not None and table.column(roles[role]).null_count == n_rows:
            warnings_.append(f"the {role} column {roles[role]!r} is empty in every row and was ignored")
            roles = {**roles, role: None}
    if roles.get("rating") is not None:
        ratings, empty = to_float(table.column(roles["rating"]), column_name=roles["rating"], raw=raw, name=name,
                                  argument="rating_col", ignore=reasons != 0)
        with np.errstate(invalid="ignore"):
            flag("missing_rating", empty)
            flag("nan_rating", np.isnan(ratings))
            flag("infinite_rating", np.isinf(ratings) | (np.abs(ratings) > np.finfo(np.float32).max))
            if normalise_name(roles["rating"]) in QUANTITY_NAMES:
                flag("non_positive_quantity", ratings <= 0)
            else:
                flag("negative_rating", ratings < 0)
    else:
        ratings = np.ones(n_rows)
    time_unit = None
    if roles.get("timestamp") is not None:
        seconds, missing_time, time_unit = to_seconds(table.column(roles["timestamp"]),
                                                      column_name=roles["timestamp"], raw=raw, name=name,
                                                      ignore=reasons != 0)
        flag("missing_timestamp", missing_time)
    else:
        seconds = raw.data_rows(np.arange(n_rows)) - 1
    dropped = _drop_report(reasons, raw)
    kept = np.flatnonzero(reasons == 0)
    if len(kept) == 0 and not allow_empty:
        raise no_rows_left(name, n_rows + len(raw.skipped_rows), dropped)
    warnings_ += drop_warnings(dropped)
    if len(kept) < n_rows:  # the common all-rows-kept case needs no copies
        ratings, seconds = ratings[kept], seconds[kept]
    return CleanRows(kept=kept, ratings=ratings, seconds=seconds, dropped=dropped, roles=roles,
                     time_unit=time_unit, warnings=warnings_)
