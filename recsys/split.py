"""Train/validation/test splits of interaction events, deterministic and vectorised.

Both splits take the `Dataset.events` frame (columns user, item, rating, timestamp) and return frames
with the same columns, each in events order with a fresh RangeIndex. `history_before` cuts each user's
events at their held-out row (what the model and the baselines may read before a test item).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

EVENT_COLUMNS = ("user", "item", "rating", "timestamp")


@dataclass
class Split:
    """Three disjoint event frames (columns user, item, rating, timestamp)."""

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame


def _ordered(events: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in EVENT_COLUMNS if c not in events.columns]
    if missing:
        raise ValueError(f"events lack the column(s) {missing}; pass Dataset.events (user, item, rating, timestamp).")
    frame = events.loc[:, list(EVENT_COLUMNS)].reset_index(drop=True)
    order = np.lexsort((frame["timestamp"].to_numpy(), frame["user"].to_numpy()))
    if not np.array_equal(order, np.arange(len(frame))):
        frame = frame.iloc[order].reset_index(drop=True)
    return frame


def leave_last_out_split(events: pd.DataFrame, *, min_distinct_items: int = 3) -> Split:
    """Hold out each user's last new item for test and the one before it for validation.

    Events are ordered per user by (timestamp, current row order) - the order of `Dataset.events`; ties in
    timestamp keep the row order of the input (a stable sort), which is the documented tie rule.
    Only the FIRST occurrence of each (user, item) pair is a candidate, so a held-out item is always new to
    the user: test = the user's last first-occurrence event, valid = the second-to-last one, and
    train = the user's events strictly before the valid event. Events after the valid event other than the
    test event (repeats, in-between events) are in no part. Users with fewer than `min_distinct_items`
    distinct items (or fewer than 2) keep all events in train and get no valid/test row.

    Example: user 0 with items a, b, a, c, d (in time order) -> train a, b, a; valid c; test d.

    Args:
        events: frame with user, item, rating, timestamp.
        min_distinct_items: users with fewer distinct items are kept whole in train.

    Returns:
        Split with at most one valid and one test row per user.
    """
    frame = _ordered(events)
    first = ~frame.duplicated(["user", "item"], keep="first")
    firsts = frame.loc[first, ["user"]]
    from_end = firsts.groupby("user", sort=False).cumcount(ascending=False)
    distinct = firsts.groupby("user", sort=False)["user"].transform("size")
    eligible = distinct >= max(int(min_distinct_items), 2)
    test_rows = firsts.index[(from_end == 0) & eligible].to_numpy()
    valid_rows = firsts.index[(from_end == 1) & eligible].to_numpy()
    cutoff = pd.Series(valid_rows, index=frame["user"].to_numpy()[valid_rows])
    limit = frame["user"].map(cutoff).fillna(np.inf).to_numpy()
    train = np.arange(len(frame)) < limit
    return Split(train=frame[train].reset_index(drop=True), valid=frame.iloc[valid_rows].reset_index(drop=True),
                 test=frame.iloc[test_rows].reset_index(drop=True))


def random_holdout_split(events: pd.DataFrame, *, test_fraction: float = 0.1, valid_fraction: float = 0.1,
                         seed: int = 0) -> Split:
    """Assign events to test/valid/train uniformly at random (seeded, so the same seed gives the same split).

    round(n * test_fraction) events go to test, round(n * valid_fraction) to valid, the rest to train;
    each part keeps the order of `events` (sorted as in `Dataset.events`).
    """
    if not (0 <= test_fraction < 1 and 0 <= valid_fraction < 1 and test_fraction + valid_fraction < 1):
        raise ValueError(f"test_fraction ({test_fraction}) and valid_fraction ({valid_fraction}) must be in [0, 1) "
                         "and sum to less than 1.")
    frame = _ordered(events)
    n = len(frame)
    n_test, n_valid = int(round(n * test_fraction)), int(round(n * valid_fraction))
    permutation = np.random.default_rng(seed).permutation(n)
    part = np.zeros(n, dtype=np.int8)
    part[permutation[:n_test]] = 2
    part[permutation[n_test:n_test + n_valid]] = 1
    return Split(train=frame[part == 0].reset_index(drop=True), valid=frame[part == 1].reset_index(drop=True),
                 test=frame[part == 2].reset_index(drop=True))


def history_before(events: pd.DataFrame, held_out: pd.DataFrame) -> pd.DataFrame:
    """Each user's events strictly before their held-out event, in `events` order.

    A held-out row (user, item) is the user's first event with that item (see leave_last_out_split),
    so its position is found from the first occurrences. Users without a held-out row keep all events.
    `events` must be `Dataset.events` (sorted, RangeIndex).
    """
    firsts = events.loc[~events.duplicated(["user", "item"]), ["user", "item"]]
    firsts = firsts.assign(position=firsts.index.to_numpy())
    cut = held_out[["user", "item"]].merge(firsts, on=["user", "item"], how="left")
    if cut["position"].isna().any():
        raise ValueError("held-out rows must be events of the same events frame")
    limit = events["user"].map(pd.Series(cut["position"].to_numpy(), index=cut["user"].to_numpy()))
    limit = limit.to_numpy(dtype=float)
    keep = np.isnan(limit) | (np.arange(len(events)) < np.nan_to_num(limit, nan=np.inf))
    return events[keep]
