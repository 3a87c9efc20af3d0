"""AppTest checks of the Recommendations and Embeddings page details (issue 10, points 4, 6 and 7).

One real tiny run is trained once on the planted data (tests/planted.py, real TensorFlow, a few
seconds); each test opens a page with that run active (seeded session state, no demo load).
"""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
import pandas as pd
import pytest
import streamlit as st

from planted import planted_frames

TINY = {"dim": 8, "lstm_units": 8, "cnn_filters": 8, "seq_len": 10, "epochs": 1, "batch_size": 256}


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    """(dataset, run folder) of one real tiny training on the planted data."""
    from recsys.config import TrainConfig
    from recsys.data import build_dataset
    from recsys.training import train_run

    interactions, items = planted_frames()
    dataset = build_dataset(interactions, items, name="planted")
    path = tmp_path_factory.mktemp("polish-runs") / "planted"
    train_run(dataset, TrainConfig(**TINY), run_dir=path)
    return dataset, path


def _copy_run(source, target, *, run_id: str, blank_text: bool = False):
    """A copy of a run folder under another run id (optionally with every item text removed)."""
    shutil.copytree(source, target)
    config = json.loads((target / "config.json").read_text())
    config["run_id"] = run_id
    (target / "config.json").write_text(json.dumps(config))
    if blank_text:
        items = pd.read_parquet(target / "items.parquet")
        items["text"] = ""
        items.to_parquet(target / "items.parquet")
    return target


@pytest.fixture
def open_page(app_test, planted_run, monkeypatch, tmp_path):
    """Opens a page with a run active: `at = open_page("pages/recommendations.py", run_path=...)`."""
    dataset, default_path = planted_run
    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    st.cache_data.clear()

    def open_(page: str, *, run_path=None):
        at = app_test(timeout=60)
        at.session_state["datasets"] = {"planted": dataset}
        at.session_state["active_dataset"] = "planted"
        at.session_state["active_run"] = str(run_path or default_path)
        at.run()
        at.switch_page(page).run()
        _ok(at, page)
        return at

    yield open_
    st.cache_resource.clear()
    st.cache_data.clear()


def _ok(at, step: str):
    assert not at.exception, f"{step}: {[e.message for e in at.exception]}"
    assert not at.error, f"{step}: {[e.value for e in at.error]}"


# Dataframes without on_select carry no key in AppTest: tell the page's tables apart by their columns.
_TABLES = {
    "history_table": lambda cols: "time" in cols,
    "top_table": lambda cols: "rank" in cols and "cf_score" in cols,
    "cold_user_table": lambda cols: "cf_score" in cols and "rank" not in cols,
    "cold_picked_table": lambda cols: "#" in cols,
}


def _frame(at, key: str) -> pd.DataFrame:
    for frame in at.dataframe:
        if _TABLES[key](set(frame.value.columns)):
            return frame.value
    raise AssertionError(f"no {key} on the page; tables: {[list(f.value.columns) for f in at.dataframe]}")


# ------------------------------------------------------------------ point 6: Recommendations details


def test_recent_history_is_newest_first(open_page):
    at = open_page("pages/recommendations.py")
    history = _frame(at, "history_table")
    times = list(history["time"])
    assert len(times) > 1 and times == sorted(times, reverse=True)
    assert any("newest first" in c.value for c in at.caption)


def test_score_columns_mean_the_same_in_top_n_new_user_table_and_csv(open_page, planted_run):
    from ui.resources import recommendations_csv

    at = open_page("pages/recommendations.py")
    alpha = 0.3
    at.slider(key="rec_alpha").set_value(alpha).run()
    _ok(at, "α = 0.3")
    top = _frame(at, "top_table")
    assert list(top.columns[-3:]) == ["score", "cf_score", "content_score"]
    np.testing.assert_allclose(top["score"], alpha * top["cf_score"] + (1 - alpha) * top["content_score"], atol=1e-5)

    csv = pd.read_csv(io.BytesIO(recommendations_csv(str(planted_run[1]), alpha, 10)))
    user = at.selectbox(key="rec_user").value
    mine = csv[csv["user_id"].astype(str) == user].reset_index(drop=True)
    assert list(mine["item_id"].astype(str)) == list(top["item_id"].astype(str))
    for column in ("score", "cf_score", "content_score"):  # the same numbers under the same names
        np.testing.assert_allclose(mine[column], top[column], atol=1e-3)

    at.text_input(key="cold_find").set_value("volume 3").run()
    at.selectbox(key="cold_choice").set_value(at.selectbox(key="cold_choice").options[0]).run()
    at.button(key="cold_add").click().run()
    _ok(at, "new user")
    new_user = _frame(at, "cold_user_table")
    assert list(new_user.columns[-3:]) == ["score", "cf_score", "content_score"]
    np.testing.assert_allclose(new_user["score"],
                               alpha * new_user["cf_score"] + (1 - alpha) * new_user["content_score"], atol=1e-5)


def test_new_user_picks_add_only_the_chosen_item(open_page, planted_run):
    at = open_page("pages/recommendations.py")
    assert any("No items yet" in c.value for c in at.caption)
    # "volume 1" is also part of "volume 10" … "volume 15" of every topic: the search lists all of them,
    # but only the one item picked in the box joins the new user's history.
    at.text_input(key="cold_find").set_value("volume 1").run()
    box = at.selectbox(key="cold_choice")
    assert box.value is None and len(box.options) > 4  # nothing is picked by typing alone
    assert at.button(key="cold_add").disabled  # Add without a choice adds nothing
    assert at.session_state["cold_picked"] == []
    box.set_value(box.options[2]).run()
    at.button(key="cold_add").click().run()
    _ok(at, "one item added")
    items = planted_run[0].items
    picked = at.session_state["cold_picked"]
    assert len(picked) == 1 and "volume 1" in items["title"].iat[picked[0]]
    at.button(key="cold_add").click().run()  # the same item twice is still one pick
    assert at.session_state["cold_picked"] == picked
    assert len(_frame(at, "cold_picked_table")) == 1
    at.text_input(key="cold_find").set_value("Baking volume 2").run()
    at.selectbox(key="cold_choice").set_value(at.selectbox(key="cold_choice").options[0]).run()
    at.button(key="cold_add").click().run()
    assert len(at.session_state["cold_picked"]) == 2  # oldest first
    assert items["title"].iat[at.session_state["cold_picked"][1]] == "Baking volume 2"
    at.button(key="cold_remove_last").click().run()
    assert at.session_state["cold_picked"] == picked
    at.button(key="cold_clear").click().run()
    _ok(at, "cleared")
    assert at.session_state["cold_picked"] == []


def test_similar_items_picker_resets_when_the_run_changes(open_page, planted_run, tmp_path):
    at = open_page("pages/recommendations.py")
    at.selectbox(key="similar_item").set_value(7).run()
    at.switch_page("pages/home.py").run()
    at.switch_page("pages/recommendations.py").run()
    assert at.selectbox(key="similar_item").value == 7  # kept while the run stays the same
    other = _copy_run(planted_run[1], tmp_path / "other-run", run_id="other-run-id")
    at.session_state["active_run"] = str(other)
    at.run()
    _ok(at, "other run")
    top_item = planted_run[0].items.index[
        planted_run[0].items["item_id"].astype(str) == str(_frame(at, "top_table")["item_id"].iat[0])][0]
    assert at.selectbox(key="similar_item").value == top_item != 7  # back to the user's top-1
    assert at.session_state["cold_picked"] == []


def test_no_text_run_says_why_content_tools_are_weak(open_page, planted_run, tmp_path):
    blank = _copy_run(planted_run[1], tmp_path / "blank-run", run_id="blank-run-id", blank_text=True)
    at = open_page("pages/recommendations.py", run_path=blank)
    assert any("no item text" in w.value for w in at.warning)
    at.switch_page("pages/embeddings.py").run()
    at.selectbox(key="emb_kind").set_value("Content item vectors (text CNN)").run()
    _ok(at, "content map without text")
    assert any("no item text" in w.value for w in at.warning)
    at = open_page("pages/recommendations.py")  # the planted run has texts: no such warning
    assert not any("no item text" in w.value for w in at.warning)


def test_pages_without_a_run_say_what_to_do_next(app_test, monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    st.cache_data.clear()
    at = app_test(timeout=60)
    at.run()
    assert "No trained model" in at.info[0].value and "Next: open **Train**" in at.info[0].value  # home
    for page in ("pages/recommendations.py", "pages/embeddings.py"):
        at.switch_page(page).run()
        _ok(at, page)
        assert "Train page" in at.info[0].value and "come back here" in at.info[0].value


# ------------------------------------------------------------------ point 4: the map


def _spec(at) -> dict:
    return json.loads(at.get("plotly_chart")[0].proto.spec)


def test_map_axes_colours_search_and_user_overlay(open_page, planted_run):
    at = open_page("pages/embeddings.py")
    spec = _spec(at)
    assert spec["layout"]["xaxis"]["title"]["text"].startswith("PC1 (")
    assert "% of variance" in spec["layout"]["yaxis"]["title"]["text"]
    names = [trace.get("name") for trace in spec["data"]]
    assert names[:4] == ["topic0", "topic1", "topic2", "topic3"]
    colours = [trace["marker"]["color"] for trace in spec["data"]]
    assert len(set(colours)) == len(colours)

    at.selectbox(key="emb_category").set_value("topic2").run()
    names = [trace.get("name") for trace in _spec(at)["data"]]
    assert names == ["topic2", "(other)"]

    at.text_input(key="emb_search").set_value("Jazz volume 4").run()
    user = at.selectbox(key="emb_user").options[1]
    at.selectbox(key="emb_user").set_value(user).run()
    at.number_input(key="emb_last_n").set_value(3).run()
    _ok(at, "search + overlay")
    traces = _spec(at)["data"]
    by_name = {trace.get("name"): trace for trace in traces}
    assert traces[-1]["name"] == "Searched item"  # drawn last: on top
    assert by_name["Searched item"]["marker"]["size"] == max(t["marker"].get("size", 0) for t in traces)
    assert len(by_name["Recent events"]["x"]) <= 3  # the last 3 events, not the whole history
    assert any("last 3 of" in c.value for c in at.caption)


def test_umap_prompt_is_gone_once_the_map_is_there(open_page, monkeypatch):
    from recsys import projection

    def fake_umap(vectors, *, seed=0, cache_dir=None, **kwargs):  # real UMAP is slow; same cache contract
        path = projection.umap_cache_path(vectors, cache_dir=cache_dir, seed=seed)
        if path.is_file():
            return np.load(path)
        coords = projection.pca_2d(vectors)[:, ::-1].copy()
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, coords)
        return coords

    monkeypatch.setattr(projection, "umap_2d", fake_umap)
    monkeypatch.setattr(projection, "warm_up_umap", lambda seed=0, nn_descent=False: None, raising=False)
    at = open_page("pages/embeddings.py")
    at.selectbox(key="emb_projection").set_value("UMAP").run()
    assert any("Compute UMAP" == b.label for b in at.button)
    at.button(key="compute_umap").click().run()
    _ok(at, "UMAP computed")
    assert not any(b.key == "compute_umap" for b in at.button)
    assert not any("UMAP takes a few seconds" in c.value or "Showing PCA" in c.value for c in at.caption)
    spec = _spec(at)
    assert "UMAP" in spec["layout"]["title"]["text"] and spec["layout"]["xaxis"]["title"]["text"] == "UMAP 1"


# ------------------------------------------------------------------ point 5 (data bits) and 7: Data page, settings


def test_data_page_error_clears_when_another_file_is_chosen_and_no_text_is_warned(app_test, monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    at = app_test(timeout=60)
    at.run()
    at.switch_page("pages/data.py").run()
    _ok(at, "data page")
    assert not at.warning  # the demo data has item texts
    at.file_uploader(key="interactions").set_value(("bad.csv", b"foo,bar\n1,2\n", "text/csv")).run()
    at.button(key="load").click().run()
    assert any("no user column" in e.value for e in at.error)
    at.selectbox(key="user_col").set_value("(auto)").run()  # other widgets on the same file keep the message
    assert any("no user column" in e.value for e in at.error)
    at.file_uploader(key="interactions").set_value(("bare.csv", b"user,item\n1,a\n2,b\n1,b\n", "text/csv")).run()
    assert not at.error  # a new file: the old file's message is gone before Load
    at.button(key="load").click().run()
    _ok(at, "bare file loaded")
    assert any("No item has text" in w.value and "metadata" in w.value for w in at.warning)


def test_upload_limit_and_toolbar_hold_wherever_the_app_starts(app_test, monkeypatch, tmp_path):
    from streamlit import config

    from recsys.data import DEFAULT_MAX_BYTES

    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)  # no .streamlit/config.toml here
    config.set_option("server.maxUploadSize", 200)  # Streamlit's defaults, as in a fresh folder
    config.set_option("client.toolbarMode", "auto")
    at = app_test(timeout=60)
    at.run()
    at.switch_page("pages/data.py").run()
    _ok(at, "data page")
    limit_mib = DEFAULT_MAX_BYTES // (1024 * 1024)
    assert limit_mib == 512
    assert at.file_uploader(key="interactions").proto.max_upload_size_mb == limit_mib
    assert at.file_uploader(key="items").proto.max_upload_size_mb == limit_mib
    assert config.get_option("server.maxUploadSize") == limit_mib  # what the upload route enforces
    assert config.get_option("client.toolbarMode") == "minimal"


def test_page_icon_ships_with_the_app():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    icon = root / "assets" / "icon.png"
    assert icon.is_file() and icon.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    source = (root / "app.py").read_text()
    assert '"assets" / "icon.png"' in source and ":material/" not in source.split("st.set_page_config", 1)[1][:200]
