"""Every Streamlit cache of the studio: process-wide objects (`st.cache_resource`) and cached results (`st.cache_data`).

One `JobRegistry` and one `RunStore` serve every browser session, so a training job keeps running
while its user visits other pages (or closes the tab); which job and which run belong to a session
is kept in that session's state (`ui.session`), so two sessions never see each other's progress.

Functions about a run take the run's folder (a string) rather than the run, so the caches can key
on it; runs are immutable, so a folder always means the same vectors.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import streamlit as st

from recsys import data as rdata
from recsys import export, plots, projection, serving
from recsys.jobs import JobRegistry
from recsys.store import Run, RunStore, default_runs_dir, load_run

__all__ = ["VECTOR_KINDS", "clusters", "cold_start_scorer", "component_rows", "detect_columns", "device_line",
           "embeddings_download", "explainer", "freeze_startup_heap", "item_categories", "job_registry",
           "load_run_cached", "overview_figures", "pca_coords", "projections_dir", "recommendations_csv", "run_store",
           "start_umap_warm_up", "umap_cached", "umap_compute", "vectors_of"]

VECTOR_KINDS = {  # label -> (side, attribute of ServingVectors)
    "CF item vectors": ("items", "cf_item"),
    "Content item vectors (text CNN)": ("items", "content_item"),
    "CF user vectors": ("users", "cf_user"),
    "LSTM user vectors (history)": ("users", "seq_user"),
}


# ------------------------------------------------------------------ process-wide objects
@st.cache_resource(show_spinner=False)
def run_store() -> RunStore:
    """The run store of this server process: `$RECSYS_RUNS_DIR` or `./runs`.

    On start-up, temporary folders of writes interrupted more than a day ago are removed.
    """
    store = RunStore(default_runs_dir())
    store.clean_incomplete(older_than_s=24 * 3600)
    return store


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """The one job registry of this server process. Jobs run in child processes (see `recsys.jobs`:
    Streamlit resets Keras' global state after every script run)."""
    return JobRegistry(isolation="process")


def projections_dir(run_id: str) -> Path:
    """Where UMAP projections of a run are cached (`RunStore.projections_dir`)."""
    return run_store().projections_dir(run_id)


@st.cache_resource(max_entries=16, show_spinner="Loading the run…")
def load_run_cached(path: str) -> Run:
    """A completed run, loaded once per process (runs are immutable, so the path is a safe key)."""
    return load_run(path)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cold_start_scorer(path: str):
    """The `ColdStartScorer` (Keras model + tokenizer) of a run, loaded once per process."""
    return serving.ColdStartScorer(load_run_cached(path))


@st.cache_resource(max_entries=4, show_spinner="Loading the model to explain the score…")
def explainer(run_path: str):
    """The run's `recsys.explain.Explainer`, sharing the cold-start scorer's Keras model (loaded once)."""
    from recsys.explain import Explainer

    return Explainer(load_run_cached(run_path), model=cold_start_scorer(run_path).model)


@st.cache_resource(show_spinner=False)
def start_umap_warm_up(nn_descent: bool = False):
    """Compiles UMAP's numba code in a background thread, once per process and kind (projection.warm_up_umap)."""
    import threading

    thread = threading.Thread(target=projection.warm_up_umap, kwargs={"nn_descent": nn_descent},
                              name="umap-warm-up", daemon=True)
    thread.start()
    return thread


@st.cache_resource(show_spinner=False)
def freeze_startup_heap() -> bool:
    """Moves every object alive now (TensorFlow, Keras, pandas … after their import) out of the GC's sight.

    After every script run — the progress panel reruns every second — Streamlit runs a full garbage
    collection twice (`runner.postScriptGC` and inside `keras.backend.clear_session()`), ~0.2–0.5 s of
    CPU each time with TensorFlow's ~450k objects in the heap. Frozen objects are skipped, so those
    collections only look at what was created since. Once per process; import-time objects live for
    the whole process anyway.
    """
    import gc

    gc.freeze()
    return True


@st.cache_data(show_spinner=False)
def device_line() -> str:
    """What the Train page says it trains on, e.g. "CPU: … (Keras backend tensorflow)"."""
    from recsys.training import device_info

    info = device_info()
    return f"{info['kind']}: {info['name']} (Keras backend {info.get('backend', '?')})"


# ------------------------------------------------------------------ the Data page
@st.cache_data(max_entries=16, show_spinner=False)
def detect_columns(data: bytes, name: str) -> dict:
    """{"columns": [...], "roles": {role: column or None}, "error": message or None} for an upload.

    The loader's own `sniff_columns` (header only), so the select boxes show what `load_dataset`
    would pick by itself. Never raises: a file the loader cannot read gives no columns and its
    message (the Load button then shows the loader's full error).
    """
    found = rdata.sniff_columns(data, name=name)
    return {"columns": found["columns"], "roles": found["roles"], "error": found["error"]}


@st.cache_data(max_entries=8, show_spinner=False)
def overview_figures(_dataset, fingerprint: str) -> tuple:
    """(events per user, item popularity long tail, events over time) for a dataset, cached by fingerprint."""
    events = _dataset.events
    titles = _dataset.items["title"] if "title" in _dataset.items else None
    return (plots.events_per_user_hist(events),
            plots.item_popularity_long_tail(events, _dataset.n_items, item_titles=titles),
            plots.events_over_time(events))


# ------------------------------------------------------------------ a run's scores, vectors and maps
def vectors_of(run_path: str, kind: str) -> np.ndarray:
    """The run's vectors of one `VECTOR_KINDS` kind, `[n_items or n_users, dim]`."""
    _, attribute = VECTOR_KINDS[kind]
    return np.asarray(getattr(load_run_cached(run_path).vectors, attribute), dtype=np.float32)


@st.cache_data(max_entries=64, show_spinner=False)
def component_rows(run_path: str, user: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cf row [n_items], content row [n_items], seen item indices) of one user: the α slider re-ranks from these."""
    run = load_run_cached(run_path)
    cf, content = serving.component_scores(run, [int(user)])
    seen = np.unique(serving.user_history(run, int(user))["item"].to_numpy(np.int64))
    return np.asarray(cf[0], np.float32), np.asarray(content[0], np.float32), seen


@st.cache_data(max_entries=8, show_spinner="Scoring every user…")
def recommendations_csv(run_path: str, alpha: float, k: int) -> bytes:
    """Top-k of every user of the run as spreadsheet-safe CSV."""
    frame = serving.recommend(load_run_cached(run_path), k=k, alpha=alpha)
    return export.to_csv_bytes(frame[["user_id", "rank", "item_id", "title", "score", "cf_score", "content_score"]])


@st.cache_data(max_entries=16, show_spinner=False)
def embeddings_download(run_path: str, kind: str, fmt: str) -> bytes:
    """The chosen vectors with their original ids, as CSV or Parquet."""
    import pandas as pd

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


def umap_cached(run_path: str, kind: str) -> np.ndarray | None:
    """The UMAP projection when it is already on disk, else None (computing it is an explicit action)."""
    run = load_run_cached(run_path)
    vectors = vectors_of(run_path, kind)
    if projection.umap_fallback_reason(len(vectors)) is not None:
        return None
    path = projection.umap_cache_path(vectors, cache_dir=projections_dir(run.run_id), seed=0)
    return projection.umap_2d(vectors, seed=0, cache_dir=projections_dir(run.run_id)) if path.is_file() else None


def umap_compute(run_path: str, kind: str) -> np.ndarray:
    """Runs UMAP and keeps the result in the store's projection cache of the run."""
    run = load_run_cached(run_path)
    return projection.umap_2d(vectors_of(run_path, kind), seed=0, cache_dir=projections_dir(run.run_id))


@st.cache_data(max_entries=32, show_spinner="Clustering…")
def clusters(run_path: str, kind: str, n_clusters: int) -> np.ndarray:
    """k-means cluster labels `[n]` of the chosen vectors (seeded)."""
    return projection.kmeans_labels(vectors_of(run_path, kind), n_clusters=n_clusters, seed=0)


@st.cache_data(max_entries=64, show_spinner=False)
def item_categories(run_path: str) -> list[str]:
    """Every category of the run's items, most frequent first."""
    counts: dict[str, int] = {}
    for cats in load_run_cached(run_path).items["categories"]:
        for name in set(map(str, cats)):
            counts[name] = counts.get(name, 0) + 1
    return sorted(counts, key=lambda name: (-counts[name], name))
