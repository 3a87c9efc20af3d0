"""Per-session state of the studio: one typed accessor for every key it keeps in `st.session_state`.

Everything here survives page switches and is private to one browser session (widget values are
kept by `ui.widgets.persisted`). The built-in demo dataset is loaded on the first run of any page, so
every page works without an upload. Pages never read `st.session_state` for these keys themselves:

    >>> ACTIVE_RUN.get()          # the run folder, or None
    >>> COLD_PICKED.get().append(item)   # a list kept per session (made on first use)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

import streamlit as st

from recsys.serving import default_alpha
from ui.resources import job_registry, load_run_cached, run_store
from ui.widgets import forget

__all__ = ["ACTIVE_DATASET", "ACTIVE_RUN", "BUNDLE_IMPORT_FILE", "BUNDLE_IMPORT_OUTCOME", "COLD_PICKED", "DATASETS",
           "DATA_FLASH", "DATA_LOAD_ERROR", "DEMO_NAME", "DEMO_SEED", "MAPPING_FOR", "REC_PAGE_RUN", "RUN_FOR_DATASET",
           "SERVING_ALPHA", "SessionValue", "TRAIN_JOB", "TRAIN_JOB_APPLIED", "WHY_CLICKED", "active_dataset",
           "active_run", "add_dataset", "datasets", "ensure_demo", "recommendations_run", "require_active_run",
           "serving_alpha", "set_active_dataset", "set_active_run", "start_training", "status_line",
           "sync_finished_training", "train_job"]

T = TypeVar("T")
DEMO_NAME = "demo"


class SessionValue(Generic[T]):
    """One key of `st.session_state`, with its default.

    Args:
        key: the key (tests seed `at.session_state[key]` directly).
        default: what `get` returns while the key is absent (nothing is stored).
        factory: for mutable values: `get` stores `factory()` on first use, once per session, so
            the same list or dict comes back on every rerun.
    """

    def __init__(self, key: str, default: T | None = None, *, factory: Callable[[], T] | None = None):
        self.key, self.default, self.factory = key, default, factory

    def get(self) -> T:
        if self.factory is not None and self.key not in st.session_state:
            st.session_state[self.key] = self.factory()
        return st.session_state.get(self.key, self.default)

    def set(self, value: T) -> None:
        st.session_state[self.key] = value

    def pop(self) -> T:
        """The value, removed from the session (the default when there was none)."""
        return st.session_state.pop(self.key, self.default)


DATASETS: SessionValue[dict] = SessionValue("datasets", factory=dict)  # display name -> Dataset, insertion order
ACTIVE_DATASET: SessionValue[str | None] = SessionValue("active_dataset")  # a name of DATASETS
DEMO_SEED: SessionValue[int] = SessionValue("demo_seed", 0)
ACTIVE_RUN: SessionValue[str | None] = SessionValue("active_run")  # a run folder
RUN_FOR_DATASET: SessionValue[dict] = SessionValue("run_for_dataset", factory=dict)  # fingerprint -> run folder
SERVING_ALPHA: SessionValue[float | None] = SessionValue("serving_alpha")  # the α pages blend with
TRAIN_JOB: SessionValue[str | None] = SessionValue("train_job")  # the key of the session's training job
TRAIN_JOB_APPLIED: SessionValue[str | None] = SessionValue("train_job_applied")  # the job whose run was made active
COLD_PICKED: SessionValue[list] = SessionValue("cold_picked", factory=list)  # a new user's items, oldest first
REC_PAGE_RUN: SessionValue[str | None] = SessionValue("rec_page_run")  # the run the Recommendations picks are for
WHY_CLICKED: SessionValue[tuple | None] = SessionValue("why_clicked")  # (user, item) of the last top-N row clicked
DATA_FLASH: SessionValue[str | None] = SessionValue("data_flash")  # "just loaded" note, shown once
DATA_LOAD_ERROR: SessionValue[dict | None] = SessionValue("data_load_error")  # {"for": upload digest, "message"}
MAPPING_FOR: SessionValue[str | None] = SessionValue("_mapping_for")  # the upload the column boxes were filled for
BUNDLE_IMPORT_FILE: SessionValue[str | None] = SessionValue("bundle_import_file")  # the upload imported last
BUNDLE_IMPORT_OUTCOME: SessionValue[tuple | None] = SessionValue("bundle_import_outcome")  # ("success"|"error", text)


# ------------------------------------------------------------------ datasets
def datasets() -> dict:
    """The datasets loaded in this session, by display name (insertion order)."""
    return DATASETS.get()


def ensure_demo() -> None:
    """Loads the built-in demo dataset on the session's first run and makes it active."""
    if ACTIVE_DATASET.get() in datasets():
        return
    from recsys.data.demo import demo_dataset

    loaded = datasets()
    if DEMO_NAME not in loaded:
        loaded[DEMO_NAME] = demo_dataset(seed=DEMO_SEED.get())
    set_active_dataset(DEMO_NAME)


def add_dataset(name: str, dataset) -> str:
    """Keeps `dataset` under `name` (suffixing " (2)", … when another dataset has that name); returns the name."""
    loaded = datasets()
    unique, n = name, 1
    while unique in loaded and loaded[unique].fingerprint() != dataset.fingerprint():
        n += 1
        unique = f"{name} ({n})"
    loaded[unique] = dataset
    return unique


def active_dataset():
    """The active Dataset (the demo data until the user loads or picks another)."""
    ensure_demo()
    return datasets()[ACTIVE_DATASET.get()]


def set_active_dataset(name: str) -> None:
    """Makes a loaded dataset active and restores the run last used with it (or none)."""
    ACTIVE_DATASET.set(name)
    ACTIVE_RUN.set(RUN_FOR_DATASET.get().get(datasets()[name].fingerprint()))


# ------------------------------------------------------------------ runs and α
def active_run():
    """The session's active Run, or None."""
    path = ACTIVE_RUN.get()
    if not path:
        return None
    try:
        return load_run_cached(path)
    except Exception:  # the run folder was removed: forget it
        ACTIVE_RUN.set(None)
        return None


def set_active_run(path: str | None) -> None:
    """Makes a stored run active; its default α becomes the session's serving α."""
    ACTIVE_RUN.set(str(path) if path else None)
    if not path:
        return
    run = load_run_cached(str(path))
    SERVING_ALPHA.set(default_alpha(run))
    RUN_FOR_DATASET.get()[run.fingerprint.get("fingerprint")] = str(path)


def serving_alpha() -> float | None:
    """The α pages blend with: the active run's default until the user moves it; None without a run."""
    run = active_run()
    if run is None:
        return None
    if SERVING_ALPHA.get() is None:
        SERVING_ALPHA.set(default_alpha(run))
    return float(SERVING_ALPHA.get())


def require_active_run(hint: str = "train one on the Train page (or pick one from its run history)."):
    """The active run, or an explanation with a link to the Train page and `st.stop()`."""
    run = active_run()
    if run is None:
        st.info(f"No active run for this dataset yet: {hint}")
        st.page_link("pages/train.py", label="Go to Train")
        st.stop()
    return run


def recommendations_run(run_id: str) -> bool:
    """Starts the Recommendations page's picks afresh when the active run changed; True when it did.

    Item indices mean other items in another run, so the similar-item choice, the cold-start
    picker and the new user's items are dropped.
    """
    if REC_PAGE_RUN.get() == run_id:
        return False
    REC_PAGE_RUN.set(run_id)
    forget("similar_item")
    forget("cold_choice")
    COLD_PICKED.set([])
    return True


# ------------------------------------------------------------------ the session's training job
def train_job():
    """The session's training job (`recsys.jobs.TrainingJob`), or None."""
    key = TRAIN_JOB.get()
    return job_registry().get(key) if key else None


def start_training(dataset, config):
    """Submits training of `config` on `dataset` as the session's job; returns it.

    When this data + config was trained before, the job is done at once and its run becomes active.
    """
    from recsys.jobs import submit_training

    job = submit_training(job_registry(), run_store(), dataset, config)
    TRAIN_JOB.set(job.key)
    if job.status == "done":
        TRAIN_JOB_APPLIED.set(None)
        sync_finished_training()
    return job


def sync_finished_training() -> None:
    """When the session's training job has finished, makes its run active (once per job)."""
    job = train_job()
    if job is not None and job.status == "done" and job.run_path and TRAIN_JOB_APPLIED.get() != job.key:
        TRAIN_JOB_APPLIED.set(job.key)
        set_active_run(job.run_path)


def status_line(placeholder=None) -> None:
    """Sidebar status: the active dataset and run, as plain text (names are user text).

    app.py draws it before the page and again, into the same `placeholder` (an `st.sidebar.empty()`),
    after the page ran, so a run the page just made active shows at once.
    """
    run = active_run()
    run_text = f"{run.run_id[:10]} (α={serving_alpha():.2f})" if run is not None else "none yet"
    lines = [f"Dataset: {ACTIVE_DATASET.get() or '–'}", f"Run: {run_text}"]
    job = train_job()
    if job is not None and job.active:
        lines.append(f"Training: {job.progress.fraction:.0%}" if job.progress else "Training: starting")
    (placeholder or st.sidebar).text("\n".join(lines))
