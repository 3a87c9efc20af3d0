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
