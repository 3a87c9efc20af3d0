"""Loader throughput: rows/s for raw CSV parsing and for the full `load_dataset` path.

Writes a synthetic CSV (user,item,rating,timestamp) to a temp dir and prints figures. Never fails on
timing; the target on a 2-core machine is >= 1M rows/s for the full path.

    python bench/load.py [--rows 5000000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recsys.data import load_dataset  # noqa: E402


def write_csv(path: Path, n_rows: int, *, seed: int = 0) -> None:
    """Write n_rows synthetic events with Zipf-like item popularity."""
    rng = np.random.default_rng(seed)
    users = rng.integers(0, max(n_rows // 50, 2), n_rows)
    items = np.minimum(rng.zipf(1.3, n_rows), 50_000) - 1
    table = pa.table({"user": users, "item": items, "rating": rng.integers(1, 6, n_rows),
                      "timestamp": 1_500_000_000 + rng.integers(0, 10**8, n_rows)})
    pa_csv.write_csv(table, path, write_options=pa_csv.WriteOptions(quoting_style="none"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=5_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "events.csv"
        start = time.perf_counter()
        write_csv(path, args.rows)
        print(f"wrote {args.rows:,} rows ({path.stat().st_size / 2**20:.0f} MiB) in {time.perf_counter() - start:.1f} s")

        start = time.perf_counter()
        table = pa_csv.read_csv(path)
        raw = time.perf_counter() - start
        print(f"raw pyarrow.csv parse : {raw:6.2f} s  {table.num_rows / raw / 1e6:6.2f} M rows/s")
        del table

        start = time.perf_counter()
        frame = pd.read_csv(path, engine="pyarrow")
        pandas_s = time.perf_counter() - start
        print(f"pandas (pyarrow) parse: {pandas_s:6.2f} s  {len(frame) / pandas_s / 1e6:6.2f} M rows/s")
        del frame

        start = time.perf_counter()
        dataset = load_dataset(path)
        full = time.perf_counter() - start
        print(f"load_dataset (full)   : {full:6.2f} s  {args.rows / full / 1e6:6.2f} M rows/s "
              f"({dataset.n_users:,} users, {dataset.n_items:,} items, {len(dataset.events):,} events)")


if __name__ == "__main__":
    main()
