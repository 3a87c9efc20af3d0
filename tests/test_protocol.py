"""The test report's baselines and table (recsys.evaluation.protocol), on planted data without training."""

import numpy as np
import pytest

import recsys.evaluation.baselines
from planted import planted_dataset
from recsys.evaluation.metrics import interaction_matrix
from recsys.evaluation.protocol import evaluate_baselines, metrics_table
from recsys.split import history_before, leave_last_out_split


@pytest.fixture(scope="module")
def matrices():
    ds = planted_dataset()
    split = leave_last_out_split(ds.events)
    X_train = interaction_matrix(split.train, n_users=ds.n_users, n_items=ds.n_items)
    X_test_hist = interaction_matrix(history_before(ds.events, split.test), n_users=ds.n_users, n_items=ds.n_items)
    return X_train, X_test_hist, split, ds.n_items


def test_baselines_are_scored_on_the_test_users_and_hand_their_scorers_over(matrices):
    X_train, X_test_hist, split, n_items = matrices
    scorers = {}
    result = evaluate_baselines(X_train, X_test_hist, split, n_items=n_items, scorers=scorers)
    assert set(result) == set(scorers) == {"popularity", "item_knn", "ease"}
    assert {r["n_users"] for r in result.values()} == {len(split.test)}
    assert result["item_knn"]["n_neighbors"] > 0 and result["ease"]["l2"] > 0
    assert scorers["ease"](np.array([0, 1])).shape == (2, n_items)


def test_ease_is_left_out_where_it_does_not_fit(matrices, monkeypatch):
    """A catalogue and user base both above the dense-gram cap: EASE would raise, so the report skips it."""
    X_train, X_test_hist, split, n_items = matrices
    monkeypatch.setattr(recsys.evaluation.baselines, "EASE_MAX_GRAM", min(X_train.shape) - 1)
    result = evaluate_baselines(X_train, X_test_hist, split, n_items=n_items)
    assert set(result) == {"popularity", "item_knn"}


def test_metrics_table_has_the_model_rows_first_and_drops_recall_when_it_equals_hr():
    metrics = {"HR@10": 0.5, "NDCG@10": 0.3, "MRR@10": 0.2, "Recall@10": 0.5, "coverage@10": 0.1, "n_users": 4}
    result = {"alpha": 0.3, "model": metrics, "model_cf_only": metrics, "model_content_only": metrics,
              "baselines": {"popularity": {**metrics, "HR@10": 0.25, "Recall@10": 0.25}}}
    table = metrics_table(result)
    assert list(table["method"]) == ["hybrid (α=0.3)", "hybrid, CF part only (α=1)",
                                     "hybrid, content part only (α=0)", "popularity"]
    assert "Recall@10" not in table.columns and list(table["HR@10"]) == [0.5, 0.5, 0.5, 0.25]
