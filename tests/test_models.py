import keras
import numpy as np
import pytest

from recsys.features import CategoryEncoder, ItemFeatures, TextVectorizer
from recsys.models import HybridRecommender, ItemContentTower

import pandas as pd


@pytest.fixture(scope="module")
def tiny_model():
    keras.utils.set_random_seed(1)
    items = pd.DataFrame({"text": ["red apple pie", "green apple", "", "blue car fast"],
                          "categories": [["food"], ["food"], [], ["car"]]})
    vec = TextVectorizer(sequence_length=5).fit(items["text"])
    enc = CategoryEncoder().fit(items["categories"])
    model = HybridRecommender(n_users=3, n_items=4, vocab_size=vec.vocab_size, text_len=5,
                              n_categories=enc.n_categories, dim=8, lstm_units=6, word_dim=4,
                              cnn_filters=5, kernel_size=2, dropout=0.1)
    model.build()
    model.set_item_features(ItemFeatures.build(items, vec, enc), trained_mask=[1, 1, 0, 1])
    return model


def _batch():
    return {"user": np.array([0, 2], np.int32), "inputs": np.array([[0, 1, 2], [3, 4, 1]], np.int32)}


def test_output_shapes(tiny_model):
    out = tiny_model(_batch())
    assert tuple(out["cf"].shape) == (2, 4)  # [batch, n_items]
    assert tuple(out["content"].shape) == (2, 3, 4)  # [batch, seq_len, n_items]
    assert tuple(tiny_model.content_item_vectors().shape) == (4, 8)
    assert tuple(tiny_model.sequence_user_vectors(_batch()["inputs"]).shape) == (2, 8)


def test_untrained_items_are_masked_out_of_training_logits(tiny_model):
    out = keras.ops.convert_to_numpy(tiny_model(_batch())["cf"])
    assert (out[:, 2] < -1e8).all() and (out[:, [0, 1, 3]] > -1e3).all()


def test_cf_logits_are_user_item_dot_products(tiny_model):
    out = keras.ops.convert_to_numpy(tiny_model(_batch())["cf"])
    U = keras.ops.convert_to_numpy(tiny_model.user_embedding.embeddings)
    V = keras.ops.convert_to_numpy(tiny_model.item_embedding.embeddings)
    b = keras.ops.convert_to_numpy(tiny_model.cf_bias)
    np.testing.assert_allclose(out[1, 3], U[2] @ V[3] + b[3], rtol=1e-5)


def test_get_config_round_trip(tiny_model):
    clone = HybridRecommender.from_config(tiny_model.get_config())
    clone.build()
    clone.set_weights(tiny_model.get_weights())
    a, b = tiny_model(_batch()), clone(_batch())
    np.testing.assert_allclose(keras.ops.convert_to_numpy(a["content"]), keras.ops.convert_to_numpy(b["content"]), rtol=1e-6)
    tower = ItemContentTower.from_config(tiny_model.item_tower.get_config())
    assert tower.get_config() == tiny_model.item_tower.get_config()


def test_keras_file_round_trip_in_safe_mode(tiny_model, tmp_path):
    path = tmp_path / "m.keras"
    tiny_model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True, compile=False)
    for key in ("cf", "content"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(tiny_model(_batch())[key]),
                                   keras.ops.convert_to_numpy(loaded(_batch())[key]), rtol=1e-6)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded.item_tokens),
                                  keras.ops.convert_to_numpy(tiny_model.item_tokens))


def test_text_changes_content_vector_but_not_for_textless_items(tiny_model):
    base = keras.ops.convert_to_numpy(tiny_model.content_item_vectors())
    tokens = keras.ops.convert_to_numpy(tiny_model.item_tokens).copy()
    tokens[0] = np.roll(tokens[0], 1)
    tokens[0, 0] = 1
    other = keras.ops.convert_to_numpy(tiny_model.content_item_vectors(
        tokens=tokens, categories=tiny_model.item_categories, has_text=tiny_model.item_has_text,
        id_scale=tiny_model.item_trained))
    assert not np.allclose(base[0], other[0])
    np.testing.assert_allclose(base[2], other[2])
