"""Streaming training from a shard folder: data bigger than memory, trained without loading it.

`train_sharded` cuts next-item windows shard by shard (shards hold whole users, so the cut is the same
as on the whole data), writes them as Parquet window files and feeds them to Keras through `tf.data`
(`recsys.data.shards.WindowShards`): the window set never sits in memory. The shard folder itself comes
from `recsys.data.ingest_to_shards`.

Example:
    >>> ingest_to_shards("events-20M.csv", "shards/")                # doctest: +SKIP
    >>> train_sharded("shards/", TrainConfig(), run_dir="runs/big")   # doctest: +SKIP
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recsys.data.ratings import apply_min_rating, rating_weights, weight_scale
from recsys.data.shards import ShardedEvents, WindowShards, write_windows

__all__ = ["build_window_shards", "train_sharded"]


def _local(frame: pd.DataFrame, first_user: int) -> pd.DataFrame:
    """A shard's events with users renumbered from 0 (so per-shard arrays stay shard-sized)."""
    frame = frame.copy()
    frame["user"] = frame["user"].to_numpy() - np.int32(first_user)
    return frame


@dataclass
class _ShardPlan:
    """What one pass over the event shards yields besides the window files."""

    windows: WindowShards
    validation_users: np.ndarray
    validation_targets: np.ndarray
    validation_sequences: np.ndarray
    exclude_pairs: tuple
    serving_sequences: np.ndarray
    n_train_events: int


def build_window_shards(shards: ShardedEvents, config, *, out_dir, max_validation_users: int | None = 5000) -> _ShardPlan:
    """One pass over the event shards: window files, the validation hold-out and the serving sequences.

    Per shard (whole users, so this equals the in-memory `train_run` preparation): each user's last new
    item is held out (`leave_last_out_split`), the events before it are thresholded (`min_rating`) and
    cut into windows (`training_windows`) that go to `out_dir/windows-*.parquet`. A seeded sample of
    at most about `max_validation_users` held-out users is kept for early stopping (None: all), and
    every user's last `seq_len` events (all events) give the served LSTM input.
    """
    from recsys.evaluate import history_before
    from recsys.features import last_sequences, training_windows
    from recsys.split import leave_last_out_split

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    n_users, n_items, length = shards.n_users, shards.n_items, config.seq_len
    share = 1.0 if max_validation_users is None else min(1.0, max_validation_users / max(n_users, 1))
    serving = np.zeros((n_users, length), np.int32)
    item_counts = np.zeros(n_items, np.int64)
    paths, n_windows, n_train = [], 0, 0
    rating_sum, rating_count = 0.0, 0
    val_users, val_targets, val_sequences, ex_users, ex_items = [], [], [], [], []
    for number, (frame, meta) in enumerate(zip(shards, shards.manifest["shards"])):
        first, last = int(meta["first_user"]), int(meta["last_user"])
        local = _local(frame, first)
        n_local = last - first + 1
        serving[first:last + 1] = last_sequences(local, n_users=n_local, seq_len=length)
        split = leave_last_out_split(local)
        train = history_before(local, split.test) if len(split.test) else local
        if len(split.test):
            rng = np.random.default_rng([int(config.seed), number])
            chosen = split.test[rng.random(len(split.test)) < share]
            if len(chosen):
                users = chosen["user"].to_numpy(np.int64)
                val_users.append(users + first)
                val_targets.append(chosen["item"].to_numpy(np.int64))
                val_sequences.append(last_sequences(train, n_users=n_local, seq_len=length)[users])
                member = np.isin(train["user"].to_numpy(), users)
                ex_users.append(train["user"].to_numpy(np.int64)[member] + first)
                ex_items.append(train["item"].to_numpy(np.int64)[member])
        train = apply_min_rating(train, config.min_rating)
        n_train += len(train)
        if not len(train):
            continue
        item_counts += np.bincount(train["item"].to_numpy(), minlength=n_items)[:n_items]
        weights = None
        if config.rating_weights:  # scaled when read (WindowShards.weight_scale), by the mean over all shards
            weights = rating_weights(train["rating"].to_numpy())
            rating_sum, rating_count = rating_sum + float(weights.sum(dtype=np.float64)), rating_count + len(weights)
        windows = training_windows(train, seq_len=length, weights=weights)
        if not len(windows["user"]):
            continue
        path = out / f"windows-{number:05d}.parquet"
        write_windows(windows, path, first_user=first)
        paths.append(path)
        n_windows += len(windows["user"])
    scale = weight_scale(rating_sum, rating_count)

    def cat(parts, dtype, shape=(0,)):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)

    return _ShardPlan(
        windows=WindowShards(paths=paths, n_windows=n_windows, seq_len=length, item_counts=item_counts,
                             weight_scale=scale),
        validation_users=cat(val_users, np.int64), validation_targets=cat(val_targets, np.int64),
        validation_sequences=cat(val_sequences, np.int32, (0, length)),
        exclude_pairs=(cat(ex_users, np.int64), cat(ex_items, np.int64)), serving_sequences=serving,
        n_train_events=n_train)


def train_sharded(shard_dir, config, *, run_dir, progress=None, cancel=None, strategy=None, is_chief: bool = True,
                  max_validation_users: int | None = 5000, work_dir=None):
    """Train on a shard folder without loading its events or windows into memory; store a normal run.

    Same protocol as `recsys.training.train_run` (each user's last new item held out for early
    stopping, the rest trains; serving uses every event), with windows streamed from Parquet through
    `tf.data`. Validation ranks a seeded sample of at most about `max_validation_users` users.
    The run's id and fingerprint equal those `train_run` gives for the same file and config, so the
    app recognises it; the stored run serves from all events (user, item, timestamp: 16 bytes each).

    Args:
        shard_dir: folder written by `ingest_to_shards`.
        config: a `TrainConfig`.
        run_dir: folder of the run (a complete run of the same id there is returned at once).
        progress, cancel, strategy, is_chief: as for `train_run`.
        work_dir: where the temporary window files go (default: next to `run_dir`); removed afterwards.

    Returns:
        The stored `recsys.store.Run` (None on a non-chief worker).
    """
    from recsys.metrics import interaction_matrix
    from recsys.store import load_run, run_key, write_run
    from recsys.training import Progress, ValidationData, backend_name, fit_hybrid, stored_run_or_check_writable

    shards = ShardedEvents(shard_dir)
    key = run_key(shards.fingerprint(), config)
    path = Path(run_dir)
    existing = stored_run_or_check_writable(path, key, progress=progress, is_chief=is_chief)
    if existing is not None:  # else checked writable before the window pass and training
        return existing
    if progress:
        progress(Progress(phase="preparing", epochs=config.epochs))
    parent = Path(work_dir) if work_dir is not None else path.resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".windows-", dir=parent))
    try:
        plan = build_window_shards(shards, config, out_dir=scratch, max_validation_users=max_validation_users)
        if plan.n_train_events == 0:
            raise ValueError("no training events left: lower min_rating or check the data")
        validation = None
        if len(plan.validation_users):
            ex_users, ex_items = plan.exclude_pairs
            exclude = interaction_matrix(pd.DataFrame({"user": ex_users, "item": ex_items}), n_users=shards.n_users,
                                         n_items=shards.n_items)
            validation = ValidationData(users=plan.validation_users, targets=plan.validation_targets,
                                        sequences=plan.validation_sequences, exclude=exclude)
        trained = fit_hybrid(None, shards.items, n_users=shards.n_users, config=config, validation=validation,
                             windows=plan.windows, serving_sequences=plan.serving_sequences, progress=progress,
                             cancel=cancel, strategy=strategy)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not is_chief:
        return None
    metrics = {"validation": trained.validation, "train_seconds": trained.train_seconds, "device": trained.device,
               "best_epoch": trained.best_epoch, "n_train_events": int(plan.n_train_events),
               "n_events": shards.n_events, "backend": backend_name(), "input": "parquet shards (streamed)",
               "n_windows": len(plan.windows), "replicas": int(strategy.num_replicas_in_sync) if strategy is not None else 1}
    events = shards.read_columns(["user", "item", "timestamp"])
    write_run(path, trained=trained, dataset=shards, config=config, events=events, metrics=metrics, key=key)
    run = load_run(path)
    if progress:
        progress(Progress(phase="done", epoch=trained.best_epoch, epochs=config.epochs, history=trained.history,
                          best_val_ndcg=trained.validation.get("ndcg@10"), elapsed_s=trained.train_seconds))
    return run
