"""Tests for recsys.plots: figure structure (trace types, axis types, trace counts, highlights) on tiny frames."""

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from recsys.plots import (
    alpha_sweep_chart,
    embedding_map,
    events_over_time,
    events_per_user_hist,
    item_popularity_long_tail,
    metrics_bar,
    training_curves,
)

DAY = 86_400


@pytest.fixture
def events():
    """6 events: user 0 has 3, user 1 has 1, user 2 has 2; items 0 (2x), 1 (3x), 2 (1x) of a 5-item catalogue."""
    return pd.DataFrame(
        {
            "user": np.array([0, 0, 0, 1, 2, 2], dtype=np.int32),
            "item": np.array([0, 1, 0, 1, 2, 1], dtype=np.int32),
            "rating": np.ones(6, dtype=np.float32),
            "timestamp": np.array([0, DAY, 2 * DAY + 5, 2 * DAY + 7, 5 * DAY, 5 * DAY + 1], dtype=np.int64),
        }
    )


def test_events_per_user_hist(events):
    fig = events_per_user_hist(events)
    assert [trace.type for trace in fig.data] == ["histogram"]
    assert sorted(fig.data[0].x) == [1, 2, 3]  # one value per user: its event count
    assert fig.layout.yaxis.title.text == "Users"
    assert fig.layout.xaxis.title.text == "Events per user"


def test_item_popularity_long_tail_is_rank_vs_count_on_log_axis(events):
    fig = item_popularity_long_tail(events, 5, item_titles=["A", "B", "C", "D", "E"])
    assert [trace.type for trace in fig.data] == ["scatter"]
    assert fig.layout.yaxis.type == "log"
    # Counts: item 1 -> 3, item 0 -> 2, item 2 -> 1; items 3 and 4 have none and are left off.
    assert list(fig.data[0].x) == [1, 2, 3]
    assert list(fig.data[0].y) == [3, 2, 1]
    assert [list(row) for row in fig.data[0].customdata] == [[1, "B"], [0, "A"], [2, "C"]]
    assert "2 items without events not shown" in fig.layout.title.text


def test_events_over_time_counts_per_day(events):
    fig = events_over_time(events)
    assert [trace.type for trace in fig.data] == ["scatter"]
    # Days 0..5 (UTC): 1, 1, 2, 0, 0, 2 — empty days are zeros, not gaps.
    assert list(fig.data[0].y) == [1, 1, 2, 0, 0, 2]
    assert str(fig.data[0].x[0]).startswith("1970-01-01")
    assert fig.layout.title.text == "Events per day"


def test_events_over_time_switches_to_weeks_for_long_spans(events):
    long_span = events.assign(timestamp=events["timestamp"] * 60)  # 0 .. 300 days
    fig = events_over_time(long_span)
    assert fig.layout.title.text == "Events per week"
    assert int(np.sum(fig.data[0].y)) == len(events)
    with pytest.raises(ValueError, match="freq"):
        events_over_time(events, freq="M")


def test_empty_events_give_a_message_not_an_error(events):
    empty = events.iloc[0:0]
    for fig in (events_per_user_hist(empty), events_over_time(empty), item_popularity_long_tail(empty, 3)):
        assert len(fig.data) == 0
        assert fig.layout.annotations[0].text == "No events"


@pytest.fixture
def points():
    return pd.DataFrame(
        {
            "x": [0.0, 1.0, 2.0, 3.0, 4.0, 5.0],
            "y": [0.0, 1.0, 4.0, 9.0, 16.0, 25.0],
            "title": ["Alien", "Heat", "<b>Brazil</b>", "Fargo", "Ran", "Up"],
            "genre": ["scifi", "crime", "scifi", "crime", "drama", "drama"],
        }
    )


def test_embedding_map_base_traces(points):
    fig = embedding_map(points, x="x", y="y", color="genre", hover_name="title", hover_data=["genre"])
    assert [trace.type for trace in fig.data] == ["scatter"] * 3  # one trace per genre
    assert [trace.name for trace in fig.data] == ["scifi", "crime", "drama"]
    # User text travels as data (hovertext), untouched.
    assert list(fig.data[0].hovertext) == ["Alien", "<b>Brazil</b>"]


def test_embedding_map_highlights_are_separate_traces(points):
    highlight = {"Searched item": [2], "Neighbours": [0, 3], "History": []}
    fig = embedding_map(points, x="x", y="y", color="genre", hover_name="title", highlight=highlight)
    assert len(fig.data) == 3 + 2  # empty group skipped
    searched, neighbours = fig.data[3], fig.data[4]
    assert (searched.name, list(searched.x), list(searched.y)) == ("Searched item", [2.0], [4.0])
    assert (neighbours.name, list(neighbours.x)) == ("Neighbours", [0.0, 3.0])
    assert searched.marker.symbol != neighbours.marker.symbol
    assert searched.showlegend and neighbours.showlegend
    assert list(neighbours.hovertext) == ["Alien", "Fargo"]


def test_embedding_map_continuous_colour_and_index_labels(points):
    frame = points.assign(popularity=[5, 1, 3, 2, 8, 1]).set_index(pd.Index([10, 11, 12, 13, 14, 15]))
    fig = embedding_map(frame, x="x", y="y", color="popularity", highlight={"Recommended": [15, 10]})
    assert len(fig.data) == 2
    assert list(fig.data[1].x) == [5.0, 0.0]
    with pytest.raises(ValueError, match=r"'Recommended' refers to rows not in the frame: \[0\]"):
        embedding_map(frame, x="x", y="y", highlight={"Recommended": [0]})


def test_embedding_map_uses_webgl_for_many_points():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1500), "y": rng.normal(size=1500)})
    fig = embedding_map(frame, x="x", y="y", highlight={"Me": [0]})
    assert [trace.type for trace in fig.data] == ["scattergl", "scatter"]


HISTORY = [
    {"epoch": 1, "loss": 5.0, "val_loss": 5.5, "val_ndcg@10": 0.02, "note": "warm-up"},
    {"epoch": 2, "loss": 4.0, "val_loss": 4.9, "val_ndcg@10": 0.05},
    {"epoch": 3, "loss": 3.5, "val_loss": float("nan"), "val_ndcg@10": 0.06},
]


def test_training_curves_put_losses_and_metrics_in_separate_panels():
    fig = training_curves(HISTORY)
    by_name = {trace.name: trace for trace in fig.data}
    assert set(by_name) == {"loss", "val_loss", "val_ndcg@10"}  # the string "note" is ignored
    assert all(trace.type == "scatter" and "lines" in trace.mode for trace in fig.data)
    assert by_name["loss"].yaxis == by_name["val_loss"].yaxis != by_name["val_ndcg@10"].yaxis
    assert list(by_name["val_loss"].x) == [1, 2]  # NaN epoch dropped
    assert list(by_name["val_ndcg@10"].y) == [0.02, 0.05, 0.06]
    assert sorted(note.text for note in fig.layout.annotations) == ["Loss", "Metrics"]
    assert fig.layout.yaxis.matches is None and fig.layout.yaxis2.matches is None


def test_training_curves_single_panel_and_empty():
    fig = training_curves([{"loss": 2.0}, {"loss": 1.0}])  # no epoch key: position + 1
    assert len(fig.data) == 1 and list(fig.data[0].x) == [1, 2]
    assert fig.layout.yaxis.title.text == "Loss"
    assert len(training_curves([]).data) == 0
    assert [t.name for t in training_curves(HISTORY, metrics=["val_ndcg@10"]).data] == ["val_ndcg@10"]


def test_alpha_sweep_chart_marks_best_alpha():
    sweep = pd.DataFrame({"alpha": [0.0, 0.5, 1.0], "NDCG@10": [0.10, 0.20, 0.15], "coverage@10": [0.30, 0.20, 0.10]})
    fig = alpha_sweep_chart(sweep, 0.5)
    assert [(trace.type, trace.name) for trace in fig.data] == [("scatter", "NDCG@10"), ("scatter", "coverage@10")]
    assert list(fig.data[0].y) == [0.10, 0.20, 0.15]
    assert len(fig.layout.shapes) == 1
    line = fig.layout.shapes[0]
    assert (line.type, line.x0, line.x1, line.line.dash) == ("line", 0.5, 0.5, "dash")
    assert any(note.text == "best α = 0.50" for note in fig.layout.annotations)


@pytest.mark.parametrize("form", ["wide", "long"])
def test_metrics_bar_groups_models(form):
    wide = pd.DataFrame({"model": ["hybrid", "popularity", "EASE"], "HR@10": [0.3, 0.1, 0.25], "NDCG@10": [0.15, 0.05, 0.12]})
    frame = wide if form == "wide" else wide.melt(id_vars="model", var_name="metric", value_name="value")
    fig = metrics_bar(frame)
    assert [(trace.type, trace.name) for trace in fig.data] == [("bar", "hybrid"), ("bar", "popularity"), ("bar", "EASE")]
    assert list(fig.data[0].x) == ["HR@10", "NDCG@10"]
    assert list(fig.data[0].y) == [0.3, 0.15]
    assert fig.layout.barmode == "group"


def test_figures_serialise_to_json(events, points):
    """Streamlit sends figure JSON to the browser; every figure must serialise."""
    figures = [
        events_per_user_hist(events),
        item_popularity_long_tail(events, 5),
        events_over_time(events),
        embedding_map(points, x="x", y="y", highlight={"Me": [0]}),
        training_curves(HISTORY),
        alpha_sweep_chart(pd.DataFrame({"alpha": [0.0, 1.0], "NDCG@10": [0.1, 0.2]}), 1.0),
    ]
    for fig in figures:
        assert isinstance(fig, go.Figure)
        json.loads(fig.to_json())
