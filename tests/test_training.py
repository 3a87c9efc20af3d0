"""Real TensorFlow training on tiny planted data: learning, determinism, α, cold start, progress, cancel."""

import threading

import numpy as np
import pytest

from planted import PER_TOPIC, TINY, planted_dataset
from recsys.config import TrainConfig
from recsys.serving import ColdStartScorer, recommend
from recsys.store import RunStore, load_run
from recsys.training import Progress, TrainingCancelled, evaluate_dataset, train_run


@pytest.fixture(scope="module")
def dataset():
    return planted_dataset()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return RunStore(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def run_and_progress(dataset, store):
    reports = []
    run = train_run(dataset, TrainConfig(**TINY), store=store, progress=reports.append)
    return run, reports


@pytest.fixture(scope="module")
def run(run_and_progress):
    return run_and_progress[0]


def test_model_finds_the_planted_sequence_far_above_popularity(run):
    result = run.metrics["evaluation"]  # the stored test report: what `evaluate` reports for this data + config
    model_hr = result["model"]["HR@10"]
    pop_hr = result["baselines"]["popularity"]["HR@10"]
    assert model_hr >= 0.8, result["model"]
    assert model_hr >= 2 * pop_hr, (model_hr, pop_hr)
    # the order-aware content/sequence part is what finds "the next volume"
    assert result["model_content_only"]["NDCG@10"] > result["baselines"]["popularity"]["NDCG@10"]


def test_progress_callback_fires_with_epochs_and_loss(run_and_progress):
    _, reports = run_and_progress
    phases = {p.phase for p in reports}
    assert {"preparing", "training", "done"} <= phases
    training = [p for p in reports if p.phase == "training"]
    assert training[-1].epoch >= 1 and training[-1].loss is not None and np.isfinite(training[-1].loss)
    assert any(p.val_ndcg is not None for p in training)
    assert all(p.eta_s is None or p.eta_s >= 0 for p in training)


def test_same_data_and_config_returns_the_stored_run(dataset, store, run):
    reports = []
    again = train_run(dataset, TrainConfig(**TINY), store=store, progress=reports.append)
    assert again.path == run.path
    assert [p.phase for p in reports] == ["done"]  # no training happened
    assert [r["run_id"] for r in store.list_runs()] == [run.run_id]


def test_same_seed_gives_the_same_model(dataset, tmp_path, run):
    other = train_run(dataset, TrainConfig(**TINY), run_dir=tmp_path / "again")
    for name in ("cf_user", "cf_item", "seq_user", "content_item"):
        np.testing.assert_allclose(getattr(other.vectors, name), getattr(run.vectors, name), rtol=1e-5, atol=1e-6)


def test_alpha_one_is_pure_cf_and_zero_is_pure_content(run):
    users = np.arange(run.n_users)
    for alpha, column in ((1.0, "cf_score"), (0.0, "content_score")):
        recs = recommend(run, users, k=5, alpha=alpha)
        np.testing.assert_allclose(recs["score"], recs[column], rtol=1e-6)
        for _, group in recs.groupby("user"):
            assert list(group[column]) == sorted(group[column], reverse=True)
        cf, content = run.vectors.scores(users[:3])
        part = cf if alpha == 1.0 else content
        seen = set(run.events[run.events["user"] == 0]["item"])
        expected = [i for i in np.argsort(-part[0], kind="stable") if i not in seen][:5]
        assert list(recs[recs["user"] == 0]["item"]) == expected


def test_recommendations_never_contain_seen_items(run):
    recs = recommend(run, k=10)
    seen = set(zip(run.events["user"], run.events["item"]))
    assert not any((u, i) in seen for u, i in zip(recs["user"], recs["item"]))
    assert recs.groupby("user").size().eq(10).all()


def test_keras_file_reloads_in_safe_mode_with_identical_scores(run):
    from recsys.features import last_sequences
    from recsys.training import compute_serving_vectors

    model = run.load_model()
    vectors = compute_serving_vectors(model, last_sequences(run.events, n_users=run.n_users, seq_len=TINY["seq_len"]))
    np.testing.assert_allclose(vectors.seq_user, run.vectors.seq_user, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(vectors.content_item, run.vectors.content_item, rtol=1e-5, atol=1e-6)


def test_cold_item_with_text_gets_a_content_vector_and_is_recommended_through_content(dataset, run):
    cold = [dataset.item_index(f"cold{t}") for t in range(4)]
    assert (dataset.items.loc[cold, "n_events"] == 0).all()
    assert np.linalg.norm(run.vectors.content_item[cold], axis=1).min() > 0
    topic0 = [u for u in range(run.n_users) if int(dataset.user_ids[u][1:]) % 4 == 0]

    def share_listing_cold0(alpha):
        recs = recommend(run, topic0, k=10, alpha=alpha)
        return recs.groupby("user")["item"].apply(lambda s: cold[0] in set(s)).mean()

    assert share_listing_cold0(0.0) > 0.8  # the content part recommends it to users of its topic
    assert share_listing_cold0(1.0) == 0.0  # CF has no evidence for it
    cf, content = run.vectors.scores(topic0)
    assert (content[:, cold[0]] > content[:, cold[1:]].max(axis=1)).mean() > 0.8


def test_new_user_gets_the_next_item_from_the_lstm_without_retraining(dataset, run):
    scorer = ColdStartScorer(run)
    picked = [dataset.item_index(f"i{j:03d}") for j in (PER_TOPIC + 2, PER_TOPIC + 3, PER_TOPIC + 4)]
    recs = scorer.recommend_for_new_user(picked, k=5, alpha=0.0)
    assert f"i{PER_TOPIC + 5:03d}" in list(recs["item_id"])
    assert not set(recs["item"]) & set(picked)


def test_new_item_description_reaches_users_of_its_topic(dataset, run):
    scorer = ColdStartScorer(run)
    reach = scorer.users_for_new_item("baking bread flour volume new", ["topic1"], k=10)
    topics = [int(uid[1:]) % 4 for uid in reach["user_id"]]
    assert topics.count(1) >= 6, topics
    with pytest.raises(ValueError, match="no known words"):
        scorer.users_for_new_item("zzzz qqqq")


def test_cancel_stops_training_and_stores_nothing(dataset, tmp_path):
    cancel = threading.Event()
    batches = []

    def progress(p: Progress):
        if p.phase == "training":
            batches.append(p.step)
            cancel.set()

    store = RunStore(tmp_path / "runs")
    with pytest.raises(TrainingCancelled):
        train_run(dataset, TrainConfig(**{**TINY, "seed": 99}), store=store, progress=progress, cancel=cancel)
    assert len(batches) == 1  # stopped right after the first batch
    assert store.list_runs() == []
    leftovers = list((tmp_path / "runs").glob("*")) if (tmp_path / "runs").exists() else []
    assert leftovers == []


def test_incomplete_run_folder_is_never_served(tmp_path, run):
    import shutil

    broken = tmp_path / "runs" / ("ab" * 10)
    shutil.copytree(run.path, broken)
    (broken / "COMPLETE").unlink()
    store = RunStore(tmp_path / "runs")
    assert store.list_runs() == []
    with pytest.raises(Exception, match="incomplete"):
        load_run(broken)


def test_mixed_precision_path_trains_on_cpu(dataset):
    """The GPU code path (mixed float16 compute, float32 logits and loss) runs here on the CPU."""
    from recsys.training import fit_hybrid

    trained = fit_hybrid(dataset.events, dataset.items, n_users=dataset.n_users,
                         config=TrainConfig(**{**TINY, "epochs": 2}), precision="mixed")
    assert trained.model.user_tower.rnn.compute_dtype == "float16"
    assert np.isfinite(trained.history[-1]["loss"])
    assert trained.vectors.seq_user.dtype == np.float32 and np.isfinite(trained.vectors.seq_user).all()


def test_unwritable_run_dir_fails_before_any_training(dataset, tmp_path):
    from recsys.store import RunStoreError

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    reports = []
    with pytest.raises(RunStoreError, match="a-file"):
        train_run(dataset, TrainConfig(**TINY), run_dir=blocker / "run", progress=reports.append)
    assert reports == []  # nothing was trained


def test_sampled_softmax_for_big_catalogues_learns_the_pattern(dataset, tmp_path):
    """A catalogue above max_full_softmax_items trains on the batch's targets + uniform negatives."""
    config = TrainConfig(**{**TINY, "max_full_softmax_items": 10, "num_negatives": 16})
    run = train_run(dataset, config, run_dir=tmp_path / "sampled")
    result = run.metrics["evaluation"]
    assert result["model"]["HR@10"] >= 0.6, result["model"]
    assert result["model"]["HR@10"] >= 2 * result["baselines"]["popularity"]["HR@10"]
    model = run.load_model()
    assert model.num_sampled == 16
    recs = recommend(run, k=5)
    assert recs.groupby("user").size().eq(5).all()


def _planted_3k_items(seed=0):
    """3,000 items in 100 topics of 30 volumes; each user reads one topic forward from some volume."""
    import pandas as pd

    from recsys.data import build_dataset

    rng = np.random.default_rng(seed)
    n_topics, per_topic = 100, 30
    rows = []
    for u in range(1200):
        topic = int(rng.integers(n_topics))
        start = int(rng.integers(0, per_topic - 8))
        for step in range(int(rng.integers(5, 9))):
            rows.append((f"u{u}", f"t{topic}v{start + step}", 1.0, 1_700_000_000 + u * 100 + step))
    interactions = pd.DataFrame(rows, columns=["user_id", "item_id", "rating", "timestamp"])
    items = pd.DataFrame({"item_id": [f"t{t}v{j}" for t in range(n_topics) for j in range(per_topic)],
                          "title": [f"topic{t} volume{j}" for t in range(n_topics) for j in range(per_topic)]})
    return build_dataset(interactions, items, name="planted-3k")


def test_sampled_and_full_softmax_reach_the_same_validation_ndcg_on_3k_items():
    """Above max_full_softmax_items the logQ-corrected sampled softmax learns as well as the full one."""
    from recsys.evaluation.metrics import interaction_matrix
    from recsys.features import last_sequences
    from recsys.split import history_before, leave_last_out_split
    from recsys.training import ValidationData, fit_hybrid

    ds = _planted_3k_items()
    assert ds.n_items == 3000
    split = leave_last_out_split(ds.events)
    train = history_before(ds.events, split.test)
    users = split.test["user"].to_numpy(np.int64)
    base = {**TINY, "epochs": 8, "patience": 8}
    validation = ValidationData(users=users, targets=split.test["item"].to_numpy(np.int64),
                                sequences=last_sequences(train, n_users=ds.n_users, seq_len=base["seq_len"])[users],
                                exclude=interaction_matrix(train, n_users=ds.n_users, n_items=ds.n_items))
    scores = {}
    for name, extra in (("full", {"max_full_softmax_items": 4096}),
                        ("sampled", {"max_full_softmax_items": 1000, "num_negatives": 256})):
        trained = fit_hybrid(train, ds.items, n_users=ds.n_users, config=TrainConfig(**{**base, **extra}),
                             validation=validation)
        assert trained.model.num_sampled == (256 if name == "sampled" else 0)
        scores[name] = trained.validation["ndcg@10"]
    assert scores["full"] > 0.2, scores  # both learn the planted order, not just popularity
    assert abs(scores["sampled"] - scores["full"]) <= 0.15 * scores["full"], scores


def test_patience_counts_only_epochs_that_gain_min_improvement(dataset):
    """Gains smaller than `min_improvement` (relative) do not reset the patience: with an unreachable
    1e6 (a million-fold gain) training stops `patience` epochs after the first, keeping the best epoch."""
    result = evaluate_dataset(dataset, TrainConfig(**{**TINY, "epochs": 12, "patience": 2, "min_improvement": 1e6}))
    v = result["validation"]
    assert (v["epochs_run"], v["stopped_by"]) == (3, "early stopping"), v
    assert 1 <= v["best_epoch"] <= 3
    plain = evaluate_dataset(dataset, TrainConfig(**{**TINY, "epochs": 6, "patience": 2, "min_improvement": 0.0}))
    assert plain["validation"]["epochs_run"] > 3, plain["validation"]  # the planted data keeps improving


def test_planned_epochs_cap_the_total_training_events():
    config = TrainConfig(epochs=20, max_trained_events=5_000_000)
    assert config.planned_epochs(100_000) == 20  # up to 250k events the epochs decide
    assert config.planned_epochs(1_000_000) == 5
    assert config.planned_epochs(20_000_000) == 1  # never below one pass
    assert TrainConfig(epochs=20, max_trained_events=None).planned_epochs(10_000_000) == 20
    with pytest.raises(ValueError, match="max_trained_events"):
        TrainConfig(max_trained_events=0)


def test_small_data_trains_with_smaller_batches():
    from recsys.training.fit import batch_size_for

    assert batch_size_for(1_500, 64, min_steps=40) == 32  # 24 steps at 64, 47 at 32
    assert batch_size_for(5_000, 64, min_steps=40) == 64  # 79 steps: unchanged
    assert batch_size_for(100, 64, min_steps=40) == 16  # never below 16
    assert batch_size_for(100, 8, min_steps=40) == 8  # never larger than asked
    assert batch_size_for(1_500, 64, min_steps=1) == 64


def test_event_budget_ends_training_and_says_so(dataset):
    """A budget of two passes over all events (a little more than that over the training targets) ends
    training after 2-3 epochs of 6, and the run says the event budget ended it."""
    events = len(dataset.events)
    result = evaluate_dataset(dataset, TrainConfig(**{**TINY, "epochs": 6, "patience": 6, "min_improvement": 0.0,
                                                      "max_trained_events": 2 * events}))
    v = result["validation"]
    assert 2 <= v["epochs_planned"] <= 3 and v["epochs_run"] == v["epochs_planned"], v
    assert v["stopped_by"] == "event budget", v


def test_validation_sweep_ranks_the_target_among_unseen_items():
    from scipy import sparse

    from recsys.serving import ServingVectors
    from recsys.training import ValidationData, validation_sweep

    # one user, 4 items, d = 1: cf scores (0, 1, 2, 3), content scores (3, 2, 1, 0); item 3 is seen
    v = ServingVectors(cf_user=np.ones((1, 1), np.float32), cf_item=np.arange(4, dtype=np.float32)[:, None],
                       cf_bias=np.zeros(4, np.float32), seq_user=np.ones((1, 1), np.float32),
                       content_item=np.arange(3, -1, -1, dtype=np.float32)[:, None], content_bias=np.zeros(4, np.float32))
    val = ValidationData(users=np.array([0]), targets=np.array([1]), sequences=np.zeros((1, 2), np.int32),
                         exclude=sparse.csr_matrix(([1.0], ([0], [3])), shape=(1, 4)))
    sweep = validation_sweep(v, val, n_items=4, k=1)
    assert sweep[1.0] == 0.0  # CF ranks item 2 above the target (item 3 is seen): rank 1, outside top-1
    assert sweep[0.0] == 0.0  # content ranks item 0 first
    assert sweep[0.5] == 0.0  # all three tie at 1.5: ties count against the model
    assert validation_sweep(v, val, n_items=4, k=2)[1.0] == pytest.approx(1 / np.log2(3))  # rank 1 of 0-based


def test_validation_sweep_in_threaded_blocks_equals_the_plain_blend_bit_for_bit():
    from scipy import sparse

    from recsys.evaluation.metrics import ALPHA_GRID
    from recsys.serving import ServingVectors, blend
    from recsys.training import ValidationData, validation_sweep

    rng = np.random.default_rng(3)
    n_users, n_items, d = 300, 2000, 8  # 125-row blocks, 128-user batches: several of each
    def normal(shape, tied=False):  # tied: item 2j + 1 is a copy of item 2j, so half the scores tie
        x = rng.normal(size=shape).astype(np.float32)
        if tied:
            x[1::2] = x[0::2]
        return x

    v = ServingVectors(cf_user=normal((n_users, d)), cf_item=normal((n_items, d), True), cf_bias=normal(n_items, True),
                       seq_user=normal((n_users, d)), content_item=normal((n_items, d), True),
                       content_bias=normal(n_items, True))
    seen = sparse.random(n_users, n_items, density=0.01, format="lil", random_state=3)
    targets = rng.integers(0, n_items, n_users)
    seen[np.arange(n_users), targets] = 0
    seen = seen.tocsr()
    seen.eliminate_zeros()
    val = ValidationData(users=np.arange(n_users), targets=targets, sequences=np.zeros((n_users, 2), np.int32),
                         exclude=seen)
    got = validation_sweep(v, val, n_items=n_items, k=n_items, per_user=True, batch_size=128)  # every rank shows
    cf, content = v.scores(np.arange(n_users))
    cf[seen.nonzero()], content[seen.nonzero()] = -1e30, -1e30
    r = np.arange(n_users)
    for a in ALPHA_GRID:
        scores = blend(cf, content, a)
        rank = (scores >= scores[r, targets][:, None]).sum(axis=1) - 1
        assert np.array_equal(got[a], (1.0 / np.log2(rank + 2.0)).astype(np.float32)), a


def test_target_ranks_skip_only_items_below_the_target_in_both_parts():
    """The prefilter of `target_ranks_at_alphas` keeps the brute-force count, also for items a rounding
    step below the target in both parts (a blend may round them up to a tie, which counts)."""
    from recsys.evaluation.metrics import ALPHA_GRID
    from recsys.serving import blend
    from recsys.training.fit import target_ranks_at_alphas

    rng = np.random.default_rng(7)
    b, n = 40, 3000
    cf = rng.normal(size=(b, n)).astype(np.float32)
    content = (0.7 * cf + 0.3 * rng.normal(size=(b, n))).astype(np.float32)  # correlated parts, as trained
    r = np.arange(b)
    targets = np.argsort(-(cf + content), axis=1)[r, rng.integers(0, 30, b)]  # near the top: few candidates
    t_cf, t_content = cf[r, targets], content[r, targets]
    # items 1-5: cf 1-4 ulps below the target's (item 5: equal), content 1 ulp below (item 3: equal);
    # a blend can round any of them up to the target's score
    for step in range(1, 6):
        cf[:, step] = np.nextafter(t_cf, -np.inf) if step < 5 else t_cf
        content[:, step] = np.nextafter(t_content, -np.inf) if step != 3 else t_content
        for _ in range(step - 1):
            cf[:, step] = np.nextafter(cf[:, step], -np.inf)
    t_cf, t_content = cf[r, targets], content[r, targets]
    got = target_ranks_at_alphas(cf, content, t_cf, t_content, ALPHA_GRID)
    for j, a in enumerate(ALPHA_GRID):
        scores = blend(cf, content, a)
        expected = (scores >= blend(t_cf, t_content, a)[:, None]).sum(axis=1) - 1
        assert np.array_equal(got[j], expected), a
    assert got.max() < n // 10  # the targets are near the top, so the ranks are small


def test_alpha_falls_back_to_the_stronger_part_when_validation_cannot_tell():
    from recsys.evaluation.metrics import ALPHA_GRID
    from recsys.training import choose_alpha

    rng = np.random.default_rng(0)
    # 20 users: the blends win +0.5 and lose -0.46 on alternate users, a mean gain of 0.02 over CF
    # with a standard error of ~0.11: not evidence enough to serve a blend
    cf = np.full(20, 0.5)
    swing = np.where(np.arange(20) % 2 == 0, 0.5, -0.46)
    noisy = {a: cf + swing * (1 - abs(a - 0.5)) for a in ALPHA_GRID}
    noisy[1.0], noisy[0.0] = cf, cf - 0.1
    alpha, info = choose_alpha(noisy)
    assert alpha == 1.0 and info["alpha_choice"] == "fallback" and "CF" in info["alpha_note"], info
    # 5,000 users and a clear, consistent gain: the blend is kept
    cf = rng.random(5000)
    clear = {a: cf + (0.05 if a == 0.3 else 0.0) for a in ALPHA_GRID}
    clear[0.0] = cf - 0.2
    alpha, info = choose_alpha(clear)
    assert alpha == 0.3 and info["alpha_choice"] == "blend"


def test_validation_ranks_the_watched_users_with_their_own_vectors(run):
    """Early stopping computes user vectors for the watched users only: the same vectors as for everyone."""
    from recsys.evaluation.metrics import interaction_matrix
    from recsys.features import last_sequences
    from recsys.training import ValidationData, compute_serving_vectors

    from recsys.models import HybridRecommender

    trained = run.load_model()
    # the same model with a free per-user CF offset U_u, so each vector depends on which user a row is
    with_offset = HybridRecommender.from_config({**trained.get_config(), "cf_user_offset": True})
    with_offset.build()
    assert with_offset.cf_user_table() is not None
    sequences = last_sequences(run.events, n_users=run.n_users, seq_len=TINY["seq_len"])
    watched = np.array([5, 0, 9])
    for model in (trained, with_offset):
        everyone = compute_serving_vectors(model, sequences)
        some = compute_serving_vectors(model, sequences[watched], users=watched)
        for name in ("cf_user", "seq_user"):
            np.testing.assert_allclose(getattr(some, name), getattr(everyone, name)[watched], rtol=1e-5, atol=1e-6)
    exclude = interaction_matrix(run.events, n_users=run.n_users, n_items=run.n_items)
    local = ValidationData(users=watched, targets=np.zeros(3, np.int64), sequences=sequences[watched],
                           exclude=exclude).renumbered()
    assert local.users.tolist() == [0, 1, 2]
    assert (local.exclude != exclude.tocsr()[watched]).nnz == 0


def test_alpha_choice_reuses_the_watched_users_and_ranks_only_the_rest(dataset, monkeypatch):
    """The α choice ranks every validation user with the best epoch's weights: the watched users'
    per-user NDCG@10 comes from that epoch's early-stopping ranking, the others are ranked at the end.
    Recomputing all of them from the returned model gives the same choice and gain."""
    import recsys.training.fit as fit
    from recsys.evaluation.metrics import interaction_matrix
    from recsys.features import last_sequences
    from recsys.split import leave_last_out_split
    from recsys.training import ValidationData, choose_alpha, compute_serving_vectors, fit_hybrid, validation_sweep

    monkeypatch.setattr(fit, "early_stopping_users", lambda n_items: 7)
    config = TrainConfig(**{**TINY, "epochs": 3})
    split = leave_last_out_split(dataset.events)
    users = split.valid["user"].to_numpy(np.int64)
    valid = ValidationData(users=users, targets=split.valid["item"].to_numpy(np.int64),
                           sequences=last_sequences(split.train, n_users=dataset.n_users, seq_len=config.seq_len)[users],
                           exclude=interaction_matrix(split.train, n_users=dataset.n_users, n_items=dataset.n_items))
    assert len(users) > 7
    trained = fit_hybrid(split.train, dataset.items, n_users=dataset.n_users, config=config, validation=valid)
    vectors = compute_serving_vectors(trained.model, valid.sequences, users=valid.users)
    per_user = validation_sweep(vectors, valid.renumbered(), n_items=dataset.n_items, per_user=True)
    alpha, info = choose_alpha(per_user)
    got = trained.validation
    assert got["best_alpha"] == alpha and got["alpha_choice"] == info["alpha_choice"], (got, info)
    assert got["alpha_gain"] == pytest.approx(info["alpha_gain"], abs=1e-6)
    assert got["n_users"] == len(users)


def test_traced_serving_passes_give_the_eager_vectors():
    """From `GRAPH_PASSES_MIN_ITEMS` items the item and user passes run as traced graphs (TensorFlow);
    they give the vectors of the model's own op-by-op calls (up to float rounding: a graph may fuse ops),
    and a small catalogue keeps those calls."""
    import keras

    from recsys.models import HybridRecommender
    from recsys.training.vectors import GRAPH_PASSES_MIN_ITEMS, compute_serving_vectors, serving_passes

    rng = np.random.default_rng(0)

    def model_with(n_items):
        keras.utils.set_random_seed(0)
        model = HybridRecommender(n_users=30, n_items=n_items, vocab_size=50, text_len=6, n_categories=3, dim=8,
                                  lstm_units=8, word_dim=4, cnn_filters=4, cf_fold_in=True)
        model.build()
        model.item_tokens.assign(rng.integers(0, 50, (n_items, 6)).astype(np.int32))
        model.item_categories.assign((rng.random((n_items, 3)) < 0.3).astype(np.float32))
        model.item_has_text.assign(np.ones(n_items, np.float32))
        for table in (model.cf_item_table(), model.cf_context_table(), model.item_tower.id_embedding.embeddings):
            table.assign(rng.normal(0, 0.1, table.shape).astype(np.float32))
        return model

    big, small = model_with(GRAPH_PASSES_MIN_ITEMS), model_with(50)
    assert hasattr(serving_passes(big)[0], "get_concrete_function")  # a tf.function
    assert not hasattr(serving_passes(small)[0], "get_concrete_function")
    sequences = rng.integers(0, GRAPH_PASSES_MIN_ITEMS + 1, (30, 5)).astype(np.int64)
    sequences[:5, :3] = 0  # left padding
    got = compute_serving_vectors(big, sequences)
    items = big.content_item_vectors()
    close = {"rtol": 1e-5, "atol": 1e-6}
    np.testing.assert_allclose(got.content_item, keras.ops.convert_to_numpy(items), **close)
    states = big.sequence_states(keras.ops.convert_to_tensor(sequences), items)
    np.testing.assert_allclose(got.seq_user, keras.ops.convert_to_numpy(states[:, -1, :]), **close)
    cf = big.cf_user_vectors(keras.ops.arange(30, dtype="int32"), keras.ops.convert_to_tensor(sequences))
    np.testing.assert_allclose(got.cf_user, keras.ops.convert_to_numpy(cf), **close)
