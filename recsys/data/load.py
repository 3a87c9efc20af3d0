"""Loading: any common interactions file (and an optional item metadata file) in, a clean `Dataset` out.

`load_dataset` recognises the file format from content (`recsys.data.formats`), maps columns by their
usual names or by position in headerless files (`columns`), drops unusable rows with a count and
examples per reason (`clean`), numbers ids contiguously in natural order (`ids`) and attaches item
titles, texts and categories (`catalogue`). Fatal problems raise `DataError` with one line that names
the file, the row/column and what to do.

Example:
    >>> ds = load_dataset("ml-100k/u.data", items="ml-100k/u.item")
    >>> ds.n_users, ds.n_items, len(ds.events)
    (943, 1682, 100000)
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.data.catalogue import (TEXT_ROLES, build_catalogue, joined_per_item, load_item_metadata, metadata_frame,
                                   mode_per_item)
from recsys.data.clean import clean_rows, event_order, require_two_users_and_items
from recsys.data.columns import (ITEM_ALIASES, KNOWN_NAMES, RATING_ALIASES, TIME_ALIASES, USER_ALIASES, EventColumns,
                                 find_column, headerless_roles, metadata_roles, missing_role_error)
from recsys.data.dataset import Dataset
from recsys.data.errors import DataError, display_name, load_failure, only_data_errors
from recsys.data.formats import DEFAULT_MAX_BYTES, format_label, open_table
from recsys.data.ids import encode_present, id_codes
from recsys.data.parsers import RawTable
from recsys.data.report import dataset_report
from recsys.data.values import as_strings


SUPPORTED_FORMATS_HELP = (
    "Interactions: CSV, TSV, '::', '|', ';' or space separated text, JSON Lines, JSON array or Parquet, optionally "
    "gzip/zip-compressed; the format is detected from the content. Columns are found by name (any case, "
    "'_' optional) - user: user/userId/user_id/customer_id/CustomerID/reviewerID/visitorid; item: "
    "item/itemId/movieId/product_id/StockCode/asin/sku; rating (optional): rating/score/overall/Quantity/weight; "
    "time (optional): timestamp/time/date/datetime/InvoiceDate/unixReviewTime/event_time (unix s/ms/us/ns or "
    "date strings). Files without a header are read as user, item, rating, timestamp by position "
    "(MovieLens u.data, ratings.dat). Item metadata (optional): item_id/movieId/asin/StockCode, title/name, "
    "description/overview/text, categories/genres/tags ('A|B', 'A;B', 'A,B' or JSON lists); MovieLens u.item, "
    "movies.dat and movies.csv are recognised."
)
"""Short human description of accepted files, for UI and CLI help texts."""


def _assemble(raw: RawTable, roles: dict, *, name: str, metadata: tuple | None) -> Dataset:
    """Turn a parsed table and its column roles into a Dataset with a validation report."""
    table = raw.table
    n_rows = table.num_rows
    rows_read = n_rows + len(raw.skipped_rows)
    if n_rows == 0:
        if raw.skipped_rows:
            raise DataError(f"{name}: none of its {rows_read} rows has the same number of fields as the first row; "
                            "check the delimiter and quoting.")
        raise DataError(f"{name} has a header but no data rows; add interactions (one row per event).")
    user_codes, user_values = id_codes(table.column(roles["user"]), role="user", column_name=roles["user"], name=name)
    item_codes, item_values = id_codes(table.column(roles["item"]), role="item", column_name=roles["item"], name=name)
    clean = clean_rows(raw, roles, user_codes, item_codes, name=name)
    roles, kept = clean.roles, clean.kept
    if len(kept) < n_rows:
        user_codes, item_codes = user_codes[kept], item_codes[kept]
    users, user_ids = encode_present(user_codes, user_values)
    items, interacted_ids = encode_present(item_codes, item_values)
    require_two_users_and_items(name, user_ids, interacted_ids)
    ratings, seconds = clean.ratings, clean.seconds
    n_users, n_interacted = len(user_ids), len(interacted_ids)
    order = event_order(users, seconds, n_users)
    if order is not None:
        users, items, ratings, seconds, kept = users[order], items[order], ratings[order], seconds[order], kept[order]
    events = pd.DataFrame({"user": users.astype(np.int32), "item": items.astype(np.int32),
                           "rating": ratings.astype(np.float32), "timestamp": seconds.astype(np.int64)})
    warnings_ = clean.warnings
    derived = {role: mode_per_item(items, as_strings(table.column(roles[role]))[kept], len(interacted_ids))
               for role in TEXT_ROLES if roles.get(role)}
    if roles.get("review_summary") and metadata is None:
        derived["review_text"] = joined_per_item(items, as_strings(table.column(roles["review_summary"]))[kept],
                                                 len(interacted_ids), order_by=seconds)
        if (derived["review_text"] != "").any():
            warnings_.append(f"no item text columns: the review summaries (column {roles['review_summary']!r}) "
                             "are used as item text; they come from the same reviews as the events, including "
                             "each user's held-out last review, so content scores on the test split are "
                             "optimistic (load an item metadata file to avoid this)")
    catalog_ids, items_frame = build_catalogue(derived, items, interacted_ids, metadata, warnings_)

    has_ratings, has_timestamps = roles.get("rating") is not None, roles.get("timestamp") is not None
    dataset = Dataset(events=events, items=items_frame, user_ids=np.asarray(user_ids, dtype=object),
                      item_ids=np.asarray(catalog_ids, dtype=object), report={}, name=name,
                      has_timestamps=bool(has_timestamps), has_ratings=bool(has_ratings))
    dataset.report = dataset_report(dataset, roles=roles, info=raw.info, rows_read=rows_read, dropped=clean.dropped,
                                    time_unit=clean.time_unit,
                                    meta_report=metadata[1] if metadata is not None else None,
                                    warnings_=warnings_, n_interacted=n_interacted)
    return dataset


def load_dataset(interactions, items=None, *, name: str | None = None, user_col: str | None = None,
                 item_col: str | None = None, rating_col: str | None = None, time_col: str | None = None,
                 max_bytes: int | None = None, items_name: str | None = None) -> Dataset:
    """Load an interaction file (and optional item metadata file) into a `Dataset`.

    Args:
        interactions: path or bytes (or a file-like upload) of the interaction file; any format listed in
            `SUPPORTED_FORMATS_HELP`, recognised from content.
        items: optional path/bytes of item metadata; its items without events become cold-start items.
        name: file name used for messages and the data set name (needed to label bytes).
        user_col, item_col, rating_col, time_col: explicit column names overriding auto-detection.
        max_bytes: largest accepted file and decompressed content (default `DEFAULT_MAX_BYTES`).
        items_name: file name of `items` when it is bytes (an upload), used in its messages.

    Returns:
        Dataset whose `report` holds: name, format (e.g. "csv in gzip"), format_details (format, container,
        delimiter, has_header, encoding), columns (role -> column used), rows_read, rows_kept,
        dropped ({reason: {"count", "examples": 1-based data rows}}, reasons in `DROP_REASONS` order),
        n_interactions, n_users, n_items (items with events), n_catalog_items, n_cold_items, density
        (distinct user-item pairs / (n_users * n_items)), n_duplicate_events (repeats, kept),
        min_events_per_user, median_events_per_user, share_users_under_3_events, has_timestamps,
        timestamp_unit, first_event / last_event (ISO, UTC), time_span_days, has_ratings, rating_kind
        ("explicit", "quantity" or "implicit"), rating_min, rating_max, n_items_with_text,
        n_items_with_categories, metadata (the metadata file's own report or None) and warnings.

    Raises:
        DataError: one line naming the file, the row/column and what to do.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    label = display_name(interactions, name)
    columns = EventColumns({"user_col": user_col, "item_col": item_col, "rating_col": rating_col,
                            "time_col": time_col}, label)
    with only_data_errors(label, out_of_memory=f"{label} does not fit in memory; load a sample or lower max_bytes."):
        metadata = None
        if items is not None:
            items_label = items_name or (None if not isinstance(items, (bytes, bytearray)) else "items")
            metadata = load_item_metadata(items, name=items_label, max_bytes=limit)
        raw = open_table(interactions, name=name, max_bytes=limit, known_names=KNOWN_NAMES, choose_columns=columns)
        return _assemble(raw, columns.roles, name=label, metadata=metadata)


def sniff_columns(source, *, name: str | None = None, max_bytes: int | None = None) -> dict:
    """Columns of an interactions file and the roles auto-detection gives them, for a column-mapping UI.

    Returns {"columns": [...], "roles": {"user", "item", "rating", "timestamp": column or None},
    "format": "csv", "error": None}; never raises - an unreadable file gives no columns and its message.
    Headerless files get the names column_1..column_n, which `load_dataset` accepts as overrides.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    found: dict = {"columns": [], "roles": {}, "format": None, "error": None}
    guesses: dict = {}
    columns: list = []

    def choose(layout):
        if layout.header is not None:
            names = layout.header
        else:
            names, defaults = headerless_roles(layout)
            guesses.update(defaults)
        columns[:] = [str(c) for c in names]
        return names, names[:1]  # parse one column only: the names are all that is needed

    try:
        raw = open_table(source, name=name, max_bytes=limit, known_names=KNOWN_NAMES, choose_columns=choose)
        found["format"] = format_label(raw.info)
    except Exception as exc:  # noqa: BLE001 - detection is advisory; load_dataset reports the error
        found["error"] = str(exc) if isinstance(exc, DataError) else str(load_failure(display_name(source, name), exc))
        return found
    found["columns"] = columns
    taken: set = set()
    for role, aliases in (("user", USER_ALIASES), ("item", ITEM_ALIASES), ("rating", RATING_ALIASES),
                          ("timestamp", TIME_ALIASES)):
        column = guesses.get(role) or find_column(columns, aliases, taken)
        found["roles"][role] = column
        if column is not None:
            taken.add(column)
    return found


def build_dataset(interactions_frame: pd.DataFrame, items_frame: pd.DataFrame | None = None, *, name: str,
                  report: dict | None = None) -> Dataset:
    """Build a `Dataset` from already-clean frames (e.g. generated demo data).

    Args:
        interactions_frame: columns user_id, item_id and optionally rating and timestamp (unix seconds or
            datetimes).
        items_frame: optional columns item_id, title, description (or text), categories ("A|B" or lists).
        name: data set name.
        report: extra report entries (e.g. a source note); computed statistics always win.
    """
    try:
        columns = [c for c in ("user_id", "item_id", "rating", "timestamp") if c in interactions_frame.columns]
        table = pa.Table.from_pandas(interactions_frame[columns].reset_index(drop=True), preserve_index=False)
        raw = RawTable(table=table, info={"format": "dataframe", "container": None, "delimiter": None,
                                          "has_header": True, "encoding": None})
        roles = {"user": "user_id" if "user_id" in columns else None,
                 "item": "item_id" if "item_id" in columns else None,
                 "rating": "rating" if "rating" in columns else None,
                 "timestamp": "timestamp" if "timestamp" in columns else None}
        for role in ("user", "item"):
            if roles[role] is None:
                raise missing_role_error(role, list(interactions_frame.columns), (f"{role}_id",),
                                         f"add a {role}_id column to the frame", name)
        metadata = None
        if items_frame is not None:
            frame = items_frame.rename(columns={"text": "description"}) if "description" not in items_frame else items_frame
            keep = [c for c in ("item_id", "title", "description", "categories") if c in frame.columns]
            meta_table = pa.Table.from_pandas(frame[keep].reset_index(drop=True), preserve_index=False)
            meta_roles = metadata_roles(list(meta_table.column_names), name)
            metadata = metadata_frame(meta_table, meta_roles, [], name=name)
        dataset = _assemble(raw, roles, name=name, metadata=metadata)
    except DataError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"{name}: the frames could not be converted ({type(exc).__name__}: {str(exc)[:160]}); "
                        "pass user_id/item_id columns of text or integers and numeric rating/timestamp.") from exc
    if report:
        extra = {k: v for k, v in report.items() if k not in dataset.report}
        dataset.report.update(extra)
        dataset.report["warnings"] = dataset.report["warnings"] + list(report.get("warnings", []))
    return dataset
