"""Baseline figures on MovieLens 100k with a temporal leave-last-out split, full ranking.

Run: ``python bench/baselines.py [path/to/u.data]``. Prints validation tuning tables and test
HR/NDCG/MRR@10 for popularity, item-kNN and EASE under two protocols:
  * ``refit``: models refitted on train+valid, train+valid items excluded (the usual final test);
  * ``train-only``: models fitted on train, only train items excluded.
These are the bar the neural model has to beat.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pandas as pd

from recsys.evaluation.baselines import (
    EASERecommender,
    ItemKNNRecommender,
    PopularityRecommender,
    tune_ease,
    tune_item_knn,
)
from recsys.evaluation.metrics import full_ranking_metrics, interaction_matrix

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ml-100k" / "u.data"


def temporal_leave_last_out(events: pd.DataFrame):
    """Per user, by timestamp (file order breaks ties): test = last, valid = second-to-last."""
    ordered = events.sort_values(["user", "timestamp"], kind="stable")
    from_end = ordered.groupby("user").cumcount(ascending=False)
    return ordered[from_end >= 2], ordered[from_end == 1], ordered[from_end == 0]


def main(path: Path) -> None:
    events = pd.read_csv(path, sep="\t", names=["user", "item", "rating", "timestamp"])
    events["user"] = events["user"].astype("category").cat.codes.astype("int64")
    events["item"] = events["item"].astype("category").cat.codes.astype("int64")
    n_users, n_items = int(events["user"].max()) + 1, int(events["item"].max()) + 1
    train, valid, test = temporal_leave_last_out(events)
    print(f"{path}: {len(events)} events, {n_users} users, {n_items} items; "
          f"train {len(train)}, valid {len(valid)}, test {len(test)}")

    def matrix(frame):
        return interaction_matrix(frame, n_users=n_users, n_items=n_items)

    X_train, X_train_valid = matrix(train), matrix(pd.concat([train, valid]))
    valid_users, valid_targets = valid["user"].to_numpy(), valid["item"].to_numpy()
    test_users, test_targets = test["user"].to_numpy(), test["item"].to_numpy()

    started = time.perf_counter()
    best_l2, ease_table = tune_ease(X_train, valid_users=valid_users, valid_targets=valid_targets, n_items=n_items)
    print(f"\ntune_ease ({time.perf_counter() - started:.1f} s) valid NDCG@10:",
          {l2: round(v, 4) for l2, v in ease_table.items()}, "-> l2 =", best_l2)
    started = time.perf_counter()
    best_n, knn_table = tune_item_knn(
        X_train, valid_users=valid_users, valid_targets=valid_targets, n_items=n_items
    )
    print(f"tune_item_knn ({time.perf_counter() - started:.1f} s) valid NDCG@10:",
          {n: round(v, 4) for n, v in knn_table.items()}, "-> n_neighbors =", best_n)

    models = {
        "popularity": PopularityRecommender,
        f"itemknn(n={best_n})": lambda: ItemKNNRecommender(best_n),
        f"ease(l2={best_l2})": lambda: EASERecommender(l2=best_l2),
    }
    print(f"\n{'protocol':<11} {'model':<20} {'HR@10':>7} {'NDCG@10':>8} {'MRR@10':>7} {'cov@10':>7} {'fit s':>6}")
    for protocol, X in (("refit", X_train_valid), ("train-only", X_train)):
        for name, make in models.items():
            started = time.perf_counter()
            model = make().fit(X)
            fit_s = time.perf_counter() - started
            m = full_ranking_metrics(
                model.score, users=test_users, targets=test_targets, exclude=X, n_items=n_items, k=10
            )
            print(f"{protocol:<11} {name:<20} {m['HR@10']:7.4f} {m['NDCG@10']:8.4f} {m['MRR@10']:7.4f} "
                  f"{m['coverage@10']:7.3f} {fit_s:6.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT)
