"""Training throughput on a GPU with the JAX backend and mixed precision (for a lent device machine).

The device machine has CUDA, JAX and PyTorch but no TensorFlow, so this runs the same
backend-agnostic Keras 3 model with `KERAS_BACKEND=jax` and prints events/s for a fixed number of
steps on generated MovieLens-shaped data (no files needed), next to the same steps on float32.

    KERAS_BACKEND=jax python bench/gpu_train.py --events 1000000 --steps 200

Prepared for a session whose task is lent a GPU (see bench/README.md, "GPU"); it also runs on a CPU
(with any backend) to check it before spending device time.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402


def synthetic(n_events: int, *, n_users: int, n_items: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    popularity = 1.0 / np.arange(1, n_items + 1) ** 0.9
    items = rng.choice(n_items, size=n_events, p=popularity / popularity.sum()).astype(np.int32)
    users = np.sort(rng.integers(0, n_users, size=n_events)).astype(np.int32)
    events = pd.DataFrame({"user": users, "item": items, "rating": np.ones(n_events, np.float32),
                           "timestamp": np.arange(n_events, dtype=np.int64)})
    genres = [f"genre{g}" for g in range(18)]
    catalogue = pd.DataFrame({
        "text": [f"item {i} about {genres[i % 18]} and {genres[(i * 7) % 18]}" for i in range(n_items)],
        "categories": [[genres[i % 18]] for i in range(n_items)],
    })
    return events, catalogue


def run(events, items, *, n_users, steps, precision, batch_size):
    from recsys.config import TrainConfig
    from recsys.training import Progress, TrainingCancelled, fit_hybrid

    stop, marks = threading.Event(), []

    def progress(p: Progress):
        if p.phase == "training":
            marks.append((time.perf_counter(), p.step, p.steps))
            if len(marks) > steps:
                stop.set()

    try:
        fit_hybrid(events, items, n_users=n_users, config=TrainConfig(epochs=1, batch_size=batch_size),
                   progress=progress, cancel=stop, precision=precision)
    except TrainingCancelled:
        pass
    (t0, s0, per_epoch), (t1, s1, _) = marks[1], marks[-1]  # the first step compiles
    seconds = t1 - t0
    events_per_s = len(events) * (s1 - s0) / per_epoch / seconds
    return {"precision": precision, "batch_size": batch_size, "steps": s1 - s0, "seconds": round(seconds, 2),
            "events_per_s": round(events_per_s), "steps_per_epoch": per_epoch}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--events", type=int, default=1_000_000)
    p.add_argument("--users", type=int, default=6040)
    p.add_argument("--items", type=int, default=3706)
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--batch-size", type=int, nargs="+", default=[64],
                   help="windows per batch (the default config uses 64); one pair of runs per value")
    p.add_argument("--json", help="also write the figures here")
    args = p.parse_args()
    import keras

    from recsys.training import device_info

    events, items = synthetic(args.events, n_users=args.users, n_items=args.items)
    figures = {"backend": keras.backend.backend(), "keras": keras.__version__, "device": device_info(),
               "events": args.events, "users": args.users, "items": args.items, "runs": []}
    if figures["backend"] == "jax":
        import jax

        figures["jax"] = jax.__version__
    for batch_size in args.batch_size:
        for prec in ("mixed", "float32"):
            figures["runs"].append(run(events, items, n_users=args.users, steps=args.steps, precision=prec,
                                       batch_size=batch_size))
            print(json.dumps(figures["runs"][-1]), flush=True)
    print(json.dumps(figures, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
