"""Tests for recsys.data.demo: determinism, sizes, long tail, category vocabularies, planted sequences, cold start."""

import re

import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer

from recsys.data.demo import CATEGORIES, make_demo_frames, write_demo

CONTINUES = re.compile(r"continues where (.+?) left off\.")


@pytest.fixture(scope="module")
def frames():
    return make_demo_frames(seed=0)


def successor_map(items: pd.DataFrame) -> dict[str, str]:
    """item_id -> item_id of its series successor, read from the 'continues where X left off' sentence."""
    by_title = dict(zip(items["title"], items["item_id"]))
    succ = {}
    for item_id, text in zip(items["item_id"], items["description"]):
        match = CONTINUES.search(text)
        if match:
            succ[by_title[match.group(1)]] = item_id
    return succ


def successor_share(events: pd.DataFrame, succ: dict[str, str]) -> float:
    """Share of consecutive (same-user) event pairs whose second item is the first's successor."""
    events = events.sort_values(["user_id", "timestamp"], kind="stable")
    users, items = events["user_id"].to_numpy(), events["item_id"].to_numpy()
    same_user = users[1:] == users[:-1]
    hits = np.array([succ.get(a) == b for a, b in zip(items[:-1], items[1:])])
    return float(hits[same_user].mean())


def test_same_seed_same_frames_other_seed_differs():
    a_events, a_items = make_demo_frames(seed=3, n_users=300, n_items=200, n_events=12_000)
    b_events, b_items = make_demo_frames(seed=3, n_users=300, n_items=200, n_events=12_000)
    pd.testing.assert_frame_equal(a_events, b_events)
    pd.testing.assert_frame_equal(a_items, b_items)
    c_events, c_items = make_demo_frames(seed=4, n_users=300, n_items=200, n_events=12_000)
    assert not a_events.equals(c_events)
    assert not a_items.equals(c_items)


def test_columns_ids_and_value_ranges(frames):
    events, items = frames
    assert list(events.columns) == ["user_id", "item_id", "rating", "timestamp"]
    assert list(items.columns) == ["item_id", "title", "description", "categories"]
    assert events["user_id"].str.fullmatch(r"U\d{5}").all()
    assert items["item_id"].str.fullmatch(r"D\d{4}").all()
    assert set(events["rating"].unique()) == {1, 2, 3, 4, 5}
    span_days = (events["timestamp"].max() - events["timestamp"].min()) / 86_400
    assert 300 < span_days <= 366
    assert items["item_id"].is_unique and items["title"].is_unique
    assert (items["title"].str.len() > 0).all()
    labels = {c["label"] for c in CATEGORIES}
    cats = items["categories"].str.split("|")
    assert cats.map(len).between(1, 2).all()
    assert set(cats.explode()) == labels
    assert not items["categories"].str.contains(r"\|.*\|").any()


def test_counts_in_range(frames):
    events, items = frames
    assert events["user_id"].nunique() == 2000
    assert len(items) == 800
    assert 90_000 <= len(events) <= 110_000
    per_user = events.groupby("user_id").size()
    assert per_user.min() >= 5
    assert per_user.max() >= 150  # heavy tail: some users with hundreds of events
    assert per_user.median() < per_user.mean()


def test_descriptions_have_three_to_five_sentences_and_some_are_missing(frames):
    _, items = frames
    missing = (items["description"] == "").mean()
    assert 0.01 <= missing <= 0.06  # ~3% of items have no description
    texts = items.loc[items["description"] != "", "description"]
    sentences = texts.str.count(r"(?<!Vol)\.(?:\s|$)")  # "Vol. 2" in jazz titles is not a sentence end
    assert sentences.between(3, 5).all()


def test_long_tail_popularity(frames):
    events, items = frames
    counts = events["item_id"].value_counts()  # sorted, most popular first
    top_decile = counts.iloc[: len(items) // 10].sum() / len(events)
    assert top_decile > 0.40
    assert (counts < 25).sum() >= 40  # many items with few events (the mean is ~130)


def test_cold_items_only_in_catalogue(frames):
    events, items = frames
    assert set(events["item_id"]) <= set(items["item_id"])
    cold = set(items["item_id"]) - set(events["item_id"])
    assert 0.03 * len(items) <= len(cold) <= 0.08 * len(items)


def test_each_category_has_its_own_vocabulary(frames):
    _, items = frames
    items = items[items["description"] != ""]
    primary = items["categories"].str.split("|").str[0].to_numpy()
    tfidf = TfidfVectorizer().fit_transform(items["description"])
    sim = (tfidf @ tfidf.T).toarray()
    np.fill_diagonal(sim, np.nan)
    same = primary[:, None] == primary[None, :]
    assert np.nanmean(sim[same]) > 2.5 * np.nanmean(sim[~same])
    nearest = np.nanargmax(sim, axis=1)
    assert (primary[nearest] == primary).mean() > 0.95  # 1-NN on text alone recovers the category


def test_series_successors_share_words(frames):
    _, items = frames
    succ = successor_map(items)
    assert len(succ) > 200
    text = dict(zip(items["item_id"], items["description"]))
    primary = dict(zip(items["item_id"], items["categories"].str.split("|").str[0]))
    pairs = [(a, b) for a, b in succ.items() if text[a] and text[b]]
    rng = np.random.default_rng(0)
    same_cat = {c: [i for i, p in primary.items() if p == c and text[i]] for c in set(primary.values())}
    controls = [(a, same_cat[primary[a]][rng.integers(len(same_cat[primary[a]]))]) for a, _ in pairs]
    vec = TfidfVectorizer().fit(items["description"])

    def mean_cosine(ps):
        left = vec.transform([text[a] for a, _ in ps])
        right = vec.transform([text[b] for _, b in ps])
        return float(np.asarray(left.multiply(right).sum(axis=1)).mean())

    assert mean_cosine(pairs) > 1.5 * mean_cosine(controls)


def test_sequential_signal_beats_shuffled_order(frames):
    events, items = frames
    succ = successor_map(items)
    planted = successor_share(events, succ)
    shuffled = events.assign(timestamp=np.random.default_rng(0).permutation(events["timestamp"].to_numpy()))
    baseline = successor_share(shuffled, succ)
    assert 0.40 <= planted <= 0.70  # about half of the steps follow a series, the rest are taste/popularity
    assert planted > 10 * baseline


def test_small_sizes_and_bad_arguments():
    events, items = make_demo_frames(seed=1, n_users=40, n_items=60, n_events=600)
    assert events["user_id"].nunique() == 40 and len(items) == 60
    assert events.groupby("user_id").size().min() >= 5
    with pytest.raises(ValueError, match="n_events >= 5 \\* n_users"):
        make_demo_frames(n_users=100, n_events=100)


def test_write_demo_round_trip(tmp_path):
    data = pytest.importorskip("recsys.data", reason="recsys.data (the loader) is not in this tree yet")
    from recsys.data.demo import demo_dataset

    events, items = make_demo_frames(seed=0)
    interactions_path, items_path = write_demo(tmp_path / "demo", seed=0)
    assert (interactions_path.name, items_path.name) == ("interactions.csv", "items.csv")
    loaded = data.load_dataset(interactions_path, items_path)
    assert loaded.n_users == events["user_id"].nunique()
    assert loaded.n_items == len(items)
    assert len(loaded.events) == len(events)
    assert loaded.has_timestamps and loaded.has_ratings
    n_cold = len(set(items["item_id"]) - set(events["item_id"]))
    assert int((loaded.items["n_events"] == 0).sum()) == n_cold
    description = dict(zip(items["item_id"], items["description"]))
    with_text = [description[i] != "" for i in loaded.items["item_id"]]
    assert loaded.items.loc[with_text, "text"].tolist() == [description[i] for i in loaded.items.loc[with_text, "item_id"]]
    assert loaded.items["categories"].map(len).between(1, 2).all()
    # Files and in-memory frames describe the same content (fingerprint ignores the name).
    assert loaded.fingerprint() == demo_dataset(seed=0).fingerprint()


def test_demo_dataset_is_cached_and_matches_frames():
    pytest.importorskip("recsys.data", reason="recsys.data (the loader) is not in this tree yet")
    from recsys.data.demo import demo_dataset

    small = {"n_users": 50, "n_items": 60, "n_events": 1_500}
    first = demo_dataset(seed=2, **small)
    assert demo_dataset(seed=2, **small) is first
    assert demo_dataset(seed=3, **small) is not first
    events, items = make_demo_frames(seed=2, **small)
    assert len(first.events) == len(events)
    assert first.n_users == 50 and first.n_items == 60
    assert first.report["n_interactions"] == len(events)
