"""Training: fit the hybrid model (`fit`), on one device or a `tf.distribute` cluster (`distributed`), from
inputs prepared in memory or streamed from shards (`prepare`), with the serving vectors of a trained
model computed in one place (`vectors`), along the one prepare → fit → evaluate →
write path of a run (`runs`).

`train_run` (in-memory data), `train_sharded` (Parquet shards) and `train_on_cluster` (multi-worker) all
go through `runs.run_training`. Progress reports and cancellation use `recsys.progress`.
"""

from recsys.progress import Progress, TrainingCancelled
from recsys.training.fit import (TrainedModel, ValidationData, backend_name, build_model, choose_alpha, device_info,
                                 fit_hybrid, make_input_pipeline, target_counts, validation_sweep)
from recsys.training.prepare import PreparedInputs, prepare_in_memory, prepare_shards
from recsys.training.runs import (EvaluatedModel, evaluate_dataset, fit_and_evaluate, fit_prepared, run_training,
                                  stored_run_or_check_writable, train_on_cluster, train_run, train_sharded)
from recsys.training.vectors import compute_serving_vectors, serving_vectors_for

__all__ = [
    "EvaluatedModel", "PreparedInputs", "Progress", "TrainedModel", "TrainingCancelled", "ValidationData",
    "backend_name", "build_model", "choose_alpha", "compute_serving_vectors", "device_info", "evaluate_dataset",
    "fit_and_evaluate", "fit_hybrid", "fit_prepared", "make_input_pipeline", "prepare_in_memory", "prepare_shards",
    "run_training", "serving_vectors_for", "stored_run_or_check_writable", "target_counts", "train_on_cluster",
    "train_run", "train_sharded", "validation_sweep",
]
