"""One prepare → fit → evaluate → write path for every run: an in-memory dataset, Parquet shards, a cluster.

`run_training` is that path. What differs between sources is only how the inputs are prepared
(`recsys.training.prepare`):

* `train_run` (a `Dataset` in memory): the temporal leave-last-out split; the model trains on its train
  part, stops early on validation, and gets a test report (`recsys.evaluation.protocol`).
* `train_sharded` (a shard folder from `recsys.data.ingest_to_shards`): next-item windows streamed from
  Parquet (`WindowShards`); each user's last new item is held out for early stopping only, so the run
  has no test report (its metrics' "evaluation_note" says why).
* `train_on_cluster` (every worker of a `MultiWorkerMirroredStrategy`): `train_run` with the strategy,
  after the workers agree on the run; only the chief writes it.

Then the same fit (`fit_hybrid`), the same metrics and progress reports, and the same run folder.

Example:
    >>> ingest_to_shards("events-20M.csv", "shards/")                # doctest: +SKIP
    >>> train_sharded("shards/", TrainConfig(), run_dir="runs/big")   # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from recsys.config import TrainConfig
from recsys.data.shards import ShardedEvents
from recsys.evaluation.protocol import evaluation_report
from recsys.progress import Progress, ProgressFn
from recsys.store import RunStore, check_writable, load_run, run_key, stored_run, write_run
from recsys.training.distributed import check_same_run_on_every_worker, chief_says, cluster_errors
from recsys.training.fit import TrainedModel, backend_name, fit_hybrid
from recsys.training.prepare import PreparedInputs, prepare_in_memory, prepare_shards


@dataclass
class EvaluatedModel:
    """What `fit_and_evaluate` returns: the model trained on the prepared inputs and its test report."""

    trained: TrainedModel
    evaluation: dict | None  # the test report (`recsys.evaluation.protocol.evaluation_report`), or None
    n_train_events: int
    evaluation_seconds: float


def fit_prepared(prepared: PreparedInputs, config: TrainConfig, *, k: int = 10, progress: ProgressFn | None = None,
                 cancel=None, stop=None, strategy=None, baselines: bool = True) -> EvaluatedModel:
    """Fits the model on `prepared` and, when it holds a test split, writes its test report.

    The report ranks each test user's item against the full catalogue (the user's earlier items
    excluded) for the model, its two parts, every α and the baselines (tuned on validation, refitted on
    the history before test); see `recsys.evaluation.protocol.evaluation_report`.
    """
    trained = fit_hybrid(prepared.train_events, prepared.items, n_users=prepared.n_users, config=config,
                         validation=prepared.validation, serving_events=prepared.serving_events,
                         evaluation_events=prepared.test_history, windows=prepared.windows,
                         serving_sequences=prepared.serving_sequences, progress=progress, cancel=cancel,
                         stop=stop, strategy=strategy)
    if prepared.split is None:
        return EvaluatedModel(trained=trained, evaluation=None, n_train_events=prepared.n_train_events,
                              evaluation_seconds=0.0)
    started = time.perf_counter()
    if progress:
        progress(Progress(phase="evaluating", detail="test metrics of the model" + (
            " and of the baselines (popularity, item-kNN, EASE)" if baselines else ""),
            epoch=len(trained.history), epochs=trained.validation.get("epochs_planned", config.epochs), best_epoch=trained.best_epoch,
            stopped_by=trained.validation.get("stopped_by"), history=list(trained.history)))
    test_vectors = getattr(trained, "evaluation_vectors", None) or trained.vectors  # stand-ins in tests lack them
    evaluation = evaluation_report(
        events=prepared.events, split=prepared.split, items=prepared.items, n_users=prepared.n_users,
        n_items=len(prepared.items), test_vectors=test_vectors, alpha=trained.validation["best_alpha"],
        training={"validation": trained.validation, "train_seconds": trained.train_seconds,
                  "device": trained.device, "config": config.to_dict()},
        valid_vectors=getattr(trained, "train_vectors", None) or test_vectors, k=k, baselines=baselines)
    return EvaluatedModel(trained=trained, evaluation=evaluation, n_train_events=prepared.n_train_events,
                          evaluation_seconds=time.perf_counter() - started)


def fit_and_evaluate(dataset, config: TrainConfig, *, k: int = 10, progress: ProgressFn | None = None,
                     cancel=None, stop=None, strategy=None, baselines: bool = True) -> EvaluatedModel:
    """Prepares, fits and tests a model on an in-memory `Dataset` (nothing is written).

    The test report: {"protocol", "k", "split": {...}, "alpha", "model", "model_cf_only",
    "model_content_only", "alpha_sweep": [{alpha, metrics…}], "validation", "train_seconds", "device",
    "config", "baselines": {name: metrics}, "segments": `recsys.evaluation.segments.segment_report`}.
    """
    return fit_prepared(prepare_in_memory(dataset, config, progress=progress), config, k=k, progress=progress,
                        cancel=cancel, stop=stop, strategy=strategy, baselines=baselines)


def evaluate_dataset(dataset, config: TrainConfig | None = None, *, k: int = 10, progress=None,
                     cancel=None, baselines: bool = True) -> dict:
    """Trains on a temporal split and returns the test report (model, baselines, the test α sweep).

    The same path a stored run takes (`fit_and_evaluate`), without writing a run; see it for the keys.
    """
    evaluated = fit_and_evaluate(dataset, config or TrainConfig(), k=k, progress=progress, cancel=cancel,
                                 baselines=baselines)
    if evaluated.evaluation is None:
        raise ValueError("no user has 3 or more distinct items: a leave-last-out evaluation needs longer histories")
    return evaluated.evaluation


def stored_run_or_check_writable(path, key: str, *, progress: ProgressFn | None = None, is_chief: bool = True):
    """The complete run `key` at `path` (reported as done), or None after checking `path` is writable.

    The same data + config returns the stored run at once; otherwise a run folder that could not be
    written fails here, before any training.
    """
    existing = stored_run(path, key)
    if existing is not None:
        if progress:
            progress(Progress(phase="done", history=existing.history))
        return existing
    if is_chief:
        check_writable(path)
    return None


def run_training(dataset, config: TrainConfig, *, prepare, run_dir=None, store=None,
                 progress: ProgressFn | None = None, cancel: threading.Event | None = None, strategy=None,
                 is_chief: bool = True, stop: threading.Event | None = None):
    """THE path of a run: stored run or prepare → fit → evaluate → (refit) → write; returns the stored run.

    Args:
        dataset: a `Dataset` or a `ShardedEvents`: its fingerprint and the config name the run, and its
            ids and items are written with it.
        prepare: `prepare()` returns a context manager giving the `PreparedInputs` (anything it holds,
            e.g. temporary window files, lives until the fit and the test report are done).
        run_dir: write the run to exactly this folder; otherwise `store` (default RunStore()) keys it.
        strategy, is_chief: multi-worker training; every worker trains, only the chief writes the run.
        stop: training ends after the current batch with the best epoch so far, and the run is
            evaluated and stored as usual (`cancel` stores nothing).

    With `config.refit` (and a test report) the model is trained once more on every event for the best
    epoch count, and that model is served and stored; its test report stays the one of the first fit.
    """
    key = run_key(dataset.fingerprint(), config)
    path = Path(run_dir) if run_dir is not None else (store or RunStore()).path_for(key)
    existing = stored_run_or_check_writable(path, key, progress=progress, is_chief=is_chief)
    if existing is not None:
        return existing
    with prepare() as prepared:
        evaluated = fit_prepared(prepared, config, progress=progress, cancel=cancel, stop=stop, strategy=strategy,
                                 baselines=is_chief)
    if not is_chief:
        return None
    trained = first = evaluated.trained
    refit = bool(config.refit and evaluated.evaluation is not None)
    refit_seconds = 0.0
    if refit:
        started = time.perf_counter()
        refit_config = dataclasses.replace(config, epochs=max(1, int(first.best_epoch)), time_budget_s=None,
                                           max_trained_events=None)  # exactly the first fit's best epoch count
        trained = fit_hybrid(prepared.events, prepared.items, n_users=prepared.n_users, config=refit_config,
                             progress=progress, cancel=cancel, strategy=strategy)
        trained.history, trained.best_epoch, trained.validation = first.history, first.best_epoch, first.validation
        refit_seconds = time.perf_counter() - started
    stopped_by = trained.validation.get("stopped_by")
    metrics = {"validation": trained.validation, "evaluation": evaluated.evaluation,
               "train_seconds": first.train_seconds, "evaluation_seconds": evaluated.evaluation_seconds,
               "refit_seconds": refit_seconds, "refit": refit, "device": trained.device,
               "best_epoch": trained.best_epoch, "stopped_by": stopped_by, "time_budget_s": config.time_budget_s,
               "n_train_events": int(evaluated.n_train_events), "n_events": int(prepared.n_events),
               "backend": backend_name(),
               "replicas": int(strategy.num_replicas_in_sync) if strategy is not None else 1, **prepared.notes}
    if progress:
        progress(Progress(phase="finishing", detail="writing the run folder", epoch=len(trained.history),
                          epochs=trained.validation.get("epochs_planned", config.epochs), best_epoch=trained.best_epoch,
                          stopped_by=stopped_by,
                          history=list(trained.history)))
    write_run(path, trained=trained, dataset=dataset, config=config, events=prepared.stored_events(),
              metrics=metrics, key=key)
    run = load_run(path)
    if progress:
        progress(Progress(phase="done", epoch=len(trained.history), epochs=trained.validation.get("epochs_planned", config.epochs), history=trained.history,
                          loss=trained.history[-1]["loss"] if trained.history else None,
                          best_val_ndcg=trained.validation.get("ndcg@10"), best_epoch=trained.best_epoch,
                          stopped_by=stopped_by, elapsed_s=first.train_seconds))
    return run


def train_run(dataset, config: TrainConfig, *, run_dir=None, store=None, progress: ProgressFn | None = None,
              cancel: threading.Event | None = None, strategy=None, is_chief: bool = True, stop=None):
    """Trains, tests and stores a run of an in-memory `Dataset`; returns the stored run at once if it exists.

    The run is trained on the leave-last-out split's train part, stopped early on validation, and its
    test report (model, its two parts, each baseline, the test α sweep) is kept in
    `metrics["evaluation"]`, so the Evaluate page and `evaluate` answer without training again. The
    served vectors read every event (the LSTM reads each user's latest events; seen items are
    excluded). See `run_training` for the arguments (the run's id is its data fingerprint + config).
    """
    return run_training(dataset, config, prepare=lambda: contextlib.nullcontext(
        prepare_in_memory(dataset, config, progress=progress)), run_dir=run_dir, store=store, progress=progress,
        cancel=cancel, strategy=strategy, is_chief=is_chief, stop=stop)


def train_sharded(shard_dir, config: TrainConfig, *, run_dir, progress: ProgressFn | None = None, cancel=None,
                  strategy=None, is_chief: bool = True, max_validation_users: int | None = 5000, work_dir=None):
    """Trains on a shard folder without loading its events or windows into memory; stores a normal run.

    Windows stream from Parquet through `tf.data` (`prepare_shards`); validation ranks a seeded sample of
    at most about `max_validation_users` held-out users. The run's id and fingerprint equal those
    `train_run` gives for the same file and config, so the app recognises it; the stored run serves
    from all events (user, item, timestamp: 16 bytes each). It carries no test report (see
    `recsys.training.prepare.SHARDS_WITHOUT_TEST_REPORT`), so `config.refit` does not apply.

    Args:
        shard_dir: folder written by `recsys.data.ingest_to_shards`.
        run_dir: folder of the run (a complete run of the same id there is returned at once).
        progress, cancel, strategy, is_chief: as for `run_training`.
        work_dir: where the temporary window files go (default: next to `run_dir`); removed afterwards.

    Returns:
        The stored `recsys.store.Run` (None on a non-chief worker).
    """
    shards = ShardedEvents(shard_dir)
    work_dir = Path(work_dir) if work_dir is not None else Path(run_dir).resolve().parent
    return run_training(shards, config, prepare=lambda: prepare_shards(
        shards, config, work_dir=work_dir, max_validation_users=max_validation_users, progress=progress),
        run_dir=run_dir, progress=progress, cancel=cancel, strategy=strategy, is_chief=is_chief)


def train_on_cluster(dataset, config, *, run_dir, strategy, is_chief: bool, progress=None):
    """`train_run` on every worker of a multi-worker cluster; returns the run on the chief, None elsewhere.

    Every worker must call this with the same data and config (checked first: their run ids must agree,
    else DistributedConfigError on every worker). The chief decides for everyone whether
    its `run_dir` already holds this run (then nobody trains); otherwise all workers train in step and
    only the chief writes `run_dir`. The other workers train against a temporary folder that is
    removed, so they never leave a run behind, even where they share the chief's file system.

    Raises:
        DistributedConfigError: the workers' data or settings differ.
        ClusterTrainingError: a TensorFlow collective failed (typically a worker died or became
            unreachable); no run is written by anyone.
    """
    key = run_key(dataset.fingerprint(), config)
    done_here = False
    if is_chief:
        try:
            done_here = stored_run(run_dir, key) is not None
        except Exception:  # an unreadable folder is retrained and replaced by train_run
            done_here = False
    scratch = None if is_chief else Path(tempfile.mkdtemp(prefix="recsys-worker-"))
    try:
        with cluster_errors():
            check_same_run_on_every_worker(strategy, key)
            if chief_says(strategy, done_here, is_chief=is_chief):
                return train_run(dataset, config, run_dir=run_dir, progress=progress) if is_chief else None
            target = run_dir if is_chief else scratch / "run"
            return train_run(dataset, config, run_dir=target, progress=progress, strategy=strategy, is_chief=is_chief)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
