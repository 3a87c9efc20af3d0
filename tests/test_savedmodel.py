"""The SavedModel export: plain TensorFlow in a fresh process serves the same top-K as the studio."""

import json
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from planted import TINY, planted_dataset

from recsys.cli import main
from recsys.config import TrainConfig
from recsys.savedmodel import SavedModelError, export_savedmodel
from recsys.serving import ColdStartScorer, default_alpha, recommend
from recsys.store import load_run

K = 10
N_USERS = 20

# Loads the SavedModel with nothing but TensorFlow, serves the histories given on stdin and reports
# which modules the load and the call pulled in. The repo is not on sys.path (cwd and PYTHONPATH).
SERVE_SCRIPT = textwrap.dedent("""
    import importlib.util, json, sys
    import tensorflow as tf

    request = json.load(sys.stdin)
    before = set(sys.modules)
    model = tf.saved_model.load(request["dir"])
    results = {}
    for name, alpha in request["alphas"].items():
        inputs = {"history": tf.constant(request["history"]), "alpha": tf.fill([len(request["history"])], float(alpha))}
        signature = "serving_default"
        if name.startswith("known"):
            signature, inputs["user_id"] = "known_users", tf.constant(request["user_ids"])
        out = model.signatures[signature](**inputs)
        results[name] = {"item_ids": out["item_ids"].numpy().astype(str).tolist(), "scores": out["scores"].numpy().tolist(),
                         "known_items": out["known_items"].numpy().tolist()}
    new_modules = sorted(m for m in set(sys.modules) - before if m.split(".")[0] in ("keras", "recsys"))
    print(json.dumps({"results": results, "new_modules": new_modules,
                      "recsys_importable": importlib.util.find_spec("recsys") is not None,
                      "recsys_loaded": any(m.split(".")[0] == "recsys" for m in sys.modules)}))
""")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from recsys.training import train_run

    return train_run(planted_dataset(), TrainConfig(**{**TINY, "epochs": 3}),
                     run_dir=tmp_path_factory.mktemp("savedmodel") / "run")


@pytest.fixture(scope="module")
def savedmodel(run, tmp_path_factory):
    return export_savedmodel(run.path, tmp_path_factory.mktemp("savedmodel-out") / "model", k=K)


def histories(run, users, *, pad="right"):
    """Each user's whole history as item-id strings in time order, padded with "" to one length."""
    rows = [[str(run.item_ids[i]) for i in run.events.loc[run.events["user"] == u, "item"]] for u in users]
    width = max(map(len, rows)) + 2
    if pad == "left":
        return [[""] * (width - len(r)) + r for r in rows]
    return [r + [""] * (width - len(r)) for r in rows]


def serve_in_plain_tensorflow(savedmodel, history, alphas: dict, tmp_path, user_ids=()) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    request = json.dumps({"dir": str(savedmodel), "history": history, "alphas": alphas, "user_ids": list(user_ids)})
    done = subprocess.run([sys.executable, "-c", SERVE_SCRIPT], input=request, capture_output=True, text=True,
                          cwd=tmp_path, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def assert_same_lists(served, expected, row, what):
    """Same scores position by position, and the same items, where exactly tied items may come in either order.

    Two items with the same features and no training events (an untrained item and a cold item with the
    same text words) score the same; TensorFlow's and numpy's float rounding then decide their order.
    """
    ids, scores = expected["item_id"].astype(str).tolist(), expected["score"].to_numpy()
    np.testing.assert_allclose(served["scores"][row], scores, rtol=1e-4, atol=1e-4, err_msg=what)
    start = 0
    for end in range(1, len(ids) + 1):
        if end == len(ids) or abs(scores[end] - scores[end - 1]) > 1e-5:
            if end < len(ids) or start == end - 1:  # a tie at the cut-off may let in another tied item
                assert sorted(served["item_ids"][row][start:end]) == sorted(ids[start:end]), what
            start = end


def test_plain_tensorflow_serves_the_same_top_k_as_the_studio_for_20_users(run, savedmodel, tmp_path):
    users = list(range(N_USERS))
    alpha = default_alpha(run)
    user_ids = [str(run.user_ids[u]) for u in users]
    answer = serve_in_plain_tensorflow(savedmodel, histories(run, users),
                                       {"content": 0.0, "history": alpha, "known": alpha, "known_cf": 1.0},
                                       tmp_path, user_ids=user_ids)
    assert not answer["recsys_importable"] and not answer["recsys_loaded"]
    assert answer["new_modules"] == []  # neither loading nor serving pulled in Keras or this project
    exported = json.loads((savedmodel / "assets.extra" / "recsys_run.json").read_text())
    assert exported["cf_user"] == "fold-in of the history"  # the run's CF user vectors are its items' fold-in
    expected = {"known": recommend(run, users, k=K, alpha=alpha), "known_cf": recommend(run, users, k=K, alpha=1.0),
                # serving_default from the raw history at the run's α: exactly `recommend`'s lists
                "history": recommend(run, users, k=K, alpha=alpha),
                # α = 0: the LSTM part alone, recomputed from the raw history, gives `recommend`'s lists (which
                # score with the LSTM user vectors stored at training time) also without a user id.
                "content": recommend(run, users, k=K, alpha=0.0)}
    scorer = ColdStartScorer(run)
    for row, user in enumerate(users):
        for name, frame in expected.items():
            assert_same_lists(answer["results"][name], frame[frame["user"] == user], row, f"user {user}, {name}")
        # ... and the studio's path for someone given as a history gives the same lists
        items = run.events.loc[run.events["user"] == user, "item"].tolist()
        served = answer["results"]["history"]
        assert_same_lists(served, scorer.recommend_for_new_user(items, k=K, alpha=alpha), row, f"user {user}, history")
        assert served["known_items"][row] == len(items)
        assert not set(served["item_ids"][row]) & {str(run.item_ids[i]) for i in items}  # own items excluded


def test_padding_side_and_unknown_ids_do_not_change_the_answer(run, savedmodel):
    import tensorflow as tf

    serve = tf.saved_model.load(str(savedmodel)).signatures["serving_default"]
    users = [0, 5, 9]
    right = histories(run, users, pad="right")
    left = histories(run, users, pad="left")
    noisy = [["no-such-item"] + h[:-1] for h in right]
    alpha = tf.constant([0.0, 0.5, 1.0])
    outs = [serve(history=tf.constant(h), alpha=alpha) for h in (right, left, noisy)]
    for out in outs[1:]:
        assert out["item_ids"].numpy().tolist() == outs[0]["item_ids"].numpy().tolist()
        np.testing.assert_allclose(out["scores"].numpy(), outs[0]["scores"].numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(outs[0]["scores"].numpy()[2], outs[0]["cf_scores"].numpy()[2], rtol=1e-6)  # α = 1
    anonymous = tf.saved_model.load(str(savedmodel)).signatures["known_users"](
        user_id=tf.constant(["", "not-a-user", ""]), history=tf.constant(right), alpha=alpha)
    assert anonymous["item_ids"].numpy().tolist() == outs[0]["item_ids"].numpy().tolist()  # unknown id = a history
    assert outs[0]["item_ids"].shape == (3, K)


def test_export_refuses_a_missing_run_and_a_used_folder(run, tmp_path):
    with pytest.raises(SavedModelError, match="no run at"):
        export_savedmodel(tmp_path / "nothing", tmp_path / "out")
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    with pytest.raises(SavedModelError, match="not an empty folder"):
        export_savedmodel(run.path, tmp_path / "used")
    assert (tmp_path / "used" / "keep.txt").read_text() == "mine"


def test_cli_export_savedmodel(run, tmp_path, capsys):
    out = tmp_path / "cli-model"
    assert main(["export-savedmodel", "--run-dir", str(run.path), "--out", str(out), "--k", "3"]) == 0
    assert json.loads(capsys.readouterr().out)["signature"] == "serving_default"
    assert (out / "saved_model.pb").is_file() and json.loads((out / "assets.extra" / "recsys_run.json").read_text())["k"] == 3
    assert main(["export-savedmodel", "--run-dir", str(run.path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: cannot write the SavedModel") and "\n" not in err
    assert main(["export-savedmodel", "--run-dir", str(run.path), "--out", str(tmp_path / "x"), "--k", "0"]) == 2


def test_saved_model_cli_documents_the_signature(savedmodel):
    cli = shutil.which("saved_model_cli")
    if cli is None:
        pytest.skip("saved_model_cli (it ships with tensorflow) is not on PATH")
    done = subprocess.run([cli, "show", "--dir", str(savedmodel), "--tag_set", "serve",
                           "--signature_def", "serving_default"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-1000:]
    for line in ("inputs['history'] tensor_info:", "dtype: DT_STRING", "inputs['alpha'] tensor_info:",
                 "outputs['item_ids'] tensor_info:", "outputs['scores'] tensor_info:", f"shape: (-1, {K})",
                 "Method name is: tensorflow/serving/predict"):
        assert line in done.stdout


def test_last_known_items_matches_the_training_layout():
    import tensorflow as tf

    from recsys.savedmodel import last_known_items

    index = tf.constant([[4, -1, 7], [-1, -1, -1], [1, 2, 3]], tf.int64)
    got = last_known_items(index, index >= 0, seq_len=2).numpy().tolist()
    assert got == [[5, 8], [0, 0], [3, 4]]  # item index + 1, left-padded, only the last 2 known items


def test_cf_user_from_history_mirrors_the_models_fold_in():
    import tensorflow as tf

    from recsys.models import fold_in_cf_vector
    from recsys.savedmodel import cf_user_from_history, last_known_items

    rng = np.random.default_rng(0)
    table, cf_item = rng.normal(size=(30, 4)).astype(np.float32), rng.normal(size=(30, 4)).astype(np.float32)
    rows = [[3, 5], [1, 2, 3, 4, 5, 6, 7, 2, 2], [9]]
    width = max(map(len, rows)) + 1
    index = tf.constant([r + [-1] * (width - len(r)) for r in rows], tf.int64)
    valid = index >= 0
    last = last_known_items(index, valid, seq_len=6)
    folded = cf_user_from_history(fold_in_table=tf.constant(table), cf_item=tf.constant(cf_item), item_index=index,
                                  valid=valid, last_items=last).numpy()
    for row, items in enumerate(rows):
        np.testing.assert_allclose(folded[row], fold_in_cf_vector(table, items, seq_len=6), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(folded[0], (table[3] + table[5]) / np.sqrt(2), rtol=1e-5)  # by hand
    mean = cf_user_from_history(fold_in_table=None, cf_item=tf.constant(cf_item), item_index=index, valid=valid,
                                last_items=last).numpy()
    np.testing.assert_allclose(mean[1], cf_item[rows[1]].mean(axis=0), rtol=1e-5, atol=1e-6)  # older runs
