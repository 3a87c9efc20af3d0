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
    "HISTORY_DISPLAY_NAMES",
    "NO_CATEGORY",
    "OTHER_CATEGORY",
    "alpha_sweep_chart",
    "category_labels",
    "embedding_map",
    "events_over_time",
    "events_per_user_hist",
    "explanation_bars",
    "item_popularity_long_tail",
    "metrics_bar",
    "robust_range",
    "segment_alpha_curves",
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


OTHER_CATEGORY = "(other)"
"""Colour label of items whose categories are all outside the top N (see `category_labels`)."""
NO_CATEGORY = "(none)"
"""Colour label of items without any category."""
_GREYS = {OTHER_CATEGORY: "#b8b8b8", NO_CATEGORY: "#e2e2e2"}
# 10 colours a reader tells apart (D3/Tableau 10 with its grey swapped for navy: grey means "(other)"),
# then 48 for many levels such as clusters.
_FEW_COLOURS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#bcbd22", "#17becf",
                "#1b1f6b"]
_MANY_COLOURS = px.colors.qualitative.Dark24
ROBUST_QUANTILE = 0.005
"""The robust zoom shows the central 1 - 2·ROBUST_QUANTILE of points on each axis (99 %)."""


def category_labels(categories: Sequence[Sequence[str]], *, top_n: int = 10,
                    focus: str | None = None) -> tuple[list[str], list[str]]:
    """One colour label per item from its category list, and the legend order.

    Only the `top_n` most frequent categories get a colour of their own; an item with several
    categories takes its most specific one among them (the least frequent of its top-N categories),
    so multi-genre items are not all painted in the colour of whichever genre is listed first.
    Items whose categories are all rarer get `OTHER_CATEGORY`, items without any `NO_CATEGORY`.

    With `focus`, the labels are only "<focus>" (every item that has that category, whatever its
    other categories) and `OTHER_CATEGORY`.

    Args:
        categories: [n_items] lists of category names.
        top_n: Categories with their own colour.
        focus: One category to single out, or None.

    Returns:
        (labels [n_items], legend order: the used labels, most frequent first, greys last).

    Example:
        >>> category_labels([["Drama"], ["Drama", "Sci-Fi"], []], top_n=2)
        (['Drama', 'Sci-Fi', '(none)'], ['Drama', 'Sci-Fi', '(none)'])
    """
    lists = [[str(c) for c in (cats if cats is not None else [])] for cats in categories]
    if focus is not None:
        labels = [str(focus) if str(focus) in cats else OTHER_CATEGORY for cats in lists]
        return labels, [label for label in (str(focus), OTHER_CATEGORY) if label in labels]
    counts: dict[str, int] = {}
    for cats in lists:
        for name in set(cats):
            counts[name] = counts.get(name, 0) + 1
    ranked = sorted(counts, key=lambda name: (-counts[name], name))
    rank = {name: position for position, name in enumerate(ranked[: max(int(top_n), 0)])}
    labels = []
    for cats in lists:
        kept = [name for name in cats if name in rank]
        if kept:
            labels.append(max(kept, key=lambda name: (rank[name], name)))  # rarest of its top-N categories
        else:
            labels.append(OTHER_CATEGORY if cats else NO_CATEGORY)
    used = set(labels)
    order = [name for name in ranked if name in rank and name in used]
    order += [label for label in (OTHER_CATEGORY, NO_CATEGORY) if label in used]
    return labels, order


def _colour_map(levels: Sequence[str]) -> dict[str, str]:
    """Distinct colours for categorical levels (greys for the fixed "other"/"none" labels)."""
    coloured = [level for level in levels if level not in _GREYS]
    palette = _FEW_COLOURS if len(coloured) <= len(_FEW_COLOURS) else _MANY_COLOURS + px.colors.qualitative.Light24
    mapping = {level: palette[i % len(palette)] for i, level in enumerate(coloured)}
    mapping.update({level: _GREYS[level] for level in levels if level in _GREYS})
    return mapping


def robust_range(values, *, keep=None, quantile: float = ROBUST_QUANTILE,
                 pad: float = 0.05) -> tuple[float, float] | None:
    """An axis range over the central quantiles of `values`, or None when the full range is fine.

    One far-away point squeezes every other point into a thin strip when the axis spans all
    points. This returns [q, 1 - q] quantiles widened by `pad` of their span (and widened further to
    include `keep`, e.g. a searched item) when the full span is more than 1.5x that; else None.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if len(values) < 20:
        return None
    low, high = np.quantile(values, [quantile, 1.0 - quantile])
    span = high - low
    if span <= 0:
        return None
    low, high = low - pad * span, high + pad * span
    if values.max() - values.min() <= 1.5 * (high - low):
        return None
    if keep is not None and len(keep):
        keep = np.asarray(keep, dtype=np.float64)
        low, high = min(low, float(keep.min())), max(high, float(keep.max()))
    return float(low), float(high)


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
    axis_titles: tuple[str, str] | None = None,
    category_order: Sequence[str] | None = None,
    robust_zoom: bool = True,
) -> go.Figure:
    """Scatter of 2-D embedding coordinates, with optional highlighted groups drawn on top.

    Args:
        frame: One row per point; `x`, `y` and the other named columns.
        x, y: Coordinate columns (e.g. from `projection.pca_2d`).
        color: Column to colour points by (categorical or numeric), or None. Categorical levels get
            distinct colours (10 well-separated ones up to 10 levels, else 48); the labels
            `OTHER_CATEGORY` and `NO_CATEGORY` are grey.
        hover_name: Column shown in bold on hover (e.g. item title).
        hover_data: Extra columns shown on hover.
        highlight: Legend name -> index labels of `frame` rows to emphasise, e.g.
            `{"Searched item": [42], "Neighbours": [7, 3, 9]}`. Each group becomes its own trace
            with a distinct marker above the base points; the first group is drawn last (on top) and
            largest. Legend names are shown as written: pass fixed labels, not user text. Empty
            groups are skipped.
        title: Figure title (fixed text, not user input).
        axis_titles: (x title, y title), e.g. with PCA's explained variance; default none.
        category_order: Legend order of a categorical `color` (e.g. from `category_labels`).
        robust_zoom: Zoom to the central 99 % of points (plus highlights) when a few outliers would
            squeeze the rest (see `robust_range`); the figure then says how many points lie
            outside and that a double click shows all.

    Returns:
        The figure; base points are `scatter` (or `scattergl` from 1000 points), highlights the same
        kind, so they stack above the base points (WebGL traces draw over SVG ones).
    """
    hover_data = list(hover_data or [])
    color_kwargs = {}
    if color is not None and not pd.api.types.is_numeric_dtype(frame[color]):
        # Categorical colours become legend entries, which plotly renders as HTML: escape user text.
        frame = frame.assign(**{color: frame[color].astype(str).map(html.escape)})
        present = list(pd.unique(frame[color]))
        order = [html.escape(str(level)) for level in (category_order or [])]
        order = [level for level in order if level in present] + [level for level in present if level not in order]
        color_kwargs = {"category_orders": {color: order}, "color_discrete_map": _colour_map(order)}
    render_mode = "webgl" if len(frame) >= 1000 else "svg"
    base = px.scatter(
        frame,
        x=x,
        y=y,
        color=color,
        hover_name=hover_name,
        hover_data=hover_data,
        title=title,
        render_mode=render_mode,
        **color_kwargs,
    )
    base.update_traces(marker={"size": 5, "opacity": 0.6}, selector={"mode": "markers"})
    groups = [(position, str(name), list(labels)) for position, (name, labels) in enumerate((highlight or {}).items())]
    kept_rows = []
    for position, name, labels in reversed(groups):  # the first group is added last: drawn on top
        if not labels:
            continue
        missing = [label for label in labels if label not in frame.index]
        if missing:
            raise ValueError(
                f"Highlight group {name!r} refers to rows not in the frame: {missing[:5]}; "
                "pass index labels of the frame given to embedding_map."
            )
        subset = frame.loc[labels]
        kept_rows.append(subset)
        layer = px.scatter(subset, x=x, y=y, hover_name=hover_name, hover_data=hover_data, render_mode=render_mode)
        style = _HIGHLIGHT_STYLES[position % len(_HIGHLIGHT_STYLES)]
        layer.update_traces(
            name=name,
            legendgroup=f"highlight-{position}",
            legendrank=position + 1,  # listed in the given order, before the base points' entries
            showlegend=True,
            marker={
                "symbol": style["symbol"],
                "color": style["color"],
                "size": style["size"] + (6 if position == 0 else 0),
                "opacity": 1.0,
                "line": {"width": 1.5 if position == 0 else 1, "color": "white"},
            },
        )
        base.add_traces(list(layer.data))
    layout = {"legend": {"itemsizing": "constant"}}
    if axis_titles is not None:
        layout["xaxis_title"], layout["yaxis_title"] = axis_titles
    base.update_layout(**layout)
    if robust_zoom:
        keep = pd.concat(kept_rows) if kept_rows else frame.iloc[0:0]
        x_range = robust_range(frame[x], keep=keep[x])
        y_range = robust_range(frame[y], keep=keep[y])
        if x_range is not None or y_range is not None:
            inside = np.ones(len(frame), dtype=bool)
            if x_range is not None:
                base.update_xaxes(range=list(x_range))
                inside &= frame[x].between(*x_range).to_numpy()
            if y_range is not None:
                base.update_yaxes(range=list(y_range))
                inside &= frame[y].between(*y_range).to_numpy()
            n_out = int((~inside).sum())
            base.add_annotation(
                text=(f"Zoomed to the central {1 - 2 * ROBUST_QUANTILE:.0%} of points: {n_out:,} outlier"
                      f"{'s' if n_out != 1 else ''} outside the view. Double-click the map to show all."),
                xref="paper", yref="paper", x=0, y=1.0, xanchor="left", yanchor="bottom", showarrow=False,
                font={"size": 11, "color": "#555555"},
            )
    return base


HISTORY_DISPLAY_NAMES = {
    "loss": "training loss",
    "val_loss": "validation loss",
    "val_ndcg@10": "NDCG@10 hybrid (validation)",
    "val_ndcg@10_cf": "NDCG@10 CF part only (validation)",
    "val_ndcg@10_content": "NDCG@10 content part only (validation)",
}
"""Legend names of the `Progress.history` keys; other keys are shown as written."""
_HISTORY_COLOURS = {"training loss": "#1f2f5c", "validation loss": "#8c8c8c",
                    "NDCG@10 hybrid (validation)": "#d62728", "NDCG@10 CF part only (validation)": "#1f77b4",
                    "NDCG@10 content part only (validation)": "#2ca02c"}
_TIME_KEYS = ("seconds", "elapsed", "elapsed_s", "time", "time_s")


def _format_elapsed(seconds: float) -> str:
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _history_frame(history: Sequence[Mapping], metrics: Sequence[str] | None) -> pd.DataFrame:
    """Long form (epoch, metric, series, value, panel, elapsed) from per-epoch dicts.

    Time keys (`seconds`, ...) are not series: they become the `elapsed` hover text of their epoch.
    Non-numeric and non-finite values are dropped.
    """
    rows = []
    for position, record in enumerate(history):
        epoch = record.get("epoch", position + 1)
        elapsed = next((record[key] for key in _TIME_KEYS if _is_number(record.get(key))), None)
        elapsed_text = _format_elapsed(elapsed) if elapsed is not None else "–"
        for key, value in record.items():
            if key == "epoch" or key in _TIME_KEYS or (metrics is not None and key not in metrics):
                continue
            if not _is_number(value):
                continue
            panel = "Loss" if "loss" in key.lower() else "Validation metrics"
            rows.append({"epoch": epoch, "metric": key, "series": HISTORY_DISPLAY_NAMES.get(key, key),
                         "value": float(value), "panel": panel, "elapsed": elapsed_text})
    return pd.DataFrame(rows, columns=["epoch", "metric", "series", "value", "panel", "elapsed"])


def _is_number(value) -> bool:
    return (not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))
            and bool(np.isfinite(value)))


def training_curves(history: Sequence[Mapping], *, metrics: Sequence[str] | None = None) -> go.Figure:
    """Per-epoch training curves: losses in one panel, validation metrics in another, time on hover.

    Each panel has its own y axis, so NDCG values around 0.1 are not flattened by a loss of 5 or by
    the elapsed seconds (which are not plotted: they show in the hover as "time since start").

    Args:
        history: One dict per epoch, e.g. `Progress.history` records
            `{"epoch": 1, "loss": 5.1, "seconds": 18.9, "val_ndcg@10": 0.14, "val_ndcg@10_cf": 0.06}`.
            A missing `epoch` means the list position + 1. Non-numeric values are ignored.
        metrics: Keys to plot; default all numeric keys except `epoch` and time keys.

    Returns:
        A line figure, faceted by panel (rows "Loss" and "Validation metrics", independent y axes)
        when both exist; each trace's `customdata` holds the elapsed time.
    """
    title = "Training curves"
    frame = _history_frame(history, metrics)
    if frame.empty:
        return _empty_figure(title, "No epochs yet")
    panels = [panel for panel in ("Loss", "Validation metrics") if panel in set(frame["panel"])]
    fig = px.line(
        frame,
        x="epoch",
        y="value",
        color="series",
        symbol="series",  # equal values (e.g. hybrid = content part at α = 0) stay distinguishable
        markers=True,
        facet_row="panel" if len(panels) > 1 else None,
        category_orders={"panel": panels},
        hover_data={"elapsed": True, "panel": False, "series": True},
        labels={"epoch": "Epoch", "value": "Value", "series": "Series", "panel": "", "elapsed": "Time since start"},
        color_discrete_map=_HISTORY_COLOURS,
        facet_row_spacing=0.12,
        title=title,
    )
    fig.update_yaxes(matches=None, title_text="")
    fig.update_xaxes(dtick=1 if frame["epoch"].nunique() <= 20 else None)
    fig.for_each_annotation(lambda note: note.update(text=note.text.split("=", 1)[-1]))
    if len(panels) == 1:
        fig.update_layout(yaxis_title=panels[0])
    return fig


def _drop_recall_equal_to_hr(frame: pd.DataFrame) -> pd.DataFrame:
    """Drops `Recall@K` columns that equal `HR@K` everywhere (one held-out target per user)."""
    drop = []
    for column in frame.columns:
        if str(column).startswith("Recall@"):
            twin = "HR@" + str(column).split("@", 1)[1]
            if twin in frame.columns and np.allclose(frame[column].to_numpy(float), frame[twin].to_numpy(float),
                                                     equal_nan=True):
                drop.append(column)
    return frame.drop(columns=drop)


def alpha_sweep_chart(sweep: pd.DataFrame, best_alpha: float, *, metrics: Sequence[str] | None = None,
                      split: str = "validation") -> go.Figure:
    """Metric vs blend weight α, with the chosen α marked by a dashed vertical line.

    Args:
        sweep: One row per α: column `alpha` and metric columns such as `NDCG@10`, `coverage@10`.
            A `Recall@K` column equal to `HR@K` everywhere (one target per user) is left out.
        best_alpha: The α to mark: the one chosen on the validation split.
        metrics: Columns to plot; default every numeric column except `alpha`.
        split: Which split the values were measured on ("validation" or "test"); it names the y axis
            and the title.
    """
    if metrics is None:
        metrics = [c for c in sweep.columns if c != "alpha" and pd.api.types.is_numeric_dtype(sweep[c])]
        metrics = [c for c in _drop_recall_equal_to_hr(sweep[list(metrics)]).columns]
    long = sweep.melt(id_vars="alpha", value_vars=list(metrics), var_name="metric", value_name="value")
    split_name = str(split)
    fig = px.line(
        long,
        x="alpha",
        y="value",
        color="metric",
        markers=True,
        labels={"alpha": "α (weight of collaborative part)", "value": f"Value on the {split_name} split",
                "metric": "Metric"},
        title=f"Blend weight α sweep ({split_name} split)",
    )
    chosen = "best α" if split_name == "validation" else "α chosen on validation"
    fig.add_vline(
        x=float(best_alpha),
        line_dash="dash",
        line_color="#555555",
        annotation_text=f"{chosen} = {float(best_alpha):.2f}",
        annotation_position="top",
    )
    return fig


def metrics_bar(frame: pd.DataFrame, *, model_col: str = "model") -> go.Figure:
    """Grouped bars comparing models (the hybrid vs baselines) on each metric.

    Args:
        frame: Either long form with columns `model`, `metric`, `value`, or wide form with a `model`
            column and one numeric column per metric (e.g. `HR@10`, `NDCG@10`). `Recall@K` is left out
            where it equals `HR@K` for every model (one held-out target per user).
        model_col: Name of the model column.
    """
    if {"metric", "value"} <= set(frame.columns):
        wide = frame.pivot_table(index=model_col, columns="metric", values="value", sort=False)
        kept = set(_drop_recall_equal_to_hr(wide).columns)
        long = frame.loc[frame["metric"].isin(kept), [model_col, "metric", "value"]]
    else:
        value_vars = [c for c in frame.columns if c != model_col and pd.api.types.is_numeric_dtype(frame[c])]
        value_vars = list(_drop_recall_equal_to_hr(frame[value_vars]).columns)
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


def segment_alpha_curves(sweep: pd.DataFrame, alpha_by_segment: Mapping[str, float] | None = None, *,
                         metric: str = "NDCG@10") -> go.Figure:
    """Test metric vs α, one line per user-activity segment, each segment's validated α starred.

    Args:
        sweep: Long form, one row per (segment, α): columns `segment`, `alpha`, `metric`, `n_users`
            (`recsys.evaluation.segments.segment_report(...)["alpha_sweep"]`).
        alpha_by_segment: segment -> the α chosen for it on validation ("α by segment"), or None.
        metric: The metric column to plot.
    """
    frame = sweep.assign(segment=sweep["segment"].astype(str).map(html.escape))
    order = list(pd.unique(frame["segment"]))
    colours = dict(zip(order, px.colors.qualitative.D3))
    fig = px.line(frame, x="alpha", y=metric, color="segment", markers=True, hover_data=["n_users"],
                  category_orders={"segment": order}, color_discrete_map=colours,
                  labels={"alpha": "α (weight of collaborative part)", metric: f"{metric} (test split)",
                          "segment": "Training events", "n_users": "users"},
                  title="α sweep per user-activity segment")
    for segment, alpha in (alpha_by_segment or {}).items():
        name = html.escape(str(segment))
        row = frame[(frame["segment"] == name) & np.isclose(frame["alpha"], float(alpha))]
        if row.empty:
            continue
        fig.add_trace(go.Scatter(x=[float(alpha)], y=[float(row[metric].iat[0])], mode="markers",
                                 marker={"symbol": "star", "size": 15, "color": colours.get(name, "#111111"),
                                         "line": {"width": 1, "color": "white"}},
                                 name=f"α chosen on validation: {name}", legendgroup=name))
    return fig


def explanation_bars(history: pd.DataFrame, *, alpha: float, top: int = 15) -> go.Figure:
    """Horizontal bars: each history item's α·CF and (1−α)·content contribution to one score.

    Args:
        history: `recsys.explain.Explanation.history` (title, item_id, cf_contribution,
            content_contribution, contribution), largest contribution first.
        alpha: The blend weight the score was explained at.
        top: How many history items (largest |contribution| first) to show.
    """
    h = history.reindex(history["contribution"].abs().sort_values(ascending=False, kind="stable").index).head(top)
    labels = [f"{i + 1}. {html.escape(str(t))}" for i, t in enumerate(h["title"])]
    long = pd.concat([
        pd.DataFrame({"item": labels, "item_id": h["item_id"].astype(str).map(html.escape).to_numpy(),
                      "part": "α · CF", "value": float(alpha) * h["cf_contribution"].to_numpy()}),
        pd.DataFrame({"item": labels, "item_id": h["item_id"].astype(str).map(html.escape).to_numpy(),
                      "part": "(1 − α) · content", "value": (1.0 - float(alpha)) * h["content_contribution"].to_numpy()}),
    ])
    fig = px.bar(long, x="value", y="item", color="part", orientation="h", barmode="relative",
                 hover_data={"item_id": True, "value": ":.4f"}, category_orders={"item": labels},
                 labels={"value": "Contribution to the score", "item": "History item", "part": "Part"},
                 title="Which history items drove the score")
    fig.update_yaxes(autorange="reversed")
    fig.update_layout(height=max(300, 28 * len(labels) + 120))
    return fig
