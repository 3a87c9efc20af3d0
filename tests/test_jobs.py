"""The job registry: any work as a function, shared jobs, stored results at once, bounded memory of finished
jobs, thread and process isolation; and the training jobs that `submit_training` makes of it."""

import functools

import numpy as np
import pytest

from planted import TINY, planted_dataset
from recsys.config import TrainConfig
from recsys.jobs import JobRegistry, submit_training
from recsys.store import RunStore
from stand_ins import stand_in_work

WAIT_S = 300  # only a guard against a hang; no assertion depends on time


def _done(job):
    assert job.wait(WAIT_S), f"job {job.key} still {job.status}"
    return job


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_submit_runs_any_work_and_keeps_its_result(isolation):
    registry = JobRegistry(isolation=isolation)
    job = _done(registry.submit("a1", functools.partial(stand_in_work, {"answer": 42}, epochs=2), kind="evaluate"))
    assert job.status == "done" and job.result == {"answer": 42}, (job.error, job.traceback)
    assert job.progress.phase == "done" and job.run_path is None  # not a training job: no run folder
    assert registry.get("a1") is job and registry.jobs() == [job]


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_running_job_is_shared_by_key_and_stops_or_cancels_on_request(isolation):
    registry = JobRegistry(isolation=isolation)
    work = functools.partial(stand_in_work, "/runs/abc", epochs=1, until_asked=True)
    job = registry.submit("b2", work)
    assert registry.submit("b2", work) is job  # a second request joins the running job
    job.stop()
    assert _done(job).status == "done" and job.run_path == "/runs/abc"
    other = registry.submit("c3", work)
    other.cancel()
    assert _done(other).status == "cancelled" and other.result is None and other.run_path is None


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_a_failing_job_keeps_one_sentence_and_its_traceback(isolation):
    job = _done(JobRegistry(isolation=isolation).submit("d4", functools.partial(stand_in_work, None, fail="no data\nmore")))
    assert job.status == "failed" and job.error == "ValueError: no data"
    assert "Traceback (most recent call last)" in job.traceback


def test_a_stored_result_makes_the_job_done_at_once_and_a_lost_one_runs_again():
    registry = JobRegistry()
    kept = {"result": "/runs/e5"}
    stored = lambda: kept["result"]  # noqa: E731 - what the store holds under the key
    never = functools.partial(stand_in_work, "unused", fail="the stored result must be used")
    job = registry.submit("e5", never, stored=stored)
    assert job.status == "done" and job.run_path == "/runs/e5" and job.progress.phase == "done"
    assert registry.submit("e5", never, stored=stored) is job
    kept["result"] = None  # the run folder was removed: the finished job no longer stands for it
    again = _done(registry.submit("e5", functools.partial(stand_in_work, "/runs/e5-new"), stored=stored))
    assert again is not job and again.run_path == "/runs/e5-new"


def test_submit_trains_in_the_background_then_serves_the_stored_run(tmp_path):
    dataset = planted_dataset()
    registry = JobRegistry()
    config = TrainConfig(**{**TINY, "epochs": 2})
    job = submit_training(registry, RunStore(tmp_path), dataset, config)
    assert job.wait(timeout=600) and job.status == "done", job.error
    assert job.progress.phase == "done" and np.isfinite(job.progress.loss)
    fresh = submit_training(JobRegistry(), RunStore(tmp_path), dataset, config)  # e.g. after a server restart
    assert fresh.status == "done" and fresh.run_path == job.run_path


def test_finished_jobs_beyond_the_limit_are_forgotten():
    registry = JobRegistry(keep_finished=1)
    jobs = [_done(registry.submit(f"f{s}", functools.partial(stand_in_work, s, epochs=1))) for s in (1, 2, 3)]
    last = _done(registry.submit("f4", functools.partial(stand_in_work, 4, epochs=1)))
    kept = registry.jobs()
    assert len(kept) == 2  # the most recently finished job and the new one
    newest = max(jobs, key=lambda j: j.finished_at)
    assert {id(j) for j in kept} == {id(newest), id(last)}


def test_clean_incomplete_spares_recent_temporary_folders(tmp_path):
    import os
    import time

    store = RunStore(tmp_path)
    old, recent = tmp_path / ".tmp-aaaa-1", tmp_path / ".tmp-bbbb-2"
    old.mkdir()
    recent.mkdir()
    day_ago = time.time() - 2 * 86400
    os.utime(old, (day_ago, day_ago))
    assert store.clean_incomplete(older_than_s=86400) == 1
    assert not old.exists() and recent.exists()


def test_cli_runs_clean_removes_day_old_leftovers_only(tmp_path, capsys):
    import os
    import time

    from recsys.cli import main

    old, recent = tmp_path / ".tmp-cccc-1", tmp_path / ".old-dddd-2"
    old.mkdir()
    recent.mkdir()
    day_ago = time.time() - 2 * 86400
    os.utime(old, (day_ago, day_ago))
    assert main(["runs", "--store", str(tmp_path)]) == 0
    assert old.exists()  # listing alone removes nothing
    assert main(["runs", "--store", str(tmp_path), "--clean"]) == 0
    assert not old.exists() and recent.exists()
    out = capsys.readouterr()
    assert "removed 1 leftover folder" in out.err and out.out.strip().endswith("[]")


def test_a_process_job_trains_in_its_own_process_beside_keras_clear_session(tmp_path):
    """The app's isolation: the job trains in a child process, so Streamlit's `keras.backend.clear_session()`
    after every script run (here: called in a loop while the job runs) cannot touch it."""
    import os

    import keras

    dataset = planted_dataset()
    registry = JobRegistry(isolation="process")
    job = submit_training(registry, RunStore(tmp_path), dataset, TrainConfig(**{**TINY, "epochs": 2}))
    while job.active:
        keras.backend.clear_session(free_memory=False)  # what Streamlit does after each rerun
        job.wait(timeout=0.05)
    assert job.status == "done", (job.error, job.traceback)
    assert job.process is not None and job.process.pid != os.getpid()
    assert job.progress.phase == "done" and job.progress.best_epoch >= 1
    from recsys.store import load_run

    run = load_run(job.run_path)
    assert run.metrics["evaluation"]["baselines"]["ease"]["NDCG@10"] >= 0  # the run carries its test report


def test_a_failing_process_job_keeps_one_sentence_and_its_traceback(tmp_path):
    dataset = planted_dataset()
    registry = JobRegistry(isolation="process")
    job = submit_training(registry, RunStore(tmp_path), dataset,
                          TrainConfig(**{**TINY, "epochs": 1, "min_rating": 5.0}))  # every rating is 4
    assert job.wait(timeout=600) and job.status == "failed"
    assert job.error == "ValueError: no training events left: lower min_rating or check the data"
    # the one sentence is for the person; the traceback (behind an expander) says where it was raised
    assert "Traceback (most recent call last)" in job.traceback and "in fit_hybrid" in job.traceback


def test_stop_keeps_the_best_epoch_so_far_and_stores_the_run(tmp_path):
    dataset = planted_dataset()
    job = submit_training(JobRegistry(), RunStore(tmp_path), dataset, TrainConfig(**{**TINY, "epochs": 200, "patience": 200}))
    while job.active and not (job.progress is not None and len(job.progress.history) >= 2):
        job.wait(timeout=0.05)
    job.stop()
    assert job.wait(timeout=600) and job.status == "done", job.error
    from recsys.store import load_run

    run = load_run(job.run_path)
    assert run.metrics["stopped_by"] == "user"
    assert 2 <= run.metrics["validation"]["epochs_run"] < 200
    assert 1 <= run.metrics["best_epoch"] <= run.metrics["validation"]["epochs_run"]
    assert run.metrics["evaluation"]["model"]["NDCG@10"] >= 0


def test_a_time_budget_ends_training_at_the_best_epoch_within_it(tmp_path):
    from recsys.training import train_run

    run = train_run(planted_dataset(), TrainConfig(**{**TINY, "epochs": 500, "patience": 500, "time_budget_s": 4.0}),
                    run_dir=tmp_path / "run")
    assert run.metrics["stopped_by"] == "time budget" and run.metrics["time_budget_s"] == 4.0
    assert run.metrics["validation"]["epochs_run"] < 500 and run.metrics["best_epoch"] >= 1


def test_a_process_job_still_starts_after_streamlit_reimported_the_project_modules(tmp_path):
    """Streamlit's file watcher drops `recsys.*` from sys.modules when a source file is saved; the
    session's dataset and config (and the registry) are then objects of the old modules."""
    import importlib
    import sys

    dataset, config = planted_dataset(), TrainConfig(**{**TINY, "epochs": 1})
    registry, store = JobRegistry(isolation="process"), RunStore(tmp_path)
    saved = {name: module for name, module in sys.modules.items() if name.startswith("recsys")}
    try:
        for name in saved:
            del sys.modules[name]
        importlib.import_module("recsys.jobs")  # the next script run imports them again
        importlib.import_module("recsys.data")
        job = submit_training(registry, store, dataset, config)
        assert job.wait(timeout=600) and job.status == "done", (job.error, job.traceback)
    finally:
        sys.modules.update(saved)
