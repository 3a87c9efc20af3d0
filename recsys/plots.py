"""Plotly figures for the studio, built from long-form DataFrames with plotly express.

Pages only call `st.plotly_chart(fig)`. Every function takes plain frames (or a list of dicts for
training history), refers to columns by name, and returns a `plotly.graph_objects.Figure`.
Item titles and other user text go only into data fields (hover names, hover data), never into
titles, legend names or HTML assembled here.

Example:
    >>> fig = item_popularity_long_tail(dataset.events, dataset.n_items)
    >>> fig = alpha_sweep_chart(sweep, best_alpha=0.4)
"""

from __future__ import annotations

import html

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

__all__ = [
    "alpha_sweep_chart",
    "embedding_map",
    "events_over_time",
    "events_per_user_hist",
    "item_popularity_long_tail",
    "metrics_bar",
    "training_curves",
]

_HIGHLIGHT_STYLES = (
    {"symbol": "star", "color": "#d62728", "size": 16},
    {"symbol": "diamond", "color": "#111111", "size": 11},
    {"symbol": "x", "color": "#ff7f0e", "size": 11},
    {"symbol": "square", "color": "#2ca02c", "size": 10},
    {"symbol": "triangle-up", "color": "#9467bd", "size": 11},
)


def _empty_figure(title: str, message: str) -> go.Figure:
    """A figure with no traces and a centred message, so pages never special-case empty data."""
    fig = go.Figure()
    fig.update_layout(
        title=title,
        xaxis={"visible": False},
        yaxis={"visible": False},
        annotations=[{"text": message, "showarrow": False, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5}],
    )
    return fig


def events_per_user_hist(events: pd.DataFrame, *, nbins: int = 50) -> go.Figure:
    """Histogram of how many events each user has (activity distribution).

    Args:
        events: Frame with a `user` column (one row per event).
        nbins: Maximum number of bars.
    """
    title = "Events per user"
    if len(events) == 0:
        return _empty_figure(title, "No events")
    per_user = events.groupby("user").size().rename("n_events").reset_index()
    fig = px.histogram(
        per_user,
        x="n_events",
        nbins=nbins,
        labels={"n_events": "Events per user"},
        title=title,
    )
    fig.update_layout(yaxis_title="Users", bargap=0.05)
    return fig


def item_popularity_long_tail(
    events: pd.DataFrame, n_items: int, *, item_titles: Sequence[str] | None = None
) -> go.Figure:
    """Item event counts sorted by rank (1 = most popular) on a log y axis: the long tail.

    Items with no events cannot sit on a log axis, so they are left out and counted in the title.

    Args:
        events: Frame with an `item` column of item indices 0..n_items-1.
        n_items: Catalogue size, including items without events.
        item_titles: Optional [n_items] titles shown on hover.
    """
    counts = np.bincount(events["item"].to_numpy(dtype=np.int64), minlength=n_items)[:n_items]
    frame = pd.DataFrame({"item": np.arange(n_items), "n_events": counts})
    hover_data = ["item"]
    if item_titles is not None:
        frame["title"] = list(item_titles)
        hover_data.append("title")
    frame = frame.sort_values(["n_events", "item"], ascending=[False, True], kind="stable")
    frame = frame[frame["n_events"] > 0].reset_index(drop=True)
    frame["rank"] = np.arange(1, len(frame) + 1)
    n_cold = n_items - len(frame)
    title = "Item popularity (long tail)"
    if n_cold:
        title += f" — {n_cold} item{'s' if n_cold != 1 else ''} without events not shown"
    if len(frame) == 0:
        return _empty_figure(title, "No events")
    fig = px.line(
        frame,
        x="rank",
        y="n_events",
        log_y=True,
        hover_data=hover_data,
        labels={"rank": "Item rank (by events)", "n_events": "Events", "item": "Item index", "title": "Title"},
        title=title,
    )
    return fig


def events_over_time(events: pd.DataFrame, *, freq: str = "auto") -> go.Figure:
    """Events per day or per week, from `timestamp` (int64 unix seconds, UTC).

    Args:
        events: Frame with a `timestamp` column.
        freq: "D" (day), "W" (week) or "auto": weeks when the data spans more than 180 days.
    """
    if freq not in ("auto", "D", "W"):
        raise ValueError(f"freq must be 'auto', 'D' or 'W', got {freq!r}.")
    if len(events) == 0:
        return _empty_figure("Events over time", "No events")
    when = pd.to_datetime(events["timestamp"].to_numpy(dtype=np.int64), unit="s", utc=True)
    if freq == "auto":
        freq = "W" if (when.max() - when.min()) > pd.Timedelta(days=180) else "D"
    counts = pd.Series(1, index=when).resample(freq).sum()
    frame = pd.DataFrame({"period": counts.index.tz_localize(None), "n_events": counts.to_numpy()})
    unit = "week" if freq == "W" else "day"
    fig = px.line(
        frame,
        x="period",
        y="n_events",
        markers=len(frame) <= 60,
        labels={"period": "Week ending (UTC)" if unit == "week" else "Day (UTC)", "n_events": f"Events per {unit}"},
        title=f"Events per {unit}",
    )
    return fig


def embedding_map(
    frame: pd.DataFrame,
    *,
    x: str,
    y: str,
    color: str | None = None,
    hover_name: str | None = None,
    hover_data: Sequence[str] | None = None,
    highlight: Mapping[str, Sequence] | None = None,
    title: str | None = None,
) -> go.Figure:
    """Scatter of 2-D embedding coordinates, with optional highlighted groups drawn on top.

    Args:
        frame: One row per point; `x`, `y` and the other named columns.
        x, y: Coordinate columns (e.g. from `projection.pca_2d`).
        color: Column to colour points by (categorical or numeric), or None.
        hover_name: Column shown in bold on hover (e.g. item title).
        hover_data: Extra columns shown on hover.
        highlight: Legend name -> index labels of `frame` rows to emphasise, e.g.
            `{"Searched item": [42], "Neighbours": [7, 3, 9]}`. Each group becomes its own trace
            with a distinct marker, in the given order, above the base points. Legend names are
            shown as written: pass fixed labels, not user text. Empty groups are skipped.
        title: Figure title (fixed text, not user input).

    Returns:
        The figure; base points are `scatter` (or `scattergl` above 1000 points), highlights `scatter`.
    """
    hover_data = list(hover_data or [])
    if color is not None and not pd.api.types.is_numeric_dtype(frame[color]):
        # Categorical colours become legend entries, which plotly renders as HTML: escape user text.
        frame = frame.assign(**{color: frame[color].astype(str).map(html.escape)})
    base = px.scatter(
        frame,
        x=x,
        y=y,
        color=color,
        hover_name=hover_name,
        hover_data=hover_data,
        title=title,
        render_mode="auto",
    )
    base.update_traces(marker={"size": 5, "opacity": 0.6}, selector={"mode": "markers"})
    for position, (name, labels) in enumerate((highlight or {}).items()):
        labels = list(labels)
        if not labels:
            continue
        missing = [label for label in labels if label not in frame.index]
        if missing:
            raise ValueError(
                f"Highlight group {name!r} refers to rows not in the frame: {missing[:5]}; "
                "pass index labels of the frame given to embedding_map."
            )
        subset = frame.loc[labels]
        layer = px.scatter(subset, x=x, y=y, hover_name=hover_name, hover_data=hover_data, render_mode="svg")
        style = _HIGHLIGHT_STYLES[position % len(_HIGHLIGHT_STYLES)]
        layer.update_traces(
            name=str(name),
            legendgroup=f"highlight-{position}",
            showlegend=True,
            marker={
                "symbol": style["symbol"],
                "color": style["color"],
                "size": style["size"],
                "opacity": 1.0,
                "line": {"width": 1, "color": "white"},
            },
        )
        base.add_traces(list(layer.data))
    base.update_layout(legend={"itemsizing": "constant"})
    return base


def _history_frame(history: Sequence[Mapping], metrics: Sequence[str] | None) -> pd.DataFrame:
    """Long form (epoch, metric, value, panel) from a list of per-epoch dicts; non-numeric values dropped."""
    rows = []
    for position, record in enumerate(history):
        epoch = record.get("epoch", position + 1)
        for key, value in record.items():
            if key == "epoch" or (metrics is not None and key not in metrics):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                continue
            if not np.isfinite(value):
                continue
            panel = "Loss" if "loss" in key.lower() else "Metrics"
            rows.append({"epoch": epoch, "metric": key, "value": float(value), "panel": panel})
    return pd.DataFrame(rows, columns=["epoch", "metric", "value", "panel"])


def training_curves(history: Sequence[Mapping], *, metrics: Sequence[str] | None = None) -> go.Figure:
    """Per-epoch training curves: losses in one panel, validation metrics in another.

    Args:
        history: One dict per epoch, e.g. `{"epoch": 1, "loss": 5.1, "val_loss": 5.3, "val_ndcg@10": 0.04}`.
            A missing `epoch` means the list position + 1. Non-numeric values are ignored.
        metrics: Keys to plot; default all numeric keys except `epoch`.

    Returns:
        A line figure, faceted by panel (rows "Loss" and "Metrics", independent y axes) when both exist.
    """
    title = "Training curves"
    frame = _history_frame(history, metrics)
    if frame.empty:
        return _empty_figure(title, "No epochs yet")
    panels = [panel for panel in ("Loss", "Metrics") if panel in set(frame["panel"])]
    fig = px.line(
        frame,
        x="epoch",
        y="value",
        color="metric",
        markers=True,
        facet_row="panel" if len(panels) > 1 else None,
        category_orders={"panel": panels},
        labels={"epoch": "Epoch", "value": "", "metric": "Series", "panel": ""},
        title=title,
    )
    fig.update_yaxes(matches=None)
    fig.for_each_annotation(lambda note: note.update(text=note.text.split("=", 1)[-1]))
    if len(panels) == 1:
        fig.update_layout(yaxis_title=panels[0])
    return fig


def alpha_sweep_chart(sweep: pd.DataFrame, best_alpha: float, *, metrics: Sequence[str] | None = None) -> go.Figure:
    """Metric vs blend weight α, with the chosen α marked by a dashed vertical line.

    Args:
        sweep: One row per α: column `alpha` and metric columns such as `NDCG@10`, `coverage@10`.
        best_alpha: The α to mark (e.g. best validation NDCG@10).
        metrics: Columns to plot; default every numeric column except `alpha`.
    """
    if metrics is None:
        metrics = [c for c in sweep.columns if c != "alpha" and pd.api.types.is_numeric_dtype(sweep[c])]
    long = sweep.melt(id_vars="alpha", value_vars=list(metrics), var_name="metric", value_name="value")
    fig = px.line(
        long,
        x="alpha",
        y="value",
        color="metric",
        markers=True,
        labels={"alpha": "α (weight of collaborative part)", "value": "Validation value", "metric": "Metric"},
        title="Blend weight α sweep",
    )
    fig.add_vline(
        x=float(best_alpha),
        line_dash="dash",
        line_color="#555555",
        annotation_text=f"best α = {float(best_alpha):.2f}",
        annotation_position="top",
    )
    return fig


def metrics_bar(frame: pd.DataFrame, *, model_col: str = "model") -> go.Figure:
    """Grouped bars comparing models (the hybrid vs baselines) on each metric.

    Args:
        frame: Either long form with columns `model`, `metric`, `value`, or wide form with a `model`
            column and one numeric column per metric (e.g. `HR@10`, `NDCG@10`).
        model_col: Name of the model column.
    """
    if {"metric", "value"} <= set(frame.columns):
        long = frame[[model_col, "metric", "value"]]
    else:
        value_vars = [c for c in frame.columns if c != model_col and pd.api.types.is_numeric_dtype(frame[c])]
        long = frame.melt(id_vars=model_col, value_vars=value_vars, var_name="metric", value_name="value")
    fig = px.bar(
        long,
        x="metric",
        y="value",
        color=model_col,
        barmode="group",
        text_auto=".3f",
        hover_data={"value": ":.4f"},
        labels={"metric": "Metric", "value": "Value", model_col: "Model"},
        title="Model vs baselines (test set)",
    )
    return fig
