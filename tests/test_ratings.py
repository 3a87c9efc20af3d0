"""Tests for recsys.data.ratings: the one rating threshold and rating weights of both training paths."""

import numpy as np
import pandas as pd

from recsys.data.ratings import apply_min_rating, rating_weights, scaled_rating_weights, weight_scale


def test_min_rating_keeps_ratings_at_or_above_it():
    events = pd.DataFrame({"user": [0, 0, 1, 1], "rating": [1.0, 3.5, 4.0, 2.0]})
    assert apply_min_rating(events, 3.5)["rating"].tolist() == [3.5, 4.0]
    assert apply_min_rating(events, None) is events
    no_ratings = events.drop(columns="rating")
    assert apply_min_rating(no_ratings, 3.5) is no_ratings


def test_weights_are_the_rating_where_it_is_finite_and_positive_else_one():
    weights = rating_weights([2.0, 0.0, -1.0, np.nan, np.inf, 4.0])
    assert weights.dtype == np.float32
    np.testing.assert_array_equal(weights, [2, 1, 1, 1, 1, 4])


def test_scaled_weights_average_one():
    # [1, 3]: mean 2, so 0.5 and 1.5
    np.testing.assert_allclose(scaled_rating_weights([1.0, 3.0]), [0.5, 1.5])
    assert weight_scale(10.0, 4) == 0.4  # mean 2.5
    assert weight_scale(0.0, 0) == 1.0  # no weights: nothing to scale
    assert weight_scale(1e-9, 1) == 1e6  # the mean is floored at 1e-6


def test_shard_by_shard_weights_scaled_by_the_overall_mean_equal_the_in_memory_weights():
    shards = [np.array([5.0, 1.0, 0.0]), np.array([2.0, np.nan])]
    raw = [rating_weights(r) for r in shards]
    scale = weight_scale(sum(float(w.sum(dtype=np.float64)) for w in raw), sum(len(w) for w in raw))
    streamed = np.concatenate(raw) * np.float32(scale)
    np.testing.assert_array_equal(streamed, scaled_rating_weights(np.concatenate(shards)))
