"""Display frames and labels for the Recommendations, Embeddings and Evaluate pages (no caches: those are
in `ui.resources`)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from recsys import plots, serving
from ui.resources import VECTOR_KINDS, clusters

__all__ = ["NO_TEXT_NOTE", "SCORE_COLUMNS", "SCORE_HELP", "embedding_frame", "find_items", "format_time",
           "has_item_text", "item_label", "overlap", "pca_axis_titles", "ranked_table", "score_column_config"]


def format_time(seconds) -> pd.Series:
    """Unix seconds as "YYYY-MM-DD HH:MM" (UTC)."""
    return pd.to_datetime(pd.Series(seconds, dtype="int64"), unit="s", utc=True).dt.strftime("%Y-%m-%d %H:%M")


def item_label(run, item: int) -> str:
    """ "Title [item_id]" of an item index (the id alone when the item has no title)."""
    title = str(run.items["title"].iat[int(item)])
    item_id = str(run.item_ids[int(item)])
    return f"{title} [{item_id}]" if title else item_id


SCORE_HELP = {
    "score": "The blended score the list is ranked by: α·cf_score + (1−α)·content_score.",
    "cf_score": "The collaborative-filtering score (user vector · item vector + item bias), before weighting by α.",
    "content_score": "The content/sequence score (LSTM history vector · text item vector + bias), before "
                     "weighting by 1−α.",
}
"""What the score columns mean: the same in the top-N table, the new-user table and the CSV download."""
SCORE_COLUMNS = ("score", "cf_score", "content_score")


def score_column_config() -> dict:
    """`st.dataframe` column_config for the score columns: 3 decimals and the meaning on hover."""
    return {c: st.column_config.NumberColumn(format="%.3f", help=SCORE_HELP[c]) for c in SCORE_COLUMNS}


def ranked_table(run, cf_row, content_row, seen, *, alpha: float, k: int) -> pd.DataFrame:
    """Top-k for one user at `alpha`: score = α·cf_score + (1−α)·content_score, as in the CSV download."""
    items, scores = serving.rerank_user(cf_row, content_row, seen, alpha=alpha, k=k)
    return pd.DataFrame({
        "rank": np.arange(1, len(items) + 1),
        "title": run.items["title"].to_numpy(dtype=object)[items],
        "item_id": run.item_ids[items],
        "score": scores,
        "cf_score": cf_row[items],
        "content_score": content_row[items],
        "item": items,
    })


def find_items(run, query: str, *, limit: int = 200) -> list[int]:
    """Indices of items whose title or id contains `query` (case-insensitive, literal text), catalogue order."""
    needle = str(query).strip().lower()
    if not needle:
        return []
    titles = run.items["title"].astype(str).str.lower()
    ids = pd.Series(run.item_ids, dtype=str).str.lower()
    hits = np.flatnonzero(titles.str.contains(needle, regex=False).to_numpy()
                          | ids.str.contains(needle, regex=False).to_numpy())
    return [int(i) for i in hits[:limit]]


def overlap(first: pd.DataFrame, second: pd.DataFrame) -> tuple[int, int]:
    """(items in both lists, list length)."""
    return len(set(first["item"]) & set(second["item"])), max(len(first), len(second))


def pca_axis_titles(explained) -> tuple[str, str]:
    """("PC1 (23% of variance)", "PC2 (9% of variance)")."""
    return tuple(f"PC{i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained[:2]))


def has_item_text(run) -> bool:
    """Whether any item of the run has text (title, description or categories) for the content model."""
    return bool((run.items["text"].astype(str).str.strip() != "").any())


NO_TEXT_NOTE = ("This dataset has no item text (no titles, descriptions or categories), so the content part "
                "learns from item ids alone: ")


def embedding_frame(run, run_path: str, kind: str, coords: np.ndarray, *, color: str, n_clusters: int,
                    category: str | None = None, top_n: int = 10) -> tuple[pd.DataFrame, list[str] | None]:
    """One row per item or user (x, y, hover fields, the colour column) and the colour legend order.

    Items are coloured by `plots.category_labels`: the `top_n` most common categories plus "(other)",
    a multi-category item by its most specific one; with `category`, only the items that have it.
    """
    side = VECTOR_KINDS[kind][0]
    order = None
    if side == "items":
        categories = list(run.items["categories"])
        labels, order = plots.category_labels(categories, top_n=top_n, focus=category)
        frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1],
                              "title": run.items["title"].to_numpy(dtype=object),
                              "item_id": run.item_ids, "events": run.items["n_events"].to_numpy(),
                              "category": np.asarray(labels, dtype=object),
                              "categories": [", ".join(map(str, c)) if len(c) else "–" for c in categories]})
        frame["popularity (log10 events)"] = np.log10(frame["events"].to_numpy(dtype=float) + 1.0)
    else:
        counts = np.bincount(run.events["user"].to_numpy(np.int64), minlength=run.n_users)
        frame = pd.DataFrame({"x": coords[:, 0], "y": coords[:, 1],
                              "title": np.asarray(run.user_ids, dtype=object), "events": counts})
        frame["popularity (log10 events)"] = np.log10(counts.astype(float) + 1.0)
    if color == "cluster":
        found = clusters(run_path, kind, n_clusters)
        frame["cluster"] = [f"cluster {c}" for c in found]
        order = [f"cluster {c}" for c in range(int(found.max()) + 1)] if len(found) else []
    return frame, (order if color in ("category", "cluster") else None)
