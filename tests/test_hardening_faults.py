"""Issue #6, point 2: crashes, restarts and write errors never leave a run that is served as complete.

A real `python -m recsys train` process is killed with SIGKILL in the middle of training, after its
progress bar showed epoch 1; a second process is killed in the middle of `write_run` (its `.tmp-*`
folder half written). Each child pauses itself at that point (a hook wraps the CLI's progress bar /
the store's JSON writer, prints a marker and waits forever), so the kill always lands mid-run:
deterministic, not a race against a sleep. A run trained before (real, other seed) in the same store
must stay usable; a fresh RunStore / JobRegistry (a server restart) must find every complete run.
Write errors (no space, no permission, read-only, a file in the path) give a RunStoreError naming
the folder and what to do, and leave nothing behind."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from planted import TINY, planted_dataset, planted_frames
from stand_ins import fake_trained
from recsys.config import TrainConfig
from recsys.jobs import JobRegistry, submit_training
from recsys.serving import recommend
from recsys.store import COMPLETE, RunStore, RunStoreError, load_run, run_key, write_run

REPO = Path(__file__).resolve().parents[1]
WAIT_S = 300  # only a guard against a hang; no assertion depends on time
KILLED_ID = "0123456789abcdef0123"  # the folder the killed trainings were asked to write
PREVIOUS = TrainConfig(**{**TINY, "epochs": 1, "seed": 4})

# Runs the real CLI (`python -m recsys train ...`) after installing a pause point; prints MARKER there.
CHILD = r"""
import os, runpy, sys, threading

def pause(marker):
    sys.stderr.write("\n" + marker + "\n")
    sys.stderr.flush()
    threading.Event().wait()  # until the parent's SIGKILL

import recsys.cli
show = recsys.cli.ProgressBar.__call__
def __call__(self, p):
    show(self, p)
    if p.phase == "training" and p.epoch >= 2:  # epoch 1 is over and shown; epoch 2 is running
        pause("HARDENING-PAUSED-IN-TRAINING")
recsys.cli.ProgressBar.__call__ = __call__
sys.argv = ["recsys"] + sys.argv[1:]
runpy.run_module("recsys", run_name="__main__", alter_sys=True)
"""

# Writes a run with the real `write_run` (stand-in model and vectors: no TensorFlow needed) and
# pauses once the model, vectors and tables are in the temporary folder but COMPLETE is not.
WRITER = r"""
import sys, threading
sys.path.insert(0, sys.argv[2])
import recsys.store
from planted import planted_dataset
from recsys.config import TrainConfig
from stand_ins import fake_trained

write_json = recsys.store._write_json
def _write_json(path, obj):
    write_json(path, obj)
    if path.name == "metrics.json":
        sys.stderr.write("\nHARDENING-PAUSED-IN-WRITING\n")
        sys.stderr.flush()
        threading.Event().wait()  # until the parent's SIGKILL
recsys.store._write_json = _write_json
ds = planted_dataset()
config = TrainConfig(epochs=1, seed=7)
recsys.store.write_run(sys.argv[1], trained=fake_trained(ds), dataset=ds, config=config, events=ds.events,
                       metrics={}, key=recsys.store.run_key(ds.fingerprint(), config))
"""

CLI_TINY = ["--dim", "16", "--lstm-units", "24", "--cnn-filters", "16", "--kernel-size", "2", "--seq-len", "8",
            "--batch-size", "32", "--lr", "0.01", "--seed", "3"]


class Child:
    """A child process that pauses itself on purpose (it prints `marker`) until it is killed."""

    def __init__(self, marker: str, args: list[str]):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        self.marker = marker
        self.proc = subprocess.Popen([sys.executable, "-c", *args], cwd=REPO, env=env,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.output = []
        self.paused = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in iter(self.proc.stderr.readline, b""):
            text = line.decode("utf-8", "replace")
            self.output.append(text)
            if self.marker in text:
                self.paused.set()

    def wait_paused(self):
        if not self.paused.wait(WAIT_S) or self.proc.poll() is not None:
            self.kill()
            pytest.fail(f"the training process did not reach its pause point; output:\n{''.join(self.output)[-3000:]}")

    def kill(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(WAIT_S)
        self.reader.join(WAIT_S)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """A store holding one completed run, plus two CLI trainings into the same store that will be killed."""
    root = tmp_path_factory.mktemp("store")
    data = tmp_path_factory.mktemp("data")
    interactions, items = planted_frames()
    files = (data / "interactions.csv", data / "items.csv")
    interactions.to_csv(files[0], index=False)
    items.to_csv(files[1], index=False)
    # started first so that their TensorFlow start-up overlaps the in-process training below
    train = ["train", "--interactions", str(files[0]), "--items", str(files[1]), "--run-dir", str(root / KILLED_ID),
             "--epochs", "50", *CLI_TINY]
    children = {"training": Child("HARDENING-PAUSED-IN-TRAINING", [CHILD, *train]),
                "writing": Child("HARDENING-PAUSED-IN-WRITING",
                                 [WRITER, str(root / "fedcba9876543210fedc"), str(Path(__file__).parent)])}
    try:
        from recsys.training import train_run

        dataset = planted_dataset()
        previous = train_run(dataset, PREVIOUS, store=RunStore(root))
        yield SimpleNamespace(root=root, dataset=dataset, previous=previous, children=children,
                              before=np.array(previous.vectors.scores(np.arange(5), alpha=0.5)))
    finally:
        for child in children.values():
            child.kill()


def _assert_previous_run_intact(scene):
    store = RunStore(scene.root)  # a fresh object, as after a restart
    assert [r["run_id"] for r in store.list_runs()] == [scene.previous.run_id]
    again = store.load(scene.previous.run_id)
    np.testing.assert_array_equal(again.vectors.scores(np.arange(5), alpha=0.5), scene.before)
    recs = recommend(again, np.arange(3), k=5)
    assert len(recs) == 15 and recs["score"].notna().all()


def test_kill_during_training_leaves_nothing_served_and_keeps_the_previous_run(scene):
    child = scene.children["training"]
    child.wait_paused()
    run_dir = scene.root / KILLED_ID
    progress = "".join(child.output)
    assert "epoch 1/50" in progress and "training" in progress  # the bar showed a running epoch
    assert not run_dir.exists()  # mid-run: nothing written under the run's name yet
    child.kill()
    assert child.proc.returncode == -signal.SIGKILL
    with pytest.raises(RunStoreError, match="no run|incomplete"):
        load_run(run_dir)
    assert not RunStore(scene.root).has(KILLED_ID)
    _assert_previous_run_intact(scene)


def test_kill_while_writing_the_run_leaves_only_a_hidden_temporary_folder(scene):
    child = scene.children["writing"]
    child.wait_paused()
    run_dir = scene.root / "fedcba9876543210fedc"
    temps = sorted(scene.root.glob(f".tmp-{run_dir.name}-*"))
    assert len(temps) == 1 and (temps[0] / "model.keras").is_file() and (temps[0] / "metrics.json").is_file()
    assert not (temps[0] / COMPLETE).exists()
    child.kill()
    assert child.proc.returncode == -signal.SIGKILL
    with pytest.raises(RunStoreError, match="no run|incomplete"):
        load_run(run_dir)
    with pytest.raises(RunStoreError, match="incomplete"):
        load_run(temps[0])  # even pointed at directly, the half-written folder is refused
    _assert_previous_run_intact(scene)
    assert RunStore(scene.root).clean_incomplete() == 1 and not temps[0].exists()
    _assert_previous_run_intact(scene)


def test_a_complete_run_copied_in_under_a_name_that_is_no_run_id_is_not_listed(scene, tmp_path):
    store_root = tmp_path / "runs"
    store_root.mkdir()
    shutil.copytree(scene.previous.path, store_root / "my best run")
    shutil.copytree(scene.previous.path, store_root / scene.previous.run_id)
    store = RunStore(store_root)  # listing only what `load` accepts keeps the run picker from failing
    assert [r["run_id"] for r in store.list_runs()] == [scene.previous.run_id]


def test_a_run_folder_without_its_complete_marker_is_neither_listed_nor_loaded(scene, tmp_path):
    store_root = tmp_path / "runs"
    store_root.mkdir()
    broken = store_root / "00112233445566778899"
    shutil.copytree(scene.previous.path, broken)
    (broken / COMPLETE).unlink()
    store = RunStore(store_root)
    assert store.list_runs() == [] and not store.has(broken.name)
    with pytest.raises(RunStoreError, match="incomplete"):
        store.load(broken.name)


# ------------------------------------------------------------------------------------------------ restart


def fake_fit(events, items, *, n_users, **_):
    """Stands in for `recsys.training.fit_hybrid` (no TensorFlow): a stand-in model of the right shapes."""
    shapes = SimpleNamespace(n_users=n_users, n_items=len(items))
    return fake_trained(shapes)


def _write(path, ds, config, *, seed=0):
    key = run_key(ds.fingerprint(), config)
    return write_run(path, trained=fake_trained(ds, seed=seed), dataset=ds, config=config, events=ds.events,
                     metrics={"validation": {"best_alpha": 0.5, "ndcg@10": 0.1}, "train_seconds": 0.0}, key=key)


def test_after_a_restart_every_completed_run_is_listed_and_served_without_training(scene, monkeypatch):
    # the kills above left nothing behind (see those tests); add a second completed run
    other = TrainConfig(**{**TINY, "epochs": 1, "seed": 5})
    other_path = _write(scene.root / run_key(scene.dataset.fingerprint(), other), scene.dataset, other)

    def no_training(*args, **kwargs):
        raise AssertionError("a stored run must not be trained again after a restart")

    monkeypatch.setattr("recsys.training.train_run", no_training)
    monkeypatch.setattr("recsys.training.runs.fit_hybrid", no_training)
    store = RunStore(scene.root)  # fresh objects on the same folder: the "restarted server"
    listed = {r["run_id"]: r for r in store.list_runs()}
    assert set(listed) == {scene.previous.run_id, other_path.name}
    assert listed[scene.previous.run_id]["seed"] == 4 and listed[other_path.name]["seed"] == 5
    for run_id in listed:  # every listed run can be opened by its id
        assert store.load(run_id).run_id == run_id
    registry = JobRegistry()
    for config, path in ((PREVIOUS, scene.previous.path), (other, other_path)):
        job = submit_training(registry, store, scene.dataset, config)
        assert job.status == "done" and job.progress.phase == "done" and job.run_path == str(path)
        assert load_run(job.run_path).run_id == job.key


# ------------------------------------------------------------------------------------------- write errors


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


@pytest.fixture(scope="module")
def small():
    return planted_dataset(n_users=12)


def test_no_space_while_writing_gives_a_clear_error_and_leaves_nothing(small, tmp_path, monkeypatch):
    real_save, calls = np.save, []

    def save(*args, **kwargs):  # the disk fills up half-way through the vectors
        calls.append(args[0])
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(*args, **kwargs)

    monkeypatch.setattr(np, "save", save)
    path = tmp_path / "runs" / "0a1b2c3d4e5f"
    with pytest.raises(RunStoreError) as info:
        _write(path, small, PREVIOUS)
    message = str(info.value)
    assert str(path) in message and "disk is full" in message and "Free some space" in message
    assert len(calls) == 3 and _leftovers(tmp_path / "runs") == []


def test_no_permission_while_writing_gives_a_clear_error_and_leaves_nothing(small, tmp_path, monkeypatch):
    import recsys.store

    real = recsys.store._write_json

    def write_json(path, obj):
        if path.name == "history.json":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(path, obj)

    monkeypatch.setattr(recsys.store, "_write_json", write_json)
    path = tmp_path / "runs" / "0a1b2c3d4e5f"
    with pytest.raises(RunStoreError) as info:
        _write(path, small, PREVIOUS)
    message = str(info.value)
    assert str(path) in message and "permission denied" in message and "writable run folder" in message
    assert _leftovers(tmp_path / "runs") == []


def test_a_read_only_file_system_gives_a_clear_error(small, tmp_path, monkeypatch):
    import recsys.store

    def write_json(path, obj):
        raise OSError(errno.EROFS, "Read-only file system", str(path))

    monkeypatch.setattr(recsys.store, "_write_json", write_json)
    path = tmp_path / "runs" / "0a1b2c3d4e5f"
    with pytest.raises(RunStoreError, match="read-only") as info:
        _write(path, small, PREVIOUS)
    assert str(path) in str(info.value) and _leftovers(tmp_path / "runs") == []


@pytest.mark.parametrize("below", ["run", "sub/run"], ids=["parent-is-a-file", "grandparent-is-a-file"])
def test_a_run_dir_below_a_regular_file_gives_a_clear_error(small, tmp_path, below):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file")
    path = blocker / below
    with pytest.raises(RunStoreError) as info:  # real ENOTDIR / EEXIST from the OS (root ignores chmod)
        _write(path, small, PREVIOUS)
    message = str(info.value)
    assert str(path) in message and "is a file, not a folder" in message and "writable run folder" in message
    assert blocker.read_text() == "a regular file" and _leftovers(tmp_path) == ["not-a-folder"]


def test_an_existing_file_or_foreign_folder_at_the_run_dir_is_never_replaced(small, tmp_path):
    target = tmp_path / "results.csv"
    target.write_text("precious")
    with pytest.raises(RunStoreError, match="not a run folder"):
        _write(target, small, PREVIOUS)
    assert target.read_text() == "precious" and _leftovers(tmp_path) == ["results.csv"]
    folder = tmp_path / "my-project"
    folder.mkdir()
    (folder / "notes.txt").write_text("precious")
    with pytest.raises(RunStoreError, match="not a run folder"):
        _write(folder, small, PREVIOUS)
    assert (folder / "notes.txt").read_text() == "precious" and _leftovers(folder) == ["notes.txt"]
    # an empty folder, or an older run in an explicit --run-dir, may be replaced
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_run(_write(empty, small, PREVIOUS)).run_id == run_key(small.fingerprint(), PREVIOUS)
    other = TrainConfig(**{**TINY, "epochs": 1, "seed": 9})
    assert load_run(_write(empty, small, other)).run_id == run_key(small.fingerprint(), other)
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_a_training_job_that_cannot_write_its_run_fails_with_the_message(small, tmp_path, monkeypatch):
    import recsys.store

    def write_json(path, obj):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(recsys.store, "_write_json", write_json)
    monkeypatch.setattr("recsys.training.runs.fit_hybrid", fake_fit)
    store = RunStore(tmp_path / "runs")
    job = submit_training(JobRegistry(), store, small, PREVIOUS)
    assert job.wait(WAIT_S)
    assert job.status == "failed" and "RunStoreError" in job.error and "disk is full" in job.error
    assert str(store.path_for(job.key)) in job.error
    assert store.list_runs() == [] and _leftovers(store.root) == []


def test_cli_train_into_a_run_dir_below_a_file_exits_2_with_one_clear_line(small, tmp_path, monkeypatch, capsys):
    from recsys.cli import main

    interactions, items = planted_frames(n_users=12)
    interactions.to_csv(tmp_path / "events.csv", index=False)
    monkeypatch.setattr("recsys.training.runs.fit_hybrid", fake_fit)
    blocker = tmp_path / "runs.txt"
    blocker.write_text("a regular file")
    code = main(["train", "--interactions", str(tmp_path / "events.csv"), "--run-dir", str(blocker / "run"),
                 "--quiet", *CLI_TINY])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.count("\n") == 0 and err.startswith("error: could not write the run to ")
    assert str(blocker / "run") in err and "is a file, not a folder" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.csv", "runs.txt"]
