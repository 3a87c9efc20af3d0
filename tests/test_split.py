"""Tests for recsys.split on hand-built event tables with the expected rows written out."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys.split import Split, leave_last_out_split, random_holdout_split


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Events from (user, item, timestamp) tuples, rating = 1."""
    users, items, times = zip(*rows)
    return pd.DataFrame({"user": np.array(users, dtype=np.int32), "item": np.array(items, dtype=np.int32),
                         "rating": np.ones(len(rows), dtype=np.float32), "timestamp": np.array(times, dtype=np.int64)})


def rows(part: pd.DataFrame) -> list[tuple]:
    return list(zip(part["user"].tolist(), part["item"].tolist(), part["timestamp"].tolist()))


def test_leave_last_out_uses_first_occurrences():
    events = frame([
        (0, 10, 1), (0, 11, 2), (0, 10, 3), (0, 12, 4), (0, 13, 5), (0, 12, 6),  # user 0: a b a c d c
        (1, 10, 1), (1, 11, 2),                                                  # user 1: 2 distinct -> all train
        (2, 20, 1), (2, 21, 2), (2, 22, 3),                                      # user 2: exactly 3 distinct
    ])
    split = leave_last_out_split(events)
    # user 0: first occurrences 10@1, 11@2, 12@4, 13@5 -> test 13@5, valid 12@4, train = events before 12@4
    assert rows(split.test) == [(0, 13, 5), (2, 22, 3)]
    assert rows(split.valid) == [(0, 12, 4), (2, 21, 2)]
    assert rows(split.train) == [(0, 10, 1), (0, 11, 2), (0, 10, 3), (1, 10, 1), (1, 11, 2), (2, 20, 1)]
    assert list(split.train.columns) == ["user", "item", "rating", "timestamp"]
    assert isinstance(split.train.index, pd.RangeIndex)


def test_repeat_at_the_end_never_becomes_the_test_item():
    # items a b c a: the last event is a repeat; test = c (last new item), valid = b, train = a
    split = leave_last_out_split(frame([(5, 1, 1), (5, 2, 2), (5, 3, 3), (5, 1, 4)]))
    assert rows(split.test) == [(5, 3, 3)] and rows(split.valid) == [(5, 2, 2)] and rows(split.train) == [(5, 1, 1)]


def test_timestamp_ties_keep_row_order_and_unsorted_input_is_sorted():
    # equal timestamps: input row order decides (stable sort), so item 7 comes before item 8
    events = frame([(1, 9, 5), (0, 7, 2), (0, 8, 2), (0, 6, 1), (1, 3, 1), (1, 4, 2)])
    split = leave_last_out_split(events)
    assert rows(split.test) == [(0, 8, 2), (1, 9, 5)]
    assert rows(split.valid) == [(0, 7, 2), (1, 4, 2)]
    assert rows(split.train) == [(0, 6, 1), (1, 3, 1)]


def test_min_distinct_items_threshold():
    events = frame([(0, 1, 1), (0, 2, 2), (0, 1, 3), (0, 2, 4)])
    assert len(leave_last_out_split(events).test) == 0  # only 2 distinct items < 3
    split = leave_last_out_split(events, min_distinct_items=2)
    assert rows(split.test) == [(0, 2, 2)] and rows(split.valid) == [(0, 1, 1)] and rows(split.train) == []


def test_random_holdout_is_seeded_and_partitions_all_events():
    events = frame([(u, i, u * 10 + i) for u in range(10) for i in range(10)])
    first = random_holdout_split(events, test_fraction=0.2, valid_fraction=0.1, seed=3)
    again = random_holdout_split(events, test_fraction=0.2, valid_fraction=0.1, seed=3)
    other = random_holdout_split(events, test_fraction=0.2, valid_fraction=0.1, seed=4)
    assert isinstance(first, Split)
    assert (len(first.train), len(first.valid), len(first.test)) == (70, 10, 20)
    for name in ("train", "valid", "test"):
        pd.testing.assert_frame_equal(getattr(first, name), getattr(again, name))
    assert rows(first.test) != rows(other.test)
    together = sorted(rows(first.train) + rows(first.valid) + rows(first.test))
    assert together == sorted(rows(events))
    assert rows(first.test) == sorted(rows(first.test))  # each part keeps the events order


def test_random_holdout_rejects_bad_fractions():
    with pytest.raises(ValueError, match="sum to less than 1"):
        random_holdout_split(frame([(0, 1, 1)]), test_fraction=0.6, valid_fraction=0.5)


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['timestamp'\]"):
        leave_last_out_split(pd.DataFrame({"user": [0], "item": [0], "rating": [1.0]}))


def test_leave_last_out_is_vectorised_enough_for_a_million_events():
    rng = np.random.default_rng(0)
    n = 1_000_000
    events = pd.DataFrame({"user": np.sort(rng.integers(0, 50_000, n)).astype(np.int32),
                           "item": rng.integers(0, 5_000, n).astype(np.int32), "rating": np.ones(n, np.float32),
                           "timestamp": rng.integers(0, 10**9, n)})
    split = leave_last_out_split(events)
    assert split.test["user"].is_unique and split.valid["user"].is_unique
    assert len(split.test) == len(split.valid)
    # no held-out item was seen by that user in train
    seen = set(zip(split.train["user"].tolist(), split.train["item"].tolist()))
    assert not any(pair in seen for pair in zip(split.test["user"].tolist(), split.test["item"].tolist()))
