"""Tiny synthetic data with a planted sequential pattern, for learning tests (no files needed).

Items form 4 topics of 15 items each. Every user walks forward through one topic in order
(item j is followed by item j+1 of the same topic), so the next item is predictable from the last
one, while popularity is nearly flat. Item texts name their topic; one extra item per topic has a
description but no interactions (a cold-start item).
"""

import numpy as np
import pandas as pd

N_TOPICS = 4
PER_TOPIC = 15
WORDS = ["astronomy telescope stars", "baking bread flour", "hiking trail boots", "jazz trumpet records"]


def planted_frames(*, n_users=160, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    t0 = 1_700_000_000
    for u in range(n_users):
        topic = u % N_TOPICS
        start = int(rng.integers(0, PER_TOPIC - 6))
        length = int(rng.integers(5, PER_TOPIC - start + 1))
        for step in range(length):
            item = topic * PER_TOPIC + start + step
            rows.append((f"u{u:03d}", f"i{item:03d}", 4.0, t0 + u * 1000 + step * 10))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = []
    for topic in range(N_TOPICS):
        for j in range(PER_TOPIC):
            item = topic * PER_TOPIC + j
            items.append((f"i{item:03d}", f"{WORDS[topic].split()[0].title()} volume {j + 1}",
                          f"{WORDS[topic]} volume {j + 1}. All about {WORDS[topic]}.", f"topic{topic}"))
        items.append((f"cold{topic}", f"New {WORDS[topic].split()[0]} book",
                      f"{WORDS[topic]} volume new. All about {WORDS[topic]}.", f"topic{topic}"))
    items = pd.DataFrame(items, columns=["item_id", "title", "description", "categories"])
    return interactions, items


def planted_dataset(**kwargs):
    from recsys.data import build_dataset

    interactions, items = planted_frames(**kwargs)
    return build_dataset(interactions, items, name="planted")


# min_steps_per_epoch=1: the planted tests keep the batch they were calibrated with (no small-data halving)
TINY = dict(dim=16, lstm_units=24, cnn_filters=16, kernel_size=2, word_dim=8, text_len=12, seq_len=8,
            epochs=12, patience=12, batch_size=32, lr=1e-2, dropout=0.1, seed=3, min_steps_per_epoch=1)
