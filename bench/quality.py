"""Quality and speed of the DEFAULT config against the baselines, on a temporal leave-last-out split.

Prints HR@10 / NDCG@10 of the hybrid model (α chosen on validation), of each part alone and of
popularity, item-kNN and EASE, plus training time. Target: model NDCG@10 ≥ 1.5 × EASE's, and
training ≤ 3 minutes on a 2-core CPU for ML-100K-sized data.

    python bench/quality.py [ml-100k] [online-retail] [demo] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.config import TrainConfig  # noqa: E402
from recsys.data import load_dataset  # noqa: E402
from recsys.demo import demo_dataset  # noqa: E402
from recsys.evaluate import evaluate_dataset  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def datasets(names):
    for name in names:
        if name == "demo":
            yield name, lambda: demo_dataset()
        elif name == "ml-100k":
            path = SHARED / "ml-100k"
            if not path.is_dir():
                print(f"skip ml-100k: {path} is absent")
                continue
            yield name, lambda: load_dataset(path / "u.data", path / "u.item")
        elif name == "online-retail":
            path = SHARED / "online-retail" / "online_retail.csv.gz"
            if not path.is_file():
                print(f"skip online-retail: {path} is absent")
                continue
            yield name, lambda: load_dataset(path)
        else:
            raise SystemExit(f"unknown dataset {name!r}: use ml-100k, online-retail or demo")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", default=["ml-100k", "online-retail", "demo"])
    p.add_argument("--json", help="also write the full results here")
    args = p.parse_args()
    config = TrainConfig()
    results = {}
    for name, load in datasets(args.names):
        t0 = time.perf_counter()
        ds = load()
        load_s = time.perf_counter() - t0
        r = evaluate_dataset(ds, config)
        results[name] = r
        ease = r["baselines"].get("ease", {}).get("NDCG@10")
        ratio = r["model"]["NDCG@10"] / ease if ease else float("nan")
        print(f"\n== {name}: {ds.n_users} users, {ds.n_items} items, {len(ds.events)} events "
              f"(loaded in {load_s:.1f}s; {os.cpu_count()} CPUs, device {r['device']['name']})")
        print(f"{'method':<34}{'HR@10':>8}{'NDCG@10':>9}{'cov@10':>8}")
        rows = [(f"hybrid (α={r['alpha']}, chosen on validation)", r["model"]),
                ("  CF part only (α=1)", r["model_cf_only"]), ("  content/LSTM part only (α=0)", r["model_content_only"])]
        rows += [(n, m) for n, m in r["baselines"].items()]
        for label, m in rows:
            print(f"{label:<34}{m['HR@10']:>8.4f}{m['NDCG@10']:>9.4f}{m['coverage@10']:>8.3f}")
        print(f"model NDCG@10 / EASE NDCG@10 = {ratio:.2f}x (target >= 1.5x); "
              f"training {r['train_seconds']:.0f}s, best epoch {r['validation']['best_epoch']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
