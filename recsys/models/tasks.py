"""The next-item task: which items are scored at a step, how their logits are corrected, and the loss.

Both parts of the hybrid (CF and content) are next-item softmax logits at every position of a user's
event window, scored against one candidate set, so their scores share one scale and α can blend them
at serving time (TFRS style: the towers make vectors, the task owns the loss).

**Full softmax** (`num_sampled = 0`): every item is a candidate; items never seen in training get
−1e9 (they cannot be targets there).

**Sampled softmax** (`num_sampled > 0`, big catalogues): each position scores its own target (column
0) against one shared set of negatives: `num_in_batch` of the batch's target slots, drawn at random
among the non-padding ones (in-batch negatives, distributed ∝ the target distribution p; all of them
when the batch has fewer), plus `num_sampled` uniform items. Each logit, the target's included, is
corrected by the log of the expected share of the candidate set the item gets (logQ,
`keras_rs.layers.SamplingProbabilityCorrection`): q_i = (K · p_i + M / N) / (K + M) with K in-batch
slots and M uniform draws. Negatives equal to a position's target and padding slots are removed
("accidental hits", set to −1e9; keras-rs 0.4.0's `RemoveAccidentalHits` adds only a tiny constant,
which leaves such logits unchanged). A step costs O(B·L·(K + M)): bounded, whatever the catalogue
and the batch size (sharing every target slot instead made a step O((B·L)²)).

Window contract (`training_windows` and the Parquet window shards keep it): inside a window the
input at position l + 1 is the target at position l (item + 1), so the item tower runs once per
candidate and the sequence inputs reuse the target slots' vectors; only each window's first input
needs a slot of its own.
"""

from __future__ import annotations

import keras
import keras_rs
import numpy as np
from keras import layers, ops

NEG_INF = -1e9


def catalogue_mask(item_trained):
    """`[n_items]` float32: 0 for items seen in training, −1e9 for the rest (kept out of the softmax).

    Built in float32: under mixed precision −1e9 is −inf in float16 and 0 · −inf would be NaN.
    """
    trained = ops.cast(item_trained, "float32")
    return ops.where(trained > 0.5, ops.zeros_like(trained), ops.full_like(trained, NEG_INF))


@keras.saving.register_keras_serializable(package="recsys")
class NextItemTask(layers.Layer):
    """Candidates, logit corrections and the weighted cross-entropy of the next-item softmax.

    Args:
        n_items: catalogue size N.
        num_sampled: uniform negatives per step M; 0 = full softmax.
        num_in_batch: in-batch negatives per step K, drawn from the batch's target slots (0 = all of them).
        log_q: correct sampled logits by each candidate's sampling probability (needs
            `set_sampling_distribution`; uniform over the catalogue until then).
        seed: seeds the negative sampler.
    """

    def __init__(self, *, n_items, num_sampled=0, log_q=False, seed=0, num_in_batch=0, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.num_sampled, self.log_q, self.seed = n_items, int(num_sampled), bool(log_q), seed
        self.num_in_batch = int(num_in_batch)
        self.sampler = keras.random.SeedGenerator(seed) if self.num_sampled else None
        # float32 under mixed precision too: log q of rare items underflows in float16 (NaN losses under JAX)
        self.sampling_correction = keras_rs.layers.SamplingProbabilityCorrection(epsilon=1e-12, dtype="float32")

    def build(self, input_shape=None):
        if self.log_q:
            self.target_share = self.add_weight(shape=(self.n_items,), dtype="float32", trainable=False,
                                                initializer=keras.initializers.Constant(1.0 / self.n_items),
                                                name="target_share")
        self.built = True

    def set_sampling_distribution(self, target_counts):
        """Stores p_i, item i's share of the training target slots `[n_items]`, for the logQ correction."""
        if not self.log_q:
            return
        counts = np.asarray(target_counts, np.float64)
        if counts.shape != (self.n_items,) or not np.isfinite(counts).all() or counts.min() < 0 or counts.sum() <= 0:
            raise ValueError(f"target_counts must be {self.n_items} non-negative counts with a positive sum")
        self.target_share.assign((counts / counts.sum()).astype(np.float32))

    def sample(self, inputs, targets):
        """The items a sampled step runs through the item tower, and where each one is used.

        Returns a dict: `items` int `[P + B + M]` (the P = B·L targets, each window's first input,
        then M uniform negatives); `input_slots` int `[B, L]` (which row of `items` each input position
        reads); `negative_rows` int `[K + M]`: the rows of `items` that are the shared negatives (K target
        slots drawn among the non-padding ones, or every slot in order when `num_in_batch` is 0; then
        the M uniform draws). Each position's own target is row b·L + l.
        """
        inputs = ops.cast(inputs, "int32")
        batch, length = ops.shape(inputs)[0], ops.shape(inputs)[1]
        n_slots = batch * length
        present = ops.not_equal(inputs, 0)
        before = ops.concatenate([ops.zeros_like(present[:, :1]), present[:, :-1]], axis=1)
        first = ops.logical_and(present, ops.logical_not(before))  # the window's first real input
        first_items = ops.max(ops.where(first, inputs - 1, 0), axis=1)  # [B]
        negatives = keras.random.randint((self.num_sampled,), 0, self.n_items, dtype="int32", seed=self.sampler)
        items = ops.concatenate([ops.reshape(ops.cast(targets, "int32"), (-1,)), first_items, negatives], axis=0)
        rows = ops.arange(batch, dtype="int32")[:, None]
        cols = ops.arange(length, dtype="int32")[None, :]
        previous_target = ops.maximum(rows * length + cols - 1, 0)  # input l+1 = target l (window contract)
        input_slots = ops.where(first, n_slots + rows + 0 * cols, previous_target)
        if self.num_in_batch <= 0:
            slots = ops.arange(n_slots, dtype="int32")
        else:  # K slots drawn uniformly without replacement, non-padding ones first
            # static under JAX (whose top_k needs a Python int), a tensor for TensorFlow's dynamic batch
            k = min(n_slots, self.num_in_batch) if isinstance(n_slots, int) else ops.minimum(n_slots, self.num_in_batch)
            valid = ops.cast(ops.reshape(present, (-1,)), "float32")
            noise = keras.random.uniform((n_slots,), seed=self.sampler)
            slots = ops.cast(ops.top_k(noise + 2.0 * valid, k, sorted=False)[1], "int32")
        chosen = ops.concatenate([slots, ops.arange(self.num_sampled, dtype="int32") + n_slots + batch], axis=0)
        return {"items": items, "input_slots": input_slots, "negative_rows": chosen}

    def sampled_adjustment(self, targets, negatives, item_trained, negative_valid):
        """What a sampled step adds to its logits `[B, L, 1 + K + M]` (column 0 = each position's target):
        −1e9 on accidental hits, padding slots and untrained items, and (with `log_q`) −log q of every
        column. `negatives` = the shared negatives' item indices `[K + M]`, `negative_valid` float `[K + M]`
        (0 for a padding slot)."""
        f32 = "float32"
        targets = ops.cast(targets, "int32")
        trained = ops.cast(ops.take(item_trained, negatives, axis=0), f32)
        column_mask = ops.where(ops.logical_and(trained > 0.5, negative_valid > 0.5), 0.0, NEG_INF)  # [K + M]
        hits = ops.equal(targets[:, :, None], negatives[None, None, :])
        mask = ops.where(hits, NEG_INF, 0.0) + column_mask
        mask = ops.concatenate([ops.zeros_like(mask[:, :, :1]), mask], axis=2)
        if not self.log_q:
            return mask, None
        n_in_batch = ops.sum(negative_valid) - self.num_sampled  # valid in-batch slots K

        def q_of(share):
            share = ops.cast(share, f32)  # a variable read under mixed precision comes back float16
            return (n_in_batch * share + self.num_sampled / self.n_items) / (n_in_batch + self.num_sampled)
        q_target = q_of(ops.take(self.target_share, targets, axis=0))  # [B, L]
        q_negative = q_of(ops.take(self.target_share, negatives, axis=0))  # [K + M]
        q = ops.concatenate([q_target[:, :, None], ops.broadcast_to(q_negative[None, None, :],
                                                                     ops.shape(mask[:, :, 1:]))], axis=2)
        return mask, q

    def correct(self, logits, mask, q):
        """Sampled logits after the logQ correction (when `q` is given) and the additive mask."""
        if q is not None:
            logits = self.sampling_correction(logits, q)
        return logits + mask

    def loss(self, labels, logits: dict, weights):
        """Sum over the parts of the weighted next-item cross-entropy, each averaged over target weight."""
        weights = ops.cast(weights, "float32")
        denom = ops.maximum(ops.sum(weights), 1.0)
        total = 0.0
        for part in ("cf", "content"):
            nll = ops.sparse_categorical_crossentropy(labels, logits[part], from_logits=True)
            total = total + ops.sum(nll * weights) / denom
        return total

    def get_config(self):
        config = super().get_config()
        config.update(n_items=self.n_items, num_sampled=self.num_sampled, log_q=self.log_q, seed=self.seed,
                      num_in_batch=self.num_in_batch)
        return config
