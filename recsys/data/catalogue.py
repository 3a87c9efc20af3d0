"""The item catalogue: item metadata files and the items table of a `Dataset`.

`load_item_metadata` reads titles, descriptions and categories (MovieLens u.item / movies.dat /
movies.csv and any file with usual column names); `build_catalogue` joins them to the interacted items
and adds metadata-only items as cold-start items. Where no metadata file is given, text columns inside
the interactions (Online Retail's Description) give each item its most frequent value.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pyarrow as pa

from recsys.data.columns import KNOWN_NAMES, metadata_layout_names, metadata_roles
from recsys.data.errors import display_name, only_data_errors
from recsys.data.formats import DEFAULT_MAX_BYTES, format_label, open_table
from recsys.data.ids import id_codes, natural_order
from recsys.data.values import as_strings


REVIEW_SUMMARIES_PER_ITEM = 10
"""An item's text from reviews: its first distinct review summaries, in event order, up to this many."""

MOVIELENS_GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
                    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance",
                    "Sci-Fi", "Thriller", "War", "Western")
"""Genre names of the 19 flag columns of MovieLens ``u.item``, in ``u.genre`` order."""

TEXT_ROLES = ("title", "description", "categories")
"""Item text columns that may sit in an interactions file (one value per event, the same for an item)."""


def _flatten(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, (list, tuple, np.ndarray)):
        out: list[str] = []
        for element in value:
            out.extend(_flatten(element))
        return out
    if isinstance(value, dict):
        return _flatten(list(value.values()))
    return [str(value)]


def _category_separator(values) -> str | None:
    sample = [v for v in values[:2000] if isinstance(v, str) and v and not v.lstrip().startswith("[")]
    for separator in ("|", ";", ","):
        if any(separator in v for v in sample):
            return separator
    return None


def _parse_categories(value, separator: str | None) -> list[str]:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                parts = _flatten(json.loads(text))
            except (ValueError, RecursionError):
                parts = text.strip("[]").replace("'", "").replace('"', "").split(",")
        else:
            parts = text.split(separator) if separator else [text]
    else:
        parts = _flatten(value)
    seen: dict[str, None] = {}
    for part in parts:
        part = str(part).strip()
        if part and part.lower() not in ("(no genres listed)", "nan", "none", "null"):
            seen.setdefault(part, None)
    return list(seen)


def _plain_text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("[") and text.endswith("]"):
            try:
                return " ".join(p.strip() for p in _flatten(json.loads(text)) if p.strip())
            except (ValueError, RecursionError):
                return text
        return text
    return " ".join(p.strip() for p in _flatten(value) if p.strip())


def _item_text(title: str, description: str, categories: list[str]) -> str:
    if description:
        return description
    if title and categories:
        return f"{title}. {', '.join(categories)}"
    return title or ", ".join(categories)


def metadata_frame(table: pa.Table, roles: dict, genre_columns: list[str], *, name: str) -> tuple[pd.DataFrame, dict]:
    """Normalise metadata columns into item_id, title, description, categories; first duplicate wins."""
    codes, uniques = id_codes(table.column(roles["item_id"]), role="item", column_name=roles["item_id"], name=name)
    n = table.num_rows
    titles = as_strings(table.column(roles["title"])) if roles.get("title") else np.full(n, "", dtype=object)
    raw_descriptions = (table.column(roles["description"]).to_pylist() if roles.get("description")
                        else [None] * n)
    if roles.get("categories"):
        raw_categories = table.column(roles["categories"]).to_pylist()
        separator = _category_separator(raw_categories)
        categories = [_parse_categories(v, separator) for v in raw_categories]
    elif genre_columns:
        flags = np.column_stack([as_strings(table.column(c)) == "1" for c in genre_columns]) if n else np.zeros((0, 19), bool)
        categories = [[MOVIELENS_GENRES[g] for g in np.flatnonzero(row)] for row in flags]
    else:
        categories = [[] for _ in range(n)]
    titles = np.array([_plain_text(t) for t in titles], dtype=object)
    descriptions = [_plain_text(v) for v in raw_descriptions]
    frame = pd.DataFrame({"code": codes, "title": titles, "description": pd.Series(descriptions, dtype=object),
                          "categories": pd.Series(categories, dtype=object)})
    missing = frame["code"] < 0
    frame = frame[~missing]
    duplicated = frame["code"].duplicated(keep="first")
    frame = frame[~duplicated]
    frame.insert(0, "item_id", uniques[frame["code"].to_numpy()] if len(frame) else np.array([], dtype=object))
    report = {"rows_read": int(n), "n_items": int(len(frame)), "n_missing_ids": int(missing.sum()),
              "n_duplicate_ids": int(duplicated.sum()),
              "columns": {k: v for k, v in roles.items() if v is not None}}
    return frame.drop(columns="code").reset_index(drop=True), report


def load_item_metadata(source, *, name: str | None = None, max_bytes: int | None = None) -> tuple[pd.DataFrame, dict]:
    """Read an item metadata file into (frame, report).

    The frame has item_id (str), title (str), description (str) and categories (list[str]), one row per
    item id (the first row wins for duplicated ids). MovieLens ``u.item`` (19 genre flags), ``movies.dat``
    and ``movies.csv`` are recognised, as are CSV/TSV/JSON Lines/Parquet files with usual column names.
    """
    limit = DEFAULT_MAX_BYTES if max_bytes is None else int(max_bytes)
    state: dict = {"genres": []}

    def choose(layout):
        if layout.header is not None:
            names = layout.header
        else:
            names, movielens = metadata_layout_names(layout)
            state["genres"] = names[-19:] if movielens else []
        return names, list(dict.fromkeys(names))

    label = display_name(source, name)
    with only_data_errors(label):
        raw = open_table(source, name=name, max_bytes=limit, known_names=KNOWN_NAMES, choose_columns=choose,
                         newlines_in_values=True)
        columns = list(raw.table.column_names)
        roles = metadata_roles(columns, label)
        if state["genres"]:
            roles["categories"] = None
        frame, report = metadata_frame(raw.table, roles, state["genres"], name=label)
    report.update(format=format_label(raw.info), warnings=list(raw.warnings),
                  movielens_genres=bool(state["genres"]))
    return frame, report


def mode_code_per_item(items: np.ndarray, codes: np.ndarray, n_items: int) -> np.ndarray:
    """Most frequent code >= 0 per item (ties: the code seen first); -1 where none."""
    out = np.full(n_items, -1, dtype=np.int64)
    keep = codes >= 0
    if not keep.any():
        return out
    frame = pd.DataFrame({"item": items[keep], "value": codes[keep], "position": np.arange(int(keep.sum()))})
    stats = frame.groupby(["item", "value"], sort=False).agg(n=("position", "size"), first=("position", "min"))
    stats = stats.reset_index().sort_values(["item", "n", "first"], ascending=[True, False, True], kind="mergesort")
    best = stats.drop_duplicates("item")
    out[best["item"].to_numpy()] = best["value"].to_numpy()
    return out


def mode_per_item(items: np.ndarray, values: np.ndarray, n_items: int) -> np.ndarray:
    """Most frequent non-empty value per item (ties: the value seen first); "" where none."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object))
    uniques = np.append(np.asarray(uniques, dtype=object), "")
    codes = np.where(uniques[codes] == "", -1, codes)
    return uniques[mode_code_per_item(items, codes, n_items)]  # -1 picks the "" appended last


def joined_per_item(items: np.ndarray, values: np.ndarray, n_items: int, *, order_by: np.ndarray,
                    limit: int = REVIEW_SUMMARIES_PER_ITEM) -> np.ndarray:
    """Per item, its first `limit` distinct non-empty values (earliest `order_by` first) joined by ". "."""
    out = np.full(n_items, "", dtype=object)
    frame = pd.DataFrame({"item": items, "value": pd.Series(values, dtype=object), "when": order_by})
    frame = frame[frame["value"] != ""].sort_values("when", kind="stable").drop_duplicates(["item", "value"])
    if frame.empty:
        return out
    joined = frame.groupby("item", sort=False).head(limit).groupby("item", sort=False)["value"].agg(". ".join)
    out[joined.index.to_numpy(dtype=np.int64)] = joined.to_numpy(dtype=object)
    return out


class TextCodes:
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
        return values[mode_code_per_item(items, codes, n_items)]


def build_catalogue(derived: dict, items: np.ndarray, interacted_ids: np.ndarray,
                    metadata: tuple | None, warnings_: list) -> tuple[np.ndarray, pd.DataFrame]:
    """Item ids and the items frame: interacted items first, then metadata-only (cold) items.

    Titles/descriptions/categories come from the metadata file where it has them, else from `derived`:
    role -> the most frequent value per interacted item of such a column in the interaction rows
    (e.g. Online Retail's Description).
    """
    n_interacted = len(interacted_ids)
    meta_frame = metadata[0] if metadata is not None else None
    catalog_ids = interacted_ids
    meta_rows = np.full(n_interacted, -1)
    if meta_frame is not None and len(meta_frame):
        meta_index = pd.Index(pd.Series(meta_frame["item_id"].to_numpy(), dtype=object))
        meta_rows = meta_index.get_indexer(pd.Series(interacted_ids, dtype=object))
        cold = np.setdiff1d(np.arange(len(meta_frame)), meta_rows[meta_rows >= 0])
        cold_ids = meta_frame["item_id"].to_numpy()[cold]
        cold_order = natural_order(cold_ids)
        catalog_ids = np.concatenate([interacted_ids, cold_ids[cold_order]]).astype(object)
        meta_rows = np.concatenate([meta_rows, cold[cold_order]])
        if not (meta_rows[:n_interacted] >= 0).any():
            warnings_.append("none of the item ids in the metadata file matches an item id in the "
                             "interactions; check that both files use the same ids")
    n_catalog = len(catalog_ids)
    titles = np.full(n_catalog, "", dtype=object)
    descriptions = np.full(n_catalog, "", dtype=object)
    categories: list = [[] for _ in range(n_catalog)]
    if "title" in derived or "description" in derived:
        titles[:n_interacted] = derived.get("title", derived.get("description"))
        descriptions[:n_interacted] = derived.get("description", np.full(n_interacted, "", dtype=object))
    if "review_text" in derived:  # review summaries: item text, but no title
        descriptions[:n_interacted] = derived["review_text"]
    if "categories" in derived:
        separator = _category_separator(list(derived["categories"]))
        for index, value in enumerate(derived["categories"]):
            categories[index] = _parse_categories(value, separator)
    if meta_frame is not None and len(meta_frame):
        meta_titles = meta_frame["title"].to_numpy(dtype=object)
        meta_descriptions = meta_frame["description"].to_numpy(dtype=object)
        meta_categories = meta_frame["categories"].to_numpy(dtype=object)
        for index in np.flatnonzero(meta_rows >= 0):
            row = meta_rows[index]
            titles[index] = meta_titles[row] or titles[index]
            descriptions[index] = meta_descriptions[row] or descriptions[index]
            categories[index] = list(meta_categories[row]) or categories[index]
    texts = [_item_text(t, d, c) for t, d, c in zip(titles, descriptions, categories)]
    frame = pd.DataFrame({"item_id": pd.Series(catalog_ids, dtype=str), "title": pd.Series(titles, dtype=str),
                          "text": pd.Series(texts, dtype=str), "categories": pd.Series(categories, dtype=object),
                          "n_events": np.bincount(items, minlength=n_catalog).astype(np.int64)})
    return catalog_ids, frame
