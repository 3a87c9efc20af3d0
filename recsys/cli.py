"""Command line: `python -m recsys {demo,inspect,ingest,train,recommend,evaluate,explain,runs,export-run,import-run,export-savedmodel}`.

The same functions as the app. On bad input every command exits with code 2 and prints one line
on stderr saying what is wrong and what to do.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

EXIT_BAD_INPUT = 2


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise UsageError(f"{self.prog}: {message} (see --help)")


def _add_columns(p):
    g = p.add_argument_group("column names (auto-detected when omitted)")
    g.add_argument("--user-col", help="name of the user id column")
    g.add_argument("--item-col", help="name of the item id column")
    g.add_argument("--rating-col", help="name of the rating / quantity column")
    g.add_argument("--time-col", help="name of the timestamp column")


def _add_model(p):
    from recsys.config import TrainConfig

    d = TrainConfig()
    g = p.add_argument_group("model (defaults work without tuning)")
    g.add_argument("--alpha", type=float, default=None,
                   help="CF weight α in [0,1] of the hybrid score (default: best α on validation)")
    g.add_argument("--dim", type=int, default=d.dim, help=f"embedding size (default {d.dim})")
    g.add_argument("--lstm-units", type=int, default=d.lstm_units, help=f"LSTM units (default {d.lstm_units})")
    g.add_argument("--cnn-filters", type=int, default=d.cnn_filters, help=f"text CNN filters (default {d.cnn_filters})")
    g.add_argument("--kernel-size", type=int, default=d.kernel_size, help=f"text CNN kernel size (default {d.kernel_size})")
    g.add_argument("--seq-len", type=int, default=d.seq_len, help=f"events the LSTM reads (default {d.seq_len})")
    g.add_argument("--epochs", type=int, default=d.epochs, help=f"maximum epochs, early stopping on validation NDCG@10 (default {d.epochs})")
    g.add_argument("--batch-size", type=int, default=d.batch_size, help=f"batch size (default {d.batch_size})")
    g.add_argument("--lr", type=float, default=d.lr, help=f"learning rate (default {d.lr})")
    g.add_argument("--seed", type=int, default=d.seed, help=f"random seed (default {d.seed})")
    g.add_argument("--min-rating", type=float, default=None,
                   help="drop events with a rating below this before training (explicit ratings)")
    g.add_argument("--rating-weights", action="store_true", help="weight training targets by their rating")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop training at the best epoch reached within this many seconds (default: no budget)")
    g.add_argument("--refit", action="store_true",
                   help="after the test evaluation, train again on every event for the best epoch count and store "
                        "that model (for export; about twice the time)")


def _config(args):
    from recsys.config import TrainConfig

    try:
        return TrainConfig(alpha=args.alpha, dim=args.dim, lstm_units=args.lstm_units, cnn_filters=args.cnn_filters,
                           kernel_size=args.kernel_size, seq_len=args.seq_len, epochs=args.epochs,
                           batch_size=args.batch_size, lr=args.lr, seed=args.seed, min_rating=args.min_rating,
                           rating_weights=args.rating_weights, time_budget_s=args.time_budget, refit=args.refit)
    except ValueError as e:
        raise UsageError(str(e)) from e


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m recsys", description="Recsys Studio: train, inspect and evaluate hybrid recommenders.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    s = sub.add_parser("demo", help="write the built-in demo dataset as interactions.csv + items.csv")
    s.add_argument("--out", required=True, help="folder to write into")
    s.add_argument("--seed", type=int, default=0, help="generator seed (default 0)")

    s = sub.add_parser("inspect", help="print the validation report of a dataset as JSON")
    s.add_argument("--interactions", required=True, help="interactions file (CSV/TSV/Parquet/JSONL, optionally .gz/.zip)")
    s.add_argument("--items", help="optional item metadata file")
    _add_columns(s)

    s = sub.add_parser("ingest", help="stream a big interactions file into user-sorted Parquet shards (bounded memory)")
    s.add_argument("--interactions", required=True, help="interactions file (CSV/TSV/JSONL/Parquet, optionally .gz)")
    s.add_argument("--items", help="optional item metadata file")
    s.add_argument("--out", required=True, help="folder for the shards (train from it with `train --shards`)")
    s.add_argument("--chunk-rows", type=int, default=2_000_000, help="rows parsed at a time (default 2000000)")
    s.add_argument("--shard-events", type=int, default=1_000_000, help="events per shard, whole users (default 1000000)")
    _add_columns(s)

    s = sub.add_parser("train", help="train the hybrid model on all interactions and write the run")
    source = s.add_mutually_exclusive_group(required=True)
    source.add_argument("--interactions", help="interactions file")
    source.add_argument("--shards", help="a shard folder written by `ingest`: training streams from it")
    s.add_argument("--items", help="optional item metadata file")
    s.add_argument("--run-dir", required=True, help="folder the run is written to")
    s.add_argument("--strategy", choices=["auto", "mirrored", "multiworker", "none"], default="auto",
                   help="auto: this machine's GPU(s) when present (MirroredStrategy if >1), else the CPU; "
                        "mirrored: MirroredStrategy over the visible GPUs; multiworker: several machines, "
                        "MultiWorkerMirroredStrategy from TF_CONFIG (see docs/cluster.md); none: default device")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_columns(s)
    _add_model(s)

    s = sub.add_parser("recommend", help="write top-K recommendations of a run as CSV")
    s.add_argument("--run-dir", required=True, help="a run written by `train`")
    s.add_argument("--k", type=int, default=10, help="list length (default 10)")
    s.add_argument("--out", required=True, help="CSV to write: user_id,item_id,rank,score,cf_score,content_score")
    s.add_argument("--users", nargs="+", help="original user ids (default: every user)")
    s.add_argument("--alpha", type=float, default=None, help="CF weight α in [0,1] (default: the run's α)")
    s.add_argument("--alpha-by-segment", action="store_true",
                   help="blend each user with the α chosen on validation for their activity segment (the run's "
                        "test report has them); --alpha or the run's α where it has none")

    s = sub.add_parser("evaluate", help="temporal leave-last-out evaluation: model vs baselines + α sweep")
    s.add_argument("--interactions", required=True, help="interactions file")
    s.add_argument("--items", help="optional item metadata file")
    s.add_argument("--k", type=int, default=10, help="cut-off K (default 10)")
    s.add_argument("--out", required=True, help="metrics JSON to write")
    s.add_argument("--no-baselines", action="store_true", help="skip popularity / item-kNN / EASE")
    s.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_columns(s)
    _add_model(s)

    s = sub.add_parser("explain", help="why an item scores what it does for a user: history items and words, as JSON")
    s.add_argument("--run-dir", required=True, help="a run written by `train`")
    s.add_argument("--user", required=True, help="original user id")
    s.add_argument("--item", required=True, help="original item id")
    s.add_argument("--alpha", type=float, default=None, help="CF weight α in [0,1] (default: the run's α)")
    s.add_argument("--out", required=True, help="JSON to write: score, cf_score, content_score, history, words")

    s = sub.add_parser("runs", help="list the complete runs of a run store")
    s.add_argument("--store", default=None, help="run store folder (default $RECSYS_RUNS_DIR or ./runs)")
    s.add_argument("--clean", action="store_true",
                   help="also remove the temporary folders of interrupted writes older than a day (the app does "
                        "this at start-up; younger ones may belong to a training still writing)")

    s = sub.add_parser("export-run", help="write a run as one zip bundle (everything it needs to serve + a sha256 manifest)")
    s.add_argument("--run-dir", required=True, help="a run written by `train`")
    s.add_argument("--out", required=True, help="zip file to write, e.g. run.zip")

    s = sub.add_parser("import-run", help="verify a run bundle and install it as a complete run in a run store")
    s.add_argument("bundle", help="a zip written by `export-run`")
    s.add_argument("--store", default=None, help="run store folder (default $RECSYS_RUNS_DIR or ./runs)")

    s = sub.add_parser("export-savedmodel", help="write a run as a TensorFlow SavedModel (serving_default: "
                                                 "item-id histories + α -> top-K), servable without this project")
    s.add_argument("--run-dir", required=True, help="a run written by `train`")
    s.add_argument("--out", required=True, help="new (or empty) folder for the SavedModel")
    s.add_argument("--k", type=int, default=10, help="list length of the signature (default 10)")
    return p


def _load(args):
    from recsys.data import load_dataset

    return load_dataset(args.interactions, args.items, user_col=args.user_col, item_col=args.item_col,
                        rating_col=args.rating_col, time_col=args.time_col)


class ProgressBar:
    """Training progress on stderr: one updating line on a terminal, plain lines otherwise.

    On a TTY the line is redrawn in place (carriage return) at most 5 times a second. In a log or a
    pipe (no TTY) a line is printed when the phase or its detail changes and once per epoch, so logs
    stay short and readable.
    """

    def __init__(self, enabled=True, stream=None, *, tty: bool | None = None):
        self.enabled, self.stream, self.last = enabled, stream or sys.stderr, 0.0
        if tty is None:
            isatty = getattr(self.stream, "isatty", None)
            tty = bool(isatty()) if callable(isatty) else False
        self.tty = tty
        self.last_key = None
        self.line_open = False

    def close(self) -> None:
        """Ends an open terminal line (after training, before the command prints its result)."""
        if self.enabled and self.tty and self.line_open:
            self.stream.write("\n")
            self.stream.flush()
        self.line_open = False

    def _describe(self, p) -> str:
        loss = f"{p.loss:.3f}" if p.loss is not None else "-"
        val = f"{p.best_val_ndcg:.4f}" if p.best_val_ndcg is not None else "-"
        if p.phase == "done":
            best = f" (best {p.best_epoch})" if p.best_epoch else ""
            ended = f", ended by {p.stopped_by}" if p.stopped_by else ""
            return f"done: {len(p.history) or p.epoch} epochs{best}{ended}, best val NDCG@10 {val}"
        if p.phase in ("preparing", "evaluating", "finishing"):
            return f"{p.phase}: {p.detail}" if p.detail else p.phase
        eta = f"{p.eta_s:4.0f}s" if p.eta_s is not None else "   ?"
        return (f"{p.phase:<10} epoch {p.epoch}/{p.epochs} step {p.step}/{p.steps} loss {loss} "
                f"best val NDCG@10 {val} ETA {eta}")

    def __call__(self, p):
        if not self.enabled:
            return
        if self.tty:
            now = time.monotonic()
            if p.phase == "training" and now - self.last < 0.2 and p.step != p.steps:
                return
            self.last = now
            width = 24
            filled = int(width * p.fraction)
            line = f"[{'#' * filled}{'.' * (width - filled)}] {self._describe(p)}"
            self.stream.write("\r" + line[:150].ljust(150))
            self.line_open = p.phase != "done"
            if p.phase == "done":
                self.stream.write("\n")
        else:
            key = (p.phase, p.detail, p.epoch if p.phase != "training" or p.step == p.steps else None)
            if p.phase == "training" and p.step != p.steps or key == self.last_key:
                return
            self.last_key = key
            self.stream.write(self._describe(p) + "\n")
        self.stream.flush()


def cmd_demo(args):
    from recsys.data.demo import write_demo

    paths = write_demo(args.out, seed=args.seed)
    print(json.dumps({"interactions": str(paths[0]), "items": str(paths[1])}))


def cmd_inspect(args):
    ds = _load(args)
    print(json.dumps(ds.report, indent=2, default=str))


def _import_tensorflow_quietly():
    """TensorFlow's C++ start-up logs go straight to fd 2; keep stderr to our own one-line messages."""
    if os.environ.get("KERAS_BACKEND", "tensorflow") != "tensorflow":
        return
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")
    except ImportError:
        pass
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _make_strategy(name, *, check_only=False):
    """The tf.distribute strategy (None = default device) and whether this process writes the run.

    `check_only` validates the choice and TF_CONFIG before any data is read. The strategy itself is
    made before any TensorFlow op runs (importing TensorFlow and Keras runs none):
    MultiWorkerMirroredStrategy must be created first in a process.
    """
    _import_tensorflow_quietly()
    from recsys.training.distributed import DistributedConfigError, check_strategy, make_strategy

    try:
        if check_only:
            return check_strategy(name)
        return make_strategy(name)
    except DistributedConfigError as e:
        raise UsageError(str(e)) from e


def cmd_ingest(args):
    from recsys.data import ingest_to_shards

    if args.chunk_rows < 1 or args.shard_events < 1:
        raise UsageError("--chunk-rows and --shard-events must be at least 1")
    start = time.perf_counter()
    manifest = ingest_to_shards(args.interactions, args.out, items=args.items, user_col=args.user_col,
                                item_col=args.item_col, rating_col=args.rating_col, time_col=args.time_col,
                                chunk_rows=args.chunk_rows, shard_events=args.shard_events)
    print(json.dumps({"out": args.out, "shards": len(manifest["shards"]), "seconds": round(time.perf_counter() - start, 2),
                      **{k: manifest[k] for k in ("n_events", "n_users", "n_items", "fingerprint")}}))


def _train_from_shards(args, config):
    if args.strategy == "multiworker":
        raise UsageError("--shards trains on one machine; use --strategy auto/mirrored/none")
    if args.items or any(getattr(args, c) for c in ("user_col", "item_col", "rating_col", "time_col")):
        raise UsageError("--items and the column options belong to `ingest`; --shards already holds them")
    strategy, is_chief = _make_strategy(args.strategy)
    from recsys.training import train_sharded

    bar = ProgressBar(enabled=not args.quiet)
    run = train_sharded(args.shards, config, run_dir=args.run_dir, progress=bar, strategy=strategy, is_chief=is_chief)
    bar.close()
    _print_run(run)


def _print_run(run):
    """The one JSON line `train` ends with (a cluster's other workers print that the chief wrote the run)."""
    if run is None:
        print(json.dumps({"run_dir": None, "chief": False}))
        return
    v = run.metrics.get("validation", {})
    print(json.dumps({"run_dir": str(run.path), "run_id": run.run_id, "best_alpha": v.get("best_alpha"),
                      "val_ndcg@10": v.get("ndcg@10"), "train_seconds": run.metrics.get("train_seconds")}))


def cmd_train(args):
    config = _config(args)
    _make_strategy(args.strategy, check_only=True)
    if args.shards:
        return _train_from_shards(args, config)
    ds = _load(args)
    strategy, is_chief = _make_strategy(args.strategy)  # no TensorFlow op has run yet (pandas only so far)
    from recsys.training import device_info, train_run

    bar = ProgressBar(enabled=not args.quiet)
    if not args.quiet:
        dev = device_info()
        replicas = f", {strategy.num_replicas_in_sync} replicas" if strategy is not None else ""
        print(f"training on {dev['name']} ({dev['kind']}{replicas}); {ds.report.get('n_interactions')} events, "
              f"{ds.n_users} users, {ds.n_items} items", file=sys.stderr)
    if args.strategy == "multiworker":
        from recsys.training import train_on_cluster
        from recsys.training.distributed import ClusterTrainingError

        try:
            run = train_on_cluster(ds, config, run_dir=args.run_dir, progress=bar, strategy=strategy,
                                   is_chief=is_chief)
        except ClusterTrainingError as e:
            print(("\n" if not args.quiet else "") + f"error: {e}", file=sys.stderr)
            raise SystemExit(1) from e
    else:
        run = train_run(ds, config, run_dir=args.run_dir, progress=bar, strategy=strategy, is_chief=is_chief)
    bar.close()
    _print_run(run)


def cmd_recommend(args):
    import numpy as np
    import pandas as pd

    from recsys.export import safe_for_csv
    from recsys.serving import recommend
    from recsys.store import load_run

    if args.k < 1:
        raise UsageError(f"--k must be at least 1, got {args.k}")
    if args.alpha is not None and not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    run = load_run(args.run_dir)
    users = None
    if args.users:
        index = {u: i for i, u in enumerate(run.user_ids)}
        missing = [u for u in args.users if u not in index]
        if missing:
            raise UsageError(f"unknown user id {missing[0]!r} (not in the run's training data); "
                             f"{len(missing)} of {len(args.users)} ids unknown")
        users = np.array([index[u] for u in args.users], dtype=np.int64)
    recs = recommend(run, users, k=args.k, alpha=args.alpha, alpha_by_segment=args.alpha_by_segment)
    out = recs[["user_id", "item_id", "rank", "score", "cf_score", "content_score"]]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    safe_for_csv(pd.DataFrame(out)).to_csv(args.out, index=False)
    print(json.dumps({"out": args.out, "rows": int(len(out)), "users": int(out["user_id"].nunique())}))


def cmd_evaluate(args):
    from recsys.evaluation import metrics_table

    config = _config(args)
    ds = _load(args)
    _import_tensorflow_quietly()
    from recsys.training import evaluate_dataset

    bar = ProgressBar(enabled=not args.quiet)
    result = evaluate_dataset(ds, config, k=args.k, progress=bar, baselines=not args.no_baselines)
    bar.close()
    result["dataset"] = {"name": ds.name, "fingerprint": ds.fingerprint()}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2, default=str))
    print(metrics_table(result, k=args.k).to_string(index=False))


def cmd_explain(args):
    from recsys.store import load_run

    if args.alpha is not None and not 0 <= args.alpha <= 1:
        raise UsageError(f"--alpha must be between 0 and 1, got {args.alpha}")
    run = load_run(args.run_dir)
    if str(args.user) not in {str(u) for u in run.user_ids}:
        raise UsageError(f"unknown user id {args.user!r} (not in the run's data)")
    if str(args.item) not in {str(i) for i in run.item_ids}:
        raise UsageError(f"unknown item id {args.item!r} (not in the run's catalogue)")
    _import_tensorflow_quietly()
    from recsys.explain import Explainer

    explainer = Explainer(run)
    result = explainer.explain(explainer.user_index(args.user), explainer.item_index(args.item), alpha=args.alpha)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result.to_dict(), indent=2))
    top = result.history.head(1)
    print(json.dumps({"out": args.out, "score": round(result.score, 4), "history_items": int(len(result.history)),
                      "top_history_item": str(top["item_id"].iat[0]) if len(top) else None,
                      "top_words": str(result.words["text"].iat[0]) if len(result.words) else None}))


def cmd_runs(args):
    from recsys.store import RunStore

    store = RunStore(args.store)
    if args.clean:
        removed = store.clean_incomplete(older_than_s=24 * 3600)
        print(f"removed {removed} leftover folder(s) of interrupted writes from {store.root}", file=sys.stderr)
    print(json.dumps(store.list_runs(), indent=2, default=str))


def cmd_export_run(args):
    from recsys.bundle import export_bundle

    out = export_bundle(args.run_dir, args.out)
    print(json.dumps({"out": str(out), "bytes": out.stat().st_size}))


def cmd_import_run(args):
    _import_tensorflow_quietly()  # the model is opened in Keras safe mode to check it
    from recsys.bundle import import_bundle

    path, added = import_bundle(args.bundle, store=args.store)
    print(json.dumps({"run_dir": str(path), "run_id": path.name, "added": added}))


def cmd_export_savedmodel(args):
    if args.k < 1:
        raise UsageError(f"--k must be at least 1, got {args.k}")
    _import_tensorflow_quietly()
    from recsys.savedmodel import export_savedmodel

    out = export_savedmodel(args.run_dir, args.out, k=args.k)
    print(json.dumps({"out": str(out), "signature": "serving_default"}))


COMMANDS = {"demo": cmd_demo, "inspect": cmd_inspect, "ingest": cmd_ingest, "train": cmd_train, "recommend": cmd_recommend,
            "evaluate": cmd_evaluate, "explain": cmd_explain, "runs": cmd_runs}
COMMANDS.update({"export-run": cmd_export_run, "import-run": cmd_import_run, "export-savedmodel": cmd_export_savedmodel})


def main(argv=None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        COMMANDS[args.command](args)
        return 0
    except SystemExit as e:  # --help
        return int(e.code or 0)
    except UsageError as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        print("error: interrupted; nothing incomplete was stored", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001 - every failure becomes one clear line
        from recsys.data import DataError
        from recsys.store import RunStoreError

        if isinstance(e, (DataError, RunStoreError, ValueError, OSError)):
            msg = str(e).splitlines()[0] if str(e) else type(e).__name__
            print(f"error: {msg}", file=sys.stderr)
            return EXIT_BAD_INPUT
        print(f"error: unexpected {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''} "
              "(please report this with the command you ran)", file=sys.stderr)
        return 1
