"""The test report of a trained model: the hybrid and the baselines on one temporal leave-last-out split.

Protocol (the same for every method):
  * `leave_last_out_split`: per user, test = last new item, validation = the new item before it.
  * The model trains on the train events and stops early on validation NDCG@10; its α is chosen on
    validation (`recsys.training`). Baselines are tuned on validation (EASE λ, item-kNN neighbours) and
    then refitted on everything before each user's test event.
  * Test: each user's test item is ranked against the full catalogue with every item the user had
    before it excluded; the LSTM reads the history up to the test event.

This module scores what training hands it (component vectors, the chosen α) and never trains.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.evaluation.baselines import (EASERecommender, ItemKNNRecommender, PopularityRecommender, ease_feasible,
                                         tune_ease, tune_item_knn)
from recsys.evaluation.metrics import alpha_sweep, full_ranking_metrics, interaction_matrix
from recsys.evaluation.segments import item_has_text, segment_report
from recsys.split import Split, history_before

EVALUATION_PROTOCOL = "temporal leave-last-out, full ranking, the user's earlier items excluded"


def evaluate_baselines(X_train, X_test_hist, split, *, n_items: int, k: int = 10, scorers: dict | None = None) -> dict:
    """Popularity, item-kNN and EASE (where `ease_feasible`): tuned on validation, refitted on the history
    before test.

    `scorers`, when given, receives each fitted baseline's `score(users)` (for the per-segment report).
    """
    vu, vt = split.valid["user"].to_numpy(np.int64), split.valid["item"].to_numpy(np.int64)
    tu, tt = split.test["user"].to_numpy(np.int64), split.test["item"].to_numpy(np.int64)

    def test_metrics(name, model):
        if scorers is not None:
            scorers[name] = model.score
        return full_ranking_metrics(model.score, users=tu, targets=tt, exclude=X_test_hist, n_items=n_items, k=k)

    out = {"popularity": test_metrics("popularity", PopularityRecommender().fit(X_test_hist))}
    n_neighbors, _ = tune_item_knn(X_train, valid_users=vu, valid_targets=vt, n_items=n_items, k=k)
    out["item_knn"] = {**test_metrics("item_knn", ItemKNNRecommender(n_neighbors).fit(X_test_hist)),
                       "n_neighbors": n_neighbors}
    if ease_feasible(X_train.shape[0], n_items):
        l2, _ = tune_ease(X_train, valid_users=vu, valid_targets=vt, n_items=n_items, k=k)
        out["ease"] = {**test_metrics("ease", EASERecommender(l2).fit(X_test_hist)), "l2": l2}
    return out


def evaluation_report(*, events: pd.DataFrame, split: Split, items: pd.DataFrame, n_users: int, n_items: int,
                      test_vectors, alpha: float, training: dict, valid_vectors=None, k: int = 10,
                      baselines: bool = True) -> dict:
    """The test report of a model trained on `split.train` (JSON-ready).

    Args:
        events: `Dataset.events`; split: its `leave_last_out_split` (with test rows).
        items: the dataset's item frame (which items have text, for the segments).
        test_vectors: `ServingVectors` whose LSTM part read each user's history before the test item.
        alpha: the α chosen on validation (the "model" row).
        training: what the fit reports about itself ("validation", "train_seconds", "device",
            "config"), kept in the report as given.
        valid_vectors: vectors after the training events (validation time), for "α by segment".
        baselines: also tune, refit and score popularity, item-kNN and EASE.

    Returns:
        {"protocol", "k", "split": {...}, "alpha", "model", "model_cf_only", "model_content_only",
        "alpha_sweep": [{alpha, metrics…}], **training, "baselines": {name: metrics},
        "segments": `recsys.evaluation.segments.segment_report`}.
    """
    X_train = interaction_matrix(split.train, n_users=n_users, n_items=n_items)
    X_test_hist = interaction_matrix(history_before(events, split.test), n_users=n_users, n_items=n_items)
    test_users, test_targets = split.test["user"].to_numpy(np.int64), split.test["item"].to_numpy(np.int64)
    sweep = alpha_sweep(test_vectors, users=test_users, targets=test_targets, exclude=X_test_hist,
                        n_items=n_items, k=k)
    if alpha not in sweep:
        sweep.update(alpha_sweep(test_vectors, users=test_users, targets=test_targets, exclude=X_test_hist,
                                 n_items=n_items, k=k, alphas=(alpha,)))
    report = {
        "protocol": EVALUATION_PROTOCOL,
        "k": k,
        "split": {"n_train_events": int(len(split.train)), "n_valid_users": int(len(split.valid)),
                  "n_test_users": int(len(split.test)), "n_users": n_users, "n_items": n_items},
        "alpha": alpha,
        "model": sweep[alpha],
        "model_cf_only": sweep[1.0],
        "model_content_only": sweep[0.0],
        "alpha_sweep": [{"alpha": a, **m} for a, m in sorted(sweep.items())],
        **training,
    }
    scorers: dict = {}
    if baselines:
        report["baselines"] = evaluate_baselines(X_train, X_test_hist, split, n_items=n_items, k=k, scorers=scorers)
    report["segments"] = segment_report(  # per user-activity / item-popularity / text segment (issue 13)
        events=events, split=split, n_users=n_users, n_items=n_items, item_has_text=item_has_text(items),
        test_vectors=test_vectors, alpha=alpha, baseline_scorers=scorers, baselines=baselines, k=k,
        valid_vectors=valid_vectors if valid_vectors is not None else test_vectors)
    return report


def metrics_table(result: dict, *, k: int = 10) -> pd.DataFrame:
    """One row per method (model first) with HR/NDCG/MRR/coverage@k, for display and export.

    Recall@k is dropped when it equals HR@k for every method, as it does with one held-out item per
    user (the leave-last-out split).
    """
    rows = [{"method": f"hybrid (α={result['alpha']})", **result["model"]},
            {"method": "hybrid, CF part only (α=1)", **result["model_cf_only"]},
            {"method": "hybrid, content part only (α=0)", **result["model_content_only"]}]
    for name, m in result.get("baselines", {}).items():
        rows.append({"method": name, **m})
    cols = ["method", f"HR@{k}", f"NDCG@{k}", f"MRR@{k}", f"Recall@{k}", f"coverage@{k}", "n_users"]
    table = pd.DataFrame(rows)[cols]
    if np.allclose(table[f"Recall@{k}"].to_numpy(float), table[f"HR@{k}"].to_numpy(float)):
        table = table.drop(columns=[f"Recall@{k}"])
    return table
