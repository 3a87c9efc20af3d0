"""The next-item task: which items are scored at a step, how their logits are corrected, and the loss.

Both parts of the hybrid (CF and content) are next-item softmax logits at every position of a user's
event window, scored against one candidate set, so their scores share one scale and α can blend them
at serving time (TFRS style: the towers make vectors, the task owns the loss).

**Full softmax** (`num_sampled = 0`): every item is a candidate; items never seen in training get
−1e9 (they cannot be targets there).

**Sampled softmax** (`num_sampled > 0`, big catalogues): the candidates of a step are the batch's own
targets (in-batch negatives, drawn ∝ the target distribution p) plus `num_sampled` uniform items.
Each logit is corrected by the log of the expected share of the candidate set the item gets (logQ,
`keras_rs.layers.SamplingProbabilityCorrection`): q_i = (P · p_i + M / N) / (P + M) with P
non-padding target slots and M uniform draws. Candidates equal to a position's target, other than its
own slot, and padding slots are removed ("accidental hits", set to −1e9; keras-rs 0.4.0's
`RemoveAccidentalHits` adds only a tiny constant, which leaves such logits unchanged). A step costs
O(B·L·(B·L + M)), whatever the catalogue size.

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
        log_q: correct sampled logits by each candidate's sampling probability (needs
            `set_sampling_distribution`; uniform over the catalogue until then).
        seed: seeds the negative sampler.
    """

    def __init__(self, *, n_items, num_sampled=0, log_q=False, seed=0, **kwargs):
        super().__init__(**kwargs)
        self.n_items, self.num_sampled, self.log_q, self.seed = n_items, int(num_sampled), bool(log_q), seed
        self.sampler = keras.random.SeedGenerator(seed) if self.num_sampled else None
        self.sampling_correction = keras_rs.layers.SamplingProbabilityCorrection(epsilon=1e-12)

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
        reads); `labels` int `[B, L]` (each position's own target column, b·L + l); `scored` int
        `[P + M]`: the rows of `items` that are candidates (the targets and the negatives).
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
        labels = rows * length + cols
        scored = ops.concatenate([ops.arange(n_slots, dtype="int32"),
                                  ops.arange(self.num_sampled, dtype="int32") + n_slots + batch], axis=0)
        return {"items": items, "input_slots": input_slots, "labels": labels, "scored": scored}

    def sampled_adjustment(self, inputs, targets, candidates, item_trained):
        """What a sampled step adds to its logits `[B, L, C]`: −1e9 on accidental hits, padding slots and
        untrained items, and (with `log_q`) −log q of every candidate (`candidates` = item indices `[C]`)."""
        f32 = "float32"
        targets = ops.cast(targets, "int32")
        flat_inputs = ops.reshape(ops.cast(inputs, "int32"), (-1,))
        n_slots = ops.shape(flat_inputs)[0]
        n_candidates = ops.shape(candidates)[0]
        # A target slot is a real candidate when its window position is not padding (inputs and targets pad together).
        slot_valid = ops.concatenate([ops.cast(flat_inputs > 0, f32), ops.ones((self.num_sampled,), f32)], axis=0)
        trained = ops.cast(ops.take(item_trained, candidates, axis=0), f32)
        column_mask = ops.where(ops.logical_and(trained > 0.5, slot_valid > 0.5), 0.0, NEG_INF)  # [C]
        labels = ops.reshape(ops.arange(n_slots, dtype="int32"), ops.shape(targets))
        hits = ops.equal(targets[:, :, None], candidates[None, None, :])
        own = ops.equal(labels[:, :, None], ops.arange(n_candidates, dtype="int32")[None, None, :])
        mask = ops.where(ops.logical_and(hits, ops.logical_not(own)), NEG_INF, 0.0) + column_mask
        if not self.log_q:
            return mask, None
        n_valid = ops.sum(ops.cast(flat_inputs > 0, f32))
        share = ops.take(self.target_share, candidates, axis=0)
        q = (n_valid * share + self.num_sampled / self.n_items) / (n_valid + self.num_sampled)
        return mask, ops.broadcast_to(q[None, None, :], ops.shape(mask))

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
        config.update(n_items=self.n_items, num_sampled=self.num_sampled, log_q=self.log_q, seed=self.seed)
        return config
