"""The live progress panel of a background job (training or evaluation): progress bar, metrics, curves, Stop/Cancel.

The job itself runs in a child process (`ui.resources.job_registry`); the panel only reads its
progress record and sets its stop or cancel flag, so navigating away never stops or restarts a job.
"""

from __future__ import annotations

import streamlit as st

from recsys.jobs import TrainingJob
from ui.resources import freeze_startup_heap, job_registry
from ui.session import SessionValue
from ui.text import md_escape

__all__ = ["show_job"]


def _fmt_seconds(seconds) -> str:
    if seconds is None:
        return "–"
    seconds = int(round(float(seconds)))
    return f"{seconds // 60}:{seconds % 60:02d}"


STOPPED_BY = {"epochs": "the epoch limit", "early stopping": "early stopping (no validation gain)",
              "user": "you (best epoch kept)", "time budget": "the time budget",
              "event budget": "the event budget (max_trained_events: fewer passes over big data)"}


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


def _job_panel(job_key: SessionValue, cancel_key: str, on_done=None) -> None:
    job = job_registry().get(job_key.get() or "")
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

            st.plotly_chart(training_curves(progress.history), key=f"{job_key.key}_curves")
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
        _was_active(job_key).set(True)
    elif _was_active(job_key).pop():
        st.rerun()  # the job ended while this panel refreshed itself: redraw the whole page with its result


def _was_active(job_key: SessionValue) -> SessionValue[bool]:
    """Whether the panel of `job_key` drew the job active on its previous refresh."""
    return SessionValue(f"{job_key.key}_was_active", False)


def show_job(job_key: SessionValue, *, cancel_key: str = "cancel", on_done=None) -> TrainingJob | None:
    """Draws the live progress of the session's job whose key is kept in `job_key` (e.g.
    `ui.session.TRAIN_JOB`); returns the job.

    While the job is active the panel is a fragment that refreshes itself every second (the rest of
    the page does not rerun); when it ends, the whole page reruns once to show the result, and
    `on_done(job)` (e.g. "make the run active and say so") runs inside the panel. The job
    itself runs in a child process (`JobRegistry(isolation="process")`), so these reruns cost it
    almost nothing.
    """
    key = job_key.get()
    job = job_registry().get(key) if key else None
    if job is None:
        return None
    freeze_startup_heap()
    if not job.active:
        _was_active(job_key).pop()  # a full run shows the result itself
    st.fragment(run_every=1.0 if job.active else None)(_job_panel)(job_key, cancel_key, on_done)
    return job
