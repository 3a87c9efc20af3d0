"""Tiny synthetic data with planted causes, for the explanation and segment tests (no files needed).

Four clusters, each with 10 "noise" items and 2 key items, plus 2 partner items shared by all clusters.
A noise item's text is its cluster's one defining word among 3 of 5 filler words shared by all clusters, so
only that word tells the clusters apart (no categories). A user stays in one cluster: a few random noise
items, one key item, two more noise items and then the key's partner (key p of every cluster is always
followed, three events later, by partner p; key p and partner p share one pair word). Half of each
cluster's users get each partner, so the cluster's noise items say nothing about which partner comes:
only the key does. A third of the users are "open": they had the key but not yet the partner, so for
them the partner's score has one planted cause, the key item.
"""

import numpy as np
import pandas as pd

CLUSTER_WORDS = ["astronomy", "baking", "hiking", "jazz"]
FILLER = ["great", "new", "classic", "little", "big"]  # so few that they name neither an item nor a cluster
PAIR_WORDS = ["comet", "sourdough"]  # key p (of every cluster) and partner p share one
N_NOISE, N_KEYS = 10, 2


def item_id(cluster, kind, j):
    """Noise and key items belong to a cluster; partners ("p") are shared by all clusters."""
    return f"p{j}" if kind == "p" else f"c{cluster}{kind}{j}"


def cause_frames(*, n_users=320, seed=0, textless_share=0.0):
    """(interactions, items, open_users): open_users maps user id -> (key item id, partner item id).

    `textless_share` of the noise items get no title and no description (items without text).
    """
    rng = np.random.default_rng(seed)
    rows, open_users = [], {}
    t0 = 1_700_000_000
    for u in range(n_users):
        c, p = u % 4, (u // 4) % N_KEYS
        is_open = (u // 12) % 3 == 0
        noise = [item_id(c, "n", j) for j in rng.choice(N_NOISE, size=N_NOISE, replace=False)]
        pre, between = int(rng.integers(2, 4)), 2
        seq = noise[:pre] + [item_id(c, "k", p)] + noise[pre:pre + between]
        if is_open:
            open_users[f"u{u:03d}"] = (item_id(c, "k", p), item_id(c, "p", p))
        else:
            seq += [item_id(c, "p", p)] + noise[pre + between:pre + between + 2]
        rows += [(f"u{u:03d}", it, 4.0, t0 + u * 1000 + s * 10) for s, it in enumerate(seq)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = []
    for c in range(4):
        for kind, count in (("n", N_NOISE), ("k", N_KEYS)):
            for j in range(count):
                pair = [PAIR_WORDS[j]] if kind == "k" else []
                words = [CLUSTER_WORDS[c]] + pair + list(rng.choice(FILLER, size=3 - len(pair), replace=False))
                words = [words[i] for i in rng.permutation(len(words))]
                textless = kind == "n" and j < round(textless_share * N_NOISE)
                items.append((item_id(c, kind, j), "" if textless else f"Item {c}{kind}{j}",
                              "" if textless else " ".join(words), ""))
    for j in range(N_KEYS):
        words = [PAIR_WORDS[j]] + list(rng.choice(FILLER, size=3, replace=False))
        items.append((item_id(0, "p", j), f"Partner {j}", " ".join(words[i] for i in rng.permutation(4)), ""))
    items = pd.DataFrame(items, columns=["item_id", "title", "description", "categories"])
    return interactions, items, open_users


def cause_dataset(**kwargs):
    from recsys.data import build_dataset

    interactions, items, open_users = cause_frames(**kwargs)
    return build_dataset(interactions, items, name="planted-causes"), open_users


TINY_CAUSES = dict(dim=16, lstm_units=32, cnn_filters=16, kernel_size=2, word_dim=8, text_len=8, seq_len=8,
                   epochs=30, patience=30, batch_size=32, lr=1e-2, dropout=0.1, seed=2, min_steps_per_epoch=1)


def one_word_dataset(*, n_users=160, seed=0):
    """Topic data whose texts name the topic with one word: "great astronomy new".

    Four topics of 15 items; every user had 5–10 random items of one topic, in random order, so any
    unseen item of the user's topic is a likely next item and only the topic word (among two random
    filler words that carry nothing; no categories) tells the topics apart in the text.

    Returns (dataset, topic word of each item id).
    """
    from recsys.data import build_dataset

    rng = np.random.default_rng(seed)
    rows = []
    for u in range(n_users):
        topic = u % 4
        picks = rng.choice(15, size=int(rng.integers(5, 11)), replace=False)
        rows += [(f"u{u:03d}", f"t{topic}i{j:02d}", 4.0, 1_700_000_000 + u * 1000 + s * 10) for s, j in enumerate(picks)]
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items, word_of = [], {}
    for topic in range(4):
        for j in range(15):
            tokens = [CLUSTER_WORDS[topic], *rng.choice(FILLER, size=2, replace=False)]
            items.append((f"t{topic}i{j:02d}", f"Item {topic}-{j}", " ".join(tokens[i] for i in rng.permutation(3)), ""))
            word_of[f"t{topic}i{j:02d}"] = CLUSTER_WORDS[topic]
    items = pd.DataFrame(items, columns=["item_id", "title", "description", "categories"])
    return build_dataset(interactions, items, name="one-word topics"), word_of
