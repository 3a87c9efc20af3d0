"""Model inputs built from a dataset: item text as token ids, categories as multi-hot, user sequences.

Tokenisation runs in numpy, outside the model, so scoring never needs TensorFlow and the same
model trains under any Keras backend. `TextVectorizer` mirrors
`keras.layers.TextVectorization(standardize="lower_and_strip_punctuation", split="whitespace",
output_mode="int", output_sequence_length=T)`: id 0 is padding, id 1 is out-of-vocabulary.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np
import pandas as pd

PAD = 0
OOV = 1
_TOKEN = re.compile(r"[^\W_]+", re.UNICODE)


def tokenize(text: str) -> list[str]:
    """Lower-cases and splits on anything that is not a letter or digit."""
    return _TOKEN.findall(str(text).lower())


class TextVectorizer:
    """Maps text to fixed-length int token ids with a vocabulary learned from a corpus.

    Args:
        max_tokens: vocabulary size including the padding and OOV ids.
        sequence_length: output length T; longer texts are truncated, shorter padded with 0.
    """

    def __init__(self, *, max_tokens: int = 20000, sequence_length: int = 32):
        self.max_tokens = max_tokens
        self.sequence_length = sequence_length

    def fit(self, texts, *, trim: bool = False) -> "TextVectorizer":
        """Learns the vocabulary; `trim` also shortens `sequence_length` to the corpus's longest text.

        Trimmed, the text CNN convolves no column that is padding for every item (titles-only
        catalogues have 6-17 tokens, not 32): 40-75% less of its work per training step.
        """
        counts: Counter[str] = Counter()
        longest = 1
        for text in texts:
            tokens = tokenize(text)
            longest = max(longest, len(tokens))
            counts.update(set(tokens))
        if trim:
            self.sequence_length = min(self.sequence_length, longest)
        # Most frequent first, ties alphabetical: the vocabulary is deterministic.
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        self.vocabulary_ = [w for w, _ in ranked[: max(0, self.max_tokens - 2)]]
        self.index_ = {w: i + 2 for i, w in enumerate(self.vocabulary_)}
        return self

    @property
    def vocab_size(self) -> int:
        self._check_fitted()
        return len(self.vocabulary_) + 2

    def _check_fitted(self):
        if not hasattr(self, "index_"):
            raise RuntimeError("TextVectorizer is not fitted yet: call fit(texts) first.")

    def transform(self, texts) -> np.ndarray:
        """Returns int32 token ids `[n_texts, sequence_length]`."""
        self._check_fitted()
        texts = list(texts)
        out = np.zeros((len(texts), self.sequence_length), dtype=np.int32)
        for row, text in enumerate(texts):
            ids = [self.index_.get(t, OOV) for t in tokenize(text)[: self.sequence_length]]
            out[row, : len(ids)] = ids
        return out

    def get_config(self) -> dict:
        self._check_fitted()
        return {
            "max_tokens": self.max_tokens,
            "sequence_length": self.sequence_length,
            "vocabulary": list(self.vocabulary_),
        }

    @classmethod
    def from_config(cls, config: dict) -> "TextVectorizer":
        self = cls(max_tokens=config["max_tokens"], sequence_length=config["sequence_length"])
        self.vocabulary_ = list(config["vocabulary"])
        self.index_ = {w: i + 2 for i, w in enumerate(self.vocabulary_)}
        return self


class CategoryEncoder:
    """Multi-hot encoding of item category lists over the most frequent categories."""

    def __init__(self, *, max_categories: int = 256):
        self.max_categories = max_categories

    def fit(self, category_lists) -> "CategoryEncoder":
        counts: Counter[str] = Counter()
        for cats in category_lists:
            counts.update(set(cats))
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        self.categories_ = [c for c, _ in ranked[: self.max_categories]]
        self.index_ = {c: i for i, c in enumerate(self.categories_)}
        return self

    @property
    def n_categories(self) -> int:
        return max(1, len(self.categories_))

    def transform(self, category_lists) -> np.ndarray:
        """Returns float32 multi-hot `[n_items, n_categories]`, rows normalised to sum 1."""
        lists = list(category_lists)
        out = np.zeros((len(lists), self.n_categories), dtype=np.float32)
        for row, cats in enumerate(lists):
            cols = [self.index_[c] for c in cats if c in self.index_]
            if cols:
                out[row, cols] = 1.0 / len(cols)
        return out

    def get_config(self) -> dict:
        return {"max_categories": self.max_categories, "categories": list(self.categories_)}

    @classmethod
    def from_config(cls, config: dict) -> "CategoryEncoder":
        self = cls(max_categories=config["max_categories"])
        self.categories_ = list(config["categories"])
        self.index_ = {c: i for i, c in enumerate(self.categories_)}
        return self


@dataclass
class ItemFeatures:
    """Per-item model inputs, row i = item index i."""

    tokens: np.ndarray  # int32 [n_items, T]
    categories: np.ndarray  # float32 [n_items, n_categories]
    has_text: np.ndarray  # float32 [n_items], 1 where the item has any token

    @classmethod
    def build(cls, items: pd.DataFrame, vectorizer: TextVectorizer, encoder: CategoryEncoder):
        tokens = vectorizer.transform(items["text"].tolist())
        categories = encoder.transform(items["categories"].tolist())
        has_text = (tokens != PAD).any(axis=1).astype(np.float32)
        return cls(tokens=tokens, categories=categories, has_text=has_text)


def first_occurrence_mask(events: pd.DataFrame) -> np.ndarray:
    """True where an event is the user's first event with that item (events in sequence order)."""
    return ~events.duplicated(["user", "item"], keep="first").to_numpy()


def training_windows(events: pd.DataFrame, *, seq_len: int, weights: np.ndarray | None = None):
    """Cuts each user's event sequence into many-to-many next-item windows.

    Each window holds up to `seq_len` inputs and the `seq_len` items that follow them, so every
    event after a user's first is a target exactly once. Windows are cut from the end of the
    sequence backwards and left-padded. Targets that repeat an item the user already had get
    weight 0: recommendations never contain seen items, so the model only learns to predict new ones.

    Args:
        events: frame with int `user`, `item`, sorted by user then time.
        weights: optional float per event (e.g. from ratings); default 1.

    Returns:
        dict of numpy arrays: `user` [W], `inputs` [W, L] (item index + 1, 0 = padding),
        `targets` [W, L] (item index, 0 where padded), `weights` [W, L] float32.
    """
    users = events["user"].to_numpy(np.int64)
    items = events["item"].to_numpy(np.int64)
    w = np.ones(len(events), np.float32) if weights is None else np.asarray(weights, np.float32)
    w = w * first_occurrence_mask(events)
    if len(users) and np.any(np.diff(users) < 0):
        raise ValueError("events must be sorted by user (then time) before cutting windows")
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else np.array([], int)
    ends = np.r_[starts[1:], len(users)] if len(users) else np.array([], int)
    win_user, win_end = [], []
    for s, e in zip(starts, ends):
        # targets are positions s+1 .. e-1; a window ends at target position t (exclusive end t+1)
        t = e
        while t - 1 > s:
            win_user.append(users[s])
            win_end.append(t)
            t -= seq_len
    n = len(win_end)
    inputs = np.zeros((n, seq_len), np.int32)
    targets = np.zeros((n, seq_len), np.int32)
    tw = np.zeros((n, seq_len), np.float32)
    user_start = dict(zip(users[starts].tolist(), starts.tolist())) if len(users) else {}
    for row, (u, t) in enumerate(zip(win_user, win_end)):
        s = user_start[u]
        lo = max(s + 1, t - seq_len)  # first target position
        m = t - lo
        targets[row, seq_len - m:] = items[lo:t]
        inputs[row, seq_len - m:] = items[lo - 1 : t - 1] + 1
        tw[row, seq_len - m:] = w[lo:t]
    keep = tw.sum(axis=1) > 0
    return {
        "user": np.asarray(win_user, np.int32)[keep],
        "inputs": inputs[keep],
        "targets": targets[keep],
        "weights": tw[keep],
    }


def last_sequences(events: pd.DataFrame, *, n_users: int, seq_len: int) -> np.ndarray:
    """The last `seq_len` items of every user, left-padded, item index + 1 (0 = padding).

    Returns int32 `[n_users, seq_len]`; users without events get an all-padding row.
    """
    out = np.zeros((n_users, seq_len), np.int32)
    if len(events) == 0:
        return out
    users = events["user"].to_numpy(np.int64)
    items = events["item"].to_numpy(np.int64) + 1
    # position from the end within each user
    rev_rank = events.groupby("user", sort=False).cumcount(ascending=False).to_numpy()
    keep = rev_rank < seq_len
    out[users[keep], seq_len - 1 - rev_rank[keep]] = items[keep]
    return out


def sequence_from_items(item_indices, *, seq_len: int) -> np.ndarray:
    """One left-padded input row `[1, seq_len]` from a list of item indices (oldest first)."""
    seq = np.asarray(list(item_indices), np.int64)[-seq_len:] + 1
    out = np.zeros((1, seq_len), np.int32)
    if len(seq):
        out[0, seq_len - len(seq):] = seq
    return out
