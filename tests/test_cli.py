"""The CLI contract: commands, outputs, --help everywhere, exit code 2 + one line on bad input."""

import json
import subprocess
import sys

import pandas as pd
import pytest

from recsys.cli import main

TINY_FLAGS = ["--dim", "16", "--lstm-units", "24", "--cnn-filters", "16", "--kernel-size", "2", "--seq-len", "8",
              "--epochs", "6", "--batch-size", "32", "--lr", "0.01", "--seed", "3"]
COMMANDS = ["demo", "inspect", "train", "recommend", "evaluate", "runs"]


@pytest.fixture(scope="module")
def trained_run(planted_files, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("cli") / "run"
    code = main(["train", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv"),
                 "--run-dir", str(run_dir), "--quiet", *TINY_FLAGS])
    assert code == 0
    return run_dir


@pytest.mark.parametrize("command", COMMANDS)
def test_help_on_every_command(command, capsys):
    assert main([command, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_demo_writes_interactions_and_items(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path)]) == 0
    events = pd.read_csv(tmp_path / "interactions.csv")
    items = pd.read_csv(tmp_path / "items.csv")
    assert {"user_id", "item_id", "rating", "timestamp"} <= set(events.columns)
    assert {"item_id", "title", "description", "categories"} <= set(items.columns)
    assert 90_000 <= len(events) <= 110_000 and len(items) == 800


def test_inspect_prints_the_report_as_json(planted_files, capsys):
    assert main(["inspect", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("n_interactions", "n_users", "n_items", "dropped", "warnings", "n_items_with_text"):
        assert key in report
    events = pd.read_csv(planted_files / "events.csv")
    assert report["n_interactions"] == len(events)
    assert report["n_users"] == events["user_id"].nunique()


def test_train_then_recommend_writes_k_unseen_items_per_user(planted_files, trained_run, tmp_path):
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--run-dir", str(trained_run), "--k", "5", "--out", str(out)]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str, "item_id": str})
    assert list(recs.columns) == ["user_id", "item_id", "rank", "score", "cf_score", "content_score"]
    events = pd.read_csv(planted_files / "events.csv", dtype=str)
    assert recs.groupby("user_id").size().eq(5).all() and recs["user_id"].nunique() == events["user_id"].nunique()
    seen = set(zip(events["user_id"], events["item_id"]))
    assert not any(pair in seen for pair in zip(recs["user_id"], recs["item_id"]))
    assert recs.groupby("user_id")["rank"].apply(list).map(lambda r: r == [1, 2, 3, 4, 5]).all()


def test_recommend_for_chosen_users_and_alpha(trained_run, tmp_path):
    out = tmp_path / "recs.csv"
    assert main(["recommend", "--run-dir", str(trained_run), "--k", "3", "--out", str(out),
                 "--users", "u001", "u002", "--alpha", "1"]) == 0
    recs = pd.read_csv(out, dtype={"user_id": str})
    assert sorted(recs["user_id"].unique()) == ["u001", "u002"]
    assert (recs["score"] - recs["cf_score"]).abs().max() < 1e-4


def test_training_the_same_run_again_is_instant(planted_files, trained_run, capsys):
    before = (trained_run / "COMPLETE").read_text()
    assert main(["train", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv"),
                 "--run-dir", str(trained_run), "--quiet", *TINY_FLAGS]) == 0
    assert (trained_run / "COMPLETE").read_text() == before


def test_evaluate_writes_model_baselines_and_alpha_sweep(planted_files, tmp_path):
    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--interactions", str(planted_files / "events.csv"), "--items", str(planted_files / "items.csv"),
                 "--out", str(out), "--quiet", *TINY_FLAGS]) == 0
    result = json.loads(out.read_text())
    assert {"popularity", "item_knn", "ease"} <= set(result["baselines"])
    assert [round(r["alpha"], 1) for r in result["alpha_sweep"]] == [round(a / 10, 1) for a in range(11)]
    assert 0 <= result["model"]["NDCG@10"] <= 1


@pytest.mark.parametrize("argv, needle", [
    (["inspect", "--interactions", "/nonexistent/file.csv"], "file.csv"),
    (["train", "--interactions", "EMPTY", "--run-dir", "RUN"], "empty"),
    (["recommend", "--run-dir", "/nonexistent/run", "--k", "5", "--out", "x.csv"], "no run"),
    (["train", "--interactions", "EVENTS", "--run-dir", "RUN", "--dim", "0"], "dim"),
    (["train", "--interactions", "EVENTS", "--run-dir", "RUN", "--alpha", "1.5"], "alpha"),
    (["recommend", "--run-dir", "RUN_OK", "--k", "5", "--out", "OUT", "--users", "nobody"], "nobody"),
    (["inspect"], "--interactions"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_exits_2_with_one_line(argv, needle, planted_files, trained_run, tmp_path, capsys):
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"")
    subst = {"EMPTY": str(empty), "RUN": str(tmp_path / "run"), "EVENTS": str(planted_files / "events.csv"),
             "RUN_OK": str(trained_run), "OUT": str(tmp_path / "o.csv")}
    code = main([subst.get(a, a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert needle.lower() in err.lower(), err
    assert "Traceback" not in err


def test_real_process_exit_code_and_single_line(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_bytes(b"\x00\x01\x02\xff" * 100)
    proc = subprocess.run([sys.executable, "-m", "recsys", "inspect", "--interactions", str(bad)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "bad.csv" in lines[0], proc.stderr


def test_progress_bar_is_one_updating_line_on_a_tty_and_plain_lines_otherwise():
    import io

    from recsys.cli import ProgressBar
    from recsys.progress import Progress

    reports = [Progress(phase="preparing", detail="cutting each user's history into training windows", epochs=2)]
    reports += [Progress(phase="training", epoch=e, epochs=2, step=s, steps=3, loss=1.0 / s)
                for e in (1, 2) for s in (1, 2, 3)]
    reports.append(Progress(phase="done", epoch=2, epochs=2, best_epoch=1, stopped_by="epochs",
                            history=[{"epoch": 1}, {"epoch": 2}]))
    tty, log = io.StringIO(), io.StringIO()
    bar, plain = ProgressBar(stream=tty, tty=True), ProgressBar(stream=log, tty=False)
    for report in reports:
        bar.last = 0.0  # no 0.2 s throttle in a test
        bar(report)
        plain(report)
    assert tty.getvalue().count("\n") == 1 and tty.getvalue().endswith("\n")  # one line, redrawn with \r
    assert tty.getvalue().count("\r") == len(reports)
    lines = log.getvalue().splitlines()
    assert "\r" not in log.getvalue()
    assert lines == ["preparing: cutting each user's history into training windows",
                     "training   epoch 1/2 step 3/3 loss 0.333 best val NDCG@10 - ETA    ?",
                     "training   epoch 2/2 step 3/3 loss 0.333 best val NDCG@10 - ETA    ?",
                     "done: 2 epochs (best 1), ended by epochs, best val NDCG@10 -"]
