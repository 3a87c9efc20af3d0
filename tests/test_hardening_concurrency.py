"""Issue #6, point 3: concurrent training requests.

Different configs submitted together train side by side, each into its own run (real TensorFlow,
1 epoch, TINY). Identical requests share one job and train once; two registries (two app
processes) on one store end with one complete run that both can load. The sharing tests replace
`fit_hybrid` by a stand-in that blocks until released, so "at the same time" is guaranteed by an
event, not by timing; everything around it (registry, train_run, write_run, load_run) is real.
"""

from __future__ import annotations

import threading

import numpy as np
import pytest

import recsys.store
import recsys.training
from planted import TINY, planted_dataset
from stand_ins import fake_trained
from recsys.config import TrainConfig
from recsys.jobs import JobRegistry, submit_evaluation, submit_training
from recsys.serving import default_alpha
from recsys.store import RunStore, load_run, run_key, write_run
from recsys.training import Progress

WAIT_S = 300  # only a guard against a hang; no assertion depends on time


@pytest.fixture(scope="module")
def dataset():
    return planted_dataset()


class FakeFit:
    """Stands in for `recsys.training.fit_hybrid`: counts calls, reports 'preparing', waits for `release`."""

    def __init__(self, ds, *, blocking=True):
        self.ds, self.calls, self.release = ds, [], threading.Event()
        self.lock = threading.Lock()
        if not blocking:
            self.release.set()

    def __call__(self, events, items, *, n_users, config, progress=None, **_):
        with self.lock:
            self.calls.append(config)
            seed = len(self.calls)
        if progress:
            progress(Progress(phase="preparing", epochs=config.epochs))
        assert self.release.wait(WAIT_S), "the test never released training"
        return fake_trained(self.ds, seed=seed)


def _submit_together(submitters) -> list:
    """Calls every `submit()` from its own thread, all released at once by a barrier; returns the jobs."""
    barrier = threading.Barrier(len(submitters))
    results = [None] * len(submitters)

    def go(i, fn):
        barrier.wait(WAIT_S)
        results[i] = fn()

    threads = [threading.Thread(target=go, args=(i, fn)) for i, fn in enumerate(submitters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(WAIT_S)
    assert all(r is not None for r in results)
    return results


def _finished(job):
    assert job.wait(WAIT_S), f"job {job.key} still {job.status}"
    assert job.status == "done", f"job {job.key} {job.status}: {job.error}"
    return load_run(job.run_path)


def _visible(root):
    return sorted(p.name for p in root.iterdir() if not p.name.startswith("."))


def _hidden(root):
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


# ----------------------------------------------------------------------------------- real, side by side


def test_two_different_configs_submitted_together_each_get_their_own_run(dataset, tmp_path):
    store = RunStore(tmp_path / "runs")
    registry = JobRegistry()
    configs = [TrainConfig(**{**TINY, "epochs": 1, "dim": 8, "seed": 1}),
               TrainConfig(**{**TINY, "epochs": 1, "dim": 12, "seed": 2, "alpha": 0.3})]
    jobs = _submit_together([lambda c=c: submit_training(registry, store, dataset, c) for c in configs])
    assert jobs[0] is not jobs[1] and jobs[0].key != jobs[1].key
    for job, config in zip(jobs, configs):
        run = _finished(job)
        assert job.key == run.run_id == run_key(dataset.fingerprint(), config)
        assert {k: v for k, v in run.config.items() if k != "run_id"} == config.to_dict()
        assert run.train_config() == config
        assert run.vectors.cf_user.shape == (dataset.n_users, config.dim)
        assert run.vectors.content_item.shape == (dataset.n_items, config.dim)
        assert job.progress.phase == "done" and job.config is config
    assert default_alpha(load_run(jobs[1].run_path)) == 0.3
    assert sorted(r["run_id"] for r in store.list_runs()) == sorted(j.key for j in jobs)
    assert _hidden(store.root) == []  # no temporary folder left behind


# ------------------------------------------------------------------------------------ shared, one train


def test_same_data_and_config_submitted_together_train_once_and_share_the_job(dataset, tmp_path, monkeypatch):
    fit = FakeFit(dataset)
    monkeypatch.setattr(recsys.training.runs, "fit_hybrid", fit)
    store = RunStore(tmp_path / "runs")
    registry = JobRegistry()
    config = TrainConfig(**{**TINY, "epochs": 1})
    jobs = _submit_together([lambda: submit_training(registry, store, dataset, config) for _ in range(6)])
    assert all(job is jobs[0] for job in jobs)  # one job object for every caller
    assert jobs[0].active  # still training: every submission arrived while it ran
    fit.release.set()
    run = _finished(jobs[0])
    assert len(fit.calls) == 1  # trained once
    assert run.path == store.path_for(run_key(dataset.fingerprint(), config))
    assert _visible(store.root) == [run.run_id] and _hidden(store.root) == []
    again = submit_training(registry, store, dataset, config)  # after it finished: the stored run, no training
    assert again is jobs[0] and again.status == "done" and len(fit.calls) == 1
    assert [job.key for job in registry.jobs()] == [run.run_id]


def test_a_second_registry_after_the_first_finished_reuses_the_stored_run(dataset, tmp_path, monkeypatch):
    fit = FakeFit(dataset, blocking=False)
    monkeypatch.setattr(recsys.training.runs, "fit_hybrid", fit)
    store_root = tmp_path / "runs"
    config = TrainConfig(**{**TINY, "epochs": 1})
    first = _finished(submit_training(JobRegistry(), RunStore(store_root), dataset, config))
    job = submit_training(JobRegistry(), RunStore(store_root), dataset, config)  # another app process, later
    assert job.status == "done" and job.run_path == str(first.path)
    assert len(fit.calls) == 1


class _RaceOs:
    """`os` for recsys.store whose `replace` of a finished temporary folder waits until both writers are
    about to rename: both have checked that the run folder does not exist yet (the worst interleaving)."""

    def __init__(self, parties):
        import os

        self._os, self.barrier = os, threading.Barrier(parties, timeout=WAIT_S)

    def replace(self, src, dst):
        if str(src).rsplit("/", 1)[-1].startswith(".tmp-"):
            self.barrier.wait()
        return self._os.replace(src, dst)

    def __getattr__(self, name):
        return getattr(self._os, name)


def test_two_registries_racing_for_the_same_run_end_with_one_complete_folder(dataset, tmp_path, monkeypatch):
    fit = FakeFit(dataset, blocking=False)
    monkeypatch.setattr(recsys.training.runs, "fit_hybrid", fit)
    monkeypatch.setattr(recsys.store, "os", _RaceOs(2))
    store_root = tmp_path / "runs"
    config = TrainConfig(**{**TINY, "epochs": 1})
    registries = [JobRegistry(), JobRegistry()]  # two app processes on one store
    jobs = _submit_together([lambda r=r: submit_training(r, RunStore(store_root), dataset, config) for r in registries])
    runs = [_finished(job) for job in jobs]  # both finish: neither sees an error
    assert len(fit.calls) == 2  # separate processes cannot share a job, so each trained
    assert jobs[0].run_path == jobs[1].run_path
    key = run_key(dataset.fingerprint(), config)
    assert _visible(store_root) == [key] and _hidden(store_root) == []
    stored = load_run(store_root / key)
    for run in runs:  # both load the one folder that was kept
        np.testing.assert_array_equal(run.vectors.cf_user, stored.vectors.cf_user)
    assert [r["run_id"] for r in RunStore(store_root).list_runs()] == [key]


def test_write_run_keeps_the_first_complete_run(dataset, tmp_path):
    config = TrainConfig(**{**TINY, "epochs": 1})
    key = run_key(dataset.fingerprint(), config)
    path = tmp_path / "runs" / key
    kwargs = dict(dataset=dataset, config=config, events=dataset.events, metrics={}, key=key)
    write_run(path, trained=fake_trained(dataset, seed=1), **kwargs)
    first = np.array(load_run(path).vectors.cf_user)
    assert write_run(path, trained=fake_trained(dataset, seed=2), **kwargs) == path
    np.testing.assert_array_equal(load_run(path).vectors.cf_user, first)
    assert _visible(path.parent) == [key] and _hidden(path.parent) == []


def test_two_registries_finishing_the_same_evaluation_together_both_succeed(dataset, tmp_path, monkeypatch):
    import pathlib

    calls = []
    monkeypatch.setattr(recsys.training, "evaluate_dataset",
                        lambda ds, config, *, k, **_: calls.append(k) or {"alpha": 0.5, "model": {"NDCG@10": 0.25}})
    barrier = threading.Barrier(2, timeout=WAIT_S)
    real_replace = pathlib.Path.replace

    def replace(self, target):  # both have written their result file before either moves it into place
        if self.name.endswith(".tmp"):
            barrier.wait()
        return real_replace(self, target)

    monkeypatch.setattr(pathlib.Path, "replace", replace)
    store_root = tmp_path / "runs"
    config = TrainConfig(**{**TINY, "epochs": 1})
    registries = [JobRegistry(), JobRegistry()]
    jobs = _submit_together([lambda r=r: submit_evaluation(r, RunStore(store_root), dataset, config, k=10)
                             for r in registries])
    for job in jobs:
        assert job.wait(WAIT_S) and job.status == "done", f"{job.status}: {job.error}"
        assert job.result == {"alpha": 0.5, "model": {"NDCG@10": 0.25}}
    assert calls == [10, 10]
    assert [p.suffix for p in (store_root / "evaluations").iterdir()] == [".json"]  # no temporary file left
