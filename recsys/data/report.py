"""The validation report of a `Dataset`: what was read, what was dropped, statistics and warnings.

Pages and the CLI show it as is; `Dataset.report` documents its keys (see `load_dataset`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.data.columns import QUANTITY_NAMES
from recsys.data.dataset import Dataset
from recsys.data.formats import format_label, normalise_name


NO_ITEM_TEXT_WARNING = ("no item has text (title, description or categories): the content part of the model "
                        "learns from item ids alone, so the new-item scorer and the content maps cannot work "
                        "from text; add an item metadata file with titles or descriptions")
"""The report warning of a dataset without any item text (pages show it prominently)."""


def _iso(seconds: int) -> str:
    return pd.Timestamp(int(seconds), unit="s", tz="UTC").strftime("%Y-%m-%dT%H:%M:%SZ")


def dataset_report(dataset: Dataset, *, roles: dict, info: dict, rows_read: int, dropped: dict,
                   time_unit: str | None, meta_report: dict | None, warnings_: list, n_interacted: int) -> dict:
    """The validation report of a clean `Dataset` (shared by `load_dataset` and `ingest_to_shards`).

    Adds the standard warnings (no time column, no ratings, many short users, duplicated metadata ids)
    to `warnings_`.
    """
    events = dataset.events
    users = events["user"].to_numpy()
    items = events["item"].to_numpy()
    seconds = events["timestamp"].to_numpy()
    n_users = dataset.n_users
    has_ratings, has_timestamps = dataset.has_ratings, dataset.has_timestamps
    quantity = has_ratings and normalise_name(roles["rating"]) in QUANTITY_NAMES
    per_user = np.bincount(users, minlength=n_users)
    pair_keys = np.sort(users.astype(np.int64) * n_interacted + items)
    n_pairs = int(1 + np.count_nonzero(pair_keys[1:] != pair_keys[:-1]))
    del pair_keys
    low, high = int(seconds.min()), int(seconds.max())
    share_lt3 = float(np.mean(per_user < 3))
    if not has_timestamps:
        warnings_.append("no time column found: the file row order is used as event order")
    if not has_ratings:
        warnings_.append("no rating column found: every event has rating 1.0 (implicit feedback)")
    if share_lt3 > 0.5:
        warnings_.append(f"{share_lt3:.0%} of users have fewer than 3 events; leave-last-out evaluation "
                         "will keep them in training only")
    if meta_report and meta_report.get("n_duplicate_ids"):
        warnings_.append(f"item metadata has {meta_report['n_duplicate_ids']} duplicated item ids; "
                         "the first row of each was used")
    texts = dataset.items["text"].to_numpy(dtype=object)
    if not np.count_nonzero(texts != ""):
        warnings_.append(NO_ITEM_TEXT_WARNING)
    ratings = events["rating"].to_numpy()
    return {
        "name": dataset.name,
        "format": format_label(info),
        "format_details": {k: info.get(k) for k in ("format", "container", "delimiter", "has_header", "encoding")},
        "columns": {k: v for k, v in roles.items() if v is not None},
        "rows_read": int(rows_read),
        "rows_kept": int(len(events)),
        "dropped": dropped,
        "n_interactions": int(len(events)),
        "n_users": int(n_users),
        "n_items": int(n_interacted),
        "n_catalog_items": int(dataset.n_items),
        "n_cold_items": int(dataset.n_items - n_interacted),
        "density": float(n_pairs / (n_users * n_interacted)),
        "n_duplicate_events": int(len(events) - n_pairs),
        "min_events_per_user": int(per_user.min()),
        "median_events_per_user": float(np.median(per_user)),
        "share_users_under_3_events": share_lt3,
        "has_timestamps": bool(has_timestamps),
        "timestamp_unit": time_unit,
        "first_event": _iso(low) if has_timestamps else None,
        "last_event": _iso(high) if has_timestamps else None,
        "time_span_days": round((high - low) / 86400, 3) if has_timestamps else None,
        "has_ratings": bool(has_ratings),
        "rating_kind": "quantity" if quantity else "explicit" if has_ratings else "implicit",
        "rating_min": float(ratings.min()),
        "rating_max": float(ratings.max()),
        "n_items_with_text": int(np.count_nonzero(texts != "")),
        "n_items_with_categories": int(sum(1 for c in dataset.items["categories"] if c)),
        "metadata": meta_report,
        "warnings": warnings_,
    }
