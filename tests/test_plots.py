"""Tests for recsys.plots: figure structure (trace types, axis types, trace counts, highlights) on tiny frames."""

import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from recsys.plots import (
    NO_CATEGORY,
    OTHER_CATEGORY,
    alpha_sweep_chart,
    category_labels,
    embedding_map,
    events_over_time,
    events_per_user_hist,
    item_popularity_long_tail,
    metrics_bar,
    robust_range,
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


def test_embedding_map_highlights_are_separate_traces_first_group_on_top(points):
    highlight = {"Searched item": [2], "Neighbours": [0, 3], "History": []}
    fig = embedding_map(points, x="x", y="y", color="genre", hover_name="title", highlight=highlight)
    assert len(fig.data) == 3 + 2  # empty group skipped
    neighbours, searched = fig.data[3], fig.data[4]  # plotly draws later traces on top
    assert (searched.name, list(searched.x), list(searched.y)) == ("Searched item", [2.0], [4.0])
    assert (neighbours.name, list(neighbours.x)) == ("Neighbours", [0.0, 3.0])
    assert searched.marker.symbol != neighbours.marker.symbol
    assert searched.marker.size > neighbours.marker.size  # the searched item is the largest marker
    assert searched.legendrank < neighbours.legendrank  # but listed first in the legend
    assert searched.showlegend and neighbours.showlegend
    assert list(neighbours.hovertext) == ["Alien", "Fargo"]


def test_embedding_map_continuous_colour_and_index_labels(points):
    frame = points.assign(popularity=[5, 1, 3, 2, 8, 1]).set_index(pd.Index([10, 11, 12, 13, 14, 15]))
    fig = embedding_map(frame, x="x", y="y", color="popularity", highlight={"Recommended": [15, 10]})
    assert len(fig.data) == 2
    assert list(fig.data[1].x) == [5.0, 0.0]
    with pytest.raises(ValueError, match=r"'Recommended' refers to rows not in the frame: \[0\]"):
        embedding_map(frame, x="x", y="y", highlight={"Recommended": [0]})


def test_embedding_map_highlights_use_the_base_render_mode_for_many_points():
    # WebGL points are drawn over SVG ones, so an SVG star under 1,500 WebGL points would be hidden.
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=1500), "y": rng.normal(size=1500)})
    fig = embedding_map(frame, x="x", y="y", highlight={"Me": [0]})
    assert [trace.type for trace in fig.data] == ["scattergl", "scattergl"]


def test_embedding_map_gives_every_category_its_own_colour():
    # 12 levels: more than the 10-colour palette, so the 24+24 palette is used; no colour twice.
    frame = pd.DataFrame({"x": np.arange(13.0), "y": np.arange(13.0),
                          "genre": [f"g{i}" for i in range(12)] + [OTHER_CATEGORY]})
    fig = embedding_map(frame, x="x", y="y", color="genre", robust_zoom=False)
    colours = {trace.name: trace.marker.color for trace in fig.data}
    assert len(colours) == 13 and len(set(colours.values())) == 13
    assert colours[OTHER_CATEGORY] == "#b8b8b8"  # "other" is grey, not a palette colour
    few = embedding_map(frame.iloc[[0, 1, 2, 12]], x="x", y="y", color="genre", robust_zoom=False)
    greys = {"#7f7f7f", "#b8b8b8", "#e2e2e2"}
    assert not greys & {trace.marker.color for trace in few.data if trace.name != OTHER_CATEGORY}
    # Sci-Fi and Gardening, 11th and 20th levels in a catalogue, used to share a colour (10-colour cycle).
    levels = [f"c{i}" for i in range(24)]
    fig = embedding_map(pd.DataFrame({"x": np.arange(24.0), "y": np.arange(24.0), "c": levels}), x="x", y="y",
                        color="c", robust_zoom=False)
    assert len({trace.marker.color for trace in fig.data}) == 24


def test_category_labels_top_n_other_and_multi_genre():
    cats = [["Drama"], ["Drama", "Sci-Fi"], ["Comedy", "Drama"], ["Western"], [], ["Drama"], ["Sci-Fi"],
            ["Comedy"]]
    # Counts: Drama 4, Comedy 2, Sci-Fi 2, Western 1. Top 3 = Drama, Comedy, Sci-Fi (ties by name).
    labels, order = category_labels(cats, top_n=3)
    # A multi-genre item takes its rarest top-3 genre, not its first: ["Drama", "Sci-Fi"] -> Sci-Fi.
    assert labels == ["Drama", "Sci-Fi", "Comedy", OTHER_CATEGORY, NO_CATEGORY, "Drama", "Sci-Fi", "Comedy"]
    assert order == ["Drama", "Comedy", "Sci-Fi", OTHER_CATEGORY, NO_CATEGORY]
    # Focus on one category: every item that has it, whatever its position in the list.
    labels, order = category_labels(cats, focus="Drama")
    assert labels == ["Drama", "Drama", "Drama", OTHER_CATEGORY, OTHER_CATEGORY, "Drama", OTHER_CATEGORY,
                      OTHER_CATEGORY]
    assert order == ["Drama", OTHER_CATEGORY]


def test_robust_zoom_keeps_one_outlier_from_squeezing_the_map():
    rng = np.random.default_rng(0)
    x = rng.normal(size=2000)
    x[0] = 500.0  # one far outlier: the full x range would be ~100x the others' spread
    frame = pd.DataFrame({"x": x, "y": rng.normal(size=2000)})
    fig = embedding_map(frame, x="x", y="y")
    low, high = fig.layout.xaxis.range
    assert high < 10 and low > -10  # zoomed to the bulk of the points
    assert fig.layout.yaxis.range is None  # y has no outlier: left on autorange
    note = fig.layout.annotations[0].text
    assert "central 99%" in note and "outlier" in note and "Double-click" in note
    # A highlighted outlier stays in view.
    fig = embedding_map(frame, x="x", y="y", highlight={"Searched item": [0]})
    assert fig.layout.xaxis.range[1] >= 500.0
    # Without outliers there is no zoom and no note.
    fig = embedding_map(frame.iloc[1:], x="x", y="y")
    assert fig.layout.xaxis.range is None and not fig.layout.annotations
    assert robust_range([1.0, 2.0]) is None  # too few points to judge


def test_embedding_map_axis_titles(points):
    fig = embedding_map(points, x="x", y="y", axis_titles=("PC1 (40% of variance)", "PC2 (10% of variance)"))
    assert fig.layout.xaxis.title.text == "PC1 (40% of variance)"
    assert fig.layout.yaxis.title.text == "PC2 (10% of variance)"


HISTORY = [
    {"epoch": 1, "loss": 5.0, "val_loss": 5.5, "val_ndcg@10": 0.02, "note": "warm-up"},
    {"epoch": 2, "loss": 4.0, "val_loss": 4.9, "val_ndcg@10": 0.05},
    {"epoch": 3, "loss": 3.5, "val_loss": float("nan"), "val_ndcg@10": 0.06},
]

# Progress.history records as the training job writes them: cumulative seconds next to small NDCGs.
PROGRESS_HISTORY = [
    {"epoch": 1, "loss": 12.5, "seconds": 650.0, "val_ndcg@10": 0.11, "val_ndcg@10_cf": 0.06,
     "val_ndcg@10_content": 0.11},
    {"epoch": 2, "loss": 9.0, "seconds": 1320.0, "val_ndcg@10": 0.14, "val_ndcg@10_cf": 0.08,
     "val_ndcg@10_content": 0.12},
    {"epoch": 3, "loss": 8.1, "seconds": 2010.0, "val_ndcg@10": 0.15, "val_ndcg@10_cf": 0.09,
     "val_ndcg@10_content": 0.13},
]


def test_training_curves_put_losses_and_metrics_in_separate_panels():
    fig = training_curves(HISTORY)
    by_name = {trace.name: trace for trace in fig.data}
    assert set(by_name) == {"training loss", "validation loss", "NDCG@10 hybrid (validation)"}  # "note" ignored
    assert all(trace.type == "scatter" and "lines" in trace.mode for trace in fig.data)
    ndcg = by_name["NDCG@10 hybrid (validation)"]
    assert by_name["training loss"].yaxis == by_name["validation loss"].yaxis != ndcg.yaxis
    assert list(by_name["validation loss"].x) == [1, 2]  # NaN epoch dropped
    assert list(ndcg.y) == [0.02, 0.05, 0.06]
    assert sorted(note.text for note in fig.layout.annotations) == ["Loss", "Validation metrics"]
    assert fig.layout.yaxis.matches is None and fig.layout.yaxis2.matches is None


def test_training_curves_keep_time_off_the_metric_axis_and_in_the_hover():
    fig = training_curves(PROGRESS_HISTORY)
    names = {trace.name for trace in fig.data}
    assert names == {"training loss", "NDCG@10 hybrid (validation)", "NDCG@10 CF part only (validation)",
                     "NDCG@10 content part only (validation)"}  # "seconds" is not a series
    metric_traces = [trace for trace in fig.data if trace.name.startswith("NDCG")]
    loss_trace = next(trace for trace in fig.data if trace.name == "training loss")
    assert {trace.yaxis for trace in metric_traces} == {metric_traces[0].yaxis} != {loss_trace.yaxis}
    # The metric axis only carries NDCG values (max 0.15), so autorange shows their differences.
    assert max(max(trace.y) for trace in metric_traces) == 0.15
    # Time since start is in every trace's hover: 650 s -> "10 min 50 s", 2010 s -> "33 min 30 s".
    hover = [row[0] for row in loss_trace.customdata]
    assert hover == ["10 min 50 s", "22 min 00 s", "33 min 30 s"]
    assert "Time since start" in loss_trace.hovertemplate
    assert [row[0] for row in metric_traces[0].customdata][0] == "10 min 50 s"


def test_training_curves_single_panel_and_empty():
    fig = training_curves([{"loss": 2.0}, {"loss": 1.0}])  # no epoch key: position + 1
    assert len(fig.data) == 1 and list(fig.data[0].x) == [1, 2]
    assert fig.layout.yaxis.title.text == "Loss"
    assert len(training_curves([]).data) == 0
    assert len(training_curves([{"epoch": 1, "seconds": 3.0}]).data) == 0  # time alone is no curve
    assert [t.name for t in training_curves(HISTORY, metrics=["val_ndcg@10"]).data] == ["NDCG@10 hybrid (validation)"]


def test_alpha_sweep_chart_marks_best_alpha():
    sweep = pd.DataFrame({"alpha": [0.0, 0.5, 1.0], "NDCG@10": [0.10, 0.20, 0.15], "coverage@10": [0.30, 0.20, 0.10]})
    fig = alpha_sweep_chart(sweep, 0.5)
    assert [(trace.type, trace.name) for trace in fig.data] == [("scatter", "NDCG@10"), ("scatter", "coverage@10")]
    assert list(fig.data[0].y) == [0.10, 0.20, 0.15]
    assert len(fig.layout.shapes) == 1
    line = fig.layout.shapes[0]
    assert (line.type, line.x0, line.x1, line.line.dash) == ("line", 0.5, 0.5, "dash")
    assert any(note.text == "best α = 0.50" for note in fig.layout.annotations)
    assert fig.layout.yaxis.title.text == "Value on the validation split"


def test_alpha_sweep_chart_on_the_test_split_says_so_and_drops_recall_equal_to_hr():
    sweep = pd.DataFrame({"alpha": [0.0, 0.5, 1.0], "HR@10": [0.2, 0.3, 0.25], "Recall@10": [0.2, 0.3, 0.25],
                          "NDCG@10": [0.10, 0.20, 0.15]})
    fig = alpha_sweep_chart(sweep, 0.5, split="test")
    assert fig.layout.yaxis.title.text == "Value on the test split"
    assert "Validation" not in fig.layout.yaxis.title.text and "test split" in fig.layout.title.text
    assert [trace.name for trace in fig.data] == ["HR@10", "NDCG@10"]  # Recall@10 == HR@10: one target per user
    assert any(note.text == "α chosen on validation = 0.50" for note in fig.layout.annotations)
    different = sweep.assign(**{"Recall@10": [0.1, 0.3, 0.25]})
    assert "Recall@10" in [trace.name for trace in alpha_sweep_chart(different, 0.5).data]


@pytest.mark.parametrize("form", ["wide", "long"])
def test_metrics_bar_groups_models(form):
    wide = pd.DataFrame({"model": ["hybrid", "popularity", "EASE"], "HR@10": [0.3, 0.1, 0.25], "NDCG@10": [0.15, 0.05, 0.12]})
    frame = wide if form == "wide" else wide.melt(id_vars="model", var_name="metric", value_name="value")
    fig = metrics_bar(frame)
    assert [(trace.type, trace.name) for trace in fig.data] == [("bar", "hybrid"), ("bar", "popularity"), ("bar", "EASE")]
    assert list(fig.data[0].x) == ["HR@10", "NDCG@10"]
    assert list(fig.data[0].y) == [0.3, 0.15]
    assert fig.layout.barmode == "group"


@pytest.mark.parametrize("form", ["wide", "long"])
def test_metrics_bar_drops_recall_equal_to_hr(form):
    wide = pd.DataFrame({"model": ["hybrid", "EASE"], "HR@10": [0.3, 0.25], "Recall@10": [0.3, 0.25],
                         "NDCG@10": [0.15, 0.12]})
    frame = wide if form == "wide" else wide.melt(id_vars="model", var_name="metric", value_name="value")
    assert list(metrics_bar(frame).data[0].x) == ["HR@10", "NDCG@10"]
    several_targets = wide.assign(**{"Recall@10": [0.2, 0.25]})
    frame = several_targets if form == "wide" else several_targets.melt(id_vars="model", var_name="metric",
                                                                        value_name="value")
    assert "Recall@10" in list(metrics_bar(frame).data[0].x)


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
