"""The rating rules of training: which events pass `min_rating`, and how much each event weighs.

In-memory training (`recsys.training.fit`) and streaming training over shards (`recsys.training.prepare`)
both call these pure functions, so both keep and weigh the same events the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def apply_min_rating(events: pd.DataFrame, min_rating: float | None) -> pd.DataFrame:
    """The events rated at least `min_rating`; all of them without a threshold or a rating column."""
    if min_rating is None or "rating" not in events:
        return events
    return events[events["rating"].to_numpy() >= min_rating]


def rating_weights(ratings) -> np.ndarray:
    """Per-event weights before scaling [n] float32: the rating where it is finite and positive, else 1."""
    r = np.asarray(ratings, dtype=np.float32)
    return np.where(np.isfinite(r) & (r > 0), r, np.float32(1.0))


def weight_scale(total: float, count: int) -> float:
    """The factor that makes weights average 1 (1 / their mean, at least 1e-6): with rating weights on,
    the loss keeps its size, so the learning rate means the same. 1.0 when there are no weights."""
    return 1.0 / max(total / count, 1e-6) if count else 1.0


def scaled_rating_weights(ratings) -> np.ndarray:
    """`rating_weights` scaled by `weight_scale` [n] float32: what each event weighs in training."""
    weights = rating_weights(ratings)
    return weights * np.float32(weight_scale(float(weights.sum(dtype=np.float64)), len(weights)))
