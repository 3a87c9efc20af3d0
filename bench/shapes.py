"""Seeded, deterministic generators for the dataset shapes the hybrid model must handle.

Every shape is drawn from one generative story, so the CF, sequence and text signals are real
but imperfect (no part of the model is handed the answer):

* **Topics.** Items belong to one of `n_topics` topics; each user mixes a few topics
  (Dirichlet(0.3) weights), so users who share topics share items (the CF signal).
* **Long tail.** Within a topic, item popularity is Zipf-like (exponent 1.0 over a shuffled order),
  and 10% of events come from global popularity regardless of taste.
* **Sequences.** Each topic's items form short ordered chains; with probability `p_next` an event
  is the chain successor of the previous event (the order signal the LSTM can use).
* **Text.** Every topic has its own 40-word vocabulary; an item's text mixes topic words with
  generic words (the share of topic words varies per item), so text predicts the topic only
  roughly. Genres (categories) are noisy functions of the topic.

Repeated (user, item) pairs are dropped, so every event is a new item for its user.

Shapes (`SHAPES`):
    a  short histories: 1,500 users x 1,500 items, median 6 events per user (lognormal), item text
       a few short review-like phrases (like a product-review set).
    b  a large catalogue with long histories: 600 users x 10,000 items, ~100k events, titles and
       genres only (like a movie-ratings set).
    c  1M events: 10,000 users x 20,000 items, ~100 events per user.
    d  a third of the items without any text (no title, no description): 3,000 users x 3,000
       items, ~60k events.

    >>> ds = shape_dataset("a")            # a recsys.data.Dataset, the same for the same seed
    >>> inter, items = shape_frames("d", seed=1)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

__all__ = ["EXTRA_SHAPES", "SHAPES", "ShapeSpec", "shape_frames", "shape_dataset"]

T0 = 1_600_000_000
GENERIC_WORDS = ("good great nice fine okay poor value price quality quick arrived works well solid "
                 "recommend love like cheap expensive bought gift daily easy hard small large new "
                 "classic simple best better worth").split()
PHRASES = ("great value", "works well", "as described", "five stars", "would buy again", "not bad",
           "love it", "good quality", "fast shipping", "does the job", "a bit small", "highly recommend")


@dataclass(frozen=True)
class ShapeSpec:
    """Sizes and knobs of one generated shape.

    Attributes:
        n_users, n_items: sizes.
        median_events: median events per user before duplicates are dropped (lognormal activity).
        sigma: log-normal spread of user activity.
        n_topics: number of latent topics.
        text: "phrases" (review-like short phrases), "title" (title only) or "full" (title + description).
        textless_fraction: share of items with no title and no description at all.
        p_next: chance an event is the chain successor of the previous one.
        max_events: cap on one user's events.
    """

    n_users: int
    n_items: int
    median_events: float
    sigma: float
    n_topics: int
    text: str
    textless_fraction: float = 0.0
    p_next: float = 0.25
    max_events: int = 2000
    note: str = ""


SHAPES = {
    "a": ShapeSpec(n_users=1500, n_items=1500, median_events=6.5, sigma=0.5, n_topics=30, text="phrases",
                   note="short histories (median ~6 events/user), short review phrases"),
    "b": ShapeSpec(n_users=600, n_items=10_000, median_events=136, sigma=0.9, n_topics=60, text="title",
                   note="large catalogue, long histories, titles + genres only"),
    "c": ShapeSpec(n_users=10_000, n_items=20_000, median_events=86, sigma=0.7, n_topics=100, text="full",
                   note="1M events over 20k items"),
    "d": ShapeSpec(n_users=3000, n_items=3000, median_events=16, sigma=0.6, n_topics=40, text="full",
                   textless_fraction=1 / 3, note="a third of the items have no text"),
}
# Not one of the shapes: the widest catalogue of the speed target (100k events over 50k items).
EXTRA_SHAPES = {
    "wide": ShapeSpec(n_users=2000, n_items=50_000, median_events=42, sigma=0.6, n_topics=100, text="full",
                      note="speed check: 100k events over 50k items"),
}


def _items_frame(spec: ShapeSpec, topic_of: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n_items, n_topics = spec.n_items, spec.n_topics
    vocab = np.array([[f"t{t}w{j}" for j in range(40)] for t in range(n_topics)])
    generic = np.array(GENERIC_WORDS)
    genres = np.array([f"genre{g}" for g in range(18)])
    topic_genres = rng.integers(0, 18, size=(n_topics, 2))
    topic_share = rng.uniform(0.3, 0.9, n_items)  # how much of an item's text speaks of its topic
    titles, descriptions, categories = [], [], []
    for i in range(n_items):
        t = topic_of[i]

        def words(k):
            own = rng.random(k) < topic_share[i]
            return [vocab[t, rng.integers(40)] if o else generic[rng.integers(len(generic))] for o in own]

        title_words = words(int(rng.integers(2, 5)))
        titles.append(" ".join(w.capitalize() for w in title_words) + f" {i}")
        if spec.text == "phrases":
            parts = [PHRASES[rng.integers(len(PHRASES))] if rng.random() < 0.5 else " ".join(words(int(rng.integers(2, 4))))
                     for _ in range(int(rng.integers(2, 5)))]
            descriptions.append(". ".join(parts))
        elif spec.text == "full":
            descriptions.append(" ".join(words(int(rng.integers(8, 20)))))
        else:
            descriptions.append("")
        g = list(dict.fromkeys(topic_genres[t][: int(rng.integers(1, 3))].tolist()))
        if rng.random() < 0.3:
            g.append(int(rng.integers(18)))
        categories.append("|".join(genres[sorted(set(g))]) if spec.text != "phrases" else "")
    frame = pd.DataFrame({"item_id": [f"it{i}" for i in range(n_items)], "title": titles,
                          "description": descriptions, "categories": categories})
    if spec.textless_fraction:
        none = rng.random(n_items) < spec.textless_fraction
        frame.loc[none, ["title", "description", "categories"]] = ""
    return frame


def shape_frames(shape: str, *, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(interactions, items) frames of a shape; the same shape and seed give identical frames.

    interactions: user_id, item_id, rating (1-5), timestamp (unix seconds, increasing per user);
    items: item_id, title, description, categories ("A|B").
    """
    specs = {**SHAPES, **EXTRA_SHAPES}
    if shape not in specs:
        raise ValueError(f"unknown shape {shape!r}: use one of {sorted(specs)}")
    spec = specs[shape]
    rng = np.random.default_rng([seed, *map(ord, shape)])
    n_items, n_topics = spec.n_items, spec.n_topics
    topic_of = rng.integers(0, n_topics, n_items)
    members = [np.flatnonzero(topic_of == t) for t in range(n_topics)]
    # Zipf-like popularity within each topic over a shuffled order; chains of 3-8 items per topic.
    weight = np.zeros(n_items)
    successor = np.arange(n_items)
    for t, m in enumerate(members):
        m = rng.permutation(m)
        members[t] = m
        weight[m] = 1.0 / np.arange(1, len(m) + 1) ** 1.0
        pos = 0
        while pos < len(m):
            length = int(rng.integers(3, 9))
            chain = m[pos : pos + length]
            successor[chain[:-1]] = chain[1:]
            successor[chain[-1]] = chain[0] if len(chain) > 1 else chain[-1]
            pos += length
    topic_cdf = [np.cumsum(weight[m]) / weight[m].sum() for m in members]
    global_cdf = np.cumsum(weight) / weight.sum()
    n_events = np.clip(np.round(rng.lognormal(np.log(spec.median_events), spec.sigma, spec.n_users)), 2,
                       spec.max_events).astype(int)
    users, items = [], []
    for u in range(spec.n_users):
        n = n_events[u]
        theta = rng.dirichlet(np.full(n_topics, 0.3))
        topics = rng.choice(n_topics, size=n, p=theta)
        picks = np.empty(n, np.int64)
        for t in np.unique(topics):
            where = np.flatnonzero(topics == t)
            picks[where] = members[t][np.minimum(np.searchsorted(topic_cdf[t], rng.random(len(where))),
                                                 len(members[t]) - 1)]
        from_pop = rng.random(n) < 0.10
        picks[from_pop] = np.minimum(np.searchsorted(global_cdf, rng.random(from_pop.sum())), n_items - 1)
        follow = rng.random(n) < spec.p_next
        for j in np.flatnonzero(follow[1:]) + 1:
            picks[j] = successor[picks[j - 1]]
        users.append(np.full(n, u))
        items.append(picks)
    users = np.concatenate(users)
    items = np.concatenate(items)
    frame = pd.DataFrame({"user": users, "item": items})
    frame = frame[~frame.duplicated(["user", "item"])].reset_index(drop=True)
    position = frame.groupby("user").cumcount().to_numpy()
    interactions = pd.DataFrame({
        "user_id": np.char.add("u", frame["user"].to_numpy().astype(str)),
        "item_id": np.char.add("it", frame["item"].to_numpy().astype(str)),
        "rating": rng.integers(1, 6, len(frame)).astype(np.float32),
        "timestamp": T0 + frame["user"].to_numpy() * 7 + position * 3600,
    })
    return interactions, _items_frame(spec, topic_of, rng)


def shape_dataset(shape: str, *, seed: int = 0):
    """The shape as a validated `recsys.data.Dataset` (named `shape-<x>`, or `shape-<x>-seed<n>`)."""
    from recsys.data import build_dataset

    interactions, items = shape_frames(shape, seed=seed)
    name = f"shape-{shape}" if seed == 0 else f"shape-{shape}-seed{seed}"
    return build_dataset(interactions, items, name=name)
