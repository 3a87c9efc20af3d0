"""The hybrid recommender: three towers plus the next-item task that owns the loss.

    cf(u, i)      = <U'_u, V_i> + b_i                     (CFTower)
    content(u, i) = <SeqUser(C of u's last L items), C_i> + c_i   (SequenceUserTower over ItemContentTower)
    m̂(u, i)       = α · cf(u, i) + (1 − α) · content(u, i)   (blended at serving time, `recsys.serving.blend`)

The sequence tower reads the content vectors C of the items in the sequence (input and output item
vectors are tied), so an item's text shapes both how it is recommended and how it shapes a user's
interest. Everything is written with `keras.ops`, so the model runs on any Keras backend.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from recsys.models.tasks import NextItemTask, catalogue_mask
from recsys.models.towers import CFTower, ItemContentTower, SequenceUserTower

MODEL_FORMAT = 2  # 1: one flat model (before the towers); `recsys.models.saving` still loads it


def position_scores(states, item_vectors):
    """`[B, L, d] · [n, d]ᵀ -> [B, L, n]`: every window position's score for every given item.

    One 2-D matmul of the flattened positions: TensorFlow runs the equivalent einsum as a broadcast
    batched matmul, which took 5x as long on a 2-core CPU (173 of a 433 ms shape-c step, fwd + bwd).
    """
    shape = ops.shape(states)
    flat = ops.matmul(ops.reshape(states, (-1, shape[-1])), ops.transpose(item_vectors))
    return ops.reshape(flat, (shape[0], shape[1], ops.shape(item_vectors)[0]))


@keras.saving.register_keras_serializable(package="recsys")
class HybridRecommender(keras.Model):
    """MF + a sequence user model + a text-CNN item model, trained with two next-item softmax losses.

    Inputs (a dict): `user` int [B], `inputs` int [B, L] (item index + 1, 0 = padding), and in
    training `targets` int [B, L] (the sampled softmax builds its candidates from them).
    Outputs (a dict): `cf` and `content` logits [B, L, n_items] (sampled: [B, L, 1 + K + M], the
    target first, plus `labels` and `candidates`).

    Item features (tokens, categories, has-text flags, the trained-item mask) are stored in the model
    as non-trainable weights, so a saved `.keras` file carries everything needed to score.

    Args:
        user_cell: the sequence tower's recurrent cell, "lstm" or "gru".
        cf_fold_in: add the folded-in item part to every CF user vector (`CFTower`).
        cf_user_offset: keep a free per-user CF offset U_u next to the fold-in (False: the CF user
            vector is the fold-in of the user's recent items alone).
        log_q: correct sampled logits by the candidates' sampling probability (`NextItemTask`).
        num_sampled: uniform negatives per step; 0 = full softmax.
        num_in_batch: in-batch negatives per sampled step, drawn from the batch's targets (0 = all of them).
    """

    def __init__(self, *, n_users, n_items, vocab_size, text_len, n_categories, dim=64, lstm_units=128,
                 word_dim=32, cnn_filters=64, kernel_size=3, dropout=0.2, num_sampled=0, seed=0,
                 cf_fold_in=False, log_q=False, user_cell="lstm", cf_user_offset=True, num_in_batch=0, **kwargs):
        kwargs.pop("model_format", None)
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.vocab_size, self.text_len = n_users, n_items, vocab_size, text_len
        self.n_categories, self.dim, self.lstm_units, self.word_dim = n_categories, dim, lstm_units, word_dim
        self.cnn_filters, self.kernel_size, self.dropout_rate = cnn_filters, kernel_size, dropout
        self.num_sampled, self.seed, self.cf_fold_in, self.log_q = num_sampled, seed, bool(cf_fold_in), bool(log_q)
        self.num_in_batch = int(num_in_batch)
        self.user_cell, self.cf_user_offset = user_cell, bool(cf_user_offset) or not self.cf_fold_in
        self.cf_tower = CFTower(n_users=n_users, n_items=n_items, dim=dim, fold_in=cf_fold_in,
                                user_offset=cf_user_offset, name="cf_tower")
        self.item_tower = ItemContentTower(n_items=n_items, vocab_size=vocab_size, n_categories=n_categories,
                                           dim=dim, word_dim=word_dim, cnn_filters=cnn_filters,
                                           kernel_size=kernel_size, dropout=dropout / 2, name="item_tower")
        self.user_tower = SequenceUserTower(dim=dim, units=lstm_units, cell=user_cell, dropout=dropout,
                                            name="user_tower")
        self.task = NextItemTask(n_items=n_items, num_sampled=num_sampled, log_q=log_q, seed=seed,
                                 num_in_batch=num_in_batch, name="task")

    def build(self, input_shape=None):
        n = self.n_items
        self.cf_bias = self.add_weight(shape=(n,), initializer="zeros", name="cf_bias")
        self.content_bias = self.add_weight(shape=(n,), initializer="zeros", name="content_bias")
        self.item_tokens = self.add_weight(shape=(n, self.text_len), dtype="int32", initializer="zeros",
                                           trainable=False, name="item_tokens")
        self.item_categories = self.add_weight(shape=(n, self.n_categories), initializer="zeros",
                                               trainable=False, name="item_categories")
        self.item_has_text = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="item_has_text")
        self.item_trained = self.add_weight(shape=(n,), initializer="ones", trainable=False, name="item_trained")
        self.cf_tower.build()
        self.item_tower.build()
        self.user_tower.build()
        self.task.build()
        self.built = True

    def set_item_features(self, features, trained_mask):
        """Copies per-item inputs (an `ItemFeatures`) and the trained-item mask into the model."""
        if not self.built:
            self.build()
        self.item_tokens.assign(np.asarray(features.tokens, np.int32))
        self.item_categories.assign(np.asarray(features.categories, np.float32))
        self.item_has_text.assign(np.asarray(features.has_text, np.float32))
        self.item_trained.assign(np.asarray(trained_mask, np.float32))

    def set_sampling_distribution(self, target_counts):
        """Stores each item's share of the training target slots for the logQ correction (`NextItemTask`)."""
        self.task.set_sampling_distribution(target_counts)

    # ----- the tables the serving code reads ---------------------------------------------------
    def cf_user_table(self):
        """U `[n_users, dim]`: the free per-user CF offsets, or None when the CF user vector is the fold-in alone."""
        embedding = self.cf_tower.user_embedding
        return embedding.embeddings if embedding is not None else None

    def cf_item_table(self):
        """V `[n_items, dim]`: the CF item vectors."""
        return self.cf_tower.item_embedding.embeddings

    def cf_context_table(self):
        """Y `[n_items, dim]`: the fold-in table, or None without fold-in."""
        return self.cf_tower.context.embeddings if self.cf_tower.context is not None else None

    # ----- towers -----------------------------------------------------------------------------
    def content_item_vectors(self, training=False, tokens=None, categories=None, has_text=None, id_scale=None):
        """C `[n, dim]` for the catalogue, or for given raw item features (cold items, new text)."""
        if tokens is None:
            tokens, categories = self.item_tokens, self.item_categories
            has_text, id_scale = self.item_has_text, self.item_trained
        return self.item_tower(tokens, categories, has_text, id_scale, training=training)

    def item_vectors_for(self, ids, training=False):
        """C for the given item indices `[m]` -> `[m, dim]` (runs the tower on those items only)."""
        return self.item_tower(ops.take(self.item_tokens, ids, axis=0), ops.take(self.item_categories, ids, axis=0),
                               ops.take(self.item_has_text, ids, axis=0), ops.take(self.item_trained, ids, axis=0),
                               ids=ids, training=training)

    def sequence_states(self, inputs, item_vectors, training=False):
        """Sequence user vectors at every position `[B, L, dim]` from padded item sequences `[B, L]`."""
        padded = ops.concatenate([ops.zeros((1, self.dim), dtype=item_vectors.dtype), item_vectors], axis=0)
        return self.user_tower(ops.take(padded, inputs, axis=0), inputs, training=training)

    def sequence_user_vectors(self, inputs, training=False):
        """Sequence user vector after the last item of each sequence `[B, dim]`."""
        item_vectors = self.content_item_vectors(training=training)
        return self.sequence_states(inputs, item_vectors, training=training)[:, -1, :]

    def cf_user_states(self, users, inputs):
        """CF user vectors U'_u at every window position `[B, L, dim]` (float32)."""
        return self.cf_tower(users, inputs)

    def cf_user_vectors(self, users, inputs):
        """The served CF user vectors `[B, dim]`: U_u plus the fold-in of the whole sequence `[B, L]`."""
        return self.cf_user_states(users, inputs)[:, -1, :]

    # ----- training ---------------------------------------------------------------------------
    def call(self, data, training=False):
        users, inputs = data["user"], data["inputs"]
        if self.num_sampled and training and "targets" in data:
            return self.sampled_logits(users, inputs, data["targets"], training=training)
        f32 = "float32"  # logits, biases and the mask in float32 (mixed precision keeps them exact)
        item_vectors = self.content_item_vectors(training=training)
        states = self.sequence_states(inputs, item_vectors, training=training)
        mask = catalogue_mask(self.item_trained)
        content = ops.cast(position_scores(states, item_vectors), f32)
        content = content + ops.cast(self.content_bias, f32) + mask
        cf = position_scores(self.cf_user_states(users, inputs), self.cf_tower.item_vectors())
        cf = cf + ops.cast(self.cf_bias, f32) + mask
        return {"cf": cf, "content": content}

    def sampled_logits(self, users, inputs, targets, training):
        """Logits of each position's target (column 0) and the step's shared negatives (`NextItemTask.sample`):
        {"cf", "content": [B, L, 1 + K + M], "labels": zeros [B, L], "candidates": the negatives' item
        indices [K + M]}. The item tower runs once per target slot, window first input and uniform negative."""
        f32 = "float32"
        step = self.task.sample(inputs, targets)
        vectors = self.item_vectors_for(step["items"], training=training)  # [P + B + M, d]
        x = ops.take(vectors, step["input_slots"], axis=0)
        x = x * ops.cast(ops.not_equal(inputs, 0), x.dtype)[..., None]
        states = self.user_tower(x, inputs, training=training)
        rows = step["negative_rows"]
        negatives = ops.take(step["items"], rows, axis=0)  # [K + M]
        n_slots = ops.shape(inputs)[0] * ops.shape(inputs)[1]
        slot_valid = ops.cast(ops.reshape(ops.not_equal(inputs, 0), (-1,)), f32)
        negative_valid = ops.take(ops.concatenate([slot_valid, ops.ones((ops.shape(vectors)[0] - n_slots,), f32)]),
                                  rows, axis=0)
        mask, q = self.task.sampled_adjustment(targets, negatives, self.item_trained, negative_valid)
        targets = ops.cast(targets, "int32")
        target_vectors = ops.reshape(vectors[:n_slots], ops.shape(states))
        content_target = ops.sum(states * target_vectors, axis=-1, keepdims=True)
        content = position_scores(states, ops.take(vectors, rows, axis=0))
        content = ops.cast(ops.concatenate([content_target, content], axis=2), f32)
        content = content + self._bias_columns(self.content_bias, targets, negatives)
        cf_states = self.cf_user_states(users, inputs)
        cf_target = ops.sum(cf_states * self.cf_tower.item_vectors(targets), axis=-1, keepdims=True)
        cf = ops.concatenate([cf_target, position_scores(cf_states, self.cf_tower.item_vectors(negatives))],
                             axis=2)
        cf = cf + self._bias_columns(self.cf_bias, targets, negatives)
        labels = ops.zeros(ops.shape(targets), "int32")
        return {"cf": self.task.correct(cf, mask, q), "content": self.task.correct(content, mask, q),
                "labels": labels, "candidates": negatives}

    @staticmethod
    def _bias_columns(bias, targets, negatives):
        """A per-item bias laid out like the sampled logits: the target's, then every negative's `[B, L, 1 + K + M]`."""
        bias = ops.cast(bias, "float32")
        target_bias = ops.take(bias, targets, axis=0)[:, :, None]
        negative_bias = ops.take(bias, negatives, axis=0)[None, None, :]
        return ops.concatenate([target_bias, ops.zeros_like(target_bias) + negative_bias], axis=2)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The task's loss (both parts), plus any layer losses."""
        labels = y_pred["labels"] if "labels" in y_pred else y["targets"]
        loss = self.task.loss(labels, y_pred, y["weights"])
        return loss + ops.sum(self.losses) if self.losses else loss

    def get_config(self):
        return {
            "n_users": self.n_users, "n_items": self.n_items, "vocab_size": self.vocab_size,
            "text_len": self.text_len, "n_categories": self.n_categories, "dim": self.dim,
            "lstm_units": self.lstm_units, "word_dim": self.word_dim, "cnn_filters": self.cnn_filters,
            "kernel_size": self.kernel_size, "dropout": self.dropout_rate, "num_sampled": self.num_sampled,
            "seed": self.seed, "cf_fold_in": self.cf_fold_in, "log_q": self.log_q, "user_cell": self.user_cell,
            "cf_user_offset": self.cf_user_offset, "num_in_batch": self.num_in_batch, "model_format": MODEL_FORMAT,
            "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
