"""Quality and training time of the DEFAULT config against the baselines, one row per dataset.

Protocol (`recsys.evaluation.protocol`): temporal leave-last-out; each user's last new item is the test
target, the one before it validates (early stopping, α, baseline tuning); full ranking over the
catalogue with the user's earlier items excluded. Baselines (popularity, item-kNN, EASE) are tuned
on validation and refitted on everything before each test event.

Rows: the generated shapes a-d (`bench/shapes.py`), ML-100K and Online Retail (from
../shared/data; skipped with the reason when absent) and the demo data. EASE runs in its primal or
dual form (whichever side is smaller, `recsys.evaluation.baselines.ease_feasible`); where both sides
are too big, or above `--ease-max-items` when given, it is skipped and said so.

    python bench/quality.py --all [--json out.json]
    python bench/quality.py shape-a ml-100k demo      # some rows
    python bench/quality.py shape-a --detail          # also each part alone and the α choice
    python bench/quality.py --merge a.json b.json     # one table from rows written by earlier --json runs
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from recsys.config import TrainConfig  # noqa: E402
from recsys.evaluation.baselines import (  # noqa: E402
    EASERecommender, ItemKNNRecommender, PopularityRecommender, ease_feasible, tune_ease, tune_item_knn)
from recsys.evaluation.metrics import full_ranking_metrics, interaction_matrix  # noqa: E402
from recsys.split import history_before, leave_last_out_split  # noqa: E402
from recsys.training import evaluate_dataset  # noqa: E402
from shapes import EXTRA_SHAPES, SHAPES, shape_dataset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
ALL = [f"shape-{s}" for s in SHAPES] + ["ml-100k", "online-retail", "demo"]


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def loader(name: str):
    """(load function, None) or (None, reason it is skipped)."""
    from recsys.data import load_dataset
    from recsys.data.demo import demo_dataset

    if name.startswith("shape-") and (name[6:] in SHAPES or name[6:] in EXTRA_SHAPES):
        return (lambda: shape_dataset(name[6:])), None
    if name == "demo":
        return demo_dataset, None
    if name == "ml-100k":
        path = SHARED / "ml-100k"
        if not (path / "u.data").is_file():
            return None, f"{path / 'u.data'} is absent"
        return (lambda: load_dataset(path / "u.data", path / "u.item")), None
    if name == "online-retail":
        path = SHARED / "online-retail" / "online_retail.csv.gz"
        if not path.is_file():
            return None, f"{path} is absent"
        return (lambda: load_dataset(path)), None
    raise SystemExit(f"unknown dataset {name!r}: use {', '.join(ALL)}")


def baselines(dataset, *, k: int = 10, ease_max_items: int | None = None) -> dict:
    """Test metrics of popularity, item-kNN and EASE on the same split as the model."""
    events = dataset.events
    split = leave_last_out_split(events)
    n_users, n_items = dataset.n_users, dataset.n_items
    X_train = interaction_matrix(split.train, n_users=n_users, n_items=n_items)
    X_hist = interaction_matrix(history_before(events, split.test), n_users=n_users, n_items=n_items)
    vu, vt = split.valid["user"].to_numpy(np.int64), split.valid["item"].to_numpy(np.int64)
    tu, tt = split.test["user"].to_numpy(np.int64), split.test["item"].to_numpy(np.int64)

    def test(model):
        return full_ranking_metrics(model.score, users=tu, targets=tt, exclude=X_hist, n_items=n_items, k=k)

    out = {"popularity": test(PopularityRecommender().fit(X_hist))}
    nn, _ = tune_item_knn(X_train, valid_users=vu, valid_targets=vt, n_items=n_items, k=k)
    out["item_knn"] = {**test(ItemKNNRecommender(nn).fit(X_hist)), "n_neighbors": nn}
    if ease_feasible(n_users, n_items) and (ease_max_items is None or n_items <= ease_max_items):
        l2, _ = tune_ease(X_train, valid_users=vu, valid_targets=vt, n_items=n_items, k=k)
        out["ease"] = {**test(EASERecommender(l2).fit(X_hist)), "l2": l2}
    else:
        out["ease"] = {"skipped": f"{n_users:,} users × {n_items:,} items: EASE needs a dense inverse of the "
                                  "smaller side (or --ease-max-items was passed)"}
    return out


def evaluate_row(name: str, *, config: TrainConfig, ease_max_items: int) -> dict:
    load, reason = loader(name)
    if load is None:
        return {"dataset": name, "skipped": reason}
    t0 = time.perf_counter()
    ds = load()
    load_s = time.perf_counter() - t0
    load_before = load1()
    r = evaluate_dataset(ds, config, baselines=False)
    load_after = load1()
    base = baselines(ds, ease_max_items=ease_max_items)
    nd = {n: m.get("NDCG@10") for n, m in base.items()}
    best_name = max((n for n in nd if nd[n] is not None), key=lambda n: nd[n])
    ease = nd.get("ease")
    return {
        "dataset": name, "n_users": ds.n_users, "n_items": ds.n_items, "n_events": int(len(ds.events)),
        "load_s": load_s, "model": r["model"]["NDCG@10"], "model_hr": r["model"]["HR@10"],
        "cf_only": r["model_cf_only"]["NDCG@10"], "content_only": r["model_content_only"]["NDCG@10"],
        "alpha": r["alpha"], "validation": r["validation"], "baselines": base,
        "best_baseline": best_name, "best_baseline_ndcg": nd[best_name],
        "ratio_ease": r["model"]["NDCG@10"] / ease if ease else None,
        "floor_met": r["model"]["NDCG@10"] >= nd[best_name],
        "train_s": r["train_seconds"], "best_epoch": r["validation"].get("best_epoch"),
        "load1_before": load_before, "load1_after": load_after,
    }


def fmt(x, spec=".4f"):
    return "—" if x is None else format(x, spec)


def print_table(rows: list[dict]) -> None:
    head = (f"{'dataset':<14}{'users':>7}{'items':>7}{'events':>9}{'model':>8}{'pop':>8}{'iknn':>8}{'EASE':>8}"
            f"{'×EASE':>7}{'≥best':>6}{'train s':>8}{'α':>5}{'epoch':>6}{'load1':>11}")
    print("\nNDCG@10 on the test targets (temporal leave-last-out, full ranking), default TrainConfig")
    print(head)
    for r in rows:
        if "skipped" in r:
            print(f"{r['dataset']:<14} skipped: {r['skipped']}")
            continue
        b = r["baselines"]
        print(f"{r['dataset']:<14}{r['n_users']:>7,}{r['n_items']:>7,}{r['n_events']:>9,}{r['model']:>8.4f}"
              f"{b['popularity']['NDCG@10']:>8.4f}{b['item_knn']['NDCG@10']:>8.4f}{fmt(b['ease'].get('NDCG@10')):>8}"
              f"{fmt(r['ratio_ease'], '.2f'):>7}{('yes' if r['floor_met'] else 'NO'):>6}{r['train_s']:>8.0f}"
              f"{r['alpha']:>5}{fmt(r['best_epoch'], 'd'):>6}{r['load1_before']:>5.1f}-{r['load1_after']:<5.1f}")
    done = [r for r in rows if "skipped" not in r]
    if done:
        met = sum(r["floor_met"] for r in done)
        ratios = [r["ratio_ease"] for r in done if r["ratio_ease"]]
        print(f"floor (model ≥ best baseline) met on {met}/{len(done)} rows; ×EASE min "
              f"{min(ratios) if ratios else float('nan'):.2f} (goal 1.5); {os.cpu_count()} CPUs; "
              "load1 = 1-minute load average before-after training")
        for r in done:
            skipped = r["baselines"]["ease"].get("skipped")
            if skipped:
                print(f"  {r['dataset']}: EASE skipped: {skipped}")


def print_detail(r: dict) -> None:
    if "skipped" in r:
        return
    v = r["validation"]
    print(f"  {r['dataset']}: CF part {r['cf_only']:.4f}, content part {r['content_only']:.4f}, α={r['alpha']} "
          f"({v.get('alpha_choice', 'best on validation')}); validation n={v.get('n_users')}, "
          f"best epoch {r['best_epoch']}")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*")
    p.add_argument("--all", action="store_true", help="every row: " + ", ".join(ALL))
    p.add_argument("--detail", action="store_true", help="also print each part alone and the α choice")
    p.add_argument("--ease-max-items", type=int, default=None, help="skip EASE above this many items")
    p.add_argument("--config", default="{}", help="JSON TrainConfig overrides (experiments only)")
    p.add_argument("--json", help="also write the full results here")
    p.add_argument("--merge", nargs="+", help="print one table from the rows of earlier --json files")
    args = p.parse_args()
    if args.merge:
        rows = [row for path in args.merge for row in json.loads(Path(path).read_text())]
        order = {name: i for i, name in enumerate(ALL)}
        print_table(sorted(rows, key=lambda r: order.get(r["dataset"], len(order))))
        return
    names = ALL if args.all or not args.names else args.names
    config = TrainConfig(**json.loads(args.config))
    rows = []
    for name in names:
        print(f"- {name} (load1 {load1()}) ...", flush=True)
        rows.append(evaluate_row(name, config=config, ease_max_items=args.ease_max_items))
        if args.detail:
            print_detail(rows[-1])
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2, default=str))
    print_table(rows)


if __name__ == "__main__":
    main()
