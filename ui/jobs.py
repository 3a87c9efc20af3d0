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
from ui.text import md_escape

__all__ = ["cold_start_scorer", "freeze_startup_heap", "job_registry", "start_umap_warm_up", "load_run_cached", "projections_dir",
           "run_store", "show_job"]


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


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


STOPPED_BY = {"epochs": "the epoch limit", "early stopping": "early stopping (no validation gain)",
              "user": "you (best epoch kept)", "time budget": "the time budget"}


def _active_label(what: str, job: TrainingJob) -> str:
    progress = job.progress
    if job.cancel_requested:
        return f"{what}: cancelling after the current batch…"
    if job.stop_requested:
        return f"{what}: stopping after the current batch — the best epoch so far is kept…"
    phase = progress.phase if progress is not None else "queued"
    detail = f" ({progress.detail})" if progress is not None and progress.detail else ""
    fraction = float(progress.fraction) if progress is not None else 0.0
    return f"{what}: {phase}{detail} — {fraction:.0%}"


def _job_panel(state_key: str, cancel_key: str, on_done=None) -> None:
    job = job_registry().get(st.session_state.get(state_key) or "")
    if job is None:
        return
    progress = job.progress
    what = "Training" if job.kind == "train" else "Evaluation"
    if job.active:
        st.progress(float(progress.fraction) if progress is not None else 0.0, text=_active_label(what, job))
    elif job.status == "done":
        st.progress(1.0, text=f"{what} complete — 100%")
        if on_done is not None:
            on_done(job)  # drawn by whichever rerun first sees the job done: a full one or the panel's own
    elif job.status == "cancelled":
        st.warning(f"{what} was cancelled; nothing was stored.")
    else:
        st.progress(0.0, text=f"{what} failed")
    if progress is not None and (job.active or job.status == "done"):
        c1, c2, c3, c4 = st.columns(4)
        if job.active:
            c1.metric("Epoch", f"{progress.epoch}/{progress.epochs}" if progress.epoch else "–")
        else:
            run_epochs = len(progress.history) or progress.epoch
            c1.metric("Epochs run", f"{run_epochs} (best {progress.best_epoch})" if progress.best_epoch else
                      (str(run_epochs) if run_epochs else "–"),
                      help=f"Ended by {STOPPED_BY.get(progress.stopped_by, progress.stopped_by)}."
                      if progress.stopped_by else None)
        loss = progress.loss
        if loss is None and progress.history:
            loss = progress.history[-1].get("loss")
        c2.metric("Loss", f"{loss:.4f}" if loss is not None else "–")
        val = progress.best_val_ndcg if progress.best_val_ndcg is not None else progress.val_ndcg
        c3.metric("Best validation NDCG@10", f"{val:.4f}" if val is not None else "–")
        if job.active:
            eta = "estimating…" if progress.eta_s is None and progress.phase == "training" else _fmt_seconds(progress.eta_s)
            c4.metric("ETA", eta)
        else:
            c4.metric("Time", _fmt_seconds(progress.elapsed_s) if progress.elapsed_s else "–")
        if progress.history:
            from recsys.plots import training_curves

            st.plotly_chart(training_curves(progress.history), key=f"{state_key}_curves")
    if job.status == "failed":
        st.error(md_escape(f"{what} failed: {job.error}"))
        if job.traceback:
            with st.expander("Details (the stored traceback)"):
                st.code(job.traceback, language="text")
    left, right, _ = st.columns([2, 1, 3])  # drawn in every state, so a finished panel leaves no stale buttons
    if job.active:
        requested = job.cancel_requested or job.stop_requested
        if job.kind == "train" and left.button("Stop and keep the best epoch so far", key=f"{cancel_key}_stop",
                                              disabled=requested,
                                              help="Ends training after the current batch; the run is evaluated "
                                                   "and stored with the best epoch reached."):
            job.stop()
        if right.button("Cancel", key=cancel_key, disabled=requested, help="Ends training; nothing is stored."):
            job.cancel()
        st.session_state[f"{state_key}_was_active"] = True
    elif st.session_state.pop(f"{state_key}_was_active", False):
        st.rerun()  # the job ended while this panel refreshed itself: redraw the whole page with its result


def show_job(state_key: str, *, cancel_key: str = "cancel", on_done=None) -> TrainingJob | None:
    """Draws the live progress of the session's job stored under `state_key`; returns the job.

    While the job is active the panel is a fragment that refreshes itself every second (the rest of
    the page does not rerun); when it ends, the whole page reruns once to show the result, and
    `on_done(job)` (e.g. "make the run active and say so") runs inside the panel. The job
    itself runs in a child process (`JobRegistry(isolation="process")`), so these reruns cost it
    almost nothing.
    """
    key = st.session_state.get(state_key)
    job = job_registry().get(key) if key else None
    if job is None:
        return None
    freeze_startup_heap()
    if not job.active:
        st.session_state.pop(f"{state_key}_was_active", None)  # a full run shows the result itself
    st.fragment(run_every=1.0 if job.active else None)(_job_panel)(state_key, cancel_key, on_done)
    return job
