"""Saved runs keep loading: a run folder written by an earlier version serves the same recommendations.

`tests/fixtures/old_run/` was written by `tests/fixtures/write_old_run.py` (see its docstring for the
commit), together with the recommendations it served then. If this test fails after a refactor, runs
that users saved no longer load or no longer mean the same thing.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from recsys import serving
from recsys.store import load_run

FIXTURES = Path(__file__).resolve().parent / "fixtures"
K = 5


@pytest.fixture(scope="module")
def old_run():
    return load_run(FIXTURES / "old_run")


@pytest.fixture(scope="module")
def recorded():
    return pd.read_csv(FIXTURES / "old_run_recommendations.csv", dtype={"user_id": str, "item_id": str})


def test_the_old_run_loads_with_its_ids_and_settings(old_run):
    assert old_run.run_id == "04546ebd1188937cd9fa"
    assert (old_run.n_users, old_run.n_items) == (40, 64)  # 40 planted users; 4 topics × (15 + 1 cold) items
    assert old_run.config["dim"] == 8
    assert np.asarray(old_run.vectors.cf_user).shape == (40, 8)


def test_the_old_run_recommends_k_unseen_items_per_user(old_run):
    rec = serving.recommend(old_run, k=K)
    assert (rec.groupby("user_id").size() == K).all() and rec["user_id"].nunique() == old_run.n_users
    seen = set(zip(old_run.user_ids[old_run.events["user"]], old_run.item_ids[old_run.events["item"]]))
    assert not seen & set(zip(rec["user_id"], rec["item_id"]))


@pytest.mark.parametrize("which", ["default", "fixed"])
def test_the_old_run_serves_the_recommendations_it_served_when_it_was_written(old_run, recorded, which):
    alphas = sorted(recorded["alpha"].unique())  # the run's default α (1.0: chosen on validation) and 0.3
    alpha = serving.default_alpha(old_run) if which == "default" else 0.3
    assert alpha in alphas
    expected = recorded[recorded["alpha"] == alpha].reset_index(drop=True)
    rec = serving.recommend(old_run, k=K, alpha=alpha)
    assert list(rec["user_id"]) == list(expected["user_id"])
    assert list(rec["item_id"]) == list(expected["item_id"])
    np.testing.assert_allclose(rec["score"], expected["score"], rtol=1e-5, atol=1e-6)


def test_the_old_runs_keras_model_loads_and_scores_like_it_did(old_run):
    """model.keras loads in safe mode under the registered names recsys>HybridRecommender / ItemContentTower."""
    scorer = serving.ColdStartScorer(old_run)
    items = old_run.items
    cold = int(items.index[items["item_id"] == "cold2"][0])  # no events: its stored vector is its text's
    vec = scorer.new_item_vector(items.at[cold, "text"], list(items.at[cold, "categories"]))
    np.testing.assert_allclose(vec, np.asarray(old_run.vectors.content_item)[cold], atol=1e-5)

    picked = [int(i) for i in items.index[items["item_id"].isin(["i000", "i001", "i002"])]]
    rec = scorer.recommend_for_new_user(picked, k=K, alpha=0.3)
    expected = pd.read_csv(FIXTURES / "old_run_new_user.csv", dtype={"item_id": str})
    assert list(rec["item_id"]) == list(expected["item_id"])
    assert not {"i000", "i001", "i002"} & set(rec["item_id"])
    np.testing.assert_allclose(rec["score"], expected["score"], rtol=1e-5, atol=1e-6)
