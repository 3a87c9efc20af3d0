"""Lasso/box selections on the maps: points -> rows, and the lists built from them (hand-computed)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd

from recsys.selection import category_mix, items_table, selection_rows, users_common_items, users_for_items
from recsys.serving import ServingVectors


def tiny_run():
    """3 users × 4 items; CF scores only (α = 1): user u scores item i as cf_user[u] · cf_item[i]."""
    cf_item = np.array([[1, 0], [0, 1], [1, 1], [-1, 0]], np.float32)
    cf_user = np.array([[1, 0], [0, 1], [-1, 0.1]], np.float32)
    zeros = np.zeros((3, 2), np.float32)
    vectors = ServingVectors(cf_user=cf_user, cf_item=cf_item, cf_bias=np.zeros(4, np.float32), seq_user=zeros,
                             content_item=np.zeros((4, 2), np.float32), content_bias=np.zeros(4, np.float32))
    items = pd.DataFrame({"item_id": ["a", "b", "c", "d"], "title": ["A", "B", "C", "D"],
                          "categories": [["x"], ["x", "y"], [], ["y"]], "n_events": [2, 2, 1, 1]})
    events = pd.DataFrame({"user": [0, 0, 1, 1, 2, 2], "item": [0, 1, 1, 2, 0, 3], "timestamp": range(6)})
    return SimpleNamespace(vectors=vectors, items=items, events=events, n_users=3, n_items=4,
                           user_ids=np.array(["u0", "u1", "u2"], dtype=object), config={"alpha": 1.0})


def test_selection_points_map_to_rows_by_id_then_by_coordinates():
    frame = pd.DataFrame({"x": [0.1, 0.2, 0.3, 0.3], "y": [1.0, 2.0, 3.0, 3.0], "item_id": ["a", "b", "c", "d"]})
    points = [{"x": 0.2, "y": 2.0, "customdata": ["b", 5, "x"]},  # by id
              {"x": 0.1, "y": 1.0},  # no id: by coordinates
              {"x": 0.3, "y": 3.0},  # two items on one spot: both
              {"x": 0.2, "y": 2.0, "customdata": ["b"]}]  # already listed
    assert selection_rows(points, frame, id_column="item_id") == [1, 0, 2, 3]
    assert selection_rows([], frame) == [] and selection_rows([{"x": 9, "y": 9}], frame) == []
    users = pd.DataFrame({"x": [0.0, 1.0], "y": [0.0, 1.0], "title": ["5", "7"]})  # user ids that look like counts
    # a user map's customdata is its event count: ids come from the hover name, never from customdata
    assert selection_rows([{"x": 1.0, "y": 1.0, "customdata": [5], "hovertext": "7"}], users, id_column="title",
                          id_field="hovertext") == [1]


def test_items_table_and_category_mix():
    run = tiny_run()
    table = items_table(run, [1, 2])
    assert list(table["title"]) == ["B", "C"] and list(table["categories"]) == ["x, y", "(no category)"]
    mix = category_mix(run, [0, 1, 2])
    # a: x; b: x, y; c: none -> x 2 of 3 items, y 1, (no category) 1
    assert mix.to_dict("list") == {"category": ["x", "(no category)", "y"], "items": [2, 1, 1],
                                   "share": [2 / 3, 1 / 3, 1 / 3]}


def test_users_for_items_ranks_the_selection_among_unseen_items():
    run = tiny_run()
    # user 0 had a, b: unseen c (score 1), d (-1) -> c rank 1.  user 1 had b, c: a (0), d (0) -> a rank 1 (tie).
    # user 2 had a, d: b (0.1), c (-0.9) -> c rank 2.
    ranked = users_for_items(run, [2], k=1)
    assert ranked.to_dict("list") == {"user_id": ["u0", "u2"], "best_rank": [1, 2], "best_item": ["C", "C"],
                                      "in_top_k": [1, 0], "events": [2, 2]}
    both = users_for_items(run, [0, 2], k=1)  # user 1 now ranks a first; user 0 c first
    assert list(both["user_id"]) == ["u0", "u1", "u2"] and list(both["best_rank"]) == [1, 1, 2]


def test_selected_users_list_their_most_common_items():
    run = tiny_run()
    common = users_common_items(run, [0, 2])
    assert common.to_dict("list") == {"item_id": ["a", "b", "d"], "title": ["A", "B", "D"], "users": [2, 1, 1],
                                      "share": [1.0, 0.5, 0.5], "events": [2, 2, 1]}
