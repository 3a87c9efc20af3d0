"""Explanation speed: "why this item?" for one (user, item) pair on an ML-100K-sized run.

Target: one explanation (CF decomposition over the user's whole history, leave-one-out through the
LSTM over its input window, the CNN's winning n-grams) in < 1 s once the run's model is loaded, as the
app holds it. The model load (once per run and process) is printed separately. Pairs are each
sampled user's top-1 item and a random item, for the most and the least active users and random
ones; median, p95 and max are printed with the 1-minute load average, never asserted.

The run is trained with `train_run` (default TrainConfig, epochs=1: speed does not depend on
quality) on ML-100K, or on the demo data when ML-100K is absent, into a temp folder (or `--run-dir`
to reuse one).

    nice -n 5 python bench/explain_speed.py [--pairs 40] [--run-dir DIR] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT.parent))

from scoring import build_run, load1  # noqa: E402  (the same ML-100K run as the serving benchmark)


def time_explanations(run, *, pairs: int, seed: int = 0) -> dict:
    from recsys.explain import Explainer
    from recsys.serving import recommend

    t0 = time.perf_counter()
    explainer = Explainer(run)
    load_s = time.perf_counter() - t0
    counts = np.bincount(run.events["user"].to_numpy(), minlength=run.n_users)
    rng = np.random.default_rng(seed)
    users = list(np.argsort(-counts)[:pairs // 4]) + list(np.argsort(counts)[:pairs // 4])
    users += list(rng.choice(run.n_users, size=pairs // 2 - len(users) // 2, replace=False))
    users = [int(u) for u in users][: pairs // 2 + 1]
    top = recommend(run, users, k=1).set_index("user")["item"]
    work = [(u, int(top[u])) for u in users] + [(u, int(rng.integers(run.n_items))) for u in users]
    first = time.perf_counter()
    explainer.explain(*work[0])
    first_s = time.perf_counter() - first
    times, history = [], []
    for user, item in work:
        t = time.perf_counter()
        e = explainer.explain(user, item)
        times.append(time.perf_counter() - t)
        history.append(len(e.history))
    times = np.array(times)
    return {"model_load_s": round(load_s, 3), "first_explanation_s": round(first_s, 3), "pairs": len(times),
            "median_s": round(float(np.median(times)), 4), "p95_s": round(float(np.percentile(times, 95)), 4),
            "max_s": round(float(times.max()), 4), "max_history_items": int(max(history)),
            "median_history_items": int(np.median(history)), "load1": load1()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=40)
    parser.add_argument("--run-dir", type=Path, default=None, help="reuse (or write) the run here")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = args.run_dir or Path(tmp) / "run"
        run, name = build_run(run_dir)
        result = {"data": name, "users": run.n_users, "items": run.n_items, **time_explanations(run, pairs=args.pairs)}
    print(f"explain one pair on {name} ({result['users']:,} users x {result['items']:,} items): median "
          f"{result['median_s'] * 1000:.0f} ms, p95 {result['p95_s'] * 1000:.0f} ms, max {result['max_s'] * 1000:.0f} ms "
          f"over {result['pairs']} pairs (histories up to {result['max_history_items']} items; target < 1 s); "
          f"model load {result['model_load_s']:.2f} s, first call {result['first_explanation_s']:.2f} s; "
          f"load1 {result['load1']}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
