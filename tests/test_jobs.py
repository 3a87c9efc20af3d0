"""The training-job registry: shared jobs, stored runs at once, bounded memory of finished jobs."""

import numpy as np

from planted import TINY, planted_dataset
from recsys.config import TrainConfig
from recsys.jobs import JobRegistry
from recsys.store import RunStore


def test_submit_trains_in_the_background_then_serves_the_stored_run(tmp_path):
    dataset = planted_dataset()
    registry = JobRegistry(RunStore(tmp_path))
    config = TrainConfig(**{**TINY, "epochs": 2})
    job = registry.submit(dataset, config)
    assert job.wait(timeout=600) and job.status == "done", job.error
    assert job.progress.phase == "done" and np.isfinite(job.progress.loss)
    fresh = JobRegistry(RunStore(tmp_path)).submit(dataset, config)  # e.g. after a server restart
    assert fresh.status == "done" and fresh.run_path == job.run_path


def test_finished_jobs_beyond_the_limit_are_forgotten(tmp_path):
    dataset = planted_dataset()
    registry = JobRegistry(RunStore(tmp_path), keep_finished=1)
    jobs = [registry.submit(dataset, TrainConfig(**{**TINY, "epochs": 1, "seed": s})) for s in (1, 2, 3)]
    for job in jobs:
        job.wait(timeout=600)
    last = registry.submit(dataset, TrainConfig(**{**TINY, "epochs": 1, "seed": 4}))
    last.wait(timeout=600)
    kept = registry.jobs()
    assert len(kept) == 2  # the most recently finished job and the new one
    newest = max(jobs, key=lambda j: j.finished_at)
    assert {id(j) for j in kept} == {id(newest), id(last)}
    assert len(RunStore(tmp_path).list_runs()) == 4  # the runs themselves stay


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
    registry = JobRegistry(RunStore(tmp_path), isolation="process")
    job = registry.submit(dataset, TrainConfig(**{**TINY, "epochs": 2}))
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
    registry = JobRegistry(RunStore(tmp_path), isolation="process")
    job = registry.submit(dataset, TrainConfig(**{**TINY, "epochs": 1, "min_rating": 5.0}))  # every rating is 4
    assert job.wait(timeout=600) and job.status == "failed"
    assert job.error == "ValueError: no training events left: lower min_rating or check the data"
    assert "Traceback (most recent call last)" in job.traceback and "apply_rating_threshold" not in job.error


def test_stop_keeps_the_best_epoch_so_far_and_stores_the_run(tmp_path):
    dataset = planted_dataset()
    registry = JobRegistry(RunStore(tmp_path))
    job = registry.submit(dataset, TrainConfig(**{**TINY, "epochs": 200, "patience": 200}))
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
    registry = JobRegistry(RunStore(tmp_path), isolation="process")
    saved = {name: module for name, module in sys.modules.items() if name.startswith("recsys")}
    try:
        for name in saved:
            del sys.modules[name]
        importlib.import_module("recsys.jobs")  # the next script run imports them again
        importlib.import_module("recsys.data")
        job = registry.submit(dataset, config)
        assert job.wait(timeout=600) and job.status == "done", (job.error, job.traceback)
    finally:
        sys.modules.update(saved)
