"""The three towers of the hybrid: CF vectors, item content vectors and a sequence user model.

    CFTower:           cf user U'_u = U_u + |S_u|^(-1/2) · Σ_{j ∈ S_u} Y_j,  cf item V_i
    ItemContentTower:  C_i = E_i + [has_text_i] · Dense(GlobalMaxPool(Conv1D(WordEmb(tokens_i)))) + Dense(categories_i)
    SequenceUserTower: h_l = Dense(RNN(C of the items up to l)), RNN = LSTM (default) or GRU

Each is a small Keras layer written in `keras.ops`, with `get_config`, so it runs on any backend and
a `HybridRecommender` can swap one without touching the others or the task that owns the loss.
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers, ops

from recsys.config import USER_CELLS


def _init():
    return keras.initializers.RandomNormal(stddev=0.05)


def fold_in_cf_vector(context, item_indices, *, seq_len: int) -> np.ndarray:
    """The folded-in part of a CF user vector: |S|^(-1/2) · Σ_{j ∈ S} Y_j, S = the last `seq_len` items.

    Args:
        context: the fold-in table Y `[n_items, d]` (`HybridRecommender.cf_context_table()`).
        item_indices: the user's item indices, oldest first (repeats count each time).
        seq_len: how many of the most recent items are folded in (the run's `seq_len`).

    Returns:
        float32 `[d]`; zeros for an empty history. Example: items [3, 5] give (Y_3 + Y_5) / √2.
    """
    context = np.asarray(context, np.float32)
    items = np.asarray(list(item_indices), np.int64)[-seq_len:]
    if len(items) == 0:
        return np.zeros(context.shape[1], np.float32)
    return context[items].sum(axis=0) / np.float32(np.sqrt(len(items)))


@keras.saving.register_keras_serializable(package="recsys")
class CFTower(layers.Layer):
    """Matrix-factorisation vectors: item vectors V, the fold-in table Y and optionally a free user offset U.

    The CF user vector at window position l folds in the window's items up to l (FISM / asymmetric
    SVD style), so users with few events still get a learned vector. Without the offset
    (`user_offset=False`) the CF user vector is a function of the user's recent items alone, so a
    trained user and the same history given as a new user score identically (the SavedModel serves
    histories). `fold_in=False` keeps plain MF (U alone).
    """

    def __init__(self, *, n_users, n_items, dim=64, fold_in=True, user_offset=True, **kwargs):
        super().__init__(**kwargs)
        self.n_users, self.n_items, self.dim, self.fold_in = n_users, n_items, dim, bool(fold_in)
        self.user_offset = bool(user_offset) or not self.fold_in  # plain MF needs its user vectors
        self.user_embedding = (layers.Embedding(n_users, dim, embeddings_initializer=_init(), name="cf_user")
                               if self.user_offset else None)
        self.item_embedding = layers.Embedding(n_items, dim, embeddings_initializer=_init(), name="cf_item")
        self.context = (layers.Embedding(n_items, dim, embeddings_initializer=_init(), name="cf_context")
                        if self.fold_in else None)

    def build(self, input_shape=None):
        if self.user_embedding is not None:
            self.user_embedding.build((None,))
        self.item_embedding.build((None,))
        if self.context is not None:
            self.context.build((None,))
        self.built = True

    def fold_in_states(self, inputs):
        """|S_l|^(-1/2) Σ_{j ∈ S_l} Y_j at every position `[B, L, dim]`; `inputs` = item index + 1, 0 = padding."""
        present = ops.cast(ops.not_equal(inputs, 0), "float32")
        # a gather then a mask, not a zero row concatenated onto the table: that copied the whole
        # table every step (25 MB at 50k items), forward and backward
        y = ops.cast(ops.take(self.context.embeddings, ops.maximum(inputs - 1, 0), axis=0), "float32")
        total = ops.cumsum(y * present[..., None], axis=1)
        count = ops.cumsum(present, axis=1)
        return total / ops.sqrt(ops.maximum(count, 1.0))[..., None]

    def call(self, users, inputs):
        """CF user vectors U'_u at every window position `[B, L, dim]` (float32)."""
        if self.user_embedding is None:
            return self.fold_in_states(inputs)
        u = ops.cast(self.user_embedding(users), "float32")[:, None, :]
        if self.context is None:
            return ops.broadcast_to(u, (ops.shape(inputs)[0], ops.shape(inputs)[1], self.dim))
        return u + self.fold_in_states(inputs)

    def item_vectors(self, ids=None):
        """V `[n_items, dim]`, or V of the given item indices `[m, dim]` (float32)."""
        table = ops.cast(self.item_embedding.embeddings, "float32")
        return table if ids is None else ops.take(table, ids, axis=0)

    def get_config(self):
        config = super().get_config()
        config.update(n_users=self.n_users, n_items=self.n_items, dim=self.dim, fold_in=self.fold_in,
                      user_offset=self.user_offset)
        return config


@keras.saving.register_keras_serializable(package="recsys")
class ItemContentTower(layers.Layer):
    """Item content vectors `[n, dim]` from token ids, categories and an id embedding.

    Args:
        n_items: catalogue size.
        vocab_size: text vocabulary size (0 = padding, 1 = out of vocabulary).
        n_categories: width of the category multi-hot input.
        dim: output vector size.
        word_dim: word embedding size.
        cnn_filters, kernel_size: Conv1D shape.
        dropout: dropout on the text features during training.
    """

    def __init__(self, *, n_items, vocab_size, n_categories, dim=64, word_dim=32, cnn_filters=64,
                 kernel_size=3, dropout=0.1, **kwargs):
        super().__init__(**kwargs)
        self.n_items = n_items
        self.vocab_size = vocab_size
        self.n_categories = n_categories
        self.dim = dim
        self.word_dim = word_dim
        self.cnn_filters = cnn_filters
        self.kernel_size = kernel_size
        self.dropout_rate = dropout
        # Zeros: an item's content vector starts as its text and categories alone. A random id vector is
        # noise that a rarely seen item keeps for epochs (at 50k items each item is a target ~2 times an
        # epoch); the text and category parts already make the items differ, so nothing needs symmetry breaking.
        self.id_embedding = layers.Embedding(n_items, dim, embeddings_initializer="zeros", name="id_embedding")
        self.word_embedding = layers.Embedding(vocab_size, word_dim, name="word_embedding")
        self.conv = layers.Conv1D(cnn_filters, kernel_size, padding="same", activation="relu", name="conv")
        self.text_dense = layers.Dense(dim, name="text_dense")
        self.category_dense = layers.Dense(dim, use_bias=False, name="category_dense")
        self.dropout = layers.Dropout(dropout)

    def build(self, input_shape=None):
        self.word_embedding.build((None, None))
        self.conv.build((None, None, self.word_dim))
        self.text_dense.build((None, self.cnn_filters))
        self.category_dense.build((None, self.n_categories))
        self.id_embedding.build((None,))
        self.built = True

    def call(self, tokens, categories, has_text, id_scale, ids=None, training=False):
        """Args: tokens int [n, T], categories float [n, C], has_text float [n],
        id_scale float [n] (1 for items seen in training, 0 for cold items), ids int [n] (item
        indices; default 0..n-1, the whole catalogue). Returns [n, dim]."""
        words = self.word_embedding(tokens)  # [n, T, word_dim]
        mask = ops.cast(ops.not_equal(tokens, 0), words.dtype)[..., None]
        feats = self.conv(words) * mask  # relu output >= 0, so zeroed padding never wins the max
        pooled = ops.max(feats, axis=1)  # [n, filters]
        pooled = self.dropout(pooled, training=training)
        text_vec = self.text_dense(pooled) * ops.cast(has_text, pooled.dtype)[:, None]
        cat_vec = self.category_dense(categories)
        if ids is None:
            ids = ops.arange(ops.shape(tokens)[0], dtype="int32")
        id_vec = self.id_embedding(ids) * ops.cast(id_scale, text_vec.dtype)[:, None]
        return id_vec + text_vec + cat_vec

    def get_config(self):
        config = super().get_config()
        config.update(n_items=self.n_items, vocab_size=self.vocab_size, n_categories=self.n_categories,
                      dim=self.dim, word_dim=self.word_dim, cnn_filters=self.cnn_filters,
                      kernel_size=self.kernel_size, dropout=self.dropout_rate)
        return config


@keras.saving.register_keras_serializable(package="recsys")
class SequenceUserTower(layers.Layer):
    """User interest vectors at every position `[B, L, dim]` from the item vectors of a sequence.

    Args:
        dim: output vector size (the item vectors' size).
        units: width of the recurrent cell.
        cell: "lstm" (the default) or "gru".
        dropout: dropout on the inputs and on the recurrent outputs during training.
    """

    def __init__(self, *, dim=64, units=128, cell="lstm", dropout=0.2, **kwargs):
        super().__init__(**kwargs)
        if cell not in USER_CELLS:
            raise ValueError(f"unknown user cell {cell!r}: choose one of {', '.join(USER_CELLS)}")
        self.dim, self.units, self.cell_type, self.dropout_rate = dim, units, cell, dropout
        recurrent = layers.LSTM if cell == "lstm" else layers.GRU
        self.rnn = recurrent(units, return_sequences=True, name=cell)
        self.dense = layers.Dense(dim, name="seq_user_dense")
        self.input_dropout = layers.Dropout(dropout)
        self.output_dropout = layers.Dropout(dropout)

    def build(self, input_shape=None):
        self.rnn.build((None, None, self.dim))
        self.dense.build((None, self.units))
        self.built = True

    def call(self, item_vectors, inputs, training=False):
        """`item_vectors` `[B, L, dim]` of the sequence `inputs` `[B, L]` (0 = padding, masked)."""
        x = self.input_dropout(item_vectors, training=training)
        h = self.rnn(x, mask=ops.not_equal(inputs, 0), training=training)
        h = self.output_dropout(h, training=training)
        return self.dense(h)

    def get_config(self):
        config = super().get_config()
        config.update(dim=self.dim, units=self.units, cell=self.cell_type, dropout=self.dropout_rate)
        return config
