"""Training configuration: one frozen dataclass shared by the app, the CLI and the run store."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field

USER_CELLS = ("lstm", "gru")  # the recurrent cells `recsys.models.SequenceUserTower` offers


@dataclass(frozen=True)
class TrainConfig:
    """Model sizes and training settings. The defaults are meant to work without tuning.

    Attributes:
        alpha: default blend weight of the CF score at serving time; None = the α with the best
            validation NDCG@10 (chosen from stored component scores, no retraining).
        dim: size of every user and item vector (CF and content).
        cf_user_offset: add a free per-user offset to the CF user vector, which is otherwise the
            fold-in of the user's last `seq_len` items alone (then a user's history is all serving needs).
        user_cell: the user behaviour model's recurrent cell, "lstm" (the default) or "gru".
        lstm_units: width of that cell (LSTM or GRU units).
        cnn_filters, kernel_size: Conv1D of the item text model.
        word_dim: word embedding size of the text model.
        text_len: tokens kept per item description (at most: training trims it to the longest text of the
            catalogue, so the text CNN convolves no all-padding column).
        max_vocab: text vocabulary size.
        seq_len: how many recent events the LSTM reads (and the training window length).
        epochs: upper bound; early stopping on validation NDCG@10 usually stops sooner.
        max_trained_events: a second bound on epochs: epochs × training events stays within it (None =
            no bound). Up to 250k events `epochs` decides; 1M events get 5 passes, each of which
            already makes ten times the updates of a pass over 100k events.
        patience: epochs without a validation gain of `min_improvement` before stopping.
        min_improvement: relative validation gain (0.02 = 2%) over the epoch that last reset the patience
            that an epoch needs to reset it again; the best epoch's weights are kept whether or not its
            gain counted, so a slowly creeping curve stops instead of using up the epochs.
        batch_size, lr, dropout: optimisation settings.
        min_steps_per_epoch: small data trains with smaller batches: `batch_size` is halved (down to 16)
            while an epoch would have fewer steps than this (1,500 windows: 32 instead of 64).
        max_full_softmax_items: catalogues up to this size train with a full softmax; larger ones
            with a logQ-corrected sampled softmax: each target against `in_batch_negatives` of the
            batch's other targets plus `num_negatives` uniform items, accidental hits removed, so a
            step's cost grows neither with the catalogue nor with the batch squared.
        num_negatives: uniform negative items per batch for the sampled softmax.
        in_batch_negatives: target slots of the batch shared as negatives per sampled step (2048 keeps
            all B·L = 1,280 of the default batch: sharing 512 learned clearly slower per epoch on shape wide).
        (README "How the defaults were chosen" says how these values were picked.)
        min_rating: events with a rating below this are dropped before training (explicit data).
        rating_weights: weight each target by its rating instead of 1.
        seed: seeds every random step (init, dropout, shuffling).
        time_budget_s: stop training at the best epoch reached within this many seconds (None = no
            budget); the run's metrics say when the budget ended it.
        refit: after the run is evaluated on its test split, train again on every event for the best
            epoch count and serve that model (for export; takes about as long again).
    """

    alpha: float | None = None
    dim: int = 128
    user_cell: str = "lstm"
    cf_user_offset: bool = False
    lstm_units: int = 64
    cnn_filters: int = 64
    kernel_size: int = 3
    word_dim: int = 32
    text_len: int = 32
    max_vocab: int = 20000
    seq_len: int = 20
    epochs: int = 20
    max_trained_events: int | None = 5_000_000
    patience: int = 2
    min_improvement: float = 0.02
    batch_size: int = 64
    min_steps_per_epoch: int = 40
    lr: float = 1e-2
    dropout: float = 0.3
    max_full_softmax_items: int = 2048
    num_negatives: int = 128
    in_batch_negatives: int = 2048
    min_rating: float | None = None
    rating_weights: bool = False
    seed: int = 0
    time_budget_s: float | None = None
    refit: bool = False
    extra: dict = field(default_factory=dict, compare=False, hash=False)

    def __post_init__(self):
        checks = {
            "dim": self.dim >= 1, "lstm_units": self.lstm_units >= 1, "cnn_filters": self.cnn_filters >= 1,
            "kernel_size": self.kernel_size >= 1, "word_dim": self.word_dim >= 1, "text_len": self.text_len >= 1,
            "max_vocab": self.max_vocab >= 3, "seq_len": self.seq_len >= 1, "epochs": self.epochs >= 1,
            "patience": self.patience >= 1, "min_improvement": self.min_improvement >= 0,
            "max_trained_events": self.max_trained_events is None or self.max_trained_events >= 1,
            "batch_size": self.batch_size >= 1, "lr": self.lr > 0, "min_steps_per_epoch": self.min_steps_per_epoch >= 1,
            "dropout": 0 <= self.dropout < 1, "max_full_softmax_items": self.max_full_softmax_items >= 1,
            "num_negatives": self.num_negatives >= 1, "in_batch_negatives": self.in_batch_negatives >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            name = bad[0]
            raise ValueError(f"invalid training setting {name}={getattr(self, name)!r}: "
                             "sizes and counts must be positive, dropout in [0, 1)")
        if self.user_cell not in USER_CELLS:
            raise ValueError(f"invalid user_cell={self.user_cell!r}: choose one of {', '.join(USER_CELLS)}")
        if self.time_budget_s is not None and not self.time_budget_s > 0:
            raise ValueError(f"invalid time_budget_s={self.time_budget_s!r}: the time budget must be positive seconds")
        if self.alpha is not None and not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"invalid alpha={self.alpha!r}: α must be between 0 and 1")

    def planned_epochs(self, n_events: int) -> int:
        """Epochs to train on `n_events` training events: `epochs`, and at most `max_trained_events` events in all."""
        if self.max_trained_events is None or n_events <= 0:
            return self.epochs
        return max(1, min(self.epochs, self.max_trained_events // n_events))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("extra")
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        return cls(**{k: v for k, v in d.items() if k in names})

    def model_key(self) -> str:
        """Hash of every setting. α is included: a fixed α is what early stopping monitors."""
        d = self.to_dict()
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()
