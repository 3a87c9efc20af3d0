"""Serving speed: recommend-all-users on an ML-100K-sized run and the instant α re-rank for one user.

Targets: top-10 for every user of an ML-100K-sized run < 2 s; `rerank_user` for one user over
100k items < 20 ms (median and p95 over 200 repeats are printed). The run is trained with
`train_run` (default TrainConfig, epochs=1) on ML-100K, or on the demo data when ML-100K is
absent, into a temp folder (or `--run-dir` to reuse one). Figures are printed with the 1-minute
load average next to each, never asserted.

    python bench/scoring.py [--repeats 5] [--rerank-repeats 200] [--run-dir DIR] [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent / "shared" / "data"


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def build_run(run_dir: Path):
    """An epochs=1 run on ML-100K (or the demo data): what recommend-all is timed on."""
    from recsys.config import TrainConfig
    from recsys.data import load_dataset
    from recsys.data.demo import demo_dataset
    from recsys.training import train_run

    path = SHARED / "ml-100k"
    if (path / "u.data").is_file():
        dataset, name = load_dataset(path / "u.data", path / "u.item"), "ml-100k"
    else:
        print(f"ml-100k absent at {path}: using the demo data (2,000 users x 800 items) instead")
        dataset, name = demo_dataset(), "demo"
    t0 = time.perf_counter()
    run = train_run(dataset, TrainConfig(epochs=1), run_dir=run_dir)
    print(f"run on {name} ready in {time.perf_counter() - t0:.1f} s: {run.n_users:,} users x {run.n_items:,} items",
          flush=True)
    return run, name


def time_recommend_all(run, *, repeats: int) -> dict:
    """Wall time of `recommend(run)` (top-10, every user, ids and titles attached)."""
    from recsys.serving import recommend

    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        frame = recommend(run, k=10)
        times.append(time.perf_counter() - t0)
    return {"n_users": run.n_users, "n_items": run.n_items, "rows": len(frame), "first_s": times[0],
            "median_s": float(np.median(times)), "max_s": float(np.max(times)), "repeats": repeats,
            "target_s": 2.0, "met": bool(np.max(times) < 2.0), "loadavg_1m": load1()}


def time_rerank(*, n_items: int = 100_000, repeats: int = 200, n_seen: int = 200, seed: int = 0) -> dict:
    """`rerank_user` latency for one user over `n_items` random float32 component rows."""
    from recsys.serving import rerank_user

    rng = np.random.default_rng(seed)
    cf = rng.standard_normal(n_items).astype(np.float32)
    content = rng.standard_normal(n_items).astype(np.float32)
    seen = rng.choice(n_items, n_seen, replace=False)
    alphas = rng.uniform(0, 1, repeats)
    rerank_user(cf, content, seen, alpha=0.5, k=10)  # warm-up (imports, page faults)
    times = []
    for a in alphas:
        t0 = time.perf_counter()
        rerank_user(cf, content, seen, alpha=float(a), k=10)
        times.append(time.perf_counter() - t0)
    ms = np.array(times) * 1e3
    return {"n_items": n_items, "repeats": repeats, "n_seen": n_seen, "median_ms": float(np.median(ms)),
            "p95_ms": float(np.percentile(ms, 95)), "max_ms": float(ms.max()), "target_ms": 20.0,
            "met": bool(np.percentile(ms, 95) < 20.0), "loadavg_1m": load1()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="recommend-all repeats")
    p.add_argument("--rerank-repeats", type=int, default=200)
    p.add_argument("--run-dir", help="reuse (or create) the ML-100K epochs=1 run here instead of a temp folder")
    p.add_argument("--quick", action="store_true", help="3 recommend-all repeats")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    repeats = min(args.repeats, 3) if args.quick else args.repeats
    results = {}
    r = time_rerank(repeats=args.rerank_repeats)
    results["rerank"] = r
    print(f"rerank_user, 1 user x {r['n_items']:,} items, {r['repeats']} repeats: median {r['median_ms']:.2f} ms, "
          f"p95 {r['p95_ms']:.2f} ms (target < {r['target_ms']:.0f} ms: {'met' if r['met'] else 'MISSED'}); "
          f"load1 {r['loadavg_1m']}", flush=True)
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(args.run_dir) if args.run_dir else Path(folder) / "run"
        run, name = build_run(run_dir)
        r = time_recommend_all(run, repeats=repeats)
        r["dataset"] = name
        results["recommend_all"] = r
        print(f"recommend(run) top-10 for all {r['n_users']:,} users x {r['n_items']:,} items ({name}): first "
              f"{r['first_s']:.3f} s, median {r['median_s']:.3f} s, max {r['max_s']:.3f} s over {repeats} "
              f"(target < {r['target_s']:.0f} s: {'met' if r['met'] else 'MISSED'}); load1 {r['loadavg_1m']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
