"""Process-wide resources held by `st.cache_resource`: the job registry, loaded runs, cold-start scorers.

One `JobRegistry` serves every browser session, so a training job keeps running while its user visits
other pages (or closes the tab). Which job and which run belong to a session is kept in that
session's `st.session_state` (see `ui.session`), so two sessions never see each other's progress.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from recsys.jobs import JobRegistry, TrainingJob
from recsys.store import Run, RunStore, default_runs_dir, load_run

__all__ = ["cold_start_scorer", "job_registry", "start_umap_warm_up", "load_run_cached", "projections_dir", "runs_root", "show_job"]


@st.cache_resource(show_spinner=False)
def job_registry() -> JobRegistry:
    """The one registry of this server process; its store root is `$RECSYS_RUNS_DIR` or `./runs`.

    On start-up, temporary folders of writes interrupted more than a day ago are removed.
    """
    store = RunStore(default_runs_dir())
    store.clean_incomplete(older_than_s=24 * 3600)
    return JobRegistry(store)


def runs_root() -> Path:
    """The run store folder of the registry."""
    return Path(job_registry().store.root)


def projections_dir(run_id: str) -> Path:
    """Where UMAP projections of a run are cached: `<store>/projections/<run_id>` (run folders stay immutable)."""
    return runs_root() / "projections" / run_id


@st.cache_resource(max_entries=16, show_spinner="Loading the run…")
def load_run_cached(path: str) -> Run:
    """A completed run, loaded once per process (runs are immutable, so the path is a safe key)."""
    return load_run(path)


@st.cache_resource(max_entries=4, show_spinner="Loading the model…")
def cold_start_scorer(path: str):
    """The `ColdStartScorer` (Keras model + tokenizer) of a run, loaded once per process."""
    from recsys.serving import ColdStartScorer

    return ColdStartScorer(load_run_cached(path))


@st.cache_resource(show_spinner=False)
def start_umap_warm_up(nn_descent: bool = False):
    """Compiles UMAP's numba code in a background thread, once per process and kind (projection.warm_up_umap)."""
    import threading

    from recsys import projection

    thread = threading.Thread(target=projection.warm_up_umap, kwargs={"nn_descent": nn_descent},
                              name="umap-warm-up", daemon=True)
    thread.start()
    return thread


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


def _job_panel(state_key: str, cancel_key: str) -> None:
    job = job_registry().get(st.session_state.get(state_key) or "")
    if job is None:
        return
    progress = job.progress
    fraction = float(progress.fraction) if progress is not None else 0.0
    what = "Training" if job.kind == "train" else "Evaluation"
    if job.active:
        phase = progress.phase if progress is not None else "queued"
        label = f"{what}: {phase} — {fraction:.0%}"
    else:
        label = {"done": f"{what} complete — 100%", "cancelled": f"{what} cancelled",
                 "failed": f"{what} failed"}.get(job.status, f"{what}: {job.status}")
    st.progress(fraction, text=label)
    if progress is not None:
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Epoch", f"{progress.epoch}/{progress.epochs}" if progress.epochs else "–")
        loss = progress.loss
        if loss is None and progress.history:
            loss = progress.history[-1].get("loss")
        c2.metric("Loss", f"{loss:.4f}" if loss is not None else "–")
        val = progress.val_ndcg if progress.val_ndcg is not None else progress.best_val_ndcg
        c3.metric("Validation NDCG@10", f"{val:.4f}" if val is not None else "–")
        c4.metric("ETA", _fmt_seconds(progress.eta_s) if job.active else "done")
        if progress.history:
            from recsys.plots import training_curves

            st.plotly_chart(training_curves(progress.history), key=f"{state_key}_curves")
    if job.active:
        if st.button("Cancel", key=cancel_key):
            job.cancel()
            st.info("Cancelling after the current step…")
        st.session_state[f"{state_key}_was_active"] = True
    elif st.session_state.pop(f"{state_key}_was_active", False):
        st.rerun()  # the job ended while this panel refreshed itself: redraw the whole page with its result


def show_job(state_key: str, *, cancel_key: str = "cancel") -> TrainingJob | None:
    """Draws the live progress of the session's job stored under `state_key`; returns the job.

    While the job is active the panel is a fragment that refreshes itself every second (the rest of
    the page does not rerun); when it ends, the whole page reruns once to show the result.
    """
    key = st.session_state.get(state_key)
    job = job_registry().get(key) if key else None
    if job is None:
        return None
    if not job.active:
        st.session_state.pop(f"{state_key}_was_active", None)  # a full run shows the result itself
    st.fragment(run_every=1.0 if job.active else None)(_job_panel)(state_key, cancel_key)
    return job
