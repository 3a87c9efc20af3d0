"""Tests for recsys.evaluation.metrics: hand-computed 3-user × 5-item examples, ties, exclusion, batching."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.evaluation.metrics import full_ranking_metrics, interaction_matrix, topk_items

# 3 users × 5 items. Targets: u0 -> item 2, u1 -> item 4, u2 -> item 0.
SCORES = np.array(
    [
        [0.9, 0.1, 0.5, 0.3, 0.7],  # item 2 beaten by items 0, 4 -> rank 2
        [0.2, 0.8, 0.4, 0.6, 0.0],  # item 4 beaten by all four -> rank 4
        [0.5, 0.4, 0.3, 0.2, 0.1],  # item 0 is best -> rank 0
    ]
)
USERS = np.array([0, 1, 2])
TARGETS = np.array([2, 4, 0])


def table_scores(users):
    return SCORES[users]


def evaluate(**kwargs):
    args = dict(users=USERS, targets=TARGETS, exclude=None, n_items=5)
    args.update(kwargs)
    return full_ranking_metrics(table_scores, **args)


def test_hand_computed_metrics_at_3():
    m = evaluate(k=3)
    assert m["HR@3"] == pytest.approx(2 / 3)  # ranks 2, 4, 0 -> hits for u0 and u2
    assert m["Recall@3"] == pytest.approx(2 / 3)  # one target per user: same as HR
    assert m["NDCG@3"] == pytest.approx((1 / math.log2(4) + 0 + 1 / math.log2(2)) / 3)  # (0.5 + 0 + 1) / 3
    assert m["MRR@3"] == pytest.approx((1 / 3 + 0 + 1) / 3)  # 4/9
    assert m["n_users"] == 3
    assert set(m) == {"HR@3", "NDCG@3", "MRR@3", "Recall@3", "coverage@3", "n_users"}


def test_hand_computed_metrics_and_coverage_at_2():
    m = evaluate(k=2)
    assert m["HR@2"] == pytest.approx(1 / 3)  # only u2 (rank 0)
    assert m["NDCG@2"] == pytest.approx(1 / 3)
    assert m["MRR@2"] == pytest.approx(1 / 3)
    # top-2 lists: u0 {0, 4}, u1 {1, 3}, u2 {0, 1} -> {0, 1, 3, 4} = 4 of 5 items
    assert m["coverage@2"] == pytest.approx(4 / 5)


def test_exclusion_sets_items_to_minus_inf_but_never_the_target():
    exclude = sp.csr_matrix(
        np.array(
            [
                [1, 0, 0, 0, 1],  # u0: drop items 0 and 4 -> target 2 (0.5) becomes rank 0
                [0, 1, 0, 1, 1],  # u1: drop 1, 3 and its own target 4, which must stay -> rank 2
                [0, 0, 0, 0, 0],  # u2: unchanged, rank 0
            ]
        )
    )
    m = evaluate(k=3, exclude=exclude)
    assert m["HR@3"] == pytest.approx(1.0)  # ranks 0, 2, 0
    assert m["NDCG@3"] == pytest.approx((1 + 0.5 + 1) / 3)  # 5/6
    assert m["MRR@3"] == pytest.approx((1 + 1 / 3 + 1) / 3)  # 7/9
    # top-3: u0 {2, 3, 1}, u1 {2, 0, 4} (only three finite scores), u2 {0, 1, 2} -> all 5
    assert m["coverage@3"] == pytest.approx(1.0)


def test_excluded_items_are_never_listed_for_coverage():
    exclude = sp.csr_matrix(np.array([[0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1]]))
    m = full_ranking_metrics(
        table_scores, users=USERS, targets=np.array([0, 0, 0]), exclude=exclude, n_items=5, k=3
    )
    assert m["coverage@3"] == pytest.approx(1 / 5)  # only item 0 has a finite score for anyone
    assert m["HR@3"] == pytest.approx(1.0)


def test_ties_are_shared_fairly_in_expectation():
    scores = np.array([[1.0, 1.0, 0.5, 1.0, 0.0]])
    # target item 1 ties with items 0 and 3 -> rank uniform over {0, 1, 2}
    m = full_ranking_metrics(
        lambda u: scores, users=[0], targets=[1], exclude=None, n_items=5, k=2
    )
    assert m["HR@2"] == pytest.approx(2 / 3)  # ranks 0 and 1 hit
    assert m["NDCG@2"] == pytest.approx((1 + 1 / math.log2(3)) / 3)
    assert m["MRR@2"] == pytest.approx((1 + 1 / 2) / 3)
    pessimistic = full_ranking_metrics(
        lambda u: scores, users=[0], targets=[1], exclude=None, n_items=5, k=2, ties="pessimistic"
    )
    assert pessimistic["HR@2"] == 0.0  # rank 2: below both tied items


def test_constant_scorer_gets_random_level_metrics_not_perfect():
    rng = np.random.default_rng(0)
    n_users, n_items, k = 50, 100, 10
    targets = rng.integers(0, n_items, n_users)
    constant = lambda u: np.zeros((len(u), n_items))  # noqa: E731
    m = full_ranking_metrics(
        constant, users=np.arange(n_users), targets=targets, exclude=None, n_items=n_items, k=k
    )
    assert m["HR@10"] == pytest.approx(10 / 100)  # exactly k / n_items
    assert m["NDCG@10"] == pytest.approx(sum(1 / math.log2(r + 2) for r in range(10)) / 100)
    assert m["MRR@10"] == pytest.approx(sum(1 / (r + 1) for r in range(10)) / 100)

    # 20 excluded non-target items per user leave 80 candidates -> HR = 10 / 80
    rows, cols = [], []
    for u, t in enumerate(targets):
        others = np.setdiff1d(np.arange(n_items), [t])
        cols.extend(rng.choice(others, 20, replace=False))
        rows.extend([u] * 20)
    exclude = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(n_users, n_items))
    m = full_ranking_metrics(
        constant, users=np.arange(n_users), targets=targets, exclude=exclude, n_items=n_items, k=k
    )
    assert m["HR@10"] == pytest.approx(10 / 80)


def test_perfect_scorer_gets_one():
    targets = np.array([3, 0, 4])
    oracle = lambda u: np.eye(5)[targets[u]]  # noqa: E731
    m = full_ranking_metrics(oracle, users=USERS, targets=targets, exclude=None, n_items=5, k=1)
    assert (m["HR@1"], m["NDCG@1"], m["MRR@1"]) == (1.0, 1.0, 1.0)


def test_batching_does_not_change_results():
    rng = np.random.default_rng(1)
    n_users, n_items = 37, 60
    table = np.round(rng.random((n_users, n_items)), 1)  # coarse values -> many ties
    exclude = sp.random(n_users, n_items, density=0.2, format="csr", random_state=2)
    users = rng.integers(0, n_users, 80)  # repeated users are evaluated separately
    targets = rng.integers(0, n_items, 80)
    results = [
        full_ranking_metrics(
            lambda u: table[u], users=users, targets=targets, exclude=exclude, n_items=n_items, k=5, batch_size=b
        )
        for b in (1, 7, 1000)
    ]
    assert results[0] == results[1] == results[2]


def test_score_fn_output_is_not_modified():
    cache = SCORES.copy()  # a scorer that hands back its own cached array
    exclude = sp.csr_matrix(np.ones((3, 5)))
    full_ranking_metrics(lambda u: cache, users=USERS, targets=TARGETS, exclude=exclude, n_items=5, batch_size=3)
    np.testing.assert_array_equal(cache, SCORES)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="expected \\[3, 5\\]"):
        full_ranking_metrics(lambda u: np.zeros((len(u), 4)), users=USERS, targets=TARGETS, exclude=None, n_items=5)
    with pytest.raises(ValueError, match="NaN"):
        full_ranking_metrics(lambda u: np.full((len(u), 5), np.nan), users=USERS, targets=TARGETS, exclude=None, n_items=5)
    with pytest.raises(ValueError, match="same length"):
        evaluate(targets=np.array([1, 2]))
    with pytest.raises(ValueError, match="target index 5"):
        evaluate(targets=np.array([1, 2, 5]))
    with pytest.raises(ValueError, match="empty"):
        evaluate(users=np.array([], dtype=int), targets=np.array([], dtype=int))


def test_topk_items_sorts_and_breaks_ties_by_lower_index():
    scores = np.array(
        [
            [0.1, 0.5, 0.5, 0.2],
            [1.0, 1.0, 1.0, 1.0],  # all tied: lowest indices win
            [0.0, 0.3, 0.3, 0.3],  # tie straddles the cut-off
            [-np.inf, 2.0, 3.0, -np.inf],
        ]
    )
    np.testing.assert_array_equal(topk_items(scores, 2), [[1, 2], [0, 1], [1, 2], [2, 1]])
    np.testing.assert_array_equal(topk_items(scores[0], 3), [1, 2, 3])
    np.testing.assert_array_equal(topk_items(scores[2], 10), [1, 2, 3, 0])  # k capped at n_items


def test_topk_items_matches_a_stable_full_sort():
    rng = np.random.default_rng(3)
    scores = np.round(rng.random((200, 300)), 2)
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :15]
    np.testing.assert_array_equal(topk_items(scores, 15), expected)


def test_interaction_matrix_binary_counts_and_weights():
    events = pd.DataFrame({"user": [0, 0, 1, 2, 0], "item": [2, 2, 0, 3, 1], "rating": [4.0, 5.0, 3.0, 1.0, 2.0]})
    binary = interaction_matrix(events, n_users=3, n_items=4)
    assert isinstance(binary, sp.csr_matrix) and binary.dtype == np.float32
    np.testing.assert_array_equal(binary.toarray(), [[0, 1, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1]])
    counts = interaction_matrix(events, n_users=3, n_items=4, binary=False)
    assert counts[0, 2] == 2.0  # (0, 2) seen twice
    rated = interaction_matrix(events, n_users=3, n_items=4, weights="rating", binary=False)
    assert rated[0, 2] == 9.0  # 4 + 5
    assert rated[2, 3] == 1.0


def test_interaction_matrix_rejects_bad_input():
    events = pd.DataFrame({"user": [0, 3], "item": [1, 1]})
    with pytest.raises(ValueError, match="user index 3"):
        interaction_matrix(events, n_users=3, n_items=2)
    with pytest.raises(ValueError, match="binary=False"):
        interaction_matrix(events, n_users=4, n_items=2, weights=np.ones(2))
    with pytest.raises(ValueError, match="'item'"):
        interaction_matrix(pd.DataFrame({"user": [0]}), n_users=1, n_items=1)


def test_explicitly_stored_zeros_in_exclude_do_not_exclude():
    exclude = sp.csr_matrix((np.array([0.0, 1.0]), ([0, 0], [0, 4])), shape=(3, 5))  # u0: 0 stored, 4 excluded
    m = full_ranking_metrics(table_scores, users=[0], targets=[2], exclude=exclude, n_items=5, k=1)
    assert m["HR@1"] == 0.0  # item 0 (0.9) still outranks target 2 (0.5)
