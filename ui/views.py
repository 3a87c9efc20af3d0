"""Cached serving calls and display frames for the Recommendations, Embeddings and Evaluate pages.

Every function takes the run's folder (a string) rather than the run, so `st.cache_data` can key on
it; runs are immutable, so a folder always means the same vectors.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import streamlit as st

from recsys import export, plots, projection, serving
from ui.jobs import load_run_cached, projections_dir

__all__ = ["NO_TEXT_NOTE", "VECTOR_KINDS", "component_rows", "embedding_frame", "embeddings_download", "format_time",
           "SCORE_COLUMNS", "SCORE_HELP", "explainer", "find_items",
           "has_item_text", "item_categories", "item_label", "overlap", "pca_axis_titles", "pca_coords", "ranked_table",
           "recommendations_csv", "score_column_config", "vectors_of"]

VECTOR_KINDS = {  # label -> (side, attribute of ServingVectors)
    "CF item vectors": ("items", "cf_item"),
    "Content item vectors (text CNN)": ("items", "content_item"),
    "CF user vectors": ("users", "cf_user"),
    "LSTM user vectors (history)": ("users", "seq_user"),
}


@st.cache_resource(max_entries=4, show_spinner="Loading the model to explain the score…")
def explainer(run_path: str):
    """The run's `recsys.explain.Explainer`, sharing the cold-start scorer's Keras model (loaded once)."""
    from recsys.explain import Explainer
    from ui.jobs import cold_start_scorer

    return Explainer(load_run_cached(run_path), model=cold_start_scorer(run_path).model)


def vectors_of(run_path: str, kind: str) -> np.ndarray:
    side, attribute = VECTOR_KINDS[kind]
    return np.asarray(getattr(load_run_cached(run_path).vectors, attribute), dtype=np.float32)


def format_time(seconds) -> pd.Series:
    return pd.to_datetime(pd.Series(seconds, dtype="int64"), unit="s", utc=True).dt.strftime("%Y-%m-%d %H:%M")


def item_label(run, item: int) -> str:
    title = str(run.items["title"].iat[int(item)])
    item_id = str(run.item_ids[int(item)])
    return f"{title} [{item_id}]" if title else item_id


@st.cache_data(max_entries=64, show_spinner=False)
def component_rows(run_path: str, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cf row [n_items], content row [n_items], seen item indices) of one user: the α slider re-ranks from these."""
    run = load_run_cached(run_path)
    cf, content = serving.component_scores(run, [int(user)])
    seen = np.unique(serving.user_history(run, int(user))["item"].to_numpy(np.int64))
    return np.asarray(cf[0], np.float32), np.asarray(content[0], np.float32), seen


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


@st.cache_data(max_entries=8, show_spinner="Scoring every user…")
def recommendations_csv(run_path: str, alpha: float, k: int) -> bytes:
    """Top-k of every user of the run as spreadsheet-safe CSV."""
    frame = serving.recommend(load_run_cached(run_path), k=k, alpha=alpha)
    return export.to_csv_bytes(frame[["user_id", "rank", "item_id", "title", "score", "cf_score", "content_score"]])


@st.cache_data(max_entries=16, show_spinner=False)
def embeddings_download(run_path: str, kind: str, fmt: str) -> bytes:
    """The chosen vectors with their original ids, as CSV or Parquet."""
    run = load_run_cached(run_path)
    vectors = vectors_of(run_path, kind)
    side = VECTOR_KINDS[kind][0]
    ids = run.item_ids if side == "items" else np.asarray(run.user_ids, dtype=object)
    frame = pd.DataFrame(vectors, columns=[f"d{i}" for i in range(vectors.shape[1])])
    frame.insert(0, "item_id" if side == "items" else "user_id", pd.Series(ids, dtype=str))
    if fmt == "Parquet":
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        return buffer.getvalue()
    return export.to_csv_bytes(frame)


@st.cache_data(max_entries=16, show_spinner="Projecting with PCA…")
def pca_coords(run_path: str, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """(coords [n, 2], explained variance share of PC1 and PC2)."""
    return projection.pca_2d_explained(vectors_of(run_path, kind))


def pca_axis_titles(explained) -> tuple[str, str]:
    """("PC1 (23% of variance)", "PC2 (9% of variance)")."""
    return tuple(f"PC{i + 1} ({share:.0%} of variance)" for i, share in enumerate(explained[:2]))


def has_item_text(run) -> bool:
    """Whether any item of the run has text (title, description or categories) for the content model."""
    return bool((run.items["text"].astype(str).str.strip() != "").any())


NO_TEXT_NOTE = ("This dataset has no item text (no titles, descriptions or categories), so the content part "
                "learns from item ids alone: ")


def umap_cached(run_path: str, kind: str) -> np.ndarray | None:
    """The UMAP projection when it is already on disk, else None (computing it is an explicit action)."""
    run = load_run_cached(run_path)
    vectors = vectors_of(run_path, kind)
    if projection.umap_fallback_reason(len(vectors)) is not None:
        return None
    path = projection.umap_cache_path(vectors, cache_dir=projections_dir(run.run_id), seed=0)
    return projection.umap_2d(vectors, seed=0, cache_dir=projections_dir(run.run_id)) if path.is_file() else None


def umap_compute(run_path: str, kind: str) -> np.ndarray:
    run = load_run_cached(run_path)
    return projection.umap_2d(vectors_of(run_path, kind), seed=0, cache_dir=projections_dir(run.run_id))


@st.cache_data(max_entries=32, show_spinner="Clustering…")
def clusters(run_path: str, kind: str, n_clusters: int) -> np.ndarray:
    return projection.kmeans_labels(vectors_of(run_path, kind), n_clusters=n_clusters, seed=0)


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


@st.cache_data(max_entries=64, show_spinner=False)
def item_categories(run_path: str) -> list[str]:
    """Every category of the run's items, most frequent first."""
    counts: dict[str, int] = {}
    for cats in load_run_cached(run_path).items["categories"]:
        for name in set(map(str, cats)):
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: (-counts[name], name))
