import numpy as np
import pandas as pd
import pytest

from recsys.features import (
    CategoryEncoder,
    ItemFeatures,
    TextVectorizer,
    last_sequences,
    sequence_from_items,
    tokenize,
    training_windows,
)


def test_tokenize_lowercases_and_strips_punctuation():
    assert tokenize("Toy Story (1995), a GREAT film!") == ["toy", "story", "1995", "a", "great", "film"]


def test_text_vectorizer_is_deterministic_and_pads():
    v = TextVectorizer(max_tokens=10, sequence_length=4).fit(["b a", "a c", "a"])
    # document frequency: a=3, b=1, c=1 -> a first, then b, c alphabetically; ids start at 2
    assert v.vocabulary_ == ["a", "b", "c"]
    np.testing.assert_array_equal(v.transform(["a b zzz", ""]), [[2, 3, 1, 0], [0, 0, 0, 0]])
    again = TextVectorizer.from_config(v.get_config())
    np.testing.assert_array_equal(again.transform(["c a"]), v.transform(["c a"]))


def test_category_encoder_multi_hot_normalised():
    enc = CategoryEncoder().fit([["x", "y"], ["x"], []])
    out = enc.transform([["x", "y"], ["y"], [], ["unknown"]])
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0], [0.0, 0.0], [0.0, 0.0]])


def test_item_features_has_text_flag():
    items = pd.DataFrame({"text": ["red apple", ""], "categories": [["fruit"], []]})
    f = ItemFeatures.build(items, TextVectorizer(sequence_length=3).fit(items["text"]), CategoryEncoder().fit(items["categories"]))
    np.testing.assert_array_equal(f.has_text, [1.0, 0.0])
    assert f.tokens.shape == (2, 3)


def _events(rows):
    return pd.DataFrame(rows, columns=["user", "item"]).assign(rating=1.0, timestamp=0)


def test_training_windows_every_later_event_is_a_target_once():
    ev = _events([(0, 5), (0, 6), (0, 7), (0, 8), (0, 9), (1, 1), (1, 2)])
    w = training_windows(ev, seq_len=3)
    # user 0 has targets 6,7,8,9 -> windows (7,8,9) and (6); user 1 has target 2
    assert sorted(w["targets"][w["weights"] > 0].tolist()) == [2, 6, 7, 8, 9]
    row = [i for i, u in enumerate(w["user"]) if u == 0 and w["targets"][i, -1] == 9][0]
    np.testing.assert_array_equal(w["inputs"][row], [6 + 1, 7 + 1, 8 + 1])  # the items before 7, 8, 9 (+1)
    np.testing.assert_array_equal(w["targets"][row], [7, 8, 9])


def test_training_windows_zero_weight_for_repeated_targets():
    ev = _events([(0, 1), (0, 2), (0, 1), (0, 3)])
    w = training_windows(ev, seq_len=5)
    np.testing.assert_array_equal(w["targets"][0][-3:], [2, 1, 3])
    np.testing.assert_array_equal(w["weights"][0][-3:], [1, 0, 1])


def test_training_windows_require_sorted_users():
    with pytest.raises(ValueError, match="sorted"):
        training_windows(_events([(1, 1), (1, 2), (0, 1), (0, 2)]), seq_len=2)


def test_last_sequences_left_padded():
    ev = _events([(0, 1), (0, 2), (0, 3), (2, 4)])
    out = last_sequences(ev, n_users=3, seq_len=2)
    np.testing.assert_array_equal(out, [[2 + 1, 3 + 1], [0, 0], [0, 4 + 1]])
    np.testing.assert_array_equal(sequence_from_items([7, 8, 9], seq_len=4), [[0, 8, 9, 10]])


def test_text_vectorizer_trim_shortens_to_the_longest_text_only():
    from recsys.features import TextVectorizer

    texts = ["red apple", "a very green pear indeed", ""]
    trimmed = TextVectorizer(sequence_length=32).fit(texts, trim=True)
    assert trimmed.sequence_length == 5
    tokens = trimmed.transform(texts)
    assert tokens.shape == (3, 5) and (tokens[1] > 0).all() and (tokens[2] == 0).all()
    assert TextVectorizer(sequence_length=3).fit(texts, trim=True).sequence_length == 3  # never longer
    assert TextVectorizer(sequence_length=32).fit(texts).sequence_length == 32  # only when asked
