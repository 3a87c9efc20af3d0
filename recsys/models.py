"""The hybrid recommender: a CF tower, a text-CNN item tower and an LSTM user tower.

Both parts are trained as next-item softmax logits, each with its own loss, at every position of
a user's event window, so their scores share one scale and α can blend them at serving time:

    cf(u, i)      = <U'_u, V_i> + b_i
    content(u, i) = <LSTM(last L items of u), C_i> + c_i
    C_i           = E_i + [has_text_i] · Dense(GlobalMaxPool(Conv1D(WordEmb(tokens_i)))) + Dense(categories_i)
    m̂(u, i)       = α · cf(u, i) + (1 − α) · content(u, i)

**CF user vector, folded in from the user's items** (asymmetric SVD / FISM style; `cf_fold_in`):

    U'_u = U_u + |S_u|^(-1/2) · Σ_{j ∈ S_u} Y_j

where S_u is the list of the user's last L events' items (L = `seq_len`, the same items the LSTM
reads; a repeated item counts each time), Y `[n_items, d]` is the learned `cf_context` table and U_u a
free per-user offset. `fold_in_cf_vector` computes the second term in numpy. During training the
vector at window position l folds in the window's items up to l (never the target), so the CF part
learns from users with only a few events; a new user's CF vector is the fold-in alone (U = 0).

**Sampled softmax** (catalogues above `TrainConfig.max_full_softmax_items`, `num_sampled > 0`):
the candidates of a step are the batch's own targets (in-batch negatives, drawn ∝ the target
distribution p) plus `num_sampled` uniform items. Each logit is corrected by the log of the expected
share of the candidate set the item gets (logQ, `keras_rs.layers.SamplingProbabilityCorrection`):
q_i = (P · p_i + M / N) / (P + M) with P non-padding target slots and M uniform draws. Candidates that
equal a position's target, other than its own slot, and padding slots are removed ("accidental hits",
set to −1e9; keras-rs 0.4.0's `RemoveAccidentalHits` adds only a tiny constant, which leaves such
logits unchanged). A step costs O(B·L·(B·L + M)), whatever the catalogue size.

The LSTM reads the content vectors C of the items in the sequence (input and output item vectors are
tied), so an item's text shapes both how it is recommended and how it shapes a user's interest.
Everything is written with `keras.ops`, so the model runs on any Keras backend.
"""

from __future__ import annotations

import keras
import keras_rs
import numpy as np
from keras import layers, ops

NEG_INF = -1e9


def fold_in_cf_vector(context, item_indices, *, seq_len: int) -> np.ndarray:
    """The folded-in part of a CF user vector: |S|^(-1/2) · Σ_{j ∈ S} Y_j, S = the last `seq_len` items.

    Args:
        context: the `cf_context` table Y `[n_items, d]` (`HybridRecommender.cf_context.embeddings`).
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
class ItemContentTower(layers.Layer):
    """Item content vectors `[n_items, dim]` from token ids, categories and an id embedding.

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
        self.id_embedding = layers.Embedding(n_items, dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.05), name="id_embedding")
        self.word_embedding = layers.Embedding(vocab_size, word_dim, name="word_embedding")
        self.conv = layers.Conv1D(cnn_filters, kernel_size, padding="same", activation="relu", name="conv")
        self.text_dense = layers.Dense(dim, name="text_dense")
        self.category_dense = layers.Dense(dim, use_bias=False, name="category_dense")
        self.dropout = layers.Dropout(dropout)

    def build(self, input_shape=None):
        tokens_shape = (self.n_items, None)
        self.word_embedding.build((None, None))
        self.conv.build((None, None, self.word_dim))
        self.text_dense.build((None, self.cnn_filters))
        self.category_dense.build((None, self.n_categories))
        self.id_embedding.build((None,))
        del tokens_shape
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
class HybridRecommender(keras.Model):
    """MF + LSTM user model + text-CNN item model, trained with two next-item softmax losses.

    Inputs (a dict): `user` int [B], `inputs` int [B, L] (item index + 1, 0 = padding), and in
    training `targets` int [B, L] (the sampled softmax builds its candidates from them).
    Outputs (a dict): `cf` and `content` logits [B, L, n_items] (sampled: [B, L, C] plus `labels`).

    Item features (tokens, categories, has-text flags, the trained-item mask, the target
    distribution for logQ) are stored in the model as non-trainable weights, so a saved `.keras` file
    carries everything needed to score.

    Args:
        cf_fold_in: add the folded-in item part to every CF user vector (see the module docstring).
        log_q: correct sampled logits by the candidates' sampling probability (needs
            `set_sampling_distribution`; uniform over trained items until then).
        num_sampled: uniform negatives per step; 0 = full softmax.
    """

    def __init__(self, *, n_users, n_items, vocab_size, text_len, n_categories, dim=64, lstm_units=128,
                 word_dim=32, cnn_filters=64, kernel_size=3, dropout=0.2, num_sampled=0, seed=0,
                 cf_fold_in=False, log_q=False, **kwargs):
        super().__init__(**kwargs)
        self.num_sampled = num_sampled
        self.seed = seed
        self.cf_fold_in = bool(cf_fold_in)
        self.log_q = bool(log_q)
        self.sampler = keras.random.SeedGenerator(seed) if num_sampled else None
        self.n_users = n_users
        self.n_items = n_items
        self.vocab_size = vocab_size
        self.text_len = text_len
        self.n_categories = n_categories
        self.dim = dim
        self.lstm_units = lstm_units
        self.word_dim = word_dim
        self.cnn_filters = cnn_filters
        self.kernel_size = kernel_size
        self.dropout_rate = dropout
        init = keras.initializers.RandomNormal(stddev=0.05)
        self.user_embedding = layers.Embedding(n_users, dim, embeddings_initializer=init, name="cf_user")
        self.item_embedding = layers.Embedding(n_items, dim, embeddings_initializer=init, name="cf_item")
        self.cf_context = (layers.Embedding(n_items, dim, embeddings_initializer=init, name="cf_context")
                           if self.cf_fold_in else None)
        self.item_tower = ItemContentTower(n_items=n_items, vocab_size=vocab_size, n_categories=n_categories,
                                           dim=dim, word_dim=word_dim, cnn_filters=cnn_filters,
                                           kernel_size=kernel_size, dropout=dropout / 2, name="item_tower")
        self.lstm = layers.LSTM(lstm_units, return_sequences=True, name="lstm")
        self.user_dense = layers.Dense(dim, name="seq_user_dense")
        self.input_dropout = layers.Dropout(dropout)
        self.output_dropout = layers.Dropout(dropout)
        self.sampling_correction = keras_rs.layers.SamplingProbabilityCorrection(epsilon=1e-12)

    def build(self, input_shape=None):
        n, d = self.n_items, self.dim
        self.cf_bias = self.add_weight(shape=(n,), initializer="zeros", name="cf_bias")
        self.content_bias = self.add_weight(shape=(n,), initializer="zeros", name="content_bias")
        self.item_tokens = self.add_weight(shape=(n, self.text_len), dtype="int32", initializer="zeros",
                                           trainable=False, name="item_tokens")
        self.item_categories = self.add_weight(shape=(n, self.n_categories), initializer="zeros",
                                               trainable=False, name="item_categories")
        self.item_has_text = self.add_weight(shape=(n,), initializer="zeros", trainable=False, name="item_has_text")
        self.item_trained = self.add_weight(shape=(n,), initializer="ones", trainable=False, name="item_trained")
        if self.log_q:
            self.target_share = self.add_weight(shape=(n,), initializer=keras.initializers.Constant(1.0 / n),
                                                dtype="float32", trainable=False, name="target_share")
        self.user_embedding.build((None,))
        self.item_embedding.build((None,))
        if self.cf_context is not None:
            self.cf_context.build((None,))
        self.item_tower.build()
        self.lstm.build((None, None, d))
        self.user_dense.build((None, self.lstm_units))
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
        """Stores p_i, item i's share of the training target slots `[n_items]`, for the logQ correction."""
        if not self.log_q:
            return
        counts = np.asarray(target_counts, np.float64)
        if counts.shape != (self.n_items,) or not np.isfinite(counts).all() or counts.min() < 0 or counts.sum() <= 0:
            raise ValueError(f"target_counts must be {self.n_items} non-negative counts with a positive sum")
        self.target_share.assign((counts / counts.sum()).astype(np.float32))

    # ----- towers -----------------------------------------------------------------------------
    def content_item_vectors(self, training=False, tokens=None, categories=None, has_text=None, id_scale=None):
        """C `[n, dim]` for the catalogue, or for given raw item features (cold items, new text)."""
        if tokens is None:
            tokens, categories = self.item_tokens, self.item_categories
            has_text, id_scale = self.item_has_text, self.item_trained
        return self.item_tower(tokens, categories, has_text, id_scale, training=training)

    def content_item_vectors_in_chunks(self, chunk: int = 8192):
        """C `[n_items, dim]` computed `chunk` items at a time (bounded memory for big catalogues)."""
        if self.n_items <= chunk:
            return self.content_item_vectors(training=False)
        parts = []
        for start in range(0, self.n_items, chunk):
            ids = ops.arange(start, min(start + chunk, self.n_items), dtype="int32")
            parts.append(self._item_vectors_for(ids, training=False))
        return ops.concatenate(parts, axis=0)

    def _item_vectors_for(self, ids, training=False):
        """C for the given item indices `[m]` -> `[m, dim]` (runs the tower on those items only)."""
        return self.item_tower(ops.take(self.item_tokens, ids, axis=0), ops.take(self.item_categories, ids, axis=0),
                               ops.take(self.item_has_text, ids, axis=0), ops.take(self.item_trained, ids, axis=0),
                               ids=ids, training=training)

    def sequence_states(self, inputs, item_vectors, training=False):
        """LSTM user vectors at every position `[B, L, dim]` from padded item sequences `[B, L]`."""
        padded = ops.concatenate([ops.zeros((1, self.dim), dtype=item_vectors.dtype), item_vectors], axis=0)
        x = ops.take(padded, inputs, axis=0)
        return self._lstm_states(x, inputs, training=training)

    def _lstm_states(self, x, inputs, training=False):
        x = self.input_dropout(x, training=training)
        h = self.lstm(x, mask=ops.not_equal(inputs, 0), training=training)
        h = self.output_dropout(h, training=training)
        return self.user_dense(h)

    def sequence_user_vectors(self, inputs, training=False):
        """LSTM user vector after the last item of each sequence `[B, dim]`."""
        item_vectors = self.content_item_vectors(training=training)
        return self.sequence_states(inputs, item_vectors, training=training)[:, -1, :]

    def cf_fold_in_states(self, inputs):
        """Folded-in CF vectors |S_l|^(-1/2) Σ_{j ∈ S_l} Y_j at every position `[B, L, dim]`.

        S_l = the non-padding items of `inputs` `[B, L]` (item index + 1, 0 = padding) up to position l.
        """
        table = self.cf_context.embeddings
        padded = ops.concatenate([ops.zeros((1, self.dim), dtype=table.dtype), table], axis=0)
        y = ops.cast(ops.take(padded, inputs, axis=0), "float32")
        total = ops.cumsum(y, axis=1)
        count = ops.cumsum(ops.cast(ops.not_equal(inputs, 0), "float32"), axis=1)
        return total / ops.sqrt(ops.maximum(count, 1.0))[..., None]

    def cf_user_states(self, users, inputs):
        """CF user vectors U'_u at every window position `[B, L, dim]` (float32)."""
        u = ops.cast(self.user_embedding(users), "float32")[:, None, :]
        if self.cf_context is None:
            return ops.broadcast_to(u, (ops.shape(inputs)[0], ops.shape(inputs)[1], self.dim))
        return u + self.cf_fold_in_states(inputs)

    def cf_user_vectors(self, users, inputs):
        """The served CF user vectors `[B, dim]`: U_u plus the fold-in of the whole sequence `[B, L]`."""
        return self.cf_user_states(users, inputs)[:, -1, :]

    def _logit_mask(self):
        # Items never seen in training cannot be next-item targets there; keep them out of the softmax.
        # Built in float32: under mixed precision -1e9 is -inf in float16 and 0 · -inf would be NaN.
        trained = ops.cast(self.item_trained, "float32")
        return ops.where(trained > 0.5, ops.zeros_like(trained), ops.full_like(trained, NEG_INF))

    def call(self, data, training=False):
        users, inputs = data["user"], data["inputs"]
        if self.num_sampled and training and "targets" in data:
            return self._sampled_call(users, inputs, data["targets"], training=training)
        item_vectors = self.content_item_vectors(training=training)
        states = self.sequence_states(inputs, item_vectors, training=training)
        mask = self._logit_mask()
        f32 = "float32"  # logits, biases and the mask in float32 (mixed precision keeps them exact)
        content = ops.cast(ops.einsum("bld,nd->bln", states, item_vectors), f32)
        content = content + ops.cast(self.content_bias, f32) + mask
        cf_states = self.cf_user_states(users, inputs)
        cf_items = ops.cast(self.item_embedding.embeddings, f32)
        cf = ops.einsum("bld,nd->bln", cf_states, cf_items) + ops.cast(self.cf_bias, f32) + mask
        return {"cf": cf, "content": content}

    def _sampled_call(self, users, inputs, targets, training):
        """Logits over a candidate set: the batch's own targets + uniform negatives, logQ-corrected.

        Candidate c = targets.flatten()[c] for c < P = B·L, then `num_sampled` uniform items. The label
        of position (b, l) is its own slot b·L + l. Only the candidate and input items go through the
        item tower. Returns {"cf": [B, L, C], "content": [B, L, C], "labels": [B, L]}.
        """
        f32 = "float32"
        shape = ops.shape(targets)
        flat_targets = ops.reshape(ops.cast(targets, "int32"), (-1,))
        flat_inputs = ops.reshape(ops.cast(inputs, "int32"), (-1,))
        negatives = keras.random.randint((self.num_sampled,), 0, self.n_items, dtype="int32", seed=self.sampler)
        candidates = ops.concatenate([flat_targets, negatives], axis=0)  # [C]
        n_slots = ops.shape(flat_targets)[0]
        n_candidates = ops.shape(candidates)[0]
        cand_vectors = self._item_vectors_for(candidates, training=training)  # [C, d]
        input_vectors = self._item_vectors_for(ops.maximum(flat_inputs - 1, 0), training=training)
        input_vectors = input_vectors * ops.cast(flat_inputs > 0, input_vectors.dtype)[:, None]
        x = ops.reshape(input_vectors, (shape[0], shape[1], self.dim))
        states = self._lstm_states(x, inputs, training=training)

        # A slot is a real candidate when its window position is not padding (inputs and targets pad together).
        slot_valid = ops.concatenate([ops.cast(flat_inputs > 0, f32), ops.ones((self.num_sampled,), f32)], axis=0)
        trained = ops.cast(ops.take(self.item_trained, candidates, axis=0), f32)
        column_mask = ops.where(ops.logical_and(trained > 0.5, slot_valid > 0.5), 0.0, NEG_INF)  # [C]
        labels = ops.reshape(ops.arange(n_slots, dtype="int32"), shape)
        hits = ops.equal(ops.cast(targets, "int32")[:, :, None], candidates[None, None, :])
        own = ops.equal(labels[:, :, None], ops.arange(n_candidates, dtype="int32")[None, None, :])
        mask = ops.where(ops.logical_and(hits, ops.logical_not(own)), NEG_INF, 0.0) + column_mask

        content = ops.cast(ops.einsum("bld,cd->blc", states, cand_vectors), f32)
        content = content + ops.cast(ops.take(self.content_bias, candidates, axis=0), f32)
        cf_items = ops.cast(ops.take(self.item_embedding.embeddings, candidates, axis=0), f32)
        cf = ops.einsum("bld,cd->blc", self.cf_user_states(users, inputs), cf_items)
        cf = cf + ops.cast(ops.take(self.cf_bias, candidates, axis=0), f32)
        if self.log_q:
            n_valid = ops.sum(ops.cast(flat_inputs > 0, f32))
            share = ops.take(self.target_share, candidates, axis=0)
            q = (n_valid * share + self.num_sampled / self.n_items) / (n_valid + self.num_sampled)
            q = ops.broadcast_to(q[None, None, :], ops.shape(content))
            content = self.sampling_correction(content, q)
            cf = self.sampling_correction(cf, q)
        return {"cf": cf + mask, "content": content + mask, "labels": labels}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """Sum of the two weighted next-item cross-entropies (CF and content), at every position."""
        weights = ops.cast(y["weights"], "float32")
        denom = ops.maximum(ops.sum(weights), 1.0)
        labels = y_pred["labels"] if "labels" in y_pred else y["targets"]
        cf_nll = ops.sparse_categorical_crossentropy(labels, y_pred["cf"], from_logits=True)
        content_nll = ops.sparse_categorical_crossentropy(labels, y_pred["content"], from_logits=True)
        loss = ops.sum(cf_nll * weights) / denom + ops.sum(content_nll * weights) / denom
        return loss + ops.sum(self.losses) if self.losses else loss

    def get_config(self):
        return {
            "n_users": self.n_users, "n_items": self.n_items, "vocab_size": self.vocab_size,
            "text_len": self.text_len, "n_categories": self.n_categories, "dim": self.dim,
            "lstm_units": self.lstm_units, "word_dim": self.word_dim, "cnn_filters": self.cnn_filters,
            "kernel_size": self.kernel_size, "dropout": self.dropout_rate, "num_sampled": self.num_sampled,
            "seed": self.seed, "cf_fold_in": self.cf_fold_in, "log_q": self.log_q, "name": self.name,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
