"""Training jobs as objects: a registry maps a run key to a background job with progress and cancel.

The app holds one `JobRegistry` (via `st.cache_resource`); pages only read a job's progress, so
leaving a page changes nothing. Two requests for the same data + config share one job (and one
run); different configs train side by side, each with its own progress record.
"""

from __future__ import annotations

import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field

from recsys.config import TrainConfig
from recsys.store import RunStore, run_key


@dataclass
class TrainingJob:
    """One training run in a background thread."""

    key: str
    dataset_name: str
    config: TrainConfig
    status: str = "queued"  # queued | running | done | failed | cancelled
    progress: object = None  # the latest recsys.training.Progress
    error: str | None = None
    run_path: str | None = None
    kind: str = "train"  # "train" | "evaluate"
    result: dict | None = None  # the metrics of an evaluation job
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    cancel_event: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")

    def cancel(self) -> None:
        self.cancel_event.set()

    def report(self, progress) -> None:
        """The progress callback handed to training: keeps the latest report."""
        self.progress = progress

    def wait(self, timeout: float | None = None) -> bool:
        if self.thread is not None:
            self.thread.join(timeout)
        return not self.active


def _start(job: TrainingJob, work, *, name: str) -> TrainingJob:
    """Runs `work()` in a daemon thread, turning its outcome into the job's status."""
    from recsys.training import TrainingCancelled

    def run():
        job.status = "running"
        try:
            work()
            job.status = "done"
        except TrainingCancelled:
            job.status = "cancelled"
        except Exception as e:  # the message is shown to the user; the app stays up
            job.error = f"{type(e).__name__}: {e}"
            job.traceback = traceback.format_exc()
            job.status = "failed"
        finally:
            job.finished_at = time.time()

    job.thread = threading.Thread(target=run, name=name, daemon=True)
    job.thread.start()
    return job


class JobRegistry:
    """Thread-safe registry of training jobs keyed by run key.

    Finished jobs beyond `keep_finished` (oldest first) are forgotten; their runs stay in the store.
    """

    def __init__(self, store: RunStore | None = None, *, keep_finished: int = 100):
        self.store = store or RunStore()
        self.keep_finished = keep_finished
        self._jobs: dict[str, TrainingJob] = {}
        self._lock = threading.Lock()

    def _prune(self) -> None:
        finished = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.finished_at or 0)
        for job in finished[: max(0, len(finished) - self.keep_finished)]:
            del self._jobs[job.key]

    def submit(self, dataset, config: TrainConfig) -> TrainingJob:
        """Starts training (or joins the running job for the same data + config)."""
        from recsys.training import Progress, train_run

        key = run_key(dataset.fingerprint(), config)
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.active or job.status == "done"):
                if job.status != "done" or self.store.has(key):
                    return job
            self._prune()
            job = TrainingJob(key=key, dataset_name=dataset.name, config=config)
            self._jobs[key] = job
            if self.store.has(key):
                job.status, job.run_path, job.finished_at = "done", str(self.store.path_for(key)), time.time()
                job.progress = Progress(phase="done")
                return job

            def train():
                job.run_path = str(train_run(dataset, config, store=self.store, progress=job.report,
                                             cancel=job.cancel_event).path)

            return _start(job, train, name=f"train-{key[:8]}")

    def submit_evaluation(self, dataset, config: TrainConfig, *, k: int = 10) -> TrainingJob:
        """Runs `evaluate_dataset` in the background; results are kept under `<store>/evaluations/`."""
        import json
        import operator

        from recsys.evaluate import evaluate_dataset
        from recsys.training import Progress

        k = operator.index(k)  # an int (TypeError otherwise): it is part of the cache file name
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")

        key = "eval-" + run_key(dataset.fingerprint(), config) + f"-k{k}"
        path = self.store.root / "evaluations" / f"{key}.json"
        with self._lock:
            job = self._jobs.get(key)
            if job is not None and (job.active or job.status == "done"):
                return job
            self._prune()
            job = TrainingJob(key=key, dataset_name=dataset.name, config=config, kind="evaluate")
            self._jobs[key] = job
            if path.is_file():
                try:
                    job.result = json.loads(path.read_text())
                    job.status, job.finished_at, job.progress = "done", time.time(), Progress(phase="done")
                    return job
                except (OSError, json.JSONDecodeError):
                    pass

            def evaluate():
                result = evaluate_dataset(dataset, config, k=k, cancel=job.cancel_event, progress=job.report)
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_name(f"{path.stem}-{uuid.uuid4().hex[:8]}.tmp")  # own file per writer
                tmp.write_text(json.dumps(result, default=str))
                tmp.replace(path)
                job.result = json.loads(path.read_text())
                job.progress = Progress(phase="done", history=job.progress.history if job.progress else [])

            return _start(job, evaluate, name=f"eval-{key[5:13]}")

    def get(self, key: str) -> TrainingJob | None:
        with self._lock:
            return self._jobs.get(key)

    def jobs(self) -> list[TrainingJob]:
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: j.started_at, reverse=True)
