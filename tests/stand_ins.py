"""Stand-ins for tests where training itself is not under test (no TensorFlow; everything around it is real):
what `recsys.training.fit_hybrid` returns (storage, restarts, concurrency), and a job's work for
`JobRegistry.submit` (the registry, its isolation modes, the job panel)."""

from types import SimpleNamespace

import numpy as np

from recsys.progress import Progress, TrainingCancelled
from recsys.serving import ServingVectors


class FileModel:
    """Saves a few bytes where a `.keras` file would go."""

    def save(self, path):
        with open(path, "wb") as handle:
            handle.write(b"stand-in model")


def fake_trained(ds, *, seed=0, dim=4):
    """What `fit_hybrid` returns: seeded random vectors of the right shapes for `ds` (n_users, n_items)."""
    rng = np.random.default_rng(seed)

    def table(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    vectors = ServingVectors(cf_user=table(ds.n_users, dim), cf_item=table(ds.n_items, dim), cf_bias=table(ds.n_items),
                             seq_user=table(ds.n_users, dim), content_item=table(ds.n_items, dim),
                             content_bias=table(ds.n_items))
    config = SimpleNamespace(get_config=lambda: {"stand_in": True})
    return SimpleNamespace(model=FileModel(), vectorizer=config, category_encoder=config, vectors=vectors,
                           history=[{"epoch": 1, "loss": 1.0, "val_ndcg@10": 0.1, "seconds": 0.0}], best_epoch=1,
                           validation={"alpha_sweep": {"0.5": 0.1}, "best_alpha": 0.5, "ndcg@10": 0.1},
                           train_seconds=0.0, device={"kind": "CPU", "name": "stand-in", "count": 0})


def stand_in_work(result, *, epochs=3, fail=None, until_asked=False, report, cancel, stop):
    """A job's work (`recsys.jobs.Work`) without training: reports `epochs` epochs and returns `result`.

    With `fail` it raises ValueError(fail) after the epochs; with `until_asked` it then waits until the
    job is stopped (returns `result`) or cancelled. Module-level, so a child process can run it too.
    """
    for epoch in range(1, epochs + 1):
        if cancel.is_set():
            raise TrainingCancelled()
        report(Progress(phase="training", epoch=epoch, epochs=epochs, step=1, steps=1, history=[
            {"epoch": e, "loss": 1.0 / e} for e in range(1, epoch + 1)]))
    if fail:
        raise ValueError(fail)
    while until_asked and not (stop.is_set() or cancel.wait(0.02)):
        pass
    if cancel.is_set():
        raise TrainingCancelled()
    report(Progress(phase="done", epoch=epochs, epochs=epochs))
    return result
