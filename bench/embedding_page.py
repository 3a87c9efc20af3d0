"""How long the Embeddings page takes to show its PCA map (or the Evaluate page its test report, `--page
evaluate`), measured on the real page with Streamlit's AppTest.

For each run, a fresh AppTest opens the app, makes the run active, then opens the Embeddings page
(first visit: the run's vectors are read, PCA is computed, the frame and the plotly figure are built)
and reruns it (what a widget change costs with the PCA cached). Times are the page script's wall time
in AppTest, so the browser's drawing of the figure is not included. Runs:

  * ML-100K (1,682 items; the demo data when ../shared/data is absent), `TrainConfig(epochs=1)`;
  * generated catalogues of 10k and 50k items (`--items`), one training epoch on a small sample of
    events, since the map's cost depends on the number of vectors, not on how well they were trained.

Targets: the page shows its PCA map in < 2 s (issue 5); the Evaluate page opens in < 2 s for a
trained run of ML-100K size, reading the test report the run carries (issue 10). Printed, never asserted.

    python bench/embedding_page.py [--page embeddings|evaluate] [--items 10000 50000] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def load1() -> float:
    return round(os.getloadavg()[0], 2)


def generated_run(n_items: int, run_dir: Path):
    """A run over `n_items` items (all with some events) trained for one short epoch."""
    import numpy as np
    import pandas as pd

    from recsys.config import TrainConfig
    from recsys.data import build_dataset
    from recsys.training import train_run

    rng = np.random.default_rng(0)
    n_users = max(1000, n_items // 5)
    n_events = 4 * n_items
    items = np.concatenate([np.arange(n_items), rng.integers(0, n_items, n_events - n_items)])
    users = rng.integers(0, n_users, n_events)
    interactions = pd.DataFrame({"user_id": users.astype(str), "item_id": items.astype(str),
                                 "timestamp": np.arange(n_events)})
    genres = [f"genre{g}" for g in range(20)]
    catalogue = pd.DataFrame({"item_id": np.arange(n_items).astype(str),
                              "title": [f"Item {i}" for i in range(n_items)],
                              "description": [f"an item about {genres[i % 20]}" for i in range(n_items)],
                              "categories": [genres[i % 20] for i in range(n_items)]})
    dataset = build_dataset(interactions, catalogue, name=f"generated-{n_items}")
    return train_run(dataset, TrainConfig(epochs=1, seq_len=10, lstm_units=32, cnn_filters=32), run_dir=run_dir)


PAGES = {"embeddings": ("pages/embeddings.py", "plotly_chart", "map"),
         "evaluate": ("pages/evaluate.py", "dataframe", "test metrics table")}


def time_page(run_path: str, page: str = "embeddings") -> dict:
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    at.session_state["active_run"] = run_path
    timings = {}
    script, element, what = PAGES[page]
    for label in ("first_visit_s", "rerun_s"):
        t0 = time.perf_counter()
        at.switch_page(script).run()
        timings[label] = round(time.perf_counter() - t0, 3)
        if at.exception or not at.get(element):
            raise RuntimeError(f"the {page} page showed no {what}: {[e.value for e in at.exception]}")
    timings["load1"] = load1()
    return timings


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--page", choices=sorted(PAGES), default="embeddings")
    p.add_argument("--items", type=int, nargs="*", default=[10_000, 50_000])
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    from scoring import build_run

    figures = {}
    with tempfile.TemporaryDirectory() as tmp:
        runs = []
        run, name = build_run(Path(tmp) / "base")
        runs.append((f"{name} ({run.n_items:,} items)", run))
        for n in args.items:
            t0 = time.perf_counter()
            run = generated_run(n, Path(tmp) / f"items{n}")
            print(f"generated run with {n:,} items ready in {time.perf_counter() - t0:.0f} s", flush=True)
            runs.append((f"generated ({n:,} items)", run))
        for label, run in runs:
            figures[label] = time_page(str(run.path), args.page)
            print(f"{args.page.title()} page, {PAGES[args.page][2]}, {label}: first visit {figures[label]['first_visit_s']:.2f} s, "
                  f"rerun {figures[label]['rerun_s']:.2f} s (target < 2 s; load1 {figures[label]['load1']})",
                  flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
