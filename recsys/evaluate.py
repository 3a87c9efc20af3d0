"""Honest evaluation: the hybrid model and the baselines on one temporal leave-last-out split.

Protocol (the same for every method):
  * `leave_last_out_split`: per user, test = last new item, validation = the new item before it.
  * The model trains on the train events and stops early on validation NDCG@10; its α is chosen on
    validation. Baselines are tuned on validation (EASE λ, item-kNN neighbours) and then refitted on
    everything before each user's test event.
  * Test: each user's test item is ranked against the full catalogue with every item the user had
    before it excluded; the LSTM reads the history up to the test event.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.baselines import EASERecommender, ItemKNNRecommender, PopularityRecommender, tune_ease, tune_item_knn
from recsys.config import TrainConfig
from recsys.metrics import full_ranking_metrics

ALPHAS = tuple(round(a / 10, 1) for a in range(11))
EASE_MAX_ITEMS = 20_000


def alpha_sweep(vectors, *, users, targets, exclude, n_items, k=10, alphas=ALPHAS, batch_size=1024) -> dict:
    """Full-ranking metrics for every α from the stored component vectors (no retraining).

    Returns {alpha: metrics dict}.
    """
    users = np.asarray(users, np.int64)
    targets = np.asarray(targets, np.int64)
    out = {}
    for alpha in alphas:
        out[alpha] = full_ranking_metrics(
            lambda b, a=alpha: vectors.scores(b, alpha=a), users=users, targets=targets, exclude=exclude,
            n_items=n_items, k=k, batch_size=batch_size)
    return out


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


def evaluate_dataset(dataset, config: TrainConfig | None = None, *, k: int = 10, progress=None,
                     cancel=None, baselines: bool = True) -> dict:
    """Trains on a temporal split and returns model and baseline metrics plus the test α sweep.

    The same path a stored run takes (`recsys.training.fit_and_evaluate`), without writing a run.
    Returns a JSON-serialisable dict: {"split": {...}, "model": metrics at the chosen α,
    "alpha": chosen α, "baselines": {name: metrics}, "alpha_sweep": [{alpha, metrics...}],
    "validation": {...}, "train_seconds": s}.
    """
    from recsys.training import fit_and_evaluate

    evaluated = fit_and_evaluate(dataset, config or TrainConfig(), k=k, progress=progress, cancel=cancel,
                                 baselines=baselines)
    if evaluated.evaluation is None:
        raise ValueError("no user has 3 or more distinct items: a leave-last-out evaluation needs longer histories")
    return evaluated.evaluation


def evaluate_baselines(X_train, X_test_hist, split, *, n_items: int, k: int = 10, scorers: dict | None = None) -> dict:
    """Popularity, item-kNN and EASE: tuned on validation, refitted on the history before test.

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
    if n_items <= EASE_MAX_ITEMS:
        l2, _ = tune_ease(X_train, valid_users=vu, valid_targets=vt, n_items=n_items, k=k)
        out["ease"] = {**test_metrics("ease", EASERecommender(l2).fit(X_test_hist)), "l2": l2}
    return out


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
