"""Fitting the hybrid model: device choice, tf.data input, progress, cancel and early stopping.

`fit_hybrid` trains on a set of events, stops early on validation NDCG@10 (restoring the best
weights) and returns a `TrainedModel` with the serving vectors of both parts.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import keras
import numpy as np
import pandas as pd

from recsys.config import TrainConfig
from recsys.data.ratings import apply_min_rating, scaled_rating_weights
from recsys.evaluation.metrics import ALPHA_GRID
from recsys.features import (
    CategoryEncoder,
    ItemFeatures,
    TextVectorizer,
    training_windows,
)
from recsys.models import HybridRecommender
from recsys.progress import ETA_AFTER_STEPS, Progress, ProgressFn, TrainingCancelled, eta_seconds
from recsys.serving import ServingVectors, blend
from recsys.training.distributed import fit_with_strategy
from recsys.training.optimizer import FusedAdam
from recsys.training.vectors import catalogue_item_vectors, compute_serving_vectors, serving_vectors_for

_BUILD_LOCK = threading.Lock()  # global seeds and dtype policy are process-wide while a model is built

EARLY_STOPPING_USERS = 3000  # enough users to see an epoch's gain; bounds the per-epoch ranking on big data
EARLY_STOPPING_SCORES = 50_000_000  # and at most this many user x item scores per epoch (1,000 users at 50k items)


def early_stopping_users(n_items: int) -> int:
    """How many validation users early stopping ranks each epoch: the full ranking costs users x items."""
    return max(500, min(EARLY_STOPPING_USERS, EARLY_STOPPING_SCORES // max(n_items, 1)))


def backend_name() -> str:
    return keras.backend.backend()


def device_info() -> dict:
    """Which accelerator training will use: {'kind': 'GPU'|'CPU', 'name': str, 'count': int}."""
    backend = backend_name()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                try:
                    name = tf.config.experimental.get_device_details(gpus[0]).get("device_name", gpus[0].name)
                except Exception:  # details are best effort
                    name = gpus[0].name
                return {"kind": "GPU", "name": name, "count": len(gpus), "backend": backend}
        elif backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            if gpus:
                return {"kind": "GPU", "name": gpus[0].device_kind, "count": len(gpus), "backend": backend}
    except Exception:
        pass
    return {"kind": "CPU", "name": f"CPU ({os.cpu_count()} cores)", "count": 0, "backend": backend}


@dataclass
class ValidationData:
    """Everything needed to rank each validation user's held-out item against the whole catalogue."""

    users: np.ndarray  # int [n]
    targets: np.ndarray  # int [n]
    sequences: np.ndarray  # int [n, L] (item + 1, left-padded): the history the LSTM reads
    exclude: object  # csr [n_users, n_items]: items each user already had

    def sample_positions(self, n: int, *, seed: int) -> np.ndarray:
        """The positions of at most `n` of the users (a seeded sample, in their order)."""
        if len(self.users) <= n:
            return np.arange(len(self.users))
        return np.sort(np.random.default_rng(seed).choice(len(self.users), size=n, replace=False))

    def subset(self, positions: np.ndarray) -> "ValidationData":
        """The users at `positions`, with the same exclusions."""
        return ValidationData(users=self.users[positions], targets=self.targets[positions],
                              sequences=self.sequences[positions], exclude=self.exclude)

    def renumbered(self) -> "ValidationData":
        """The same users numbered 0..n-1 (exclusions row-aligned), to rank against vectors of these users only."""
        exclude = self.exclude.tocsr() if hasattr(self.exclude, "tocsr") else self.exclude
        return ValidationData(users=np.arange(len(self.users)), targets=self.targets, sequences=self.sequences,
                              exclude=exclude[np.asarray(self.users)])


@dataclass
class TrainedModel:
    model: HybridRecommender
    vectorizer: TextVectorizer
    category_encoder: CategoryEncoder
    vectors: ServingVectors
    history: list
    best_epoch: int
    validation: dict  # {"alpha_sweep": {alpha: ndcg}, "best_alpha": a, "ndcg@10": x}
    train_seconds: float
    device: dict
    evaluation_vectors: ServingVectors | None = None  # after `evaluation_events`, when fit_hybrid was given them
    train_vectors: ServingVectors | None = None  # after the training events themselves (validation-time), likewise


def make_input_pipeline(windows: dict, *, batch_size: int, seed: int, distributed: bool = False):
    """Shuffled, batched `(x, y)` pairs: tf.data on TensorFlow, a PyDataset on other backends.

    `windows` is the dict of `training_windows` or a streaming source with a `pipeline` method
    (`recsys.data.WindowShards`: windows read from Parquet shards).
    """
    if not isinstance(windows, dict):
        return windows.pipeline(batch_size=batch_size, seed=seed, distributed=distributed)
    # Targets ride along in x too: a sampled softmax builds its candidate items from them.
    x = {"user": windows["user"], "inputs": windows["inputs"], "targets": windows["targets"]}
    y = {"targets": windows["targets"], "weights": windows["weights"]}
    n = len(windows["user"])
    if backend_name() == "tensorflow":
        import tensorflow as tf

        ds = tf.data.Dataset.from_tensor_slices((x, y))
        ds = ds.shuffle(n, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size).prefetch(2)
        # No tf.data autotuning: with it, releasing the iterator at the end of `fit` stalled 16-40 s at
        # random on 2 CPU cores (1 of 3 short shape-wide runs, 0 of 4 without); in-memory windows need
        # no tuning, two prefetched batches keep the step fed.
        options = tf.data.Options()
        options.autotune.enabled = False
        if distributed:
            # Every worker builds the same seeded pipeline; each takes its own share of every batch.
            options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return ds.with_options(options)
    return _ArrayBatches(x, y, batch_size=batch_size, seed=seed)


class _ArrayBatches(keras.utils.PyDataset):
    """Seeded shuffled batches for backends without tf.data (e.g. JAX on a GPU machine)."""

    def __init__(self, x, y, *, batch_size, seed):
        super().__init__()
        self.x, self.y, self.batch_size = x, y, batch_size
        self.rng = np.random.default_rng(seed)
        self.n = len(next(iter(x.values())))
        self.order = self.rng.permutation(self.n)

    def __len__(self):
        return math.ceil(self.n / self.batch_size)

    def __getitem__(self, idx):
        sel = self.order[idx * self.batch_size : (idx + 1) * self.batch_size]
        return ({k: v[sel] for k, v in self.x.items()}, {k: v[sel] for k, v in self.y.items()})

    def on_epoch_end(self):
        self.order = self.rng.permutation(self.n)


def batch_size_for(n_windows: int, batch_size: int, *, min_steps: int, smallest: int = 16) -> int:
    """`batch_size`, halved (down to `smallest`) while an epoch of `n_windows` would have under `min_steps` steps.

    Small data learns better from more, smaller steps: on four seeds of the short-history shape (a),
    1,500 windows, batch 32 instead of 64 gave test NDCG@10 0.1365 on average instead of 0.1223, above
    EASE on all four (not on one of them with 64); data with 40+ steps per epoch at 64 keeps 64.
    """
    while batch_size > smallest and math.ceil(n_windows / batch_size) < min_steps:
        batch_size = max(smallest, batch_size // 2)
    return batch_size


def target_counts(windows, n_items: int) -> np.ndarray:
    """Training target slots per item `[n_items]`: how often each item is an in-batch candidate (logQ).

    In-memory windows count their non-padding target slots; streaming `WindowShards` use their events
    per item (the same up to each user's first event).
    """
    if isinstance(windows, dict):
        slots = windows["targets"][windows["inputs"] > 0]
        counts = np.bincount(slots, minlength=n_items)[:n_items]
    else:
        counts = np.asarray(windows.item_counts)[:n_items]
    counts = counts.astype(np.float64)
    return counts if counts.sum() > 0 else np.ones(n_items)


def build_model(*, n_users, n_items, vectorizer, encoder, config: TrainConfig,
                mixed_precision: bool = False) -> HybridRecommender:
    """Builds the model under a lock with the run's seed (mixed float16 compute when asked; logits stay float32).

    Catalogues above `config.max_full_softmax_items` train with the logQ-corrected sampled softmax; the CF
    user vectors always fold in the user's recent items (see `recsys.models`).
    """
    sampled = n_items > config.max_full_softmax_items
    with _BUILD_LOCK:
        keras.utils.set_random_seed(config.seed)
        previous = keras.config.dtype_policy()
        if mixed_precision:
            keras.config.set_dtype_policy("mixed_float16")
        try:
            model = HybridRecommender(
                n_users=n_users, n_items=n_items, vocab_size=vectorizer.vocab_size,
                text_len=vectorizer.sequence_length,
                n_categories=encoder.n_categories, dim=config.dim, lstm_units=config.lstm_units,
                word_dim=config.word_dim, cnn_filters=config.cnn_filters, kernel_size=config.kernel_size,
                dropout=config.dropout, num_sampled=config.num_negatives if sampled else 0, seed=config.seed,
                cf_fold_in=True, log_q=sampled, user_cell=config.user_cell, cf_user_offset=config.cf_user_offset,
                num_in_batch=config.in_batch_negatives if sampled else 0,
            )
            model.build()
        finally:
            keras.config.set_dtype_policy(previous)
    return model


def target_ranks_at_alphas(cf, content, t_cf, t_content, alphas) -> np.ndarray:
    """`[len(alphas), b]`: how many items other than the target score at least its blended score.

    Exactly `(blend(cf, content, a) >= blend(t_cf, t_content, a)).sum(1) - 1` for each α, but only the
    items that can reach the target are blended: the blend is a weighted mean, monotone in both parts,
    so an item below the target in both parts stays below it at every α. "Below" keeps a margin of
    1e-5 of the target's scores, far above float32 rounding, so rounded ties are still counted. Most of
    a big catalogue is below the target in both parts (1% of 50k items were not, with correlated
    synthetic parts and targets in the top 500): 320 users took 0.11 s instead of 0.29 s, one thread.
    numpy releases the GIL, so row blocks run in parallel threads.
    """
    margin = 1e-5 * (np.abs(t_cf) + np.abs(t_content)) + 1e-30
    reach = (cf >= (t_cf - margin)[:, None]) | (content >= (t_content - margin)[:, None])
    rows, cols = np.nonzero(reach)  # the target itself is always here
    c_cf, c_content = cf[rows, cols], content[rows, cols]
    ranks = np.empty((len(alphas), len(cf)), np.int64)
    for j, a in enumerate(alphas):
        if a == 0.0:  # 0·cf + content == content and 1·cf + 0·content == cf, bit for bit
            scores, threshold = c_content, t_content
        elif a == 1.0:
            scores, threshold = c_cf, t_cf
        else:
            scores, threshold = blend(c_cf, c_content, a), blend(t_cf, t_content, a)
        ranks[j] = np.bincount(rows[scores >= threshold[rows]], minlength=len(cf)) - 1
    return ranks


def validation_sweep(vectors: ServingVectors, validation: ValidationData, *, n_items: int, k: int = 10,
                     per_user: bool = False, batch_size: int = 1024) -> dict:
    """NDCG@k of the hybrid for every α of the grid, from the two component scores.

    One pair of component score matrices per user batch serves every α: the held-out item's rank is
    the number of other items, not counting those the user already had, that score at least as high
    (ties count against the model, so a block of equal scores never looks good). Returns
    {α: mean NDCG@k}, or {α: per-user NDCG@k array [n]} with `per_user=True`.
    """
    users = np.asarray(validation.users, np.int64)
    targets = np.asarray(validation.targets, np.int64)
    exclude = validation.exclude.tocsr() if hasattr(validation.exclude, "tocsr") else validation.exclude
    out = {a: np.zeros(len(users), np.float32) for a in ALPHA_GRID}
    batch_size = max(16, min(batch_size, 16_000_000 // max(n_items, 1)))  # ~64 MB per score matrix
    rows_per_task = max(1, 250_000 // max(n_items, 1))  # ~1 MB per row block (5 rows at 50k items: faster than 20 or 80)
    with ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1)) as pool:
        for start in range(0, len(users), batch_size):
            batch, tgt = users[start : start + batch_size], targets[start : start + batch_size]
            cf, content = vectors.scores(batch)
            seen = exclude[batch]
            rows = np.repeat(np.arange(len(batch)), np.diff(seen.indptr))
            cf[rows, seen.indices] = -1e30  # finite, so 0 · x stays 0 for α in {0, 1}
            content[rows, seen.indices] = -1e30
            r = np.arange(len(batch))
            t_cf, t_content = cf[r, tgt], content[r, tgt]
            blocks = [slice(i, i + rows_per_task) for i in range(0, len(batch), rows_per_task)]
            ranks = np.concatenate(list(pool.map(
                lambda b: target_ranks_at_alphas(cf[b], content[b], t_cf[b], t_content[b], ALPHA_GRID), blocks)), axis=1)
            for j, a in enumerate(ALPHA_GRID):
                rank = ranks[j]
                out[a][start : start + len(batch)] = np.where(rank < k, 1.0 / np.log2(rank + 2.0), 0.0)
    if per_user:
        return out
    return {a: float(v.mean()) if len(v) else 0.0 for a, v in out.items()}


def choose_alpha(per_user: dict) -> tuple[float, dict]:
    """The serving α from per-user validation NDCG@10 `{α: [n]}`, robust to a small validation set.

    The α with the best mean is kept only if it beats the stronger part alone (α = 1 CF or α = 0
    content, whichever has the better mean) by more than one standard error of the paired per-user
    difference; otherwise the stronger part is served and the choice says so. Ties prefer α near 0.5.

    Returns (α, {"alpha_choice": "blend" | "part" | "fallback", "alpha_note": text,
    "alpha_gain": mean gain over the stronger part, "alpha_gain_se": its standard error}).
    """
    means = {a: float(np.mean(v)) if len(v) else 0.0 for a, v in per_user.items()}
    best = max(means, key=lambda a: (means[a], -abs(a - 0.5)))
    strong = 1.0 if means[1.0] >= means[0.0] else 0.0
    part = "CF" if strong == 1.0 else "content"
    diff = np.asarray(per_user[best], np.float64) - np.asarray(per_user[strong], np.float64)
    n = len(diff)
    se = float(diff.std(ddof=1) / np.sqrt(n)) if n > 1 else float("inf")
    gain = float(diff.mean()) if n else 0.0
    info = {"alpha_gain": gain, "alpha_gain_se": se if np.isfinite(se) else None}
    if best == strong:
        return best, {**info, "alpha_choice": "part", "alpha_note": f"the {part} part alone is best on validation"}
    if n < 2 or gain <= se:
        return strong, {**info, "alpha_choice": "fallback",
                        "alpha_note": f"fell back to the stronger {part} part: the best blend (α={best}) gains "
                                      f"{gain:.4f} ± {se:.4f} NDCG@10 on {n} validation users, within one "
                                      "standard error"}
    return best, {**info, "alpha_choice": "blend",
                  "alpha_note": f"α={best} beats the {part} part by {gain:.4f} ± {se:.4f} NDCG@10 on {n} validation users"}


class _TrainingMonitor(keras.callbacks.Callback):
    """Progress reports, cancel / stop between batches, a time budget, validation NDCG@10 per epoch and
    early stopping (the best epoch's weights are restored at the end).

    The monitored value is the validation NDCG@10 at the fixed α, or the best over the α grid. Patience
    counts epochs since the last one that gained `config.min_improvement` (relative) over the value
    the patience last reset at, so a slowly creeping curve stops instead of spending the run on gains
    within noise; the best epoch's weights are kept either way.
    (Keeping each part's own best epoch instead was tried: no better on shape a or ML-100K, and the
    content part then often stopped before it had learned the planted causes of tests/test_explain.py.)

    `stopped_by` says why training ended: "epochs", "event budget" (the epochs that `max_trained_events`
    allows), "early stopping", "user" (the stop event: keep the
    best epoch so far) or "time budget". A stop mid-epoch still validates that partial epoch, so a run
    stopped during its first epoch keeps a validated model.
    """

    def __init__(self, *, config, steps, validation, n_items, progress, cancel, fixed_alpha, stop=None,
                 started=None, epochs=None):
        super().__init__()
        self.config, self.steps, self.validation = config, steps, validation
        self.validation_local = validation.renumbered() if validation is not None else None
        self.epochs = epochs if epochs is not None else config.epochs  # config.planned_epochs of the data
        self.n_items, self.progress, self.cancel, self.fixed_alpha = n_items, progress, cancel, fixed_alpha
        self.stop = stop
        self.history: list[dict] = []
        self.best = -1.0
        self.reference = -1.0  # the last validation value that gained `min_improvement`: patience counts from it
        self.best_epoch = 0
        self.best_weights = None
        self.best_sweep: dict = {}
        self.best_per_user: dict = {}  # {α: per-user NDCG@10 [n]} of the watched users at the best epoch
        self.wait = 0
        self.cancelled = False
        self.stopped_by = "epochs" if self.epochs >= config.epochs else "event budget"
        self.started = started if started is not None else time.perf_counter()  # the budget counts from here
        self.start = time.perf_counter()
        self.epoch = 0
        self.loss = None
        self.timed_steps = 0
        self.step_seconds = 0.0
        self.last_step_end = None
        self.validation_s = None

    def _seconds_per_step(self):
        return self.step_seconds / self.timed_steps if self.timed_steps >= ETA_AFTER_STEPS else None

    def _report(self, phase, step=0, val=None, detail=""):
        if self.progress is None:
            return
        done_steps = (self.epoch - 1) * self.steps + step
        eta = eta_seconds(seconds_per_step=self._seconds_per_step(), steps_left=self.epochs * self.steps - done_steps,
                          validation_s=self.validation_s, validations_left=self.epochs - self.epoch + (phase == "training"))
        budget = self.config.time_budget_s
        if eta is not None and budget:
            eta = min(eta, max(0.0, budget - (time.perf_counter() - self.started)))
        self.progress(Progress(phase=phase, detail=detail, epoch=self.epoch, epochs=self.epochs, step=step,
                               steps=self.steps, loss=self.loss, val_ndcg=val,
                               best_val_ndcg=self.best if self.best >= 0 else None, best_epoch=self.best_epoch,
                               elapsed_s=time.perf_counter() - self.start, eta_s=eta, history=list(self.history)))

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch + 1
        self.last_step_end = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        now = time.perf_counter()
        if self.last_step_end is not None and batch > 0:  # the first batch of an epoch includes tracing / warm-up
            self.step_seconds += now - self.last_step_end
            self.timed_steps += 1
        self.last_step_end = now
        if logs and "loss" in logs:
            self.loss = float(logs["loss"])
        if self.cancel is not None and self.cancel.is_set():
            self.cancelled = True
            self.model.stop_training = True
            return
        budget = self.config.time_budget_s
        if self.stop is not None and self.stop.is_set():
            self.stopped_by = "user"
            self.model.stop_training = True
        elif budget and now - self.started >= budget:
            self.stopped_by = "time budget"
            self.model.stop_training = True
        self._report("training", step=batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.cancelled:
            return
        logs = logs if logs is not None else {}
        self._report("validating", step=self.steps, detail="ranking the whole catalogue for each validation user")
        started = time.perf_counter()
        record = {"epoch": epoch + 1, "loss": float(logs.get("loss", float("nan"))),
                  "seconds": time.perf_counter() - self.start}
        if self.validation is not None and len(self.validation.users):
            # user vectors of the watched users only (the LSTM over every user was 20-75% of the ranking's cost)
            vectors = compute_serving_vectors(self.model, self.validation.sequences, users=self.validation.users)
            per_user = validation_sweep(vectors, self.validation_local, n_items=self.n_items, per_user=True)
            sweep = {a: float(v.mean()) if len(v) else 0.0 for a, v in per_user.items()}
            monitored = sweep[self.fixed_alpha] if self.fixed_alpha is not None else max(sweep.values())
            record.update({"val_ndcg@10": monitored, "val_ndcg@10_cf": sweep[1.0],
                           "val_ndcg@10_content": sweep[0.0]})
            logs["val_ndcg@10"] = monitored
            if monitored > self.reference * (1 + self.config.min_improvement) + 1e-6:
                self.reference, self.wait = monitored, 0
            else:
                self.wait += 1
            if monitored > self.best + 1e-6:
                self.best, self.best_epoch = monitored, epoch + 1
                self.best_weights = [w.copy() for w in self.model.get_weights()]
                self.best_sweep, self.best_per_user = sweep, per_user
            if self.wait >= self.config.patience and not self.model.stop_training:
                self.stopped_by = "early stopping"
                self.model.stop_training = True
        else:
            self.best_epoch = epoch + 1
        self.validation_s = time.perf_counter() - started
        record["seconds"] = time.perf_counter() - self.start
        record["validation_seconds"] = self.validation_s
        self.history.append(record)
        budget = self.config.time_budget_s
        if budget and not self.model.stop_training and time.perf_counter() - self.started >= budget:
            self.stopped_by = "time budget"
            self.model.stop_training = True
        self._report("training", step=self.steps, val=record.get("val_ndcg@10"))

    def on_train_end(self, logs=None):
        if self.best_weights is not None and not self.cancelled:
            self.model.set_weights(self.best_weights)


def fit_hybrid(
    events: pd.DataFrame,
    items: pd.DataFrame,
    *,
    n_users: int,
    config: TrainConfig,
    validation: ValidationData | None = None,
    serving_events: pd.DataFrame | None = None,
    progress: ProgressFn | None = None,
    cancel: threading.Event | None = None,
    strategy=None,
    precision: str = "auto",
    windows=None,
    serving_sequences: np.ndarray | None = None,
    stop: threading.Event | None = None,
    evaluation_events: pd.DataFrame | None = None,
) -> TrainedModel:
    """Trains the hybrid model on `events` and returns it with its serving vectors.

    Args:
        events: training events (int `user`, `item`, `rating`, `timestamp`), sorted by user then time.
        items: the dataset's item frame (`text`, `categories`), one row per item index.
        n_users: number of users (rows of the CF user table).
        validation: held-out next items for early stopping on NDCG@10; None trains all epochs.
        serving_events: the events whose last `seq_len` items give each user's LSTM vector after
            training (default: `events`).
        progress: called with a `Progress` after every batch and epoch.
        cancel: when set, training stops after the current batch and `TrainingCancelled` is raised.
        strategy: a `tf.distribute` strategy (see recsys.training.distributed); None = the default device
            (TensorFlow places work on a GPU by itself when it sees one).
        precision: "auto" (mixed float16 on a GPU, float32 on a CPU), "mixed" or "float32".
        windows: precomputed training windows instead of cutting them from `events` (which may then be
            None): a streaming `recsys.data.WindowShards` with `trained_mask`, for data bigger than memory.
        serving_sequences: `[n_users, seq_len]` LSTM inputs for the served vectors (default: from
            `serving_events`).
        stop: when set, training ends after the current batch and keeps the best epoch so far (that
            partial epoch is validated too); `config.time_budget_s` ends it the same way.
        evaluation_events: also compute `TrainedModel.evaluation_vectors` after these events (e.g. each
            user's history before their test event).
    """
    t0 = time.perf_counter()
    n_items = len(items)
    if windows is None:
        events = apply_min_rating(events, config.min_rating)
        if len(events) == 0:
            raise ValueError("no training events left: lower min_rating or check the data")
    device = device_info()

    def preparing(detail):
        if progress:
            progress(Progress(phase="preparing", detail=detail, epochs=config.epochs))

    preparing("fitting the text vocabulary and item features")
    vectorizer = TextVectorizer(max_tokens=config.max_vocab, sequence_length=config.text_len).fit(items["text"],
                                                                                                  trim=True)
    encoder = CategoryEncoder().fit(items["categories"])
    features = ItemFeatures.build(items, vectorizer, encoder)
    if windows is None:
        preparing("cutting each user's history into training windows")
        trained_mask = np.bincount(events["item"].to_numpy(), minlength=n_items)[:n_items] > 0
        weights = scaled_rating_weights(events["rating"]) if config.rating_weights and "rating" in events else None
        windows = training_windows(events, seq_len=config.seq_len, weights=weights)
    else:
        trained_mask = windows.trained_mask
    n_windows = len(windows["user"]) if isinstance(windows, dict) else len(windows)
    if n_windows == 0:
        raise ValueError("every user has a single event: the sequence model needs at least two events per user")
    if precision not in ("auto", "mixed", "float32"):
        raise ValueError(f"precision must be 'auto', 'mixed' or 'float32', got {precision!r}")
    gpu = device["kind"] == "GPU"
    mixed = precision == "mixed" or (precision == "auto" and gpu)
    replicas = 1
    scope = contextlib.nullcontext()
    if strategy is not None:
        scope, replicas = strategy.scope(), strategy.num_replicas_in_sync
    preparing("building and compiling the model")
    with scope:
        model = build_model(n_users=n_users, n_items=n_items, vectorizer=vectorizer, encoder=encoder,
                            config=config, mixed_precision=mixed)
        model.set_item_features(features, trained_mask)
        counts = target_counts(windows, n_items)
        model.set_sampling_distribution(counts)
        # XLA on JAX: without it Keras runs JAX's train step op by op and re-compiles the LSTM's scan at
        # every step (1.4 s a step on the tiny test set, 4x the whole XLA run). TensorFlow keeps its graph
        # without XLA, which was 2x slower per step on a 2-core CPU.
        model.compile(optimizer=FusedAdam(learning_rate=config.lr, clipnorm=5.0),
                      jit_compile=backend_name() == "jax")
    # The global batch grows with the replicas (and on a GPU) so each device keeps a useful share.
    batch_size = config.batch_size * (4 if gpu else 1) * replicas
    batch_size = batch_size_for(n_windows, batch_size, min_steps=config.min_steps_per_epoch)
    pipeline = make_input_pipeline(windows, batch_size=batch_size, seed=config.seed, distributed=strategy is not None)
    steps = math.ceil(n_windows / batch_size)
    preparing("starting the first batches (the first one traces the graph)")
    # Early stopping ranks a seeded sample of the validation users each epoch; α is chosen on all of them.
    watched_at = validation.sample_positions(early_stopping_users(n_items), seed=config.seed) if validation is not None else None
    watched = validation.subset(watched_at) if validation is not None else None
    epochs = config.planned_epochs(int(counts.sum()))  # at most max_trained_events target events in all
    monitor = _TrainingMonitor(config=config, steps=steps, validation=watched, n_items=n_items,
                               progress=progress, cancel=cancel, fixed_alpha=config.alpha, stop=stop, started=t0,
                               epochs=epochs)
    if strategy is None and backend_name() == "tensorflow":
        # One iterator for the whole run (reshuffled each pass): a new tf.data iterator per epoch stalled
        # that epoch's first step by 1-9 s, at random, on 2 CPU cores (up to 40% of a 50k-item run).
        model.fit(pipeline.repeat(), steps_per_epoch=steps, epochs=epochs, verbose=0, callbacks=[monitor],
                  shuffle=False)
    elif strategy is None:
        model.fit(pipeline, epochs=epochs, verbose=0, callbacks=[monitor], shuffle=False)
    else:  # Keras 3's fit cannot train this model under tf.distribute (see recsys.training.distributed)
        fit_with_strategy(model, pipeline, strategy=strategy, epochs=epochs, callbacks=[monitor])
    if monitor.cancelled:
        raise TrainingCancelled("training was cancelled")
    if progress:
        progress(Progress(phase="finishing", detail="computing the serving vectors of every user and item",
                          epoch=monitor.epoch, epochs=epochs, steps=steps, step=steps,
                          loss=monitor.loss, best_val_ndcg=monitor.best if monitor.best >= 0 else None,
                          best_epoch=monitor.best_epoch, stopped_by=monitor.stopped_by,
                          elapsed_s=time.perf_counter() - t0, eta_s=None, history=list(monitor.history)))
    # The best epoch's weights are restored and fixed from here: one pass of the item tower serves every
    # set of user vectors below (it was four passes over the catalogue).
    item_vectors = catalogue_item_vectors(model)
    if serving_sequences is None:
        serving = serving_events if serving_events is not None else events
        vectors = serving_vectors_for(model, serving, n_users=n_users, seq_len=config.seq_len,
                                      item_vectors=item_vectors)
    else:
        vectors = compute_serving_vectors(model, serving_sequences, item_vectors=item_vectors)
    evaluation_vectors = train_vectors = None
    if evaluation_events is not None:
        evaluation_vectors = serving_vectors_for(model, evaluation_events, n_users=n_users, seq_len=config.seq_len,
                                                 item_vectors=item_vectors)
        if events is not None:
            train_vectors = serving_vectors_for(model, events, n_users=n_users, seq_len=config.seq_len,
                                                item_vectors=item_vectors)
    sweep = monitor.best_sweep
    choice: dict = {}
    if config.alpha is not None:
        best_alpha = config.alpha
    elif sweep and validation is not None and len(validation.users):
        # The best epoch's weights are restored: its per-user NDCG@10 decides how much the blend is trusted.
        # The watched users were ranked with these weights at that epoch; only the others are ranked here.
        per_user = {a: np.zeros(len(validation.users), np.float32) for a in monitor.best_per_user}
        for a, values in monitor.best_per_user.items():
            per_user[a][watched_at] = values
        rest = np.setdiff1d(np.arange(len(validation.users)), watched_at)
        if len(rest):
            others = validation.subset(rest)
            rest_vectors = compute_serving_vectors(model, others.sequences, users=others.users, item_vectors=item_vectors)
            for a, values in validation_sweep(rest_vectors, others.renumbered(), n_items=n_items, per_user=True).items():
                per_user[a][rest] = values
        best_alpha, choice = choose_alpha(per_user)
    elif sweep:
        best_alpha = max(sweep, key=lambda a: (sweep[a], -abs(a - 0.5)))
    else:
        best_alpha = 0.5
    validation_result = {"alpha_sweep": {str(a): v for a, v in sweep.items()}, "best_alpha": best_alpha,
                         "ndcg@10": sweep.get(best_alpha) if sweep else None, "best_epoch": monitor.best_epoch,
                         "n_users": int(len(validation.users)) if validation is not None else 0,
                         "epochs_run": len(monitor.history), "epochs_planned": epochs, "stopped_by": monitor.stopped_by,
                         **choice}
    return TrainedModel(model=model, vectorizer=vectorizer, category_encoder=encoder, vectors=vectors,
                        history=monitor.history, best_epoch=monitor.best_epoch, validation=validation_result,
                        train_seconds=time.perf_counter() - t0, device=device, evaluation_vectors=evaluation_vectors,
                        train_vectors=train_vectors)
