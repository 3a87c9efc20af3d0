"""Background jobs as objects: a registry maps a key to a job that runs a function, with progress, stop and cancel.

`JobRegistry.submit(key, work)` runs any `work(report=, cancel=, stop=)`; it knows nothing of
training. The studio's two kinds of work are submitted by `submit_training` (train a run into a
`RunStore`) and `submit_evaluation` (an evaluation report kept in the store). The app holds one
registry (via `st.cache_resource`); pages only read a job's progress, so leaving a page changes
nothing. Two requests for the same key share one job (the same data + config: one run); different
configs train side by side, each with its own progress record.

Isolation. A job runs its work either on a thread of this process or in a child process of its own
(`isolation="process"`, what the app uses). The app needs the child process: after every script run
— and the Train page's progress panel reruns every second — Streamlit calls
`keras.backend.clear_session()` on the server process. That replaces Keras' thread-local global state
for every thread (so a job thread inside `model.compile` suddenly sees dependency tracking switched
back on and fails with "cannot add new elements of state … already built"), clears TensorFlow's
kernel cache and runs a full garbage collection, which starved a training thread for minutes. A child
process shares none of that, nor the server's GIL. The child is started with "spawn" (TensorFlow is
not fork-safe) and reports progress through a queue; cancel and stop are process-safe events.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import importlib
import json
import multiprocessing
import operator
import queue as queue_module
import sys
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from recsys.config import TrainConfig
from recsys.progress import Progress, TrainingCancelled
from recsys.store import RunStore, run_key

PROGRESS_INTERVAL_S = 0.25  # a child process sends at most ~4 progress reports a second (phase changes always)
_SPAWN_LOCK = threading.Lock()


@dataclass
class TrainingJob:
    """One piece of work in the background: a training run, an evaluation, or a test's stand-in.

    `status` is queued | running | done | failed | cancelled. While running, `cancel_requested` or
    `stop_requested` says that the user asked to cancel (nothing is stored) or to stop and keep the
    best epoch so far (the run is stored).
    """

    key: str
    kind: str = "train"  # "train": the result is a run folder (`run_path`) | "evaluate": a report dict
    config: TrainConfig | None = None  # the settings the work runs with (for display; the registry never reads it)
    status: str = "queued"
    progress: object = None  # the latest recsys.progress.Progress
    error: str | None = None  # one sentence for the user
    traceback: str | None = None  # the stored traceback of a failed job
    result: object = None  # what the work returned (a run folder, an evaluation report)
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    cancel_event: object = field(default_factory=threading.Event)
    stop_event: object = field(default_factory=threading.Event)
    thread: threading.Thread | None = None
    process: object = None  # the child process, when the job runs in one

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    @property
    def run_path(self) -> str | None:
        """The run folder a finished training job stored (None for other kinds and before it is done)."""
        return self.result if self.kind == "train" and self.status == "done" else None

    @property
    def cancel_requested(self) -> bool:
        return self.active and self.cancel_event.is_set()

    @property
    def stop_requested(self) -> bool:
        return self.active and self.stop_event.is_set() and not self.cancel_event.is_set()

    def cancel(self) -> None:
        """Stops after the current batch; nothing is stored."""
        self.cancel_event.set()

    def stop(self) -> None:
        """Stops after the current batch and stores the run with the best epoch so far."""
        self.stop_event.set()

    def report(self, progress) -> None:
        """The progress callback handed to training: keeps the latest report."""
        self.progress = progress

    def wait(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.active


Work = Callable[..., object]
"""What a job runs: `work(report=, cancel=, stop=) -> result`.

`report(progress)` takes `recsys.progress.Progress` records; `cancel` and `stop` are events the work
checks (raise `TrainingCancelled` on cancel). For `isolation="process"` the work is sent to the
child: a module-level function, or a `functools.partial` of one over picklable arguments (this
project's functions and dataclasses travel by name and fields, see `_portable`).
"""


def failure_sentence(error: BaseException) -> str:
    """One sentence for the user: the error's type and first line."""
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def _finish(job: TrainingJob, outcome: str, payload=None, trace: str | None = None) -> None:
    if outcome == "done":
        job.result, job.status = payload, "done"
    elif outcome == "cancelled":
        job.status = "cancelled"
    else:
        job.error, job.traceback, job.status = payload, trace, "failed"
    job.finished_at = time.time()


def _outcome_of(work: Work, report, cancel, stop):
    """Runs `work` and returns ("done", result) | ("cancelled", None) | ("failed", sentence, traceback)."""
    try:
        return ("done", work(report=report, cancel=cancel, stop=stop))
    except TrainingCancelled:
        return ("cancelled", None)
    except Exception as e:  # the message is shown to the user; the app stays up
        return ("failed", failure_sentence(e), traceback.format_exc())


def _start_thread(job: TrainingJob, work: Work, *, name: str) -> TrainingJob:
    def run():
        job.status = "running"
        try:
            _finish(job, *_outcome_of(work, job.report, job.cancel_event, job.stop_event))
        finally:
            if job.finished_at is None:
                job.finished_at = time.time()

    job.thread = threading.Thread(target=run, name=name, daemon=True)
    job.thread.start()
    return job


def _portable(value):
    """`value` in a form that pickles by value, not by reference to this project's classes.

    Streamlit's file watcher may re-import `recsys` modules while the server runs (a source file was
    saved); objects made before that belong to the old modules, and pickle refuses to send them by
    reference ("not the same object as recsys.data.Dataset"). Functions travel as their names and
    this project's dataclasses (Dataset, TrainConfig) as their fields; the child rebuilds them.
    """
    if callable(value) and getattr(value, "__module__", "").startswith("recsys") and hasattr(value, "__qualname__"):
        return ("recsys-function", value.__module__, value.__qualname__)
    if dataclasses.is_dataclass(value) and not isinstance(value, type) and type(value).__module__.startswith("recsys"):
        fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value) if f.init}
        return ("recsys-dataclass", type(value).__module__, type(value).__qualname__, fields)
    return ("value", value)


def _restored(portable):
    kind = portable[0]
    if kind == "value":
        return portable[1]
    target = importlib.import_module(portable[1])
    for part in portable[2].split("."):
        target = getattr(target, part)
    return target if kind == "recsys-function" else target(**portable[3])


def _portable_work(work) -> tuple:
    if not isinstance(work, functools.partial):
        return (_portable(work), (), {})
    return (_portable(work.func), tuple(_portable(a) for a in work.args),
            {k: _portable(v) for k, v in work.keywords.items()})


def _child_main(portable_work: tuple, messages, cancel, stop) -> None:
    """Entry point of a job's child process: runs the work, sends throttled progress and the outcome."""
    func, args, keywords = portable_work
    work = functools.partial(_restored(func), *(_restored(a) for a in args),
                             **{k: _restored(v) for k, v in keywords.items()})
    last = {"time": 0.0, "phase": None}

    def report(progress) -> None:
        now = time.monotonic()
        if progress.phase != last["phase"] or now - last["time"] >= PROGRESS_INTERVAL_S:
            last["time"], last["phase"] = now, progress.phase
            messages.put(("progress", progress))

    outcome = _outcome_of(work, report, cancel, stop)
    messages.put(("outcome", outcome))


@contextlib.contextmanager
def _main_module_for_spawn():
    """A spawned child first re-runs the parent's `__main__`; under Streamlit that is the page script
    being run (Streamlit puts it in `sys.modules["__main__"]`), which would run the app in the child.
    While the child starts, `__main__` is this module, which imports cleanly."""
    with _SPAWN_LOCK:
        main = sys.modules.get("__main__")
        sys.modules["__main__"] = importlib.import_module(__name__)
        try:
            yield
        finally:
            if main is not None:
                sys.modules["__main__"] = main


def _start_process(job: TrainingJob, work: Work, *, name: str) -> TrainingJob:
    context = multiprocessing.get_context("spawn")
    messages = context.Queue()
    job.cancel_event, job.stop_event = context.Event(), context.Event()
    job.progress = Progress(phase="preparing", detail="starting the training process")
    # Looked up now: after a re-import of this module the current function is the one pickle can name.
    child_main = getattr(importlib.import_module(__name__), "_child_main")
    process = context.Process(target=child_main, args=(_portable_work(work), messages, job.cancel_event,
                                                       job.stop_event), name=name, daemon=True)

    def listen():
        job.status = "running"
        outcome = None
        try:
            with _main_module_for_spawn():
                process.start()
            job.process = process
            while outcome is None:
                try:
                    kind, payload = messages.get(timeout=0.5)
                except queue_module.Empty:
                    if not process.is_alive():
                        try:  # the outcome may have arrived just before the process ended
                            kind, payload = messages.get(timeout=1.0)
                        except queue_module.Empty:
                            outcome = ("failed", f"The training process stopped unexpectedly (exit code "
                                                 f"{process.exitcode}); nothing was stored.", None)
                            break
                    else:
                        continue
                if kind == "progress":
                    job.progress = payload
                else:
                    outcome = payload
        except Exception as e:  # e.g. the work could not be sent to the child
            outcome = ("failed", failure_sentence(e), traceback.format_exc())
        finally:
            _finish(job, *(outcome or ("failed", "The training process could not be started.", None)))
            process.join(timeout=30)

    job.thread = threading.Thread(target=listen, name=name, daemon=True)
    job.thread.start()
    return job


def train_into_store(dataset, config: TrainConfig, store_root: str, *, report, cancel, stop) -> str:
    """The work of a training job: `train_run` into the store at `store_root`; returns the run folder."""
    from recsys.training import train_run

    run = train_run(dataset, config, store=RunStore(store_root), progress=report, cancel=cancel, stop=stop)
    return str(run.path)


def evaluate_into_file(dataset, config: TrainConfig, k: int, path: str, *, report, cancel, stop) -> dict:
    """The work of an evaluation job: `evaluate_dataset`, kept as JSON at `path` (one temporary file per writer)."""
    from recsys.training import evaluate_dataset

    del stop  # an evaluation has no "keep the best so far": it is finished or cancelled
    result = evaluate_dataset(dataset, config, k=k, cancel=cancel, progress=report)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.stem}-{uuid.uuid4().hex[:8]}.tmp")
    tmp.write_text(json.dumps(result, default=str))
    tmp.replace(target)
    return json.loads(target.read_text())


class JobRegistry:
    """Thread-safe registry of background jobs keyed by a string (a run key for training).

    Args:
        keep_finished: finished jobs beyond this many (oldest first) are forgotten; what they stored stays.
        isolation: "thread" runs each job on a thread of this process; "process" in a child process
            of its own (see the module docstring: what the app must use under Streamlit).
    """

    def __init__(self, *, keep_finished: int = 100, isolation: str = "thread"):
        if isolation not in ("thread", "process"):
            raise ValueError(f"isolation must be 'thread' or 'process', got {isolation!r}")
        self.keep_finished = keep_finished
        self.isolation = isolation
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def _prune(self) -> None:
        finished = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.finished_at or 0)
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job.key]

    def submit(self, key: str, work: Work, *, kind: str = "train", config: TrainConfig | None = None,
               stored: Callable[[], object] | None = None) -> TrainingJob:
        """Starts `work` in the background as the job `key`, or returns the job already under that key.

        A running job is always joined. A finished one is joined when it succeeded and what it made
        still exists (`stored()` is not None); otherwise the work starts afresh.

        Args:
            key: the job's identity: submissions with the same key share one job.
            work: see `Work`; its return value becomes `job.result`.
            kind: "train" (the result is a run folder, `job.run_path`) or "evaluate"; shown by the UI.
            config: the settings the work runs with, kept on the job for display.
            stored: returns the result when it already exists (a stored run, a kept report), else None;
                then the job is done at once and nothing runs. Called in this process, never sent.
        """
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.active or (job.status == "done" and (stored is None or stored() is not None))):
                return job
            self._prune()
            job = TrainingJob(key=key, kind=kind, config=config)
            self._jobs[key] = job
            result = stored() if stored is not None else None
            if result is not None:
                job.result, job.status, job.finished_at = result, "done", time.time()
                job.progress = Progress(phase="done")
                return job
            start = _start_process if self.isolation == "process" else _start_thread
            return start(job, work, name=f"{kind}-{key[:16]}")

    def get(self, key: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(key)

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)


def submit_training(registry: JobRegistry, store: RunStore, dataset, config: TrainConfig) -> TrainingJob:
    """Trains `config` on `dataset` into `store` in the background (`train_run`); the job's key is the run id.

    Joins the running job for the same data + config, and is done at once when the store already
    holds that run (no retraining, e.g. after a server restart).
    """
    key = run_key(dataset.fingerprint(), config)

    def stored() -> str | None:
        return str(store.path_for(key)) if store.has(key) else None

    work = functools.partial(train_into_store, dataset, config, str(store.root))
    return registry.submit(key, work, kind="train", config=config, stored=stored)


def submit_evaluation(registry: JobRegistry, store: RunStore, dataset, config: TrainConfig, *,
                      k: int = 10) -> TrainingJob:
    """Runs `evaluate_dataset` in the background; the report is kept at `store.evaluation_path` and
    reused by later submissions (the job's `result`)."""
    k = operator.index(k)  # an int (TypeError otherwise): it is part of the report's file name
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    path = store.evaluation_path(run_key(dataset.fingerprint(), config), k=k)

    def stored() -> dict | None:
        try:
            return json.loads(path.read_text()) if path.is_file() else None
        except (OSError, json.JSONDecodeError):
            return None

    work = functools.partial(evaluate_into_file, dataset, config, k, str(path))
    return registry.submit(path.stem, work, kind="evaluate", config=config, stored=stored)
