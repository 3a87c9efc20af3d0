"""Data bigger than pandas likes (issue #5): stream-ingest a 20M-event CSV, then train from its shards.

Generates a synthetic CSV (user,item,rating,timestamp with text ids; written chunk by chunk so the
generator itself stays small), then, each stage in a fresh child process so its peak RSS is its own:

    ingest    recsys.data.ingest_to_shards -> rows/s and peak RSS
    windows   recsys.training.prepare.build_window_shards (one pass over the shards) -> events/s and peak RSS
    train     N Keras steps streamed from the window shards through tf.data -> windows/s, events/s, peak RSS
    pandas    (optional, --compare-pandas) recsys.data.load_dataset of the same file -> peak RSS

Prints one JSON line per stage and a summary. Never fails on timing.

    python bench/big_data.py                       # 20M events in /tmp/recsys-big
    python bench/big_data.py --events 5000000 --steps 200 --compare-pandas
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM), MiB."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def generate(path: Path, n_events: int, *, seed: int = 0, chunk: int = 1_000_000) -> None:
    """Synthetic events: ~100 per user, Zipf-like item popularity, text ids (as in real exports)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    rng = np.random.default_rng(seed)
    n_users, n_items = max(n_events // 100, 2), 50_000
    schema = pa.schema([("user_id", pa.string()), ("item_id", pa.string()), ("rating", pa.int64()),
                        ("timestamp", pa.int64())])
    options = pa_csv.WriteOptions(quoting_style="none")
    with pa_csv.CSVWriter(str(path), schema, write_options=options) as writer:
        for start in range(0, n_events, chunk):
            n = min(chunk, n_events - start)
            users = rng.integers(0, n_users, n)
            items = np.minimum(rng.zipf(1.2, n), n_items) - 1
            writer.write_table(pa.table({
                "user_id": np.char.add("user-", np.char.zfill(users.astype(str), 8)),
                "item_id": np.char.add("B0", np.char.zfill(items.astype(str), 8)),
                "rating": rng.integers(1, 6, n), "timestamp": 1_500_000_000 + rng.integers(0, 10**8, n)},
                schema=schema))


def stage_ingest(args) -> dict:
    from recsys.data import ingest_to_shards

    start = time.perf_counter()
    manifest = ingest_to_shards(args.csv, args.shards, chunk_rows=args.chunk_rows)
    seconds = time.perf_counter() - start
    report = json.loads((Path(args.shards) / "report.json").read_text())
    return {"rows_read": report["rows_read"], "n_events": manifest["n_events"], "n_users": manifest["n_users"],
            "n_items": manifest["n_items"], "shards": len(manifest["shards"]), "seconds": round(seconds, 1),
            "rows_per_s": round(report["rows_read"] / seconds)}


def _config(args):
    from recsys.config import TrainConfig

    return TrainConfig(batch_size=args.batch_size, seq_len=args.seq_len, epochs=1)


def stage_windows(args) -> dict:
    from recsys.data import ShardedEvents
    from recsys.training.prepare import build_window_shards

    shards = ShardedEvents(args.shards)
    start = time.perf_counter()
    plan = build_window_shards(shards, _config(args), out_dir=args.windows)
    seconds = time.perf_counter() - start
    (Path(args.windows) / "plan.json").write_text(json.dumps({
        "paths": [str(p) for p in plan.windows.paths], "n_windows": len(plan.windows),
        "n_train_events": plan.n_train_events}))
    return {"n_windows": len(plan.windows), "n_train_events": plan.n_train_events, "seconds": round(seconds, 1),
            "events_per_s": round(shards.n_events / seconds)}


def stage_train(args) -> dict:
    import keras

    from recsys.data import ShardedEvents, WindowShards
    from recsys.features import CategoryEncoder, ItemFeatures, TextVectorizer
    from recsys.training import build_model, device_info

    config = _config(args)
    shards = ShardedEvents(args.shards)
    saved = json.loads((Path(args.windows) / "plan.json").read_text())
    items = shards.items
    windows = WindowShards(paths=saved["paths"], n_windows=saved["n_windows"], seq_len=config.seq_len,
                           item_counts=items["n_events"].to_numpy())
    vectorizer = TextVectorizer(max_tokens=config.max_vocab, sequence_length=config.text_len).fit(items["text"])
    encoder = CategoryEncoder().fit(items["categories"])
    device = device_info()
    gpu = device["kind"] == "GPU"
    model = build_model(n_users=shards.n_users, n_items=shards.n_items, vectorizer=vectorizer, encoder=encoder,
                        config=config, mixed_precision=gpu)
    model.set_item_features(ItemFeatures.build(items, vectorizer, encoder), windows.trained_mask)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=config.lr, clipnorm=5.0), jit_compile=False)
    batch = config.batch_size * (4 if gpu else 1)
    pipeline = windows.pipeline(batch_size=batch, seed=0)
    steps = min(args.steps, len(windows) // batch)
    start = time.perf_counter()
    n_read = sum(int(x["user"].shape[0]) for x, _ in pipeline.take(max(steps, 200)))  # the input side alone
    input_rate = n_read / (time.perf_counter() - start)
    model.fit(pipeline.take(10), epochs=1, verbose=0)  # trace and warm up
    start = time.perf_counter()
    model.fit(pipeline.take(steps), epochs=1, verbose=0)
    seconds = time.perf_counter() - start
    per_window = saved["n_train_events"] / max(saved["n_windows"], 1)  # targets per window, on average
    return {"device": device["name"], "batch": batch, "steps": steps, "seconds": round(seconds, 1),
            "input_only_windows_per_s": round(input_rate), "input_only_events_per_s": round(input_rate * per_window),
            "windows_per_s": round(steps * batch / seconds), "events_per_s": round(steps * batch * per_window / seconds),
            "n_windows": saved["n_windows"], "epoch_estimate_s": round(saved["n_windows"] / (steps * batch / seconds))}


def stage_pandas(args) -> dict:
    from recsys.data import load_dataset

    start = time.perf_counter()
    dataset = load_dataset(args.csv, max_bytes=Path(args.csv).stat().st_size + 1)
    seconds = time.perf_counter() - start
    return {"n_events": int(len(dataset.events)), "seconds": round(seconds, 1),
            "rows_per_s": round(dataset.report["rows_read"] / seconds)}


STAGES = {"ingest": stage_ingest, "windows": stage_windows, "train": stage_train, "pandas": stage_pandas}


def run_child(stage: str, args) -> dict:
    command = [sys.executable, __file__, "--stage", stage, "--csv", str(args.csv), "--shards", str(args.shards),
               "--windows", str(args.windows), "--chunk-rows", str(args.chunk_rows), "--steps", str(args.steps),
               "--batch-size", str(args.batch_size), "--seq-len", str(args.seq_len)]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        return {"stage": stage, "error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=20_000_000, help="events in the generated CSV (default 20M)")
    parser.add_argument("--dir", default="/tmp/recsys-big", help="work folder (CSV, shards, windows)")
    parser.add_argument("--chunk-rows", type=int, default=2_000_000)
    parser.add_argument("--steps", type=int, default=300, help="training steps timed (after 10 warm-up steps)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seq-len", type=int, default=50)
    parser.add_argument("--compare-pandas", action="store_true", help="also time load_dataset (needs GBs of RAM)")
    parser.add_argument("--keep", action="store_true", help="reuse an existing CSV of the same size")
    parser.add_argument("--stage", choices=sorted(STAGES), help=argparse.SUPPRESS)
    parser.add_argument("--csv", help=argparse.SUPPRESS)
    parser.add_argument("--shards", help=argparse.SUPPRESS)
    parser.add_argument("--windows", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:  # child: one stage, one JSON line with its own peak RSS
        result = STAGES[args.stage](args)
        print(json.dumps({"stage": args.stage, **result, "peak_rss_mb": round(peak_rss_mb())}))
        return
    work = Path(args.dir)
    work.mkdir(parents=True, exist_ok=True)
    args.csv = work / f"events-{args.events}.csv"
    args.shards, args.windows = work / "shards", work / "windows"
    if not (args.keep and args.csv.exists()):
        start = time.perf_counter()
        generate(args.csv, args.events)
        print(json.dumps({"stage": "generate", "events": args.events, "seconds": round(time.perf_counter() - start, 1),
                          "csv_mb": round(args.csv.stat().st_size / 2**20)}), flush=True)
    import shutil

    shutil.rmtree(args.shards, ignore_errors=True)
    shutil.rmtree(args.windows, ignore_errors=True)
    results = {}
    for stage in ["ingest", "windows", "train"] + (["pandas"] if args.compare_pandas else []):
        results[stage] = run_child(stage, args)
        print(json.dumps(results[stage]), flush=True)
    ingest, train = results["ingest"], results["train"]
    if "error" not in ingest and "error" not in train:
        print(f"\n{args.events:,} events ({args.csv.stat().st_size / 2**30:.2f} GiB CSV): ingest "
              f"{ingest['rows_per_s']:,} rows/s, peak RSS {ingest['peak_rss_mb']:,} MiB; windows pass "
              f"{results['windows'].get('events_per_s', 0):,} events/s, peak RSS {results['windows'].get('peak_rss_mb')} MiB; "
              f"training {train['events_per_s']:,} events/s ({train['windows_per_s']:,} windows/s on {train['device']}), "
              f"peak RSS {train['peak_rss_mb']:,} MiB")
        if "pandas" in results and "error" not in results["pandas"]:
            print(f"load_dataset of the same file: {results['pandas']['rows_per_s']:,} rows/s, "
                  f"peak RSS {results['pandas']['peak_rss_mb']:,} MiB")


if __name__ == "__main__":
    main()
