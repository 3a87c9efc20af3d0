"""Why this item: real tiny TensorFlow training on planted causes, and the sums the explanation promises."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from planted import TINY
from planted_causes import TINY_CAUSES, cause_dataset, one_word_dataset
from recsys.config import TrainConfig
from recsys.explain import Explainer, Explanation, markdown_escape
from recsys.serving import ColdStartScorer, recommend
from recsys.training import train_run


@pytest.fixture(scope="module")
def planted():
    return cause_dataset()


@pytest.fixture(scope="module")
def run(planted, tmp_path_factory):
    dataset, _ = planted
    return train_run(dataset, TrainConfig(**TINY_CAUSES), run_dir=tmp_path_factory.mktemp("explain") / "run")


@pytest.fixture(scope="module")
def explainer(run):
    return Explainer(run)


@pytest.fixture(scope="module")
def one_word(tmp_path_factory):
    """(run, explainer, topic word per item id) on topic walks whose texts name the topic with one word."""
    dataset, word_of = one_word_dataset()
    run = train_run(dataset, TrainConfig(**TINY), run_dir=tmp_path_factory.mktemp("explain") / "words")
    return run, Explainer(run), word_of


@pytest.fixture(scope="module")
def partner_explanations(planted, explainer):
    """(key item id, explanation of the partner's score) for every user who had the key but not the partner."""
    _, open_users = planted
    return [(key, explainer.explain(explainer.user_index(uid), explainer.item_index(partner)))
            for uid, (key, partner) in list(open_users.items())[::2]]


def test_the_key_item_that_planted_the_partner_ranks_first(partner_explanations):
    def share_first(column):
        return np.mean([e.history.sort_values(column, ascending=False)["item_id"].iat[0] == key
                        for key, e in partner_explanations])

    assert len(partner_explanations) >= 50
    assert share_first("content_contribution") >= 0.7  # leave-one-out through the LSTM
    assert share_first("cf_contribution") >= 0.7  # item-based decomposition of the CF user vector
    # the history list itself is ordered by the α-blended contribution
    assert np.mean([e.history["item_id"].iat[0] == key for key, e in partner_explanations]) >= 0.7
    for _, e in partner_explanations[:5]:
        blended = e.alpha * e.history["cf_contribution"] + (1 - e.alpha) * e.history["content_contribution"]
        np.testing.assert_allclose(e.history["contribution"], blended, rtol=1e-5, atol=1e-6)
        assert list(e.history["contribution"]) == sorted(e.history["contribution"], reverse=True)


def test_the_one_word_that_defines_the_cluster_wins_the_max_pool(one_word):
    run, explainer, word_of = one_word
    recs = recommend(run, np.arange(0, run.n_users, 3), k=2)
    wins = []
    for row in recs.itertuples():
        e = explainer.explain(int(row.user), int(row.item))
        wins.append(len(e.words) > 0 and word_of[row.item_id] in e.words["text"].iat[0].split())
        assert list(e.words["weight"]) == sorted(e.words["weight"], reverse=True)
    assert len(wins) >= 100
    assert np.mean(wins) >= 0.75, np.mean(wins)


def test_word_weights_are_the_text_part_of_the_content_score(run, explainer):
    import keras

    user, item = 5, int(recommend(run, [5], k=1)["item"].iat[0])
    e = explainer.explain(user, item)
    tower = explainer.model.item_tower
    tokens = keras.ops.convert_to_tensor(np.asarray(explainer.model.item_tokens)[item:item + 1])
    words = tower.word_embedding(tokens)
    feats = tower.conv(words) * keras.ops.cast(keras.ops.not_equal(tokens, 0), "float32")[..., None]
    text_vec = np.asarray(tower.text_dense(keras.ops.max(feats, axis=1)))[0]
    _, h = ColdStartScorer(run).new_user_vectors(explainer.user_items(user))
    assert e.words["weight"].sum() + e.text_bias == pytest.approx(float(text_vec @ h), rel=1e-4, abs=1e-4)
    np.testing.assert_allclose(e.words["share"], e.words["weight"] / e.content_score, rtol=1e-6)
    text = e.text
    for r in e.words.itertuples():  # spans point at the n-gram in the item's own text
        assert text[r.start:r.end].lower() == r.text.lower()


def test_contributions_add_up_as_documented(run, explainer):
    for user in (0, 7, 42):
        for item in recommend(run, [user], k=3)["item"]:
            for alpha in (0.0, 0.3, 1.0):
                e = explainer.explain(user, int(item), alpha=alpha)
                cf, content = run.vectors.scores([user])
                assert e.cf_score == pytest.approx(float(cf[0, item]), rel=1e-4, abs=1e-4)
                assert e.content_score == pytest.approx(float(content[0, item]), rel=1e-4, abs=1e-4)
                assert e.score == pytest.approx(alpha * e.cf_score + (1 - alpha) * e.content_score, rel=1e-6)
                h = e.history
                assert h["cf_contribution"].sum() + e.cf_residual + e.cf_bias == pytest.approx(e.cf_score, abs=1e-4)
                assert (h["content_contribution"].sum() + e.content_interaction + e.content_empty
                        == pytest.approx(e.content_score, abs=1e-4))
                assert set(h["item"]) == set(explainer.user_items(user))


def test_leave_one_out_is_the_score_drop_without_that_item(run, explainer):
    scorer = ColdStartScorer(run)
    user = 11
    items = explainer.user_items(user)
    item = int(recommend(run, [user], k=1)["item"].iat[0])
    e = explainer.explain(user, item)
    target, bias = np.asarray(run.vectors.content_item)[item], float(run.vectors.content_bias[item])
    for j in np.unique(items):
        _, without = scorer.new_user_vectors(items[items != j])
        expected = e.content_score - float(without @ target + bias)
        got = float(e.history.loc[e.history["item"] == j, "content_contribution"].iat[0])
        assert got == pytest.approx(expected, abs=1e-4)


def test_cf_decomposition_by_hand():
    """U_u = 2·V_a + 1·V_b with orthonormal item vectors: with no ridge, a gives 2·<V_a, V_i>, b 1·<V_b, V_i>."""
    cf_item = np.eye(3, dtype=np.float32)  # items a=0, b=1, i=2 ... and i is not orthogonal to a:
    cf_item[2] = [0.5, 0.25, 1.0]
    vectors = SimpleNamespace(cf_user=np.array([[2.0, 1.0, 0.0]], np.float32), cf_item=cf_item,
                              cf_bias=np.array([0.0, 0.0, 0.1], np.float32), content_item=np.zeros((3, 2), np.float32),
                              content_bias=np.zeros(3, np.float32))
    fake_run = SimpleNamespace(config={"seq_len": 4}, vectors=vectors)
    contrib, residual, bias = Explainer(fake_run, model=SimpleNamespace(cf_context_table=lambda: None), ridge=1e-9).cf_part(0, 2, np.array([0, 1]))
    np.testing.assert_allclose(contrib, [2 * 0.5, 1 * 0.25], atol=1e-6)  # 1.0 + 0.25 = <U_u, V_i>
    assert residual == pytest.approx(0.0, abs=1e-6) and bias == pytest.approx(0.1)


def test_cf_decomposition_is_exact_when_the_user_vector_is_folded_in():
    """U'_u = U_u + (Y_a + Y_a + Y_b)/√3 for a window [a, a, b]: a gives 2/√3·<Y_a, V_i>, b 1/√3·<Y_b, V_i>."""
    context = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]], np.float32)  # Y_a, Y_b, Y_i
    cf_item = np.array([[0.0, 0.0], [0.0, 0.0], [3.0, 1.0]], np.float32)  # V_i = (3, 1)
    offset = np.array([0.5, -1.0], np.float32)  # U_u
    served = offset + (2 * context[0] + context[1]) / np.sqrt(3)
    vectors = SimpleNamespace(cf_user=served[None, :], cf_item=cf_item, cf_bias=np.array([0, 0, 0.2], np.float32),
                              content_item=np.zeros((3, 2), np.float32), content_bias=np.zeros(3, np.float32))
    model = SimpleNamespace(cf_context_table=lambda: context)
    explainer = Explainer(SimpleNamespace(config={"seq_len": 3}, vectors=vectors), model=model)
    contrib, residual, bias = explainer.cf_part(0, 2, np.array([0, 1]), np.array([1, 0, 0, 1]))  # window: a, a, b
    np.testing.assert_allclose(contrib, [2 / np.sqrt(3) * 3.0, 1 / np.sqrt(3) * 2.0], rtol=1e-6)
    assert residual == pytest.approx(0.5 * 3 - 1.0)  # <U_u, V_i>
    assert contrib.sum() + residual + bias == pytest.approx(float(served @ cf_item[2]) + 0.2, rel=1e-6)
    assert "exact" in explainer.cf_method


def test_highlighted_text_is_escaped_text_with_only_the_marks_as_markdown():
    text = "<b>Jazz</b> *records* [link](x) jazz"
    words = pd.DataFrame({"text": ["jazz", "records"], "weight": [0.5, -0.1], "share": [0.5, -0.1],
                          "start": [3, 12], "end": [7, 19], "token_start": [1, 3], "token_end": [2, 4]})
    e = Explanation(user=0, item=0, user_id="u", item_id="i", title="t", alpha=0.5, score=1.0, cf_score=1.0,
                    content_score=1.0, cf_bias=0.0, cf_residual=0.0, content_empty=0.0, content_interaction=0.0,
                    text_bias=0.0, history=pd.DataFrame(), words=words, text=text)
    md = e.highlighted_markdown()
    assert md == (r"\<b\>:orange-background[Jazz]\</b\> \*records\* \[link\]\(x\) jazz")
    assert "<b>" not in md and markdown_escape("a_b") == r"a\_b"


def test_cli_explain_writes_the_json_and_bad_ids_exit_2(run, planted, tmp_path, capsys):
    from recsys.cli import main

    _, open_users = planted
    uid, (key, partner) = next(iter(open_users.items()))
    out = tmp_path / "explain.json"
    assert main(["explain", "--run-dir", str(run.path), "--user", uid, "--item", partner, "--alpha", "0.4",
                 "--out", str(out)]) == 0
    data = json.loads(out.read_text())
    assert {"score", "cf_score", "content_score", "history", "words"} <= set(data)
    assert {"item_id", "title", "cf_contribution", "content_contribution"} <= set(data["history"][0])
    assert {"text", "weight"} <= set(data["words"][0])
    assert data["score"] == pytest.approx(0.4 * data["cf_score"] + 0.6 * data["content_score"], rel=1e-6)
    capsys.readouterr()
    for bad in (["--user", "nobody", "--item", partner], ["--user", uid, "--item", "nothing"],
                ["--user", uid, "--item", partner, "--alpha", "1.5"]):
        assert main(["explain", "--run-dir", str(run.path), *bad, "--out", str(out)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "\n" not in err


def test_explanation_bars_stack_the_two_weighted_parts_per_history_item():
    from recsys.plots import explanation_bars

    history = pd.DataFrame({"title": ["<b>A</b>", "B"], "item_id": ["a", "b"], "cf_contribution": [1.0, -2.0],
                            "content_contribution": [0.5, 0.1], "contribution": [0.75, -0.95]})
    fig = explanation_bars(history, alpha=0.5)
    cf, content = fig.data
    assert list(cf.y) == ["1. B", "2. &lt;b&gt;A&lt;/b&gt;"]  # largest |contribution| first, titles escaped
    np.testing.assert_allclose(np.asarray(cf.x) + np.asarray(content.x), [-0.95, 0.75])
