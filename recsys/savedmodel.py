"""A TensorFlow SavedModel of a stored run that plain TensorFlow (or TF Serving) can serve.

The export is a `tf.Module` holding the run's weights as variables and two signatures written in
raw TensorFlow ops, so loading it needs neither this project nor Keras:

`serving_default` — anyone, described by a history:

    inputs   history  string  [batch, length]  item ids, oldest first; "" (or any unknown id) is padding
             alpha    float32 [batch]          CF weight α of each row, in [0, 1]
    outputs  item_ids        string  [batch, k]  the top-k unseen items, best first
             scores          float32 [batch, k]  α·cf + (1−α)·content
             cf_scores       float32 [batch, k]
             content_scores  float32 [batch, k]
             known_items     int32   [batch]     how many history entries were catalogue items

`known_users` — the same plus `user_id` string [batch]: a user of the training data also gets
their learned per-user CF offset, exactly as `recsys.serving.recommend` scores them; an unknown id
(or "") is served as in `serving_default`. By default a run has no such offset (its CF user vector is
the fold-in of the user's recent items, `TrainConfig.cf_user_offset`), so `serving_default` given a
user's history already returns `recommend`'s list and `known_users` returns the same.

For each row the signatures do what `recsys.serving` does:

    CF user vector   = `cf_user_from_history` (the one place that mirrors the model's fold-in),
                       plus the user's learned offset in `known_users`
    LSTM user vector = the run's LSTM over the content vectors of the last `seq_len` known items,
                       then the dense layer (recomputed in TensorFlow from the weights)
    cf(i)      = <cf user, V_i> + b_i          content(i) = <LSTM user, C_i> + c_i
    score(i)   = α·cf(i) + (1−α)·content(i), −inf for items in the history, then top-k.

Rows with fewer than k unseen items get −inf scores (and arbitrary ids) at the end of their list.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from recsys.data import DataError
from recsys.serving import default_alpha
from recsys.store import RunStoreError, load_run

__all__ = ["KNOWN_USERS_SIGNATURE", "SIGNATURE", "SavedModelError", "cf_user_from_history", "cf_user_weights",
           "export_savedmodel", "last_known_items", "lstm_weights"]

SIGNATURE = "serving_default"
KNOWN_USERS_SIGNATURE = "known_users"


class SavedModelError(DataError):
    """A run that cannot be exported as a SavedModel; the message says why."""


def last_known_items(item_index, valid, *, seq_len: int):
    """The last `seq_len` known items of each history row, left-padded, as the LSTM reads them.

    Args:
        item_index: int64 `[batch, length]` catalogue indices (any value where not valid).
        valid: bool `[batch, length]`, True where the entry is a known item; gaps may be anywhere.

    Returns:
        int64 `[batch, seq_len]`: item index + 1, 0 = padding (`recsys.features.last_sequences`' layout).
        Example: indices [[4, -1, 7]] with seq_len 4 give [[0, 0, 5, 8]].
    """
    import tensorflow as tf

    count = tf.cumsum(tf.cast(valid, tf.int64), axis=1)
    from_end = count[:, -1:] - count  # 0 for the last known item of the row
    keep = tf.logical_and(valid, from_end < seq_len)
    where = tf.where(keep)  # [m, 2] (row, position)
    cols = seq_len - 1 - tf.gather_nd(from_end, where)
    batch = tf.shape(item_index, out_type=tf.int64)[0]
    return tf.scatter_nd(tf.stack([where[:, 0], cols], axis=1), tf.gather_nd(item_index, where) + 1,
                         tf.stack([batch, tf.constant(seq_len, tf.int64)]))


def cf_user_from_history(*, fold_in_table, cf_item, item_index, valid, last_items):
    """The CF user vector of each history row `[batch, dim]` in TensorFlow, with no per-user offset.

    This mirrors the serving code for a user given only as a history
    (`recsys.serving.ColdStartScorer.new_user_vectors`); keep the two in step:

    - runs whose model folds the CF user vector in from the user's items (`cf_context` table Y):
      |S|^(-1/2) · Σ_{j ∈ S} Y_j over S = the last `seq_len` known items, repeats included
      (`recsys.models.fold_in_cf_vector`, `HybridRecommender.cf_fold_in_states`);
    - older runs (a free CF vector per user and nothing to fold in): the mean of the CF item
      vectors of every known history entry.

    Args:
        fold_in_table: `[n_items, dim]` Y, or None for an older run.
        cf_item: `[n_items, dim]` the run's stored CF item vectors V.
        item_index: int64 `[batch, length]` catalogue index of each history entry (-1 where unknown).
        valid: bool `[batch, length]`, True where the entry is a known item.
        last_items: int64 `[batch, seq_len]` the last `seq_len` known items, item index + 1, 0 = padding.
    """
    import tensorflow as tf

    if fold_in_table is not None:
        present = tf.cast(last_items > 0, tf.float32)
        vectors = tf.gather(fold_in_table, tf.maximum(last_items - 1, 0)) * present[:, :, None]
        count = tf.reduce_sum(present, axis=1, keepdims=True)
        return tf.reduce_sum(vectors, axis=1) / tf.sqrt(tf.maximum(count, 1.0))
    weights = tf.cast(valid, tf.float32)
    vectors = tf.gather(cf_item, tf.where(valid, item_index, tf.zeros_like(item_index)))  # [b, L, d]
    total = tf.reduce_sum(vectors * weights[:, :, None], axis=1)
    return total / tf.maximum(tf.reduce_sum(weights, axis=1, keepdims=True), 1.0)


def lstm_weights(model) -> dict:
    """The numpy weights of the run's user tower: LSTM kernel, recurrent kernel, bias and output dense.

    Raises SavedModelError if the LSTM is not the plain one the exported ops reimplement.
    """
    lstm = model.user_tower.rnn
    if model.user_tower.cell_type != "lstm":
        raise SavedModelError(f"cannot export: the user tower is a {model.user_tower.cell_type.upper()}; the SavedModel "
                              "reimplements the LSTM user tower only (train with the LSTM to export)")
    config = lstm.get_config()
    plain = {"activation": "tanh", "recurrent_activation": "sigmoid", "use_bias": True, "go_backwards": False}
    for key, value in plain.items():
        if config.get(key) != value:
            raise SavedModelError(f"cannot export: the LSTM has {key}={config.get(key)!r}; the SavedModel reimplements "
                                  f"{key}={value!r} only")
    cell = lstm.cell
    return {"kernel": _np(cell.kernel), "recurrent_kernel": _np(cell.recurrent_kernel), "bias": _np(cell.bias),
            "dense_kernel": _np(model.user_tower.dense.kernel), "dense_bias": _np(model.user_tower.dense.bias)}


CF_USER_KIND = {(True, False): "fold-in of the history", (True, True): "offset + fold-in",
                (False, True): "free vector per user"}


def cf_user_weights(model) -> dict:
    """The CF user side: `user_offsets` U `[n_users, dim]` (zeros when the model has none, the default),
    and `fold_in_table` Y `[n_items, dim]` (None when the model has no fold-in; then U is the whole CF
    user vector)."""
    context, offsets = model.cf_context_table(), model.cf_user_table()
    return {"user_offsets": _np(offsets) if offsets is not None else np.zeros((model.n_users, model.dim), np.float32),
            "has_offset": offsets is not None, "fold_in_table": _np(context) if context is not None else None}


def _np(weight) -> np.ndarray:
    import keras

    return np.asarray(keras.ops.convert_to_numpy(weight), np.float32)


def _serving_module(*, item_ids, user_ids, cf_item, cf_bias, content_item, content_bias, weights, cf_user,
                    seq_len: int, k: int):
    import tensorflow as tf

    n_items, n_users, units = len(item_ids), len(user_ids), weights["recurrent_kernel"].shape[0]
    as_strings = lambda ids: tf.constant(np.asarray(ids, dtype=object).astype(str))  # noqa: E731
    fold_in = cf_user["fold_in_table"] is not None

    class HybridServing(tf.Module):
        """Top-k of the hybrid for raw item-id histories; see recsys.savedmodel for the maths."""

        def __init__(self):
            super().__init__(name="recsys_hybrid")
            const = lambda name, value: tf.Variable(value, trainable=False, name=name)  # noqa: E731
            self.item_ids = const("item_ids", as_strings(item_ids))
            self.cf_item = const("cf_item", cf_item)
            self.cf_bias = const("cf_bias", cf_bias)
            self.content_item = const("content_item", content_item)
            self.content_bias = const("content_bias", content_bias)
            self.user_offsets = const("cf_user_offsets", cf_user["user_offsets"])
            self.fold_in_table = const("cf_fold_in_table", cf_user["fold_in_table"]) if fold_in else None
            self.has_offset = bool(cf_user["has_offset"])
            # The LSTM input projection of every item at once (row 0 = padding): x·W + b, [n_items + 1, 4·units].
            projected = np.concatenate([np.zeros((1, content_item.shape[1]), np.float32), content_item]) \
                @ weights["kernel"] + weights["bias"]
            self.input_projection = const("lstm_input_projection", projected.astype(np.float32))
            self.recurrent_kernel = const("lstm_recurrent_kernel", weights["recurrent_kernel"])
            self.dense_kernel = const("user_dense_kernel", weights["dense_kernel"])
            self.dense_bias = const("user_dense_bias", weights["dense_bias"])
            self.item_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                as_strings(item_ids), tf.range(n_items, dtype=tf.int64)), default_value=-1)
            self.user_table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(
                as_strings(user_ids), tf.range(n_users, dtype=tf.int64)), default_value=-1)
            self.seq_len, self.k = int(seq_len), int(min(k, n_items))

        def _lstm_user(self, sequence):
            """The LSTM user vector after the last item `[b, dim]` (Keras LSTM: gates i, f, c, o; masked steps carry the state)."""
            batch = tf.shape(sequence)[0]
            h = tf.zeros(tf.stack([batch, units]))
            c = tf.zeros(tf.stack([batch, units]))
            for t in range(self.seq_len):
                step = sequence[:, t]
                z = tf.gather(self.input_projection, step) + tf.matmul(h, self.recurrent_kernel)
                i, f, g, o = tf.split(z, 4, axis=1)
                c_new = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
                h_new = tf.sigmoid(o) * tf.tanh(c_new)
                mask = (step > 0)[:, None]
                h, c = tf.where(mask, h_new, h), tf.where(mask, c_new, c)
            return tf.matmul(h, self.dense_kernel) + self.dense_bias

        def _top_k(self, history, alpha, user_id=None):
            index = self.item_table.lookup(history)
            valid = index >= 0
            last_items = last_known_items(index, valid, seq_len=self.seq_len)
            cf_user = cf_user_from_history(fold_in_table=self.fold_in_table, cf_item=self.cf_item, item_index=index,
                                           valid=valid, last_items=last_items)
            if user_id is not None:
                user = self.user_table.lookup(user_id)
                offset = tf.gather(self.user_offsets, tf.maximum(user, 0))
                # A known user: their offset plus the fold-in, or (older runs) their free vector alone.
                known_vector = offset + cf_user if fold_in else offset
                cf_user = tf.where((user >= 0)[:, None], known_vector, cf_user)
            cf = tf.matmul(cf_user, self.cf_item, transpose_b=True) + self.cf_bias
            content = tf.matmul(self._lstm_user(last_items), self.content_item, transpose_b=True) + self.content_bias
            # recsys.serving.blend, written in raw TF: the SavedModel must not need this project's code
            scores = alpha[:, None] * cf + (1.0 - alpha[:, None]) * content
            seen = tf.where(valid)
            seen_items = tf.stack([seen[:, 0], tf.gather_nd(index, seen)], axis=1)
            scores = tf.tensor_scatter_nd_update(scores, seen_items,
                                                 tf.fill(tf.shape(seen_items)[:1], tf.constant(-np.inf, tf.float32)))
            top_scores, top = tf.math.top_k(scores, k=self.k)
            return {"item_ids": tf.gather(self.item_ids, top), "scores": top_scores,
                    "cf_scores": tf.gather(cf, top, batch_dims=1), "content_scores": tf.gather(content, top, batch_dims=1),
                    "known_items": tf.reduce_sum(tf.cast(valid, tf.int32), axis=1)}

        @tf.function(input_signature=[tf.TensorSpec([None, None], tf.string, name="history"),
                                      tf.TensorSpec([None], tf.float32, name="alpha")])
        def serve(self, history, alpha):
            return self._top_k(history, alpha)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="user_id"),
                                      tf.TensorSpec([None, None], tf.string, name="history"),
                                      tf.TensorSpec([None], tf.float32, name="alpha")])
        def serve_known_users(self, user_id, history, alpha):
            return self._top_k(history, alpha, user_id)

    return HybridServing()


def export_savedmodel(run_dir, out, *, k: int = 10) -> Path:
    """Writes the run at `run_dir` as a TensorFlow SavedModel folder `out` (atomically) with
    `serving_default` and `known_users`.

    Args:
        k: list length of the signature (capped at the catalogue size).

    Raises SavedModelError for a missing run, a bad k or an existing non-empty `out`.
    """
    if int(k) < 1:
        raise SavedModelError(f"k must be at least 1, got {k}")
    out = Path(out)
    if out.exists() and not (out.is_dir() and not any(out.iterdir())):
        raise SavedModelError(f"cannot write the SavedModel to {out}: it exists and is not an empty folder; "
                              "choose a new folder")
    try:
        run = load_run(run_dir)
    except RunStoreError as e:
        raise SavedModelError(str(e)) from e
    import tensorflow as tf

    v = run.vectors
    model = run.load_model()
    module = _serving_module(item_ids=run.item_ids, user_ids=run.user_ids, cf_item=np.asarray(v.cf_item, np.float32),
                             cf_bias=np.asarray(v.cf_bias, np.float32),
                             content_item=np.asarray(v.content_item, np.float32),
                             content_bias=np.asarray(v.content_bias, np.float32),
                             weights=lstm_weights(model), cf_user=cf_user_weights(model),
                             seq_len=int(run.config["seq_len"]), k=int(k))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".tmp-{out.name}-{uuid.uuid4().hex[:8]}"
    try:
        tf.saved_model.save(module, str(tmp), signatures={SIGNATURE: module.serve,
                                                          KNOWN_USERS_SIGNATURE: module.serve_known_users})
        (tmp / "assets.extra").mkdir(exist_ok=True)
        (tmp / "assets.extra" / "recsys_run.json").write_text(json.dumps(
            {"run_id": run.run_id, "dataset": run.fingerprint.get("dataset"), "k": module.k,
             "cf_user": CF_USER_KIND[(module.fold_in_table is not None, module.has_offset)],
             "seq_len": module.seq_len, "default_alpha": default_alpha(run), "n_items": run.n_items}, indent=2))
        if out.exists():
            out.rmdir()  # an empty folder (checked above)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out
