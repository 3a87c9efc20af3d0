"""AppTest runs of every page on the built-in demo data: load → train → recommend → α → embeddings → evaluate.

Training and evaluation run in background threads of the process-wide JobRegistry; the tests poll by
rerunning the script (bounded loops, no timing assertions). Each test gets a private run store:
RECSYS_RUNS_DIR points at a temp folder and the Streamlit caches are cleared, so the registry is
created afresh on it.
"""

from __future__ import annotations

import re
import time

import pytest

from recsys.data import DataError, load_dataset

TINY = {"dim": 8, "lstm_units": 8, "cnn_filters": 8, "seq_len": 10, "epochs": 1, "batch_size": 256}
POLL_LIMIT_S = 180


def _unescape(text: str) -> str:
    """Undo ui.session.md_escape (backslash before punctuation)."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text)


def _ok(at, step: str):
    assert not at.exception, f"{step}: {[e.message for e in at.exception]}"
    assert not at.error, f"{step}: {[e.value for e in at.error]}"


def _poll(at, done, what: str):
    start = time.monotonic()
    deadline = start + POLL_LIMIT_S
    while True:
        at.run()
        assert not at.exception, f"while waiting for {what}: {[e.message for e in at.exception]}"
        if done(at):
            print(f"{what}: {time.monotonic() - start:.1f} s")
            return
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not finish within {POLL_LIMIT_S} s")
        time.sleep(1.0)


def _table(at, column: str):
    """The first st.dataframe on the page that has `column` (dataframes without on_select have no key lookup)."""
    for frame in at.dataframe:
        if column in frame.value.columns:
            return frame.value
    raise AssertionError(f"no table with a {column!r} column")


def _check_downloads(run_path: str):
    """The data behind the download buttons (the buttons defer it to the click, which AppTest cannot make)."""
    import io

    import pandas as pd

    from ui.resources import embeddings_download, recommendations_csv

    recs = pd.read_csv(io.BytesIO(recommendations_csv(run_path, 0.5, 10)))
    assert list(recs.columns) == ["user_id", "rank", "item_id", "title", "score", "cf_score", "content_score"]
    assert len(recs) == 2000 * 10 and recs["rank"].max() == 10
    vectors = pd.read_parquet(io.BytesIO(embeddings_download(run_path, "CF item vectors", "Parquet")))
    assert vectors.shape == (800, 1 + TINY["dim"]) and vectors["item_id"].iloc[0] == "D0001"
    users = pd.read_csv(io.BytesIO(embeddings_download(run_path, "LSTM user vectors (history)", "CSV")))
    assert users.shape == (2000, 1 + TINY["dim"]) and users.columns[0] == "user_id"


def _train_tiny(at):
    at.switch_page("pages/train.py").run()
    _ok(at, "train page")
    for key, value in TINY.items():
        at.number_input(key=key).set_value(value)
    at.run()
    at.button(key="train").click().run()
    _ok(at, "train click")


def test_every_page_on_demo_data(fresh_app, monkeypatch, tmp_path):
    at = fresh_app()
    at.run()
    _ok(at, "home")
    assert at.session_state["active_dataset"] == "demo"

    at.switch_page("pages/data.py").run()
    _ok(at, "data page")
    assert len(at.get("plotly_chart")) == 3
    assert at.dataframe[0].value["reason"].iloc[0] == "kept"

    for page in ("pages/recommendations.py", "pages/embeddings.py", "pages/evaluate.py"):
        at.switch_page(page).run()
        _ok(at, f"{page} without a run")
        assert "train one" in at.info[0].value

    _train_tiny(at)
    assert at.session_state["train_job"]
    _poll(at, lambda a: a.session_state["active_run"] is not None, "training")
    _ok(at, "trained")
    run_id = at.session_state["train_job"]
    assert at.session_state["active_run"].endswith(run_id)
    assert any("finished" in s.value for s in at.success)
    assert at.selectbox(key="run_choice").value == run_id

    at.switch_page("pages/recommendations.py").run()
    _ok(at, "recommendations")
    _check_downloads(at.session_state["active_run"])
    top = _table(at, "rank")
    assert len(top) == 10 and {"score", "cf_score", "content_score"} <= set(top.columns)
    at.slider(key="rec_alpha").set_value(0.0).run()
    _ok(at, "α = 0")
    at_zero = _table(at, "rank")
    assert (at_zero["score"] - at_zero["content_score"]).abs().max() < 1e-6  # α = 0: the score is the content part
    assert at.session_state["serving_alpha"] == 0.0
    at.text_input(key="cold_find").set_value("Station").run()
    at.selectbox(key="cold_choice").set_value(at.selectbox(key="cold_choice").options[0]).run()
    at.button(key="cold_add").click().run()
    _ok(at, "cold-start user")
    assert len([f for f in at.dataframe if "cf_score" in f.value.columns and "rank" not in f.value.columns][0].value) == 10
    at.text_area(key="new_item_text").set_value("space opera robots mutiny aboard a generation ship").run()
    _ok(at, "cold-start item")
    assert len(_table(at, "user_id")) == 20

    at.switch_page("pages/embeddings.py").run()
    _ok(at, "embeddings")
    assert at.get("plotly_chart")
    at.selectbox(key="emb_color").set_value("cluster").run()
    at.text_input(key="emb_search").set_value("Station").run()
    at.selectbox(key="emb_user").set_value(at.selectbox(key="emb_user").options[1]).run()
    _ok(at, "embeddings search + overlay")
    spec = at.get("plotly_chart")[0].proto.spec
    assert "Searched item" in spec and "Recommended" in spec
    at.selectbox(key="emb_kind").set_value("LSTM user vectors (history)").run()
    _ok(at, "user map")

    # UMAP on request, cached under <store>/projections/<run_id> (real UMAP is slow: a stand-in writes the cache).
    from recsys import projection

    calls = []

    def fake_umap(vectors, *, seed=0, cache_dir=None, **kwargs):
        path = projection.umap_cache_path(vectors, cache_dir=cache_dir, seed=seed)
        if path.is_file():
            return projection.np.load(path)
        calls.append(path)
        coords = projection.pca_2d(vectors)[:, ::-1].copy()
        path.parent.mkdir(parents=True, exist_ok=True)
        projection.np.save(path, coords)
        return coords

    monkeypatch.setattr(projection, "umap_2d", fake_umap)
    monkeypatch.setattr(projection, "warm_up_umap", lambda seed=0, nn_descent=False: None, raising=False)
    at.selectbox(key="emb_projection").set_value("UMAP").run()
    _ok(at, "UMAP chosen")
    at.button(key="compute_umap").click().run()
    _ok(at, "UMAP computed")
    assert len(calls) == 1 and calls[0].parent == tmp_path / "runs" / "projections" / run_id
    assert "UMAP" in at.get("plotly_chart")[0].proto.spec
    at.run()
    assert not any(b.key == "compute_umap" for b in at.button) and len(calls) == 1  # served from the cache

    at.switch_page("pages/evaluate.py").run()  # the run carries its test report: nothing trains here
    _ok(at, "evaluate page")
    assert any(b.key == "apply_alpha" for b in at.button)
    methods = list(_table(at, "method")["method"])
    assert {"popularity", "item_knn", "ease"} <= set(methods)
    at.button(key="apply_alpha").click().run()
    _ok(at, "apply best α")
    best = at.session_state["serving_alpha"]
    at.switch_page("pages/recommendations.py").run()
    assert at.slider(key="rec_alpha").value == pytest.approx(best)

    # Switching pages lost nothing: the training settings are still the tiny ones.
    at.switch_page("pages/train.py").run()
    assert at.number_input(key="dim").value == 8

    # A second browser session: no progress of the first one, and the same data + config is served at once.
    second = fresh_app()  # same process (same registry), new session
    second.run()
    second.switch_page("pages/train.py").run()
    assert "train_job" not in second.session_state and second.session_state["active_run"] is None
    for key, value in TINY.items():
        second.number_input(key=key).set_value(value)
    second.run()
    second.button(key="train").click().run()
    _ok(second, "second session train")
    assert any("trained before" in s.value for s in second.success)
    assert second.session_state["active_run"].endswith(run_id)


def test_bad_uploads_show_the_loader_message_and_keep_the_active_dataset(fresh_app):
    at = fresh_app()
    at.run()
    at.switch_page("pages/data.py").run()
    _ok(at, "data page")

    blob = bytes(range(256)) * 20
    with pytest.raises(DataError) as binary_error:
        load_dataset(blob, name="bad.csv")
    at.file_uploader(key="interactions").set_value(("bad.csv", blob, "text/csv")).run()
    at.button(key="load").click().run()
    assert not at.exception
    assert [_unescape(e.value) for e in at.error] == [str(binary_error.value)]
    assert at.session_state["active_dataset"] == "demo"

    no_user = b"product,stars\nA,5\nB,3\n"
    with pytest.raises(DataError) as column_error:
        load_dataset(no_user, name="no_user.csv")
    assert "no user column" in str(column_error.value)
    at.file_uploader(key="interactions").set_value(("no_user.csv", no_user, "text/csv")).run()
    at.button(key="load").click().run()
    assert not at.exception
    assert [_unescape(e.value) for e in at.error] == [str(column_error.value)]
    assert at.session_state["active_dataset"] == "demo"
    assert list(at.session_state["datasets"]) == ["demo"]


def test_upload_with_detected_and_overridden_columns_keeps_both_datasets(fresh_app):
    at = fresh_app()
    at.run()
    at.switch_page("pages/data.py").run()
    rows = "".join(f"c{u},p{(u * 7 + j) % 9},{1 + (u + j) % 5},{1_700_000_000 + 60 * j}\n"
                   for u in range(6) for j in range(4))
    data = ("customer_id,product_id,stars,when\n" + rows).encode()
    at.file_uploader(key="interactions").set_value(("shop.csv", data, "text/csv")).run()
    _ok(at, "upload")
    # Pre-filled by detection: customer_id/product_id/stars; "when" is not a known time name.
    assert at.selectbox(key="user_col").value == "customer_id"
    assert at.selectbox(key="item_col").value == "product_id"
    assert at.selectbox(key="rating_col").value == "stars"
    assert at.selectbox(key="time_col").value == "(auto)"
    at.selectbox(key="time_col").set_value("when").run()
    at.button(key="load").click().run()
    _ok(at, "load")
    assert at.session_state["active_dataset"] == "shop.csv"
    dataset = at.session_state["datasets"]["shop.csv"]
    assert (dataset.n_users, len(dataset.events)) == (6, 24) and dataset.has_timestamps
    assert set(at.session_state["datasets"]) == {"demo", "shop.csv"}

    at.selectbox(key="dataset_choice").set_value("demo").run()
    _ok(at, "switch back")
    assert at.session_state["active_dataset"] == "demo"
    at.switch_page("pages/train.py").run()
    at.switch_page("pages/data.py").run()
    assert set(at.session_state["datasets"]) == {"demo", "shop.csv"}
    assert at.selectbox(key="dataset_choice").value == "demo"


def test_cancel_stops_the_job_and_keeps_no_run(fresh_app):
    at = fresh_app()
    at.run()
    at.switch_page("pages/train.py").run()
    for key, value in {**TINY, "epochs": 50, "batch_size": 64}.items():
        at.number_input(key=key).set_value(value)
    at.run()
    at.button(key="train").click().run()
    _ok(at, "train click")
    from ui.resources import job_registry, run_store

    job = job_registry().get(at.session_state["train_job"])
    assert job is not None and job.active
    at.button(key="cancel").click().run()
    _poll(at, lambda a: not job.active, "cancellation")
    at.run()  # the job may have ended after the last rerun drew the page
    assert job.status == "cancelled"
    assert any("cancelled" in w.value for w in at.warning)
    assert at.session_state["active_run"] is None
    assert run_store().list_runs() == []
