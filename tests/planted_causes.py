"""Tiny synthetic data with planted causes, for the explanation and segment tests (no files needed).

Four clusters, each with 10 "noise" items, 2 key items and 2 partner items. A noise item's text is its
cluster's one defining word among 4 filler words shared by all clusters, so only that word tells the
clusters apart (no categories); key p and partner p also share one pair word. A user stays in one cluster: a few random noise items, then one key
item, then two more noise items and then the key's partner item (key p of the cluster is always followed,
three events later, by partner p).
A third of the users are "open": they had the key but not yet the partner, so for them the partner's
score has one planted cause, the key item.
"""

import numpy as np
import pandas as pd

CLUSTER_WORDS = ["astronomy", "baking", "hiking", "jazz"]
FILLER = ["great", "new", "classic", "little", "big", "red", "blue", "green", "old", "modern", "simple",
          "deluxe", "happy", "quiet", "bright", "dark", "small", "grand", "fresh", "golden", "silver", "wild",
          "gentle", "bold"]
PAIR_WORDS = ["comet", "nebula", "sourdough", "rye", "summit", "ridge", "bebop", "swing"]  # key p and partner p share one
N_NOISE, N_KEYS = 10, 2


def item_id(cluster, kind, j):
    return f"c{cluster}{kind}{j}"


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
        for kind, count in (("n", N_NOISE), ("k", N_KEYS), ("p", N_KEYS)):
            for j in range(count):
                pair = [PAIR_WORDS[c * N_KEYS + j]] if kind in "kp" else []
                words = [CLUSTER_WORDS[c]] + pair + list(rng.choice(FILLER, size=4 - len(pair), replace=False))
                words = [words[i] for i in rng.permutation(len(words))]
                textless = kind == "n" and j < round(textless_share * N_NOISE)
                items.append((item_id(c, kind, j), "" if textless else f"Item {c}{kind}{j}",
                              "" if textless else " ".join(words), ""))
    items = pd.DataFrame(items, columns=["item_id", "title", "description", "categories"])
    return interactions, items, open_users


def cause_dataset(**kwargs):
    from recsys.data import build_dataset

    interactions, items, open_users = cause_frames(**kwargs)
    return build_dataset(interactions, items, name="planted-causes"), open_users


TINY_CAUSES = dict(dim=16, lstm_units=32, cnn_filters=16, kernel_size=2, word_dim=8, text_len=8, seq_len=8,
                   epochs=30, patience=30, batch_size=32, lr=1e-2, dropout=0.1, seed=2)
