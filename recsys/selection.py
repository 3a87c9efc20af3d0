"""What a box or lasso selection on an embeddings map holds: items, their category mix, their users.

`selection_rows` turns the points of a Plotly selection event (as `st.plotly_chart(on_select=...)`
returns them) into row indices of the map's frame; the other functions build the lists shown next to
the map:

* selected items -> `items_table` (titles, categories, events), `category_mix` (each category's share
  of the selected items), `users_for_items` (the users for whom these items rank highest among the
  items they have not had yet);
* selected users -> `users_common_items` (the items most of them had).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.serving import default_alpha, seen_matrix

NO_CATEGORY = "(no category)"
MAX_RANKED_USERS = 20_000  # users × items rankings above this many users use a seeded sample of users


def selection_rows(points, frame: pd.DataFrame, *, id_column: str | None = None,
                   id_field: str = "customdata") -> list[int]:
    """Row labels of `frame` for the selected points, in selection order, each once.

    A point is matched by its id when the figure carries one — `id_field="customdata"`: the point's
    `customdata[0]` (plotly express puts the first `hover_data` column there), `"hovertext"`: its
    hover name — if that id names exactly one row of `id_column`; otherwise by its exact (x, y)
    coordinates (rows on the same spot are indistinguishable on the map: all are taken).

    Args:
        points: the selection's `points` (dicts with `x`, `y` and, when present, `customdata`, `hovertext`).
        frame: the map's frame with `x`, `y` and `id_column`.
        id_column: the column whose values are the points' ids (e.g. "item_id" or "title").
        id_field: where a point carries its id: "customdata" or "hovertext".
    """
    if id_field not in ("customdata", "hovertext"):
        raise ValueError(f"id_field must be 'customdata' or 'hovertext', got {id_field!r}")
    by_id: dict[str, list] = {}
    if id_column is not None and id_column in frame:
        for label, value in zip(frame.index, frame[id_column].astype(str)):
            by_id.setdefault(value, []).append(label)
    by_xy: dict[tuple, list] = {}
    for label, x, y in zip(frame.index, frame["x"].to_numpy(np.float64), frame["y"].to_numpy(np.float64)):
        by_xy.setdefault((round(float(x), 6), round(float(y), 6)), []).append(label)
    out, seen = [], set()
    for point in points or []:
        value = point.get(id_field)
        if id_field == "customdata" and isinstance(value, (list, tuple)):
            value = value[0] if value else None
        found = by_id.get(str(value)) if value is not None else None
        if not found or len(found) != 1:
            found = []
            if "x" in point and "y" in point:
                try:
                    found = by_xy.get((round(float(point["x"]), 6), round(float(point["y"]), 6)), [])
                except (TypeError, ValueError):
                    found = []
        for label in found:
            if label not in seen:
                seen.add(label)
                out.append(int(label))
    return out


def items_table(run, items) -> pd.DataFrame:
    """The selected items: item_id, title, categories (", "-joined), events; in selection order."""
    items = np.asarray(list(items), np.int64)
    frame = run.items.iloc[items]
    return pd.DataFrame({
        "item_id": frame["item_id"].astype(str).to_numpy(),
        "title": frame["title"].astype(str).to_numpy(),
        "categories": [", ".join(map(str, c)) if len(c) else NO_CATEGORY for c in frame["categories"]],
        "events": frame["n_events"].to_numpy(np.int64) if "n_events" in frame else np.zeros(len(items), np.int64),
        "item": items,
    })


def category_mix(run, items) -> pd.DataFrame:
    """Each category's count and share of the selected items (an item counts once per category it has).

    Items without a category count as `NO_CATEGORY`. Sorted by count, then name.
    """
    counts: dict[str, int] = {}
    items = list(items)
    for cats in run.items["categories"].iloc[np.asarray(items, np.int64)] if items else []:
        names = sorted({str(c) for c in cats}) or [NO_CATEGORY]
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    frame = pd.DataFrame({"category": list(counts), "items": list(counts.values())})
    if frame.empty:
        return pd.DataFrame(columns=["category", "items", "share"])
    frame["share"] = frame["items"] / max(len(items), 1)
    return frame.sort_values(["items", "category"], ascending=[False, True], kind="stable").reset_index(drop=True)


def users_for_items(run, items, *, alpha: float | None = None, top: int = 20, k: int = 10,
                    batch_size: int = 1024, seed: int = 0) -> pd.DataFrame:
    """The users for whom the selected items rank highest, among the items each user has not had.

    For every user the catalogue is ranked at `alpha` (default: the run's α) with the user's own items
    excluded; `best_rank` is the best 1-based rank any selected item gets, `in_top_k` how many selected
    items are in the user's top `k`. Users who had every selected item are left out. Sorted by
    best_rank, then in_top_k (more first), then user index. Above `MAX_RANKED_USERS` users a seeded
    sample of that many users is ranked.

    Returns:
        user_id, best_rank, best_item (title), in_top_k, events; at most `top` rows.
    """
    alpha = default_alpha(run) if alpha is None else float(alpha)
    selected = np.unique(np.asarray(list(items), np.int64))
    columns = ["user_id", "best_rank", "best_item", "in_top_k", "events"]
    if len(selected) == 0 or run.n_users == 0:
        return pd.DataFrame(columns=columns)
    users = np.arange(run.n_users)
    if len(users) > MAX_RANKED_USERS:
        users = np.sort(np.random.default_rng(seed).choice(users, MAX_RANKED_USERS, replace=False))
    seen = seen_matrix(run)
    best_rank = np.full(len(users), np.inf)
    best_item = np.full(len(users), -1, np.int64)
    in_top = np.zeros(len(users), np.int64)
    for start in range(0, len(users), batch_size):
        batch = users[start:start + batch_size]
        scores = np.asarray(run.vectors.scores(batch, alpha=alpha), np.float64)
        rows_seen = seen[batch]
        rows = np.repeat(np.arange(len(batch)), np.diff(rows_seen.indptr))
        scores[rows, rows_seen.indices] = -np.inf
        target = scores[:, selected]  # [b, s]
        # 1-based rank: items scored strictly higher, + 1 (ties count in the selected item's favour)
        ranks = _ranks_by_sort(scores, selected)
        ranks = np.where(np.isfinite(target), ranks, np.inf)
        part = slice(start, start + len(batch))
        best_rank[part] = ranks.min(axis=1)
        best_item[part] = selected[np.argmin(ranks, axis=1)]
        in_top[part] = (ranks <= k).sum(axis=1)
    keep = np.isfinite(best_rank)
    counts = np.bincount(run.events["user"].to_numpy(np.int64), minlength=run.n_users)
    frame = pd.DataFrame({"user": users[keep], "best_rank": best_rank[keep].astype(np.int64),
                          "best_item": best_item[keep], "in_top_k": in_top[keep]})
    frame = frame.sort_values(["best_rank", "in_top_k", "user"], ascending=[True, False, True], kind="stable").head(top)
    titles = run.items["title"].astype(str).to_numpy()
    return pd.DataFrame({
        "user_id": np.asarray(run.user_ids, dtype=object)[frame["user"].to_numpy()].astype(str),
        "best_rank": frame["best_rank"].to_numpy(), "best_item": titles[frame["best_item"].to_numpy()],
        "in_top_k": frame["in_top_k"].to_numpy(), "events": counts[frame["user"].to_numpy()],
    })


def _ranks_by_sort(scores: np.ndarray, selected: np.ndarray) -> np.ndarray:
    """1-based ranks `[b, s]` of the selected columns: items scored strictly higher, + 1."""
    ordered = np.sort(scores, axis=1)  # ascending
    target = scores[:, selected]
    higher = np.stack([scores.shape[1] - np.searchsorted(row, t, side="right") for row, t in zip(ordered, target)])
    return higher + 1


def users_common_items(run, users, *, top: int = 20) -> pd.DataFrame:
    """The items most of the selected users had: item_id, title, users (how many had it), share, events."""
    users = np.unique(np.asarray(list(users), np.int64))
    columns = ["item_id", "title", "users", "share", "events"]
    if len(users) == 0:
        return pd.DataFrame(columns=columns)
    ev = run.events
    mask = np.isin(ev["user"].to_numpy(np.int64), users)
    pairs = ev.loc[mask, ["user", "item"]].drop_duplicates()
    counts = pairs["item"].value_counts()
    frame = pd.DataFrame({"item": counts.index.to_numpy(np.int64), "users": counts.to_numpy(np.int64)})
    frame = frame.sort_values(["users", "item"], ascending=[False, True], kind="stable").head(top)
    items = frame["item"].to_numpy()
    return pd.DataFrame({
        "item_id": run.items["item_id"].astype(str).to_numpy()[items],
        "title": run.items["title"].astype(str).to_numpy()[items],
        "users": frame["users"].to_numpy(), "share": frame["users"].to_numpy() / len(users),
        "events": run.items["n_events"].to_numpy()[items] if "n_events" in run.items else 0,
    })
