"""The serving vectors of a trained model: both parts' user and item vectors, computed in batches.

One place turns a model plus users' recent items into `ServingVectors`: each epoch's validation, the
α choice and a run's served and test-time vectors all come from here.
"""

from __future__ import annotations

import weakref

import keras
import numpy as np
import pandas as pd

from recsys.features import last_sequences
from recsys.models import HybridRecommender
from recsys.serving import ServingVectors


def as_float32(x) -> np.ndarray:
    """A backend tensor (or variable) as a float32 numpy array."""
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float32)


GRAPH_PASSES_MIN_ITEMS = 8192  # from this catalogue size the serving passes run as traced graphs (TensorFlow)
_GRAPH_PASSES: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()  # model -> its traced passes


def serving_passes(model: HybridRecommender):
    """(item pass `ids [m] -> C [m, dim]`, user pass `(users [b], sequences [b, L], C) -> (seq [b, dim], cf [b, dim])`).

    On TensorFlow, for catalogues of `GRAPH_PASSES_MIN_ITEMS` items and more, both are traced once per
    model (`tf.function`): op by op they took 2-3x as long at 50k items (text CNN 0.9 -> 0.45 s, the
    LSTM of 1,000 users 0.3 -> 0.09 s), every epoch's validation and the final vectors included. The
    traced passes give the same vectors up to float rounding (~1e-7: a graph may fuse ops); below that
    size tracing (~0.8 s) costs more than it saves. The passes hold the model weakly, so the cache does
    not keep a model alive.
    """
    passes = _GRAPH_PASSES.get(model)
    if passes is not None:
        return passes
    ref = weakref.ref(model)

    def item_pass(ids):
        return ref().item_vectors_for(ids, training=False)

    def user_pass(users, sequences, item_vectors):
        m = ref()
        return m.sequence_states(sequences, item_vectors, training=False)[:, -1, :], m.cf_user_vectors(users, sequences)

    if keras.backend.backend() == "tensorflow" and model.n_items >= GRAPH_PASSES_MIN_ITEMS:
        import tensorflow as tf

        item_pass, user_pass = tf.function(item_pass, reduce_retracing=True), tf.function(user_pass, reduce_retracing=True)
    _GRAPH_PASSES[model] = passes = (item_pass, user_pass)
    return passes


def catalogue_item_vectors(model: HybridRecommender, chunk: int = 8192):
    """The content vectors C `[n_items, dim]` of the whole catalogue, `chunk` items at a time (bounded memory)."""
    item_pass = serving_passes(model)[0]
    parts = [item_pass(keras.ops.arange(start, min(start + chunk, model.n_items), dtype="int32"))
             for start in range(0, model.n_items, chunk)]
    return parts[0] if len(parts) == 1 else keras.ops.concatenate(parts, axis=0)


def compute_serving_vectors(model: HybridRecommender, sequences: np.ndarray, *, batch_size: int = 2048,
                            item_vectors=None, users: np.ndarray | None = None) -> ServingVectors:
    """All user and item vectors of both parts; cold items keep their content vector only.

    `sequences` `[n_users, L]` (row = user index) are what the LSTM reads and what the CF user vector
    folds in: cf_user[u] = U_u + |S_u|^(-1/2) Σ_{j ∈ S_u} Y_j (`recsys.models.fold_in_cf_vector`).
    `item_vectors`: the catalogue's content vectors C when already computed for these weights (they
    do not depend on the sequences; the text CNN over a 50k-item catalogue takes about half a second).
    `users`: the user index of each row of `sequences` (default: row i is user i); the user vectors
    then follow the rows.
    """
    trained = as_float32(model.item_trained) > 0.5
    if item_vectors is None:
        item_vectors = catalogue_item_vectors(model)
    user_pass = serving_passes(model)[1]
    seq_user, cf_user = [], []
    for start in range(0, len(sequences), batch_size):
        rows = np.asarray(sequences[start : start + batch_size]).astype(np.int32)
        ids = np.arange(start, start + len(rows)) if users is None else np.asarray(users)[start : start + len(rows)]
        seq_vectors, cf_vectors = user_pass(keras.ops.convert_to_tensor(ids.astype(np.int32)),
                                            keras.ops.convert_to_tensor(rows), item_vectors)
        seq_user.append(as_float32(seq_vectors))
        cf_user.append(as_float32(cf_vectors))
    seq_user = np.concatenate(seq_user) if seq_user else np.zeros((0, model.dim), np.float32)
    cf_user = np.concatenate(cf_user) if cf_user else np.zeros((0, model.dim), np.float32)
    cf_item = as_float32(model.cf_item_table()).copy()
    cf_bias = as_float32(model.cf_bias).copy()
    content_bias = as_float32(model.content_bias).copy()
    if trained.any() and not trained.all():
        cf_item[~trained] = 0.0
        cf_bias[~trained] = cf_bias[trained].min()  # no CF evidence: last place in the CF part
        content_bias[~trained] = np.median(content_bias[trained])  # ranked by text/categories alone
    return ServingVectors(
        cf_user=cf_user, cf_item=cf_item, cf_bias=cf_bias,
        seq_user=seq_user, content_item=as_float32(item_vectors), content_bias=content_bias,
    )


def serving_vectors_for(model: HybridRecommender, events: pd.DataFrame, *, n_users: int, seq_len: int,
                        item_vectors=None) -> ServingVectors:
    """The serving vectors of every user after `events` (each user's last `seq_len` events) and of every item.

    The one place that turns a trained model plus a set of events into `ServingVectors`: a run's
    test-time vectors (history before each test event) and its served vectors (every event) both come
    from here.
    """
    return compute_serving_vectors(model, last_sequences(events, n_users=n_users, seq_len=seq_len),
                                   item_vectors=item_vectors)
