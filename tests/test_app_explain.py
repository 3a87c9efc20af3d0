"""AppTest runs of the issue-13 parts of the pages: "Why this item?", α by segment, the segment report.

A tiny run is trained once on the planted data (its test report, segments included, is computed while
it trains) and made the session's active run.
"""

from __future__ import annotations

import json

import pytest
import streamlit as st

from planted import TINY, planted_dataset


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    from recsys.config import TrainConfig
    from recsys.store import RunStore
    from recsys.training import train_run

    return train_run(planted_dataset(), TrainConfig(**TINY), store=RunStore(tmp_path_factory.mktemp("runs")))


@pytest.fixture
def page(app_test, planted_run, monkeypatch, tmp_path):
    monkeypatch.setenv("RECSYS_RUNS_DIR", str(tmp_path / "runs"))
    st.cache_resource.clear()
    st.cache_data.clear()

    def open_page(path):
        at = app_test(timeout=120)
        at.run()
        at.session_state["active_run"] = str(planted_run.path)
        at.switch_page(path).run()
        assert not at.exception, [e.message for e in at.exception]
        return at

    yield open_page
    st.cache_resource.clear()
    st.cache_data.clear()


def _chart_titles(at) -> list[str]:
    titles = []
    for chart in at.get("plotly_chart"):
        spec = json.loads(chart.proto.spec)
        titles.append(((spec.get("layout") or {}).get("title") or {}).get("text", ""))
    return titles


def test_why_this_item_shows_the_same_explanation_as_the_cli(page, planted_run, tmp_path):
    from recsys.cli import main

    at = page("pages/recommendations.py")
    why = at.selectbox(key="why_item")
    assert why.value is None and len(why.options) == 11  # nothing explained until a row is clicked or picked
    why.select_index(1).run()
    assert not at.exception, [e.message for e in at.exception]
    score = float(at.metric[0].value)
    assert "Which history items drove the score" in _chart_titles(at)
    highlighted = [m.value for m in at.markdown if ":orange-background[" in m.value]
    assert highlighted and "<" not in highlighted[0]  # escaped text with only the highlight marks
    user_id = at.selectbox(key="rec_user").value
    table = next(d.value for d in at.dataframe if "item_id" in d.value.columns and "score" in d.value.columns)
    item_id = str(table["item_id"].iloc[0])
    alpha = float(at.slider(key="rec_alpha").value)
    out = tmp_path / "explain.json"
    assert main(["explain", "--run-dir", str(planted_run.path), "--user", user_id, "--item", item_id,
                 "--alpha", str(alpha), "--out", str(out)]) == 0
    assert json.loads(out.read_text())["score"] == pytest.approx(score, abs=1e-3)


def test_alpha_by_segment_toggle_serves_the_segment_alpha(page, planted_run):
    from recsys.evaluation.segments import run_alpha_by_segment, user_alpha
    from recsys.serving import default_alpha

    assert run_alpha_by_segment(planted_run), "the run's test report carries α by segment"
    at = page("pages/recommendations.py")
    toggle = at.toggle(key="rec_alpha_by_segment")
    assert not toggle.disabled
    toggle.set_value(True).run()
    assert not at.exception, [e.message for e in at.exception]
    expected = user_alpha(planted_run, 0, default=default_alpha(planted_run))
    assert any(h.value == f"Top 10 at α = {expected:.2f}" for h in at.subheader)
    assert any("α by segment:" in c.value for c in at.caption)


def test_evaluate_page_shows_the_segment_report_and_alpha_curves(page):
    at = page("pages/evaluate.py")
    frames = [d.value for d in at.dataframe]
    segments = next(f for f in frames if "segment" in f.columns and "NDCG@10 95% interval" in f.columns)
    assert {"< 5", "5–20", "> 20", "head", "tail", "has text", "no text"} <= set(segments["segment"])
    assert any("best baseline" in f.columns for f in frames)
    assert "α sweep per user-activity segment" in _chart_titles(at)
