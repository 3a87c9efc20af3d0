import keras
import numpy as np
import pytest

from recsys.features import CategoryEncoder, ItemFeatures, TextVectorizer
from recsys.models import HybridRecommender, ItemContentTower, fold_in_cf_vector

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
                              cnn_filters=5, kernel_size=2, dropout=0.1, cf_fold_in=True)
    model.build()
    model.set_item_features(ItemFeatures.build(items, vec, enc), trained_mask=[1, 1, 0, 1])
    return model


def _batch():
    return {"user": np.array([0, 2], np.int32), "inputs": np.array([[0, 1, 2], [3, 4, 1]], np.int32)}


def test_output_shapes(tiny_model):
    out = tiny_model(_batch())
    assert tuple(out["cf"].shape) == (2, 3, 4)  # [batch, seq_len, n_items]: one CF vector per position
    assert tuple(out["content"].shape) == (2, 3, 4)  # [batch, seq_len, n_items]
    assert tuple(tiny_model.content_item_vectors().shape) == (4, 8)
    assert tuple(tiny_model.sequence_user_vectors(_batch()["inputs"]).shape) == (2, 8)


def test_untrained_items_are_masked_out_of_training_logits(tiny_model):
    out = keras.ops.convert_to_numpy(tiny_model(_batch())["cf"])
    assert (out[..., 2] < -1e8).all() and (out[..., [0, 1, 3]] > -1e3).all()


def test_cf_logits_are_dot_products_with_the_folded_in_user_vector(tiny_model):
    out = keras.ops.convert_to_numpy(tiny_model(_batch())["cf"])
    U = keras.ops.convert_to_numpy(tiny_model.cf_user_table())
    V = keras.ops.convert_to_numpy(tiny_model.cf_item_table())
    Y = keras.ops.convert_to_numpy(tiny_model.cf_context_table())
    b = keras.ops.convert_to_numpy(tiny_model.cf_bias)
    # user 2 read items 2, 3, 0 (inputs 3, 4, 1): position 1 folds in items 2 and 3, position 2 all three
    np.testing.assert_allclose(out[1, 1, 3], (U[2] + (Y[2] + Y[3]) / np.sqrt(2)) @ V[3] + b[3], rtol=1e-5)
    u_last = U[2] + fold_in_cf_vector(Y, [2, 3, 0], seq_len=3)
    np.testing.assert_allclose(out[1, 2, 3], u_last @ V[3] + b[3], rtol=1e-5)
    served = keras.ops.convert_to_numpy(tiny_model.cf_user_vectors(np.array([2]), _batch()["inputs"][1:]))
    np.testing.assert_allclose(served[0], u_last, rtol=1e-5)
    # padding folds in nothing; only the last seq_len items count
    np.testing.assert_allclose(fold_in_cf_vector(Y, [1, 2, 3, 0], seq_len=3), (Y[2] + Y[3] + Y[0]) / np.sqrt(3), rtol=1e-6)
    np.testing.assert_array_equal(fold_in_cf_vector(Y, [], seq_len=3), np.zeros(8, np.float32))


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


def test_an_untrained_model_scores_a_trained_item_by_its_text_and_categories_alone(tiny_model):
    """The id vectors start at zero: before training, a trained item's content vector is the one its
    features give a cold item (id part off), so rare items carry no random id noise into training."""
    features = (tiny_model.item_tokens, tiny_model.item_categories, tiny_model.item_has_text)
    trained = keras.ops.convert_to_numpy(tiny_model.content_item_vectors(
        tokens=features[0], categories=features[1], has_text=features[2],
        id_scale=np.ones(tiny_model.n_items, np.float32)))
    cold = keras.ops.convert_to_numpy(tiny_model.content_item_vectors(
        tokens=features[0], categories=features[1], has_text=features[2],
        id_scale=np.zeros(tiny_model.n_items, np.float32)))
    np.testing.assert_array_equal(trained, cold)
    assert np.abs(trained).max() > 0  # the text and category parts still make the vectors


def _sampled_model(num_sampled, *, log_q=True, num_in_batch=0):
    items = pd.DataFrame({"text": ["a b", "b c", "c d", "d e", "e f"], "categories": [[]] * 5})
    vec = TextVectorizer(sequence_length=3).fit(items["text"])
    enc = CategoryEncoder().fit(items["categories"])
    model = HybridRecommender(n_users=2, n_items=5, vocab_size=vec.vocab_size, text_len=3, n_categories=1, dim=4,
                              lstm_units=4, word_dim=4, cnn_filters=4, kernel_size=2, dropout=0.0,
                              num_sampled=num_sampled, cf_fold_in=True, log_q=log_q, num_in_batch=num_in_batch)
    model.build()
    model.set_item_features(ItemFeatures.build(items, vec, enc), trained_mask=[1, 1, 1, 1, 0])
    return model


def test_sampled_logits_remove_accidental_hits_and_padding_and_apply_log_q():
    model = _sampled_model(3)
    model.set_sampling_distribution([1.0, 1.0, 2.0, 0.0, 0.0])  # p = (0.25, 0.25, 0.5, 0, 0)
    # two windows of length 2; window 0 is padded at position 0; both windows' last target is item 2
    batch = {"user": np.array([0, 1], np.int32), "inputs": np.array([[0, 1], [2, 2]], np.int32),
             "targets": np.array([[0, 2], [1, 2]], np.int32)}
    out = model(batch, training=True)
    content = keras.ops.convert_to_numpy(out["content"])
    labels = keras.ops.convert_to_numpy(out["labels"])
    # column 0 = each position's own target, then the 4 target slots (all kept), then 3 uniform items
    assert content.shape == (2, 2, 1 + 4 + 3) and labels.tolist() == [[0, 0], [0, 0]]
    assert keras.ops.convert_to_numpy(out["candidates"])[:4].tolist() == [0, 2, 1, 2]
    # slot 0 is a padding position: never a negative for anyone
    assert (content[..., 1 + 0] < -1e8).all()
    # positions (0, 1) and (1, 1) have target 2, which slots 1 and 3 also hold: accidental hits
    for b in (0, 1):
        assert content[b, 1, 0] > -1e3 and content[b, 1, 1 + 1] < -1e8 and content[b, 1, 1 + 3] < -1e8
    assert content[1, 0, 1 + 1] > -1e3  # item 2 is a fair negative for the position whose target is 1
    # logQ: with no correction the same logits differ by exactly log q of each column
    plain = _sampled_model(3, log_q=False)
    plain.set_weights([w for w, v in zip(model.get_weights(), model.weights) if "target_share" not in v.path])
    raw = keras.ops.convert_to_numpy(plain(batch, training=True)["content"])
    # 3 valid slots, 3 uniform draws over 5 items: q_i = (3 p_i + 3 / 5) / 6
    q = lambda i: (3 * [0.25, 0.25, 0.5, 0, 0][i] + 0.6) / 6  # noqa: E731
    np.testing.assert_allclose(content[1, 0, 0] - raw[1, 0, 0], -np.log(q(1)), rtol=1e-4)  # own target = item 1
    np.testing.assert_allclose(content[1, 0, 1 + 1] - raw[1, 0, 1 + 1], -np.log(q(2)), rtol=1e-4)  # slot 1 = item 2
    np.testing.assert_allclose(content[0, 1, 0] - raw[0, 1, 0], -np.log(q(2)), rtol=1e-4)  # own target = item 2


def test_sampled_steps_share_a_bounded_number_of_in_batch_negatives():
    """With `num_in_batch` K below the batch's B·L target slots, a step scores 1 + K + M columns:
    K distinct slots drawn among the non-padding ones, then the uniform draws."""
    model = _sampled_model(2, num_in_batch=3)
    batch = {"user": np.array([0, 1, 0], np.int32), "inputs": np.array([[0, 1, 3, 2], [2, 5, 4, 1], [0, 0, 0, 4]], np.int32),
             "targets": np.array([[0, 2, 1, 0], [4, 3, 0, 1], [0, 0, 0, 2]], np.int32)}
    seen = set()
    for _ in range(6):
        out = model(batch, training=True)
        content = keras.ops.convert_to_numpy(out["content"])
        assert content.shape == (3, 4, 1 + 3 + 2)
        negatives = keras.ops.convert_to_numpy(out["candidates"])
        targets = batch["targets"].reshape(-1)[batch["inputs"].reshape(-1) > 0]
        assert set(negatives[:3].tolist()) <= set(targets.tolist())  # drawn from real target slots
        seen.add(tuple(sorted(negatives[:3].tolist())))
        # no position ever scores its own target as a negative
        hits = batch["targets"][:, :, None] == negatives[None, None, :]
        assert (content[:, :, 1:][hits] < -1e8).all()
    assert len(seen) > 1  # a new draw every step


def test_sampled_inputs_read_the_target_slots_vectors_as_a_direct_lookup_would():
    """The window contract (input l + 1 = target l) lets a sampled step run the item tower once per
    target slot; the LSTM must still read exactly the vectors of its input items."""
    model = _sampled_model(4, log_q=False)
    batch = {"user": np.array([0, 1, 0], np.int32), "inputs": np.array([[0, 1, 3, 2], [2, 5, 4, 1], [0, 0, 0, 4]], np.int32),
             "targets": np.array([[0, 2, 1, 0], [4, 3, 0, 1], [0, 0, 0, 2]], np.int32)}
    out = model(batch, training=True)
    negatives = keras.ops.convert_to_numpy(out["candidates"])
    states = keras.ops.convert_to_numpy(model.sequence_states(batch["inputs"], model.content_item_vectors(),
                                                              training=False))
    vectors = keras.ops.convert_to_numpy(model.content_item_vectors())
    bias = keras.ops.convert_to_numpy(model.content_bias)
    expected = np.einsum("bld,cd->blc", states, vectors[negatives]) + bias[negatives]
    own = np.einsum("bld,bld->bl", states, vectors[batch["targets"]]) + bias[batch["targets"]]
    got = keras.ops.convert_to_numpy(out["content"])
    present = batch["inputs"] > 0
    np.testing.assert_allclose(got[..., 0][present], own[present], rtol=1e-4, atol=1e-5)
    kept = got[..., 1:] > -1e8
    assert not kept[:, :, 0].any() and kept.sum() > kept.size / 3  # padding slot 0 is removed, most are kept
    np.testing.assert_allclose(got[..., 1:][kept], expected[kept], rtol=1e-4, atol=1e-5)


def test_training_windows_keep_the_window_contract():
    """Inside every window, the input after a position is that position's target (item + 1)."""
    from recsys.features import training_windows

    rng = np.random.default_rng(0)
    events = pd.DataFrame({"user": np.repeat(np.arange(6), [1, 2, 5, 9, 23, 41]),
                           "item": rng.integers(0, 30, 81)})
    windows = training_windows(events, seq_len=4)
    inputs, targets = windows["inputs"], windows["targets"]
    both = (inputs[:, 1:] > 0) & (inputs[:, :-1] > 0)
    assert both.any()
    np.testing.assert_array_equal(inputs[:, 1:][both], targets[:, :-1][both] + 1)


def test_user_tower_cell_is_swappable_and_saved():
    from recsys.models import SequenceUserTower

    gru = SequenceUserTower(dim=4, units=3, cell="gru")
    gru.build()
    assert isinstance(gru.rnn, keras.layers.GRU)
    assert SequenceUserTower.from_config(gru.get_config()).cell_type == "gru"
    with pytest.raises(ValueError, match="gru"):
        SequenceUserTower(dim=4, units=3, cell="transformer")


def test_the_gru_user_tower_learns_the_planted_sequence():
    """`TrainConfig(user_cell="gru")` swaps the LSTM for a GRU; it still finds "the next volume"."""
    from planted import TINY, planted_dataset

    from recsys.config import TrainConfig
    from recsys.training import evaluate_dataset

    result = evaluate_dataset(planted_dataset(), TrainConfig(**{**TINY, "user_cell": "gru"}))
    assert result["config"]["user_cell"] == "gru"
    assert result["model"]["HR@10"] >= 0.8, result["model"]
    assert result["model_content_only"]["NDCG@10"] > 2 * result["baselines"]["popularity"]["NDCG@10"], result


def test_format_1_model_files_load_with_identical_scores(tmp_path):
    """A `.keras` file of the flat model before the towers (format 1) loads into today's classes."""
    import io
    import json
    import zipfile

    import h5py

    from recsys.models import load_hybrid
    from recsys.models.saving import format_1_targets

    model = _sampled_model(3)
    rng = np.random.default_rng(3)
    for w in model.weights:
        if w.dtype == "float32":
            w.assign(rng.normal(size=w.shape).astype("float32"))
    path = tmp_path / "new.keras"
    model.save(path)
    # rewrite it as format 1 wrote it: the same arrays under the flat model's paths, no model_format
    old = tmp_path / "old.keras"
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as store:
        for name, variable in format_1_targets(model, log_q=True).items():
            store.create_dataset(name, data=keras.ops.convert_to_numpy(variable))
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(old, "w") as dst:
        config = json.loads(src.read("config.json"))
        del config["config"]["model_format"], config["config"]["user_cell"]
        dst.writestr("config.json", json.dumps(config))
        dst.writestr("metadata.json", src.read("metadata.json"))
        dst.writestr("model.weights.h5", buffer.getvalue())
    loaded = load_hybrid(old)
    batch = {"user": np.array([0, 1], np.int32), "inputs": np.array([[0, 1], [2, 2]], np.int32)}
    for key in ("cf", "content"):
        np.testing.assert_allclose(keras.ops.convert_to_numpy(model(batch)[key]),
                                   keras.ops.convert_to_numpy(loaded(batch)[key]), rtol=1e-6)
