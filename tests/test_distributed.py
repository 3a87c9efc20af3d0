"""Distributed training: TF_CONFIG rules, strategy choice, and a real 2-worker cluster on 127.0.0.1.

The cluster tests start two `python -m recsys train --strategy multiworker` processes with their own
TF_CONFIG (free local ports, the planted data written to CSV) and check what the chief writes against a
single-process run, and that a dead worker makes training fail clearly with nothing written.
"""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from planted import PER_TOPIC, planted_frames
from recsys.cli import main
from recsys.training.distributed import (
    DistributedConfigError,
    cluster_size,
    is_chief_from_tf_config,
    make_strategy,
    read_tf_config,
)
from recsys.store import is_complete, load_run

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300  # per cluster run; a loaded 2-core CI box needs ~1 minute
FLAGS = ["--dim", "16", "--lstm-units", "24", "--cnn-filters", "16", "--kernel-size", "2", "--seq-len", "8",
         "--epochs", "6", "--batch-size", "32", "--lr", "0.01", "--seed", "3"]


def tf_config(workers, index, task_type="worker"):
    return json.dumps({"cluster": {"worker": workers}, "task": {"type": task_type, "index": index}})


# ----- TF_CONFIG and strategy choice (no cluster) ------------------------------------------------------------

@pytest.mark.parametrize("raw, needle", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "JSON object"),
    ('{"task": {"type": "worker", "index": 0}}', "no 'cluster'"),
    ('{"cluster": {"worker": "a:1"}, "task": {"type": "worker", "index": 0}}', "non-empty list"),
    ('{"cluster": {"worker": ["hostonly"]}, "task": {"type": "worker", "index": 0}}', "'host:port'"),
    ('{"cluster": {"worker": ["a:99999"]}, "task": {"type": "worker", "index": 0}}', "'host:port'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}}', "no 'task'"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 2}}', "index 2 is out of range"),
    ('{"cluster": {"worker": ["a:1"]}, "task": {"type": "chief", "index": 0}}', "not one of the cluster"),
    ('{"cluster": {"worker": ["a:1"], "ps": ["b:2"]}, "task": {"type": "worker", "index": 0}}', "parameter server"),
    ('{"cluster": {"worker": ["a:1"], "evaluator": ["b:2"]}, "task": {"type": "evaluator", "index": 0}}',
     "cannot train"),
])
def test_invalid_tf_config_is_a_clear_error_naming_tf_config(raw, needle):
    with pytest.raises(DistributedConfigError) as info:
        read_tf_config({"TF_CONFIG": raw})
    assert "TF_CONFIG" in str(info.value) and needle in str(info.value), str(info.value)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize("cluster, task, chief", [
    ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 0}, True),
    ({"worker": ["a:1", "b:2"]}, {"type": "worker", "index": 1}, False),
    ({"chief": ["c:3"], "worker": ["a:1", "b:2"]}, {"type": "chief", "index": 0}, True),
    ({"chief": ["c:3"], "worker": ["a:1", "b:2"]}, {"type": "worker", "index": 0}, False),
    ({"worker": ["a:1"]}, {"type": "worker"}, True),  # index defaults to 0
])
def test_chief_is_the_chief_task_or_worker_zero_without_one(cluster, task, chief):
    environ = {"TF_CONFIG": json.dumps({"cluster": cluster, "task": task})}
    assert is_chief_from_tf_config(environ) is chief
    assert cluster_size(environ) == sum(len(v) for v in cluster.values())


def test_without_tf_config_a_process_is_its_own_chief():
    assert read_tf_config({}) is None and read_tf_config({"TF_CONFIG": "  "}) is None
    assert is_chief_from_tf_config({}) is True and cluster_size({}) == 1


def test_multiworker_needs_tf_config():
    with pytest.raises(DistributedConfigError, match="multiworker needs TF_CONFIG"):
        make_strategy("multiworker", environ={})


def test_single_machine_strategies_refuse_a_cluster_tf_config():
    environ = {"TF_CONFIG": tf_config(["a:1", "b:2"], 1)}
    for name in ("auto", "mirrored", "none"):
        with pytest.raises(DistributedConfigError, match="--strategy multiworker"):
            make_strategy(name, environ=environ)
    with pytest.raises(DistributedConfigError, match="unknown strategy"):
        make_strategy("parameter_server", environ={})


def test_auto_uses_the_default_device_unless_this_machine_has_several_gpus():
    import tensorflow as tf

    strategy, chief = make_strategy("auto", environ={})
    assert chief is True
    if len(tf.config.list_logical_devices("GPU")) > 1:
        assert isinstance(strategy, tf.distribute.MirroredStrategy)
    else:
        assert strategy is None  # one GPU or the CPU: the unchanged default path
    assert make_strategy("none", environ={}) == (None, True)


def test_cli_lists_the_strategies(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "{auto,mirrored,multiworker,none}" in out.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize("tf_config_value, needle", [(None, "needs TF_CONFIG"), ("{oops", "TF_CONFIG is not valid JSON")])
def test_cli_multiworker_with_missing_or_bad_tf_config_exits_2_with_one_line(tf_config_value, needle, tmp_path,
                                                                             monkeypatch, capsys):
    if tf_config_value is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config_value)
    events = tmp_path / "events.csv"
    planted_frames()[0].to_csv(events, index=False)
    code = main(["train", "--interactions", str(events), "--run-dir", str(tmp_path / "run"),
                 "--strategy", "multiworker", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and needle in err, err
    assert not (tmp_path / "run").exists()


# ----- a real 2-worker cluster on 127.0.0.1 -------------------------------------------------------------------

def free_ports(n):
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def start_cluster(planted_files, workdir, *, quiet=True, worker1_flags=()):
    """Two workers (worker 0 = chief) running the same command, each with its own run folder and temp dir."""
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    procs = []
    for i in range(2):
        tmp = workdir / f"tmp{i}"
        tmp.mkdir(parents=True)
        env = {**os.environ, "TF_CONFIG": tf_config(workers, i), "CUDA_VISIBLE_DEVICES": "", "TMPDIR": str(tmp),
               "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
        cmd = [sys.executable, "-m", "recsys", "train", "--interactions", str(planted_files / "events.csv"),
               "--items", str(planted_files / "items.csv"), "--run-dir", str(workdir / f"machine{i}" / "run"),
               "--strategy", "multiworker", *(["--quiet"] if quiet else []), *FLAGS, *(worker1_flags if i else [])]
        with open(workdir / f"worker{i}.out", "wb") as out, open(workdir / f"worker{i}.err", "wb") as err:
            procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=err))
    return procs


def stop(procs):
    for p in procs:
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=30)


def read(path):
    return path.read_text(errors="replace") if path.exists() else ""


def planted_hit_rate(recs: pd.DataFrame, events: pd.DataFrame) -> float:
    """Share of users whose planted next item (the next volume of their topic) is in their list."""
    last = events.groupby("user_id")["item_id"].last().map(lambda i: int(i[1:]))
    has_next = last % PER_TOPIC < PER_TOPIC - 1
    wanted = {u: f"i{i + 1:03d}" for u, i in last[has_next].items()}
    listed = recs.groupby("user_id")["item_id"].apply(set)
    return float(np.mean([wanted[u] in listed.get(u, set()) for u in wanted]))


@pytest.fixture(scope="module")
def cluster_run(planted_files, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("cluster")
    procs = start_cluster(planted_files, workdir)
    try:
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        stop(procs)
    logs = [read(workdir / f"worker{i}.err") for i in range(2)]
    assert codes == [0, 0], logs
    return workdir


@pytest.fixture(scope="module")
def single_run(planted_files, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("single") / "run"
    saved = os.environ.pop("TF_CONFIG", None)
    try:
        assert main(["train", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv"),
                     "--run-dir", str(run_dir), "--quiet", *FLAGS]) == 0
    finally:
        if saved is not None:
            os.environ["TF_CONFIG"] = saved
    return run_dir


@pytest.mark.slow
def test_two_workers_train_one_run_written_by_the_chief_only(cluster_run):
    chief_dir, other_dir = cluster_run / "machine0" / "run", cluster_run / "machine1"
    assert is_complete(chief_dir)
    run = load_run(chief_dir)
    assert run.metrics["replicas"] == 2 and run.history
    assert json.loads(read(cluster_run / "worker0.out"))["run_dir"] == str(chief_dir)
    assert json.loads(read(cluster_run / "worker1.out")) == {"run_dir": None, "chief": False}
    # the non-chief leaves nothing behind: no run folder, no scratch folder in its temp dir
    assert not other_dir.exists()
    assert list((cluster_run / "tmp1").iterdir()) == []
    assert not list(chief_dir.parent.glob(".tmp-*"))


@pytest.mark.slow
def test_cluster_recommendations_match_a_single_process_run(cluster_run, single_run, planted_files, tmp_path):
    events = pd.read_csv(planted_files / "events.csv", dtype=str)
    seen = set(zip(events["user_id"], events["item_id"]))
    rates, losses = {}, {}
    for name, run_dir in (("cluster", cluster_run / "machine0" / "run"), ("single", single_run)):
        out = tmp_path / f"{name}.csv"
        assert main(["recommend", "--run-dir", str(run_dir), "--k", "10", "--out", str(out)]) == 0
        recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
        assert recs.groupby("user_id").size().eq(10).all()
        assert recs["user_id"].nunique() == events["user_id"].nunique()
        assert not any(pair in seen for pair in zip(recs["user_id"], recs["item_id"]))
        rates[name] = planted_hit_rate(recs, events)
        losses[name] = load_run(run_dir).history[0]["loss"]
    # same model quality within a sane margin (the cluster's global batch is twice as large)
    assert rates["cluster"] >= 0.5 and rates["cluster"] >= rates["single"] - 0.15, rates
    # the reported loss is the mean over replicas, not their sum
    assert abs(losses["cluster"] - losses["single"]) < 0.15 * losses["single"], losses


@pytest.mark.slow
def test_mirrored_strategy_trains_like_the_default_path(planted_files, single_run, tmp_path):
    """`--strategy mirrored` runs the tf.distribute loop; on one device it follows Keras' own fit closely."""
    run_dir = tmp_path / "run"
    assert main(["train", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv"),
                 "--run-dir", str(run_dir), "--strategy", "mirrored", "--quiet", *FLAGS]) == 0
    mirrored, plain = load_run(run_dir), load_run(single_run)
    losses = [h["loss"] for h in mirrored.history]
    assert losses[-1] < losses[0]
    if mirrored.metrics["replicas"] == 1:  # same batches in the same order; only dropout masks differ
        np.testing.assert_allclose(losses[:3], [h["loss"] for h in plain.history][:3], rtol=0.03)
    assert abs(mirrored.metrics["validation"]["ndcg@10"] - plain.metrics["validation"]["ndcg@10"]) < 0.1


@pytest.mark.slow
def test_a_dead_worker_makes_training_fail_clearly_and_nothing_is_written(planted_files, tmp_path):
    procs = start_cluster(planted_files, tmp_path, quiet=False)
    try:
        deadline = time.monotonic() + TIMEOUT_S
        while "training on" not in read(tmp_path / "worker1.err"):  # worker 1 joined and loaded the data
            assert procs[1].poll() is None and time.monotonic() < deadline, read(tmp_path / "worker1.err")
            time.sleep(0.2)
        os.kill(procs[1].pid, signal.SIGKILL)
        code = procs[0].wait(timeout=TIMEOUT_S)
    finally:
        stop(procs)
    err = read(tmp_path / "worker0.err")
    last = err.replace("\r", "\n").strip().splitlines()[-1]
    assert code == 1, err
    assert last.startswith("error: multi-worker training failed") and "no run was written" in last, err
    assert "Traceback" not in err
    assert not (tmp_path / "machine0" / "run").exists() and not list((tmp_path / "machine0").glob(".tmp-*"))


@pytest.mark.slow
def test_workers_with_different_settings_refuse_to_train(planted_files, tmp_path):
    procs = start_cluster(planted_files, tmp_path, worker1_flags=["--seed", "4"])  # the last --seed wins
    try:
        codes = [p.wait(timeout=TIMEOUT_S) for p in procs]
    finally:
        stop(procs)
    for i in range(2):
        err = read(tmp_path / f"worker{i}.err")
        assert codes[i] == 2 and len(err.strip().splitlines()) == 1, err
        assert "do not all have the same data and settings" in err, err
        assert not (tmp_path / f"machine{i}").exists()
