"""Tests for recsys.evaluation.baselines: hand-checked popularity, cosine kNN and EASE weights, tuning, manners."""

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from recsys.evaluation.baselines import (
    EASE_MAX_GRAM,
    EASERecommender,
    ItemKNNRecommender,
    NotFittedError,
    PopularityRecommender,
    column_quadratic_forms,
    cosine_item_similarity,
    ease_feasible,
    tune_ease,
    tune_item_knn,
    tuning_sample,
)
from recsys.evaluation.metrics import full_ranking_metrics, interaction_matrix

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

# 4 users × 4 items. Item users: i0 {u0,u1,u3} (3), i1 {u0,u1,u2} (3), i2 {u1,u2} (2), i3 {u3} (1).
X = sp.csr_matrix(
    np.array(
        [
            [1, 1, 0, 0],
            [1, 1, 1, 0],
            [0, 1, 1, 0],
            [1, 0, 0, 1],
        ],
        dtype=np.float32,
    )
)
S01, S02, S03, S12 = 2 / 3, 1 / math.sqrt(6), 1 / math.sqrt(3), 2 / math.sqrt(6)  # co / sqrt(n_i n_j)


@pytest.fixture(scope="session")
def synthetic():
    """300 users in 3 taste groups of 20 items each (+ noise); the last item of each user is held out."""
    rng = np.random.default_rng(0)
    n_users, n_items = 300, 60
    rows, cols, targets = [], [], []
    for u in range(n_users):
        group = u % 3
        items = rng.choice(np.arange(group * 20, group * 20 + 20), 8, replace=False)
        noise = rng.choice(n_items, 1)
        history = np.setdiff1d(np.concatenate([items[:-1], noise]), [items[-1]])
        rows.extend([u] * len(history))
        cols.extend(history)
        targets.append(items[-1])
    X_train = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(n_users, n_items))
    X_train.data[:] = 1.0
    return X_train, np.arange(n_users), np.array(targets), n_items


def test_popularity_scores_item_counts_for_every_user():
    model = PopularityRecommender()
    assert model.fit(X) is model
    np.testing.assert_array_equal(model.item_counts_, [3, 3, 2, 1])
    scores = model.score([0, 3])
    assert scores.shape == (2, 4) and scores.dtype == np.float32
    np.testing.assert_array_equal(scores, [[3, 3, 2, 1], [3, 3, 2, 1]])


def test_cosine_similarity_hand_computed():
    S = cosine_item_similarity(X).toarray()
    expected = np.array(
        [
            [0, S01, S02, S03],  # i0-i1 share u0,u1: 2/sqrt(3*3)
            [S01, 0, S12, 0],  # i1-i2 share u1,u2: 2/sqrt(3*2); i1-i3 share nobody
            [S02, S12, 0, 0],
            [S03, 0, 0, 0],
        ]
    )
    np.testing.assert_allclose(S, expected, rtol=1e-6)
    shrunk = cosine_item_similarity(X, shrink=1.0).toarray()
    assert shrunk[0, 1] == pytest.approx(2 / (3 + 1))  # co / (sqrt(n_i n_j) + shrink)


def test_item_knn_full_neighbourhood_scores_are_history_sums():
    model = ItemKNNRecommender(n_neighbors=100).fit(X)
    # u0 holds i0, i1 -> score_j = S[0, j] + S[1, j]
    np.testing.assert_allclose(model.score([0])[0], [S01, S01, S02 + S12, S03], rtol=1e-6)


def test_item_knn_keeps_top_neighbours_per_candidate_item():
    model = ItemKNNRecommender(n_neighbors=1).fit(X)
    # nearest item of each candidate: i0 -> i1 (2/3), i1 -> i2 (0.816), i2 -> i1, i3 -> i0
    expected_weights = np.zeros((4, 4))
    expected_weights[1, 0] = S01
    expected_weights[2, 1] = S12
    expected_weights[1, 2] = S12
    expected_weights[0, 3] = S03
    np.testing.assert_allclose(model.weights_.toarray(), expected_weights, rtol=1e-6)
    # u0 holds i0, i1 -> rows 0 + 1 of W
    np.testing.assert_allclose(model.score([0])[0], [S01, 0, S12, S03], rtol=1e-6)


def test_ease_two_item_closed_form_by_hand():
    # X^T X = [[a, c], [c, b]] with a=3, b=2, c=1; B[0,1] = c / (a + l2), B[1,0] = c / (b + l2)
    X2 = sp.csr_matrix(np.array([[1, 1], [1, 0], [1, 0], [0, 1]], dtype=np.float32))
    model = EASERecommender(l2=1.0).fit(X2)
    np.testing.assert_allclose(model.weights_, [[0, 1 / 4], [1 / 3, 0]], rtol=1e-6)


def test_ease_matches_numpy_inverse():
    l2 = 0.5
    model = EASERecommender(l2=l2).fit(X)
    dense = X.toarray().astype(np.float64)
    P = np.linalg.inv(dense.T @ dense + l2 * np.eye(4))
    B = -P / np.diag(P)[None, :]
    np.fill_diagonal(B, 0.0)
    np.testing.assert_allclose(model.weights_, B, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(model.score([1, 3]), dense[[1, 3]] @ B, rtol=1e-5, atol=1e-6)


def test_score_before_fit_raises_clear_error():
    for model in (PopularityRecommender(), ItemKNNRecommender(), EASERecommender()):
        with pytest.raises(NotFittedError, match="call fit"):
            model.score([0])


def test_init_only_stores_arguments_and_fit_returns_self():
    model = EASERecommender(l2=7.0, max_items=50)
    assert vars(model) == {"l2": 7.0, "max_items": 50, "form": "auto"}
    assert ItemKNNRecommender(5, shrink=2.0).__dict__ == {"n_neighbors": 5, "shrink": 2.0}
    assert model.fit(X) is model
    assert model.n_items_ == 4 and model.n_users_ == 4


def test_fits_are_deterministic(synthetic):
    X_train = synthetic[0]
    for make in (lambda: ItemKNNRecommender(5), lambda: EASERecommender(l2=10.0)):
        a, b = make().fit(X_train), make().fit(X_train)
        np.testing.assert_array_equal(a.score(np.arange(50)), b.score(np.arange(50)))


def test_bad_arguments_raise_clear_errors():
    with pytest.raises(ValueError, match="max_items"):
        EASERecommender(l2=1.0, max_items=3).fit(X)
    with pytest.raises(ValueError, match="l2 must be > 0"):
        EASERecommender(l2=0.0).fit(X)
    with pytest.raises(ValueError, match="form must be"):
        EASERecommender(form="svd").fit(X)
    with pytest.raises(ValueError, match="user index 4"):
        PopularityRecommender().fit(X).score([4])


def random_interactions(n_users, n_items, seed):
    """A seeded random binary matrix with one empty user and one item nobody has."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.15).astype(np.float32)
    dense[1] = 0.0
    dense[:, 2] = 0.0
    return sp.csr_matrix(dense)


@pytest.mark.parametrize("n_users, n_items", [(25, 70), (70, 25)])
def test_ease_dual_and_primal_forms_give_the_same_scores(n_users, n_items):
    X_random = random_interactions(n_users, n_items, seed=n_users)
    dense = X_random.toarray().astype(np.float64)
    P = np.linalg.inv(dense.T @ dense + 3.0 * np.eye(n_items))
    B = -P / np.diag(P)[None, :]  # B[i, j] = -P[i, j] / P[j, j], zero diagonal
    np.fill_diagonal(B, 0.0)
    users = np.arange(n_users)
    primal = EASERecommender(l2=3.0, form="primal").fit(X_random)
    dual = EASERecommender(l2=3.0, form="dual").fit(X_random)
    assert (primal.form_, dual.form_) == ("primal", "dual")
    assert not hasattr(dual, "weights_")  # the [n_items, n_items] matrix is never formed
    assert dual.user_inverse_.shape == (n_users, n_users)
    np.testing.assert_allclose(dual.score(users), primal.score(users), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dual.score(users), dense @ B, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(dual.score([1]), 0.0)  # an empty history scores nothing
    auto = EASERecommender(l2=3.0).fit(X_random)
    assert auto.form_ == ("dual" if n_users < n_items else "primal")


@pytest.mark.parametrize("n_users, n_items", [(40, 90), (90, 40)])
def test_tune_ease_picks_the_same_l2_in_both_forms(n_users, n_items):
    X_random = random_interactions(n_users, n_items, seed=n_items)
    rng = np.random.default_rng(3)
    users = np.arange(n_users)
    targets = np.array([rng.choice(np.flatnonzero(row == 0)) for row in X_random.toarray()])
    grid = (0.5, 2.0, 10.0, 100.0)
    tuned = {
        form: tune_ease(X_random, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid, form=form)
        for form in ("primal", "dual")
    }
    assert tuned["primal"][0] == tuned["dual"][0]
    for l2 in grid:
        assert tuned["dual"][1][l2] == pytest.approx(tuned["primal"][1][l2], abs=1e-9)


def test_column_quadratic_forms_match_dense_products():
    rng = np.random.default_rng(5)
    X_weighted = sp.random(30, 12, density=0.3, random_state=rng, format="csr", dtype=np.float32)
    A = rng.standard_normal((30, 30))
    M = A + A.T
    dense = X_weighted.toarray().astype(np.float64)
    expected = np.einsum("uj,uv,vj->j", dense, M, dense)  # x_jᵀ M x_j per column
    for block in (1, 5, 2048):  # one item per block, a few, all at once
        np.testing.assert_allclose(column_quadratic_forms(X_weighted, M, block=block), expected, rtol=1e-5)


def test_ease_fits_wide_catalogues_and_refuses_when_both_sides_are_huge():
    wide = random_interactions(12, 30_000, seed=0)  # more items than the old 20k cap; K is only 12×12
    model = EASERecommender(l2=1.0).fit(wide)
    assert model.form_ == "dual" and model.score([0, 5]).shape == (2, 30_000)
    assert ease_feasible(12, 30_000)
    side = EASE_MAX_GRAM + 1
    assert not ease_feasible(side, side)
    with pytest.raises(ValueError, match="both sides are too big"):
        EASERecommender(l2=1.0).fit(sp.csr_matrix((side, side), dtype=np.float32))
    with pytest.raises(ValueError, match="both sides are too big"):
        tune_ease(sp.csr_matrix((side, side), dtype=np.float32), valid_users=[0], valid_targets=[0], n_items=side)
    with pytest.raises(ValueError, match="use form='auto'"):  # the other side would have fitted
        EASERecommender(l2=1.0, form="primal").fit(sp.csr_matrix((5, side), dtype=np.float32))


def test_tune_ease_scores_a_seeded_sample_of_many_validation_users(synthetic):
    X_train, users, targets, n_items = synthetic
    sample_users, sample_targets = tuning_sample(users, targets, 120)
    assert len(sample_users) == 120 and np.all(np.diff(sample_users) > 0)  # distinct, in validation order
    grid = (1.0, 100.0)
    sampled = tune_ease(X_train, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid, max_users=120)
    direct = tune_ease(X_train, valid_users=sample_users, valid_targets=sample_targets, n_items=n_items, grid=grid,
                       max_users=None)
    assert sampled == direct
    every = tune_ease(X_train, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid)
    assert every == tune_ease(X_train, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid,
                              max_users=None)  # 300 users: below the default sample size, all are scored


def test_models_beat_popularity_on_planted_groups(synthetic):
    X_train, users, targets, n_items = synthetic

    def ndcg(model):
        return full_ranking_metrics(
            model.score, users=users, targets=targets, exclude=X_train, n_items=n_items, k=10
        )["NDCG@10"]

    popularity = ndcg(PopularityRecommender().fit(X_train))
    assert ndcg(ItemKNNRecommender(20).fit(X_train)) > 2 * popularity
    assert ndcg(EASERecommender(l2=10.0).fit(X_train)) > 2 * popularity


def test_tune_ease_picks_the_best_grid_value(synthetic):
    X_train, users, targets, n_items = synthetic
    grid = (1.0, 10.0, 100.0, 10_000.0)
    best, results = tune_ease(X_train, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid)
    assert list(results) == list(grid)
    for l2 in grid:  # same numbers as fitting each model separately
        direct = full_ranking_metrics(
            EASERecommender(l2=l2).fit(X_train).score,
            users=users, targets=targets, exclude=X_train, n_items=n_items, k=10,
        )["NDCG@10"]
        assert results[l2] == pytest.approx(direct, rel=1e-6)
    assert results[best] == max(results.values())


def test_tune_item_knn_picks_the_best_grid_value(synthetic):
    X_train, users, targets, n_items = synthetic
    grid = (1, 5, 20)
    best, results = tune_item_knn(X_train, valid_users=users, valid_targets=targets, n_items=n_items, grid=grid)
    assert list(results) == list(grid)
    for n in grid:
        direct = full_ranking_metrics(
            ItemKNNRecommender(n).fit(X_train).score,
            users=users, targets=targets, exclude=X_train, n_items=n_items, k=10,
        )["NDCG@10"]
        assert results[n] == pytest.approx(direct, rel=1e-6)
    assert results[best] == max(results.values())


def test_ease_beats_popularity_on_movielens_100k():
    path = DATA / "ml-100k" / "u.data"
    if not path.exists():
        pytest.skip(f"MovieLens 100k not found at {path} (shared data sits next to the repo)")
    events = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "timestamp"])
    events["user"] -= 1
    events["item"] -= 1
    events = events.sort_values(["user", "timestamp"], kind="stable")
    last = events.groupby("user").cumcount(ascending=False) == 0
    train, test = events[~last], events[last]
    n_users, n_items = 943, 1682
    X_train = interaction_matrix(train, n_users=n_users, n_items=n_items)
    users, targets = test["user"].to_numpy(), test["item"].to_numpy()

    def hr(model):
        return full_ranking_metrics(
            model.fit(X_train).score, users=users, targets=targets, exclude=X_train, n_items=n_items
        )["HR@10"]

    popularity, ease = hr(PopularityRecommender()), hr(EASERecommender(l2=500.0))
    assert popularity > 0.02  # far above random (10 / ~1580 candidates)
    assert ease > 1.3 * popularity
