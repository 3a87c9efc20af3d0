"""Per-session state of the studio: loaded datasets by name, the active dataset and the active run.

Everything here lives in `st.session_state`, so it survives page switches and is private to one
browser session. The built-in demo dataset is loaded on the first run of any page, so every page
works without an upload.

Keys: `datasets` (name -> Dataset), `active_dataset` (name), `active_run` (run folder or None),
`run_for_dataset` (fingerprint -> run folder, restored when the user switches back to a dataset),
`serving_alpha` (the α the Recommendations page blends with), `train_job` / `eval_job` (job keys).
"""

from __future__ import annotations

import streamlit as st

from recsys.serving import default_alpha
from ui.jobs import job_registry, load_run_cached
from ui.state import get_state
from ui.text import md_escape

__all__ = ["DEMO_NAME", "active_dataset", "active_run", "add_dataset", "datasets", "ensure_demo", "md_escape",
           "set_active_dataset", "set_active_run", "status_line", "sync_finished_training"]

DEMO_NAME = "demo"


def datasets() -> dict:
    """The datasets loaded in this session, by display name (insertion order)."""
    return get_state("datasets", dict)


def ensure_demo() -> None:
    """Loads the built-in demo dataset on the session's first run and makes it active."""
    if "active_dataset" in st.session_state and st.session_state["active_dataset"] in datasets():
        return
    from recsys.demo import demo_dataset

    loaded = datasets()
    if DEMO_NAME not in loaded:
        loaded[DEMO_NAME] = demo_dataset(seed=st.session_state.get("demo_seed", 0))
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
    return datasets()[st.session_state["active_dataset"]]


def set_active_dataset(name: str) -> None:
    """Makes a loaded dataset active and restores the run last used with it (or none)."""
    st.session_state["active_dataset"] = name
    fingerprint = datasets()[name].fingerprint()
    st.session_state["active_run"] = get_state("run_for_dataset", dict).get(fingerprint)


def active_run():
    """The session's active Run, or None."""
    path = st.session_state.get("active_run")
    if not path:
        return None
    try:
        return load_run_cached(path)
    except Exception:  # the run folder was removed: forget it
        st.session_state["active_run"] = None
        return None


def set_active_run(path: str | None) -> None:
    """Makes a stored run active; its default α becomes the session's serving α."""
    st.session_state["active_run"] = str(path) if path else None
    if not path:
        return
    run = load_run_cached(str(path))
    st.session_state["serving_alpha"] = default_alpha(run)
    get_state("run_for_dataset", dict)[run.fingerprint.get("fingerprint")] = str(path)


def serving_alpha() -> float:
    """The α the Recommendations page blends with (the active run's default until the user moves it)."""
    if "serving_alpha" not in st.session_state:
        run = active_run()
        st.session_state["serving_alpha"] = default_alpha(run) if run is not None else 0.5
    return float(st.session_state["serving_alpha"])


def sync_finished_training() -> None:
    """When the session's training job has finished, makes its run active (once per job)."""
    key = st.session_state.get("train_job")
    job = job_registry().get(key) if key else None
    if job is not None and job.status == "done" and job.run_path and st.session_state.get("train_job_applied") != key:
        st.session_state["train_job_applied"] = key
        set_active_run(job.run_path)


def status_line(placeholder=None) -> None:
    """Sidebar status: the active dataset and run, as plain text (names are user text).

    app.py draws it before the page and again, into the same `placeholder` (an `st.sidebar.empty()`),
    after the page ran, so a run the page just made active shows at once.
    """
    run = active_run()
    name = st.session_state.get("active_dataset", "–")
    run_text = f"{run.run_id[:10]} (α={serving_alpha():.2f})" if run is not None else "none yet"
    lines = [f"Dataset: {name}", f"Run: {run_text}"]
    key = st.session_state.get("train_job")
    job = job_registry().get(key) if key else None
    if job is not None and job.active:
        lines.append(f"Training: {job.progress.fraction:.0%}" if job.progress else "Training: starting")
    (placeholder or st.sidebar).text("\n".join(lines))


def require_active_run(hint: str = "train one on the Train page (or pick one from its run history)."):
    """The active run, or an explanation with a link to the Train page and `st.stop()`."""
    run = active_run()
    if run is None:
        st.info(f"No active run for this dataset yet: {hint}")
        st.page_link("pages/train.py", label="Go to Train")
        st.stop()
    return run
