"""Choosing a `tf.distribute` strategy for training: one machine's GPUs, or several machines.

`make_strategy("auto")` keeps the default device (a single GPU or the CPU) and only builds a
`MirroredStrategy` when one machine sees more than one GPU. `make_strategy("multiworker")` builds a
`MultiWorkerMirroredStrategy` from the standard `TF_CONFIG` environment variable, e.g. for worker 0
of two machines::

    TF_CONFIG='{"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]},
                "task": {"type": "worker", "index": 0}}'

Every worker runs the same command on the same data and settings; only the chief (task type
"chief", or worker 0 when the cluster has no chief) writes the run. See docs/cluster.md.

TensorFlow needs a `MultiWorkerMirroredStrategy` to exist before it runs any other op in the
process, so the CLI calls `make_strategy` right after parsing its arguments.

`fit_with_strategy` is the training loop under a strategy; `check_same_run_on_every_worker`, `chief_says`
and `cluster_errors` are what `recsys.training.runs.train_on_cluster` needs to train one run on every worker.
"""

from __future__ import annotations

import contextlib
import json
import os
import re

STRATEGIES = ("auto", "mirrored", "multiworker", "none")
TRAINING_TASK_TYPES = ("chief", "worker")


class DistributedConfigError(ValueError):
    """TF_CONFIG or the strategy choice is unusable; the message says what is wrong and what to do."""


def read_tf_config(environ=None) -> dict | None:
    """The validated `TF_CONFIG` of this process, or None when it is unset or empty.

    Raises DistributedConfigError naming TF_CONFIG and what is wrong with it.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as e:
        raise DistributedConfigError(f"TF_CONFIG is not valid JSON ({e.msg} at character {e.pos}); expected "
                                     '{"cluster": {"worker": ["host:port", ...]}, '
                                     '"task": {"type": "worker", "index": 0}}') from e
    if not isinstance(config, dict):
        raise DistributedConfigError(f"TF_CONFIG must be a JSON object with 'cluster' and 'task', "
                                     f"got a {type(config).__name__}")
    cluster, task = config.get("cluster"), config.get("task")
    if not isinstance(cluster, dict) or not cluster:
        raise DistributedConfigError("TF_CONFIG has no 'cluster' object: list every machine, e.g. "
                                     '"cluster": {"worker": ["10.0.0.1:12345", "10.0.0.2:12345"]}')
    for name, addresses in cluster.items():
        if not isinstance(addresses, list) or not addresses:
            raise DistributedConfigError(f"TF_CONFIG cluster.{name} must be a non-empty list of 'host:port' strings")
        for address in addresses:
            host, sep, port = str(address).rpartition(":") if isinstance(address, str) else ("", "", "")
            if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise DistributedConfigError(f"TF_CONFIG cluster.{name} has {address!r}, which is not "
                                             "'host:port' (e.g. '10.0.0.1:12345')")
    if "ps" in cluster:
        raise DistributedConfigError("TF_CONFIG lists 'ps' (parameter server) tasks; multi-worker training "
                                     "uses only 'chief' and 'worker' tasks")
    if len(cluster.get("chief", [])) > 1:
        raise DistributedConfigError("TF_CONFIG cluster.chief must hold exactly one address")
    if not any(t in cluster for t in TRAINING_TASK_TYPES):
        raise DistributedConfigError("TF_CONFIG cluster has no 'worker' (or 'chief') list")
    if not isinstance(task, dict):
        raise DistributedConfigError("TF_CONFIG has no 'task' object: say which machine this is, e.g. "
                                     '"task": {"type": "worker", "index": 0}')
    task_type, index = task.get("type"), task.get("index", 0)
    if task_type not in cluster:
        raise DistributedConfigError(f"TF_CONFIG task.type {task_type!r} is not one of the cluster's task types "
                                     f"{sorted(cluster)}")
    if task_type not in TRAINING_TASK_TYPES:
        raise DistributedConfigError(f"TF_CONFIG task.type {task_type!r} cannot train: use 'chief' or 'worker'")
    if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < len(cluster[task_type]):
        raise DistributedConfigError(f"TF_CONFIG task.index {index!r} is out of range: cluster.{task_type} has "
                                     f"{len(cluster[task_type])} address(es), so the index is 0 to "
                                     f"{len(cluster[task_type]) - 1}")
    return config


def is_chief_from_tf_config(environ=None) -> bool:
    """Whether this process writes the run: task type "chief", or worker 0 when there is no chief.

    True without TF_CONFIG (a single process is its own chief).
    """
    config = read_tf_config(environ)
    if config is None:
        return True
    task_type, index = config["task"]["type"], config["task"].get("index", 0)
    if task_type == "chief":
        return True
    return task_type == "worker" and index == 0 and "chief" not in config["cluster"]


def cluster_size(environ=None) -> int:
    """How many training processes TF_CONFIG describes (1 without TF_CONFIG)."""
    config = read_tf_config(environ)
    if config is None:
        return 1
    return sum(len(config["cluster"].get(t, [])) for t in TRAINING_TASK_TYPES)


def check_strategy(name: str, *, environ=None) -> dict | None:
    """Checks `--strategy name` against TF_CONFIG without starting TensorFlow; returns the TF_CONFIG (or None).

    Raises:
        DistributedConfigError: unknown name, `multiworker` without TF_CONFIG, an invalid TF_CONFIG,
            or a cluster TF_CONFIG with a single-machine strategy (every machine would write its own run).
    """
    if name not in STRATEGIES:
        raise DistributedConfigError(f"unknown strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    environ = os.environ if environ is None else environ
    config = read_tf_config(environ)
    if name == "multiworker" and config is None:
        raise DistributedConfigError("--strategy multiworker needs TF_CONFIG (the cluster's 'host:port' list "
                                     "and this machine's task); see docs/cluster.md")
    if name != "multiworker" and config is not None and cluster_size(environ) > 1:
        raise DistributedConfigError(f"TF_CONFIG describes a cluster of {cluster_size(environ)} tasks but "
                                     f"--strategy is {name}: pass --strategy multiworker, or unset TF_CONFIG to "
                                     "train on this machine alone")
    return config


def make_strategy(name: str, *, environ=None):
    """The `tf.distribute` strategy for `--strategy name` and whether this process is the chief.

    Args:
        name: "auto" (MirroredStrategy when this machine sees more than one GPU, else None: the default
            device), "mirrored" (MirroredStrategy over the visible GPUs, or the CPU), "multiworker"
            (MultiWorkerMirroredStrategy from TF_CONFIG) or "none" (the default device).
        environ: the environment to read TF_CONFIG from (default os.environ).

    Returns:
        (strategy or None, is_chief).

    Raises:
        DistributedConfigError: see `check_strategy`.
    """
    environ = os.environ if environ is None else environ
    config = check_strategy(name, environ=environ)
    if name == "multiworker":
        import tensorflow as tf

        # TF_CONFIG is read by TensorFlow itself from os.environ; keep the validated one there.
        os.environ["TF_CONFIG"] = json.dumps(config)
        return tf.distribute.MultiWorkerMirroredStrategy(), is_chief_from_tf_config(environ)
    if name == "none":
        return None, True
    import tensorflow as tf

    if name == "mirrored":
        return tf.distribute.MirroredStrategy(), True
    several_gpus = len(tf.config.list_logical_devices("GPU")) > 1
    return (tf.distribute.MirroredStrategy() if several_gpus else None), True


def fit_with_strategy(model, dataset, *, strategy, epochs: int, callbacks=()):
    """`model.fit(dataset, epochs=…, callbacks=…)` for a model built in `strategy.scope()`, as a plain loop.

    Keras 3's `fit` does not train this model under `MultiWorkerMirroredStrategy`: its symbolic pre-build
    all-reduces the first batch, which fails for dict inputs (keras-team/keras#20329), and its logs
    reduction asks for axis 0 of the scalar loss (tensorflow/tensorflow#72388). It also leaves a custom
    `compute_loss` unscaled, so replicas' gradients would be summed instead of averaged. This loop runs
    the same train step (model call, `compute_loss`, optimizer) in every replica with the loss divided
    by the number of replicas, and calls the callbacks' epoch/batch/train hooks like `fit` does.
    `model.stop_training` ends it: at once on one machine; with several workers at the end of the
    epoch, once any worker asked (all of them stop together).
    """
    import tensorflow as tf

    with strategy.scope():
        if not model.optimizer.built:
            model.optimizer.build(model.trainable_variables)
    distributed = strategy.experimental_distribute_dataset(dataset)
    replicas = strategy.num_replicas_in_sync

    def replica_step(batch):
        x, y = batch
        with tf.GradientTape() as tape:
            y_pred = model(x, training=True)
            loss = model.compute_loss(x=x, y=y, y_pred=y_pred, training=True)
            # mean over replicas after the optimizer's SUM all-reduce; scale_loss = mixed-precision scaling
            scaled = model.optimizer.scale_loss(loss / replicas)
        weights = model.trainable_weights
        grads = tape.gradient(scaled, weights)
        model.optimizer.apply_gradients(zip(grads, weights))
        return loss

    @tf.function(input_signature=[distributed.element_spec])
    def train_step(batch):
        per_replica = strategy.run(replica_step, args=(batch,))
        return strategy.reduce(tf.distribute.ReduceOp.MEAN, per_replica, axis=None)

    # On several workers a stop must be decided together, or one worker would wait for the others forever:
    # stops take effect at the end of an epoch, when any worker asks for one (early stopping asks on all
    # of them at once, since every worker validates the same synced weights).
    multi_worker = isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)
    all_sum = _all_sum_function(strategy)
    callbacks = list(callbacks)
    for cb in callbacks:
        cb.set_model(model)
    model.stop_training = False
    for cb in callbacks:
        cb.on_train_begin()
    for epoch in range(epochs):
        for cb in callbacks:
            cb.on_epoch_begin(epoch)
        total, steps = 0.0, 0
        for step, batch in enumerate(distributed):
            loss = float(train_step(batch))
            total, steps = total + loss, steps + 1
            for cb in callbacks:
                cb.on_train_batch_end(step, {"loss": loss})
            if model.stop_training and not multi_worker:
                break
        logs = {"loss": total / max(steps, 1)}
        for cb in callbacks:
            cb.on_epoch_end(epoch, logs)
        if multi_worker:
            model.stop_training = float(all_sum(tf.constant(float(bool(model.stop_training))))) > 0.0
        if model.stop_training:
            break
    for cb in callbacks:
        cb.on_train_end()


def _all_sum_function(strategy):
    """A tf.function summing a float scalar over every replica of every worker (a collective op)."""
    import tensorflow as tf

    @tf.function
    def all_sum(value):
        per_replica = strategy.run(lambda: tf.identity(value))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    return all_sum


class ClusterTrainingError(RuntimeError):
    """Multi-worker training stopped (a worker died or could not be reached); nothing was written."""


def chief_says(strategy, flag: bool, *, is_chief: bool) -> bool:
    """The chief's `flag`, the same on every worker (a SUM all-reduce where only the chief adds 1)."""
    import tensorflow as tf

    return float(_all_sum_function(strategy)(tf.constant(1.0 if (is_chief and flag) else 0.0))) > 0.0


def check_same_run_on_every_worker(strategy, key: str) -> None:
    """Raises DistributedConfigError on every worker unless all of them train the run `key`.

    Compares the first 24 bits of the run id (data fingerprint + config) over an all-reduce, so every
    worker gets the same answer and none waits for the others forever.
    """
    import tensorflow as tf

    value = int(key[:6], 16)
    all_sum = _all_sum_function(strategy)
    total = float(all_sum(tf.constant(float(value), tf.float64)))
    same_here = total == strategy.num_replicas_in_sync * float(value)
    if float(all_sum(tf.constant(0.0 if same_here else 1.0, tf.float64))) != 0.0:
        raise DistributedConfigError(
            f"the workers do not all have the same data and settings (run id here: {key}); every worker "
            "must run the same command on the same data; nothing was trained")


@contextlib.contextmanager
def cluster_errors():
    """Turns a failed TensorFlow collective (a worker died or is unreachable) into a ClusterTrainingError."""
    import tensorflow as tf

    try:
        yield
    except tf.errors.OpError as e:
        raise ClusterTrainingError(
            f"multi-worker training failed ({type(e).__name__}: {_short_reason(e.message)}); no run was written. "
            "Check that every "
            "worker is alive, reachable on its TF_CONFIG port and runs the same command, then start all of "
            "them again") from e


def _short_reason(message) -> str:
    """The line of a TensorFlow error that says what happened (e.g. which task stopped), without the trace."""
    lines = [line.strip() for line in re.sub(r"\[*\{\{[^}]*\}\}\]*", "", message or "").splitlines()]
    lines = [line for line in lines if line and not line.startswith(("File ", "Graph execution error",
                                                                     "Detected at node", "[Op:"))]
    for i, line in enumerate(lines):
        if re.search(r"abort|unhealthy|unavailable|connect|socket|down|crash|deadline", line, re.IGNORECASE):
            return f"{line} {lines[i + 1]}" if line.endswith(":") and i + 1 < len(lines) else line
    return lines[0] if lines else "no details"
