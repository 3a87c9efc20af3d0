"""What a run trains on: the prepare step of `recsys.training.runs.run_training`, one per data source.

* `prepare_in_memory` (a `Dataset`): the temporal leave-last-out split; validation = each user's
  second-to-last new item, test = the last one, so the run gets a test report.
* `prepare_shards` (a shard folder, `recsys.data.ShardedEvents`): one pass over the shards cuts
  next-item windows into temporary Parquet files (`WindowShards`, streamed through `tf.data`); each
  user's last new item is held out for early stopping and the α choice only, so there is no test item
  and no test report (`SHARDS_WITHOUT_TEST_REPORT` says so in the run's metrics).

Both use the same split, window, rating-threshold and rating-weight rules (`recsys.split`,
`recsys.features`, `recsys.data.ratings`).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.data.ratings import apply_min_rating, rating_weights, weight_scale
from recsys.data.shards import ShardedEvents, WindowShards, write_windows
from recsys.evaluation.metrics import interaction_matrix
from recsys.features import last_sequences, training_windows
from recsys.progress import Progress, ProgressFn
from recsys.split import Split, history_before, leave_last_out_split
from recsys.training.fit import ValidationData

SHARDS_WITHOUT_TEST_REPORT = (
    "no test report: training from Parquet shards holds each user's last new item out for early stopping "
    "and the α choice only (the streamed protocol has no separate test item, and the report's baselines "
    "and segments need every event in memory); load the data in memory (`train` / `evaluate` without "
    "--shards) for a test report")


@dataclass
class PreparedInputs:
    """What one run trains on, whatever its source: the inputs of `fit_hybrid` plus the test report's split.

    Attributes:
        items: the item frame (`text`, `categories`), one row per item index.
        n_users: rows of the CF user table.
        train_events: the events the model trains on; None when `windows` stream them from Parquet.
        validation: held-out next items for early stopping and the α choice (None: train all epochs).
        n_train_events, n_events: counts for the run's metrics.
        stored_events: all events (user, item, timestamp) for the run folder, read when it is written.
        serving_events / serving_sequences: what each served user vector reads (default: `train_events`).
        windows: streaming training windows (`WindowShards`) in place of cutting them from `train_events`.
        split, events, test_history: the leave-last-out split of all `events` and each user's history
            before their test item; with them the run gets a test report, without them (None) it has none.
        notes: extra metrics of this source (e.g. {"input": "parquet shards (streamed)", "n_windows": …}).
    """

    items: pd.DataFrame
    n_users: int
    train_events: pd.DataFrame | None
    validation: ValidationData | None
    n_train_events: int
    n_events: int
    stored_events: Callable[[], pd.DataFrame]
    serving_events: pd.DataFrame | None = None
    serving_sequences: np.ndarray | None = None
    windows: WindowShards | None = None
    split: Split | None = None
    events: pd.DataFrame | None = None
    test_history: pd.DataFrame | None = None
    notes: dict = field(default_factory=dict)


def prepare_in_memory(dataset, config: TrainConfig, *, progress: ProgressFn | None = None) -> PreparedInputs:
    """The temporal leave-last-out inputs of an in-memory `Dataset`.

    The model trains on the split's train part, stops early on its validation part (each user's
    second-to-last new item) and is tested on the last one, the LSTM reading the history up to the test
    event. Without a test split (no user has 3 distinct items) it trains on every event, without a report.
    """
    events = dataset.events
    n_users, n_items = dataset.n_users, dataset.n_items
    if progress:
        progress(Progress(phase="preparing", detail="splitting each user's history (temporal leave-last-out)",
                          epochs=config.epochs))
    split = leave_last_out_split(events)
    common = {"items": dataset.items, "n_users": n_users, "n_events": int(len(events)),
              "stored_events": lambda: events}
    if len(split.test) == 0 or len(split.valid) == 0:
        return PreparedInputs(train_events=events, validation=None, n_train_events=int(len(events)), **common)
    train = split.train
    valid_users = split.valid["user"].to_numpy(np.int64)
    validation = ValidationData(
        users=valid_users, targets=split.valid["item"].to_numpy(np.int64),
        sequences=last_sequences(train, n_users=n_users, seq_len=config.seq_len)[valid_users],
        exclude=interaction_matrix(train, n_users=n_users, n_items=n_items))
    return PreparedInputs(train_events=train, validation=validation, n_train_events=int(len(train)),
                          serving_events=events, split=split, events=events,
                          test_history=history_before(events, split.test), **common)


def _local(frame: pd.DataFrame, first_user: int) -> pd.DataFrame:
    """A shard's events with users renumbered from 0 (so per-shard arrays stay shard-sized)."""
    frame = frame.copy()
    frame["user"] = frame["user"].to_numpy() - np.int32(first_user)
    return frame


@dataclass
class ShardPlan:
    """What one pass over the event shards yields besides the window files."""

    windows: WindowShards
    validation_users: np.ndarray
    validation_targets: np.ndarray
    validation_sequences: np.ndarray
    exclude_pairs: tuple
    serving_sequences: np.ndarray
    n_train_events: int


def build_window_shards(shards: ShardedEvents, config, *, out_dir, max_validation_users: int | None = 5000) -> ShardPlan:
    """One pass over the event shards: window files, the validation hold-out and the serving sequences.

    Per shard (whole users, so the cut equals one over all events): each user's last new item is held
    out (`leave_last_out_split`), the events before it are thresholded (`min_rating`) and cut into
    windows (`training_windows`) that go to `out_dir/windows-*.parquet`. A seeded sample of at most
    about `max_validation_users` held-out users is kept for early stopping (None: all), and every user's
    last `seq_len` events (all events) give the served LSTM input.
    """
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

    def cat(parts, dtype, shape=(0,)):
        return np.concatenate(parts).astype(dtype) if parts else np.zeros(shape, dtype)

    return ShardPlan(
        windows=WindowShards(paths=paths, n_windows=n_windows, seq_len=length, item_counts=item_counts,
                             weight_scale=weight_scale(rating_sum, rating_count)),
        validation_users=cat(val_users, np.int64), validation_targets=cat(val_targets, np.int64),
        validation_sequences=cat(val_sequences, np.int32, (0, length)),
        exclude_pairs=(cat(ex_users, np.int64), cat(ex_items, np.int64)), serving_sequences=serving,
        n_train_events=n_train)


@contextlib.contextmanager
def prepare_shards(shards: ShardedEvents, config: TrainConfig, *, work_dir, max_validation_users: int | None = 5000,
                   progress: ProgressFn | None = None):
    """The streamed inputs of a shard folder, as a context manager: the window files live until it exits.

    Windows go to a temporary folder inside `work_dir` (removed on exit); validation ranks a seeded
    sample of at most about `max_validation_users` held-out users. Neither the events nor the windows
    are ever all in memory; the run folder's events (user, item, timestamp) are read when it is written.
    """
    if progress:
        progress(Progress(phase="preparing", detail="cutting each shard's histories into training windows",
                          epochs=config.epochs))
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".windows-", dir=work_dir))
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
        yield PreparedInputs(
            items=shards.items, n_users=shards.n_users, train_events=None, validation=validation,
            n_train_events=int(plan.n_train_events), n_events=int(shards.n_events),
            stored_events=lambda: shards.read_columns(["user", "item", "timestamp"]), windows=plan.windows,
            serving_sequences=plan.serving_sequences,
            notes={"input": "parquet shards (streamed)", "n_windows": len(plan.windows),
                   "evaluation_note": SHARDS_WITHOUT_TEST_REPORT})
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
