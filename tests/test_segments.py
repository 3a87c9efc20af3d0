"""Per-segment evaluation: maths by hand, the bootstrap and paired comparison, and a real tiny training."""

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from planted_causes import TINY_CAUSES, cause_dataset
from recsys.config import TrainConfig
from recsys.evaluation.metrics import full_ranking_metrics
from recsys.evaluation.segments import (activity_segment, best_alpha_by_segment, head_items, per_user_metrics,
                                       segment_report, segment_table, user_alpha)


def test_per_user_metrics_average_to_full_ranking_metrics_with_ties_and_exclusions():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 4, size=(30, 25)).astype(np.float32)  # many ties
    exclude = sp.csr_matrix(rng.random((30, 25)) < 0.2, dtype=np.float32)
    users, targets = np.arange(30), rng.integers(0, 25, 30)
    per_user = per_user_metrics(lambda b: scores[b], users=users, targets=targets, exclude=exclude, n_items=25,
                                k=5, batch_size=7)
    reference = full_ranking_metrics(lambda b: scores[b], users=users, targets=targets, exclude=exclude, n_items=25, k=5)
    assert per_user["HR@5"].mean() == pytest.approx(reference["HR@5"])
    assert per_user["NDCG@5"].mean() == pytest.approx(reference["NDCG@5"])
    # by hand: one user, target scored 3 with one other item at 3 and one above -> rank 1 or 2, each with chance 1/2
    one = per_user_metrics(lambda b: np.array([[5.0, 3.0, 3.0, 1.0]]), users=[0], targets=[1], n_items=4, k=2)
    assert one["HR@2"][0] == pytest.approx(0.5)
    assert one["NDCG@2"][0] == pytest.approx(0.5 / np.log2(3))


def test_activity_bounds_and_head_items_by_hand():
    assert list(activity_segment([0, 4, 5, 20, 21, 300])) == ["< 5", "< 5", "5–20", "5–20", "> 20", "> 20"]
    # 20 events; the top 20% is 4 events: item 0 (10 events) already holds them, so only item 0 is head
    assert list(head_items(np.array([10, 5, 3, 1, 1]))) == [True, False, False, False, False]
    # flat counts: items are head while the ones before them hold < 20% of 10 events (2): items 0 and 1
    assert list(head_items(np.array([1, 1, 1, 1, 1, 1, 1, 1, 1, 1]))) == [True, True] + [False] * 8
    assert not head_items(np.array([0, 0])).any()


def test_bootstrap_intervals_are_seeded_and_the_paired_comparison_counts_wins():
    rng = np.random.default_rng(1)
    base = rng.random(200)
    per_user = {
        "model": {"NDCG@10": base + 0.1, "HR@10": np.ones(200)},
        "popularity": {"NDCG@10": base, "HR@10": np.ones(200)},
        "ease": {"NDCG@10": base - 0.05, "HR@10": np.zeros(200)},
    }
    labels = {"activity": np.where(np.arange(200) < 50, "< 5", "5–20").astype(object)}
    rows, comps = segment_table(per_user, labels, n_boot=300, seed=4)
    again_rows, again_comps = segment_table(per_user, labels, n_boot=300, seed=4)
    assert rows == again_rows and comps == again_comps  # seeded
    table = pd.DataFrame(rows)
    filled = table[table["n_users"] > 0]
    assert (filled["NDCG@10 low"] <= filled["NDCG@10"]).all() and (filled["NDCG@10"] <= filled["NDCG@10 high"]).all()
    assert set(table["segment"]) == {"all users", "< 5", "5–20", "> 20"}
    empty = table[table["segment"] == "> 20"]
    assert (empty["n_users"] == 0).all() and empty["NDCG@10"].isna().all()  # shown, with its bounds, but empty
    for c in comps:
        assert c["baseline"] == "popularity"  # the best baseline of the segment by NDCG
        assert c["NDCG@10 model_wins_share"] == 1.0  # better for every user: wins every resample
        assert c["NDCG@10 difference"] == pytest.approx(0.1)
        assert c["HR@10 model_wins_share"] == 0.0 and c["HR@10 ties_share"] == 1.0
    full = table[(table["segment"] == "all users") & (table["method"] == "model")].iloc[0]
    assert full["NDCG@10 high"] - full["NDCG@10 low"] < 0.1  # 200 users: a narrow interval
    narrow = table[(table["segment"] == "< 5") & (table["method"] == "model")].iloc[0]
    assert narrow["NDCG@10 high"] - narrow["NDCG@10 low"] > full["NDCG@10 high"] - full["NDCG@10 low"]


def test_alpha_by_segment_picks_each_segments_best_validation_alpha():
    alphas = (0.0, 0.5, 1.0)
    ndcg = np.array([[1.0, 1.0, 0.0, 0.0], [0.5, 0.5, 0.5, 0.5], [0.0, 0.0, 1.0, 1.0]])  # [alphas, users]
    labels = np.array(["< 5", "< 5", "> 20", "> 20"], dtype=object)
    assert best_alpha_by_segment(ndcg, labels, alphas) == {"< 5": 0.0, "> 20": 1.0}
    flat = np.ones((3, 4))
    assert best_alpha_by_segment(flat, labels, alphas) == {"< 5": 0.5, "> 20": 0.5}  # ties: nearer 0.5


def test_user_alpha_applies_the_segment_alpha_at_serving_time():
    events = pd.DataFrame({"user": [0] * 3 + [1] * 12 + [2] * 30})
    run = SimpleNamespace(events=events, metrics={"segments": {
        "alpha_by_segment": {"< 5": 0.9, "5–20": 0.2}, "definitions": {"activity": {"bounds": [5, 20]}}}})
    assert [user_alpha(run, u, default=0.5) for u in (0, 1, 2)] == [0.9, 0.2, 0.5]  # no α for "> 20": the run's α
    from recsys.evaluation.segments import user_segment, users_alpha

    run.n_users = 3
    assert [user_segment(run, u) for u in (0, 1, 2)] == ["< 5", "5–20", "> 20"]
    assert list(users_alpha(run, [2, 0, 1], default=0.5)) == [0.5, 0.9, 0.2]
    run.metrics = {}
    assert user_alpha(run, 0, default=0.5) == 0.5 and list(users_alpha(run, [0, 1], default=0.5)) == [0.5, 0.5]


@pytest.fixture(scope="module")
def trained_split():
    """The hybrid trained on the train part of a leave-last-out split of planted data with text-less items."""
    from recsys.evaluation.metrics import interaction_matrix
    from recsys.features import last_sequences
    from recsys.split import history_before, leave_last_out_split
    from recsys.training import ValidationData, compute_serving_vectors, fit_hybrid, serving_vectors_for

    dataset, _ = cause_dataset(textless_share=0.3)
    config = TrainConfig(**{**TINY_CAUSES, "epochs": 12, "patience": 12})
    events, split = dataset.events, leave_last_out_split(dataset.events)
    n_users, n_items = dataset.n_users, dataset.n_items
    valid = ValidationData(users=split.valid["user"].to_numpy(np.int64), targets=split.valid["item"].to_numpy(np.int64),
                           sequences=last_sequences(split.train, n_users=n_users, seq_len=config.seq_len)[
                               split.valid["user"].to_numpy()],
                           exclude=interaction_matrix(split.train, n_users=n_users, n_items=n_items))
    test_history = history_before(events, split.test)
    trained = fit_hybrid(split.train, dataset.items, n_users=n_users, config=config, validation=valid,
                         serving_events=test_history)
    valid_vectors = serving_vectors_for(trained.model, split.train, n_users=n_users, seq_len=config.seq_len)
    return dataset, split, trained, valid_vectors, compute_serving_vectors


def test_segment_report_on_a_trained_model(trained_split):
    from recsys.evaluation.segments import item_has_text

    dataset, split, trained, valid_vectors, _ = trained_split
    has_text = item_has_text(dataset.items)
    assert 0 < has_text.mean() < 1
    report = segment_report(events=dataset.events, split=split, n_users=dataset.n_users, n_items=dataset.n_items,
                            item_has_text=has_text, test_vectors=trained.vectors, valid_vectors=valid_vectors,
                            alpha=trained.validation["best_alpha"], n_boot=200, seed=0)
    json.dumps(report)  # the evaluate JSON carries it as is
    rows = pd.DataFrame(report["rows"])
    n_test = len(split.test)
    for segmentation in ("activity", "popularity", "text"):
        sizes = rows[(rows["segmentation"] == segmentation) & (rows["method"] == "model")]["n_users"]
        assert sizes.sum() == n_test, segmentation  # every test user in exactly one segment
    assert set(rows[rows["segmentation"] == "text"]["segment"]) == {"has text", "no text"}
    assert report["definitions"]["activity"]["bounds"] == [5, 20]
    assert report["definitions"]["popularity"]["n_head_items"] >= 1
    assert {"model", "model (α by segment)", "popularity", "item_knn", "ease"} <= set(rows["method"])
    overall = rows[rows["segment"] == "all users"].set_index("method")
    # the planted clusters are far above popularity, and every resample says so
    assert overall.loc["model", "NDCG@10"] > 2 * overall.loc["popularity", "NDCG@10"]
    model_row = overall.loc["model"]
    from recsys.evaluation.metrics import alpha_sweep, interaction_matrix
    from recsys.split import history_before

    exclude = interaction_matrix(history_before(dataset.events, split.test), n_users=dataset.n_users,
                                 n_items=dataset.n_items)
    sweep = alpha_sweep(trained.vectors, users=split.test["user"], targets=split.test["item"], exclude=exclude,
                        n_items=dataset.n_items, alphas=(report["alpha"],))
    assert model_row["NDCG@10"] == pytest.approx(sweep[report["alpha"]]["NDCG@10"])  # same rule as evaluate
    assert model_row["NDCG@10 low"] <= model_row["NDCG@10"] <= model_row["NDCG@10 high"]
    comps = pd.DataFrame(report["comparisons"])
    assert ((comps["NDCG@10 model_wins_share"] >= 0) & (comps["NDCG@10 model_wins_share"] <= 1)).all()
    # α by segment: the best validation α of each activity segment that has validation users
    valid_sweep = pd.DataFrame(report["validation_alpha_sweep"])
    for segment, alpha in report["alpha_by_segment"].items():
        curve = valid_sweep[valid_sweep["segment"] == segment]
        assert curve.loc[curve["NDCG@10"].idxmax(), "NDCG@10"] == pytest.approx(
            float(curve[curve["alpha"] == alpha]["NDCG@10"].iat[0]))
    curves = pd.DataFrame(report["alpha_sweep"])
    assert set(curves["segment"]) >= {"all users", "< 5"} and len(curves[curves["segment"] == "all users"]) == 11


def test_display_tables_carry_bounds_and_intervals():
    from recsys.evaluation.segments import comparison_display_table, segment_display_table

    per_user = {"model": {"NDCG@10": np.linspace(0, 1, 40), "HR@10": np.ones(40)},
                "popularity": {"NDCG@10": np.zeros(40), "HR@10": np.zeros(40)}}
    rows, comps = segment_table(per_user, {"activity": np.array(["< 5"] * 40, dtype=object)}, n_boot=50)
    table = segment_display_table({"k": 10, "rows": rows})
    assert {"segment", "method", "users", "NDCG@10", "NDCG@10 95% interval", "HR@10 95% interval"} <= set(table)
    assert set(table["segment"]) == {"all users", "< 5", "5–20", "> 20"}
    assert table[table["segment"] == "> 20"]["NDCG@10 95% interval"].eq("–").all()
    comparison = comparison_display_table({"k": 10, "comparisons": comps})
    assert comparison["best baseline"].eq("popularity").all() and comparison["model wins (share of resamples)"].gt(0.9).all()


def test_recommend_with_alpha_by_segment_blends_each_user_with_their_segments_alpha():
    from recsys.serving import ServingVectors, recommend

    rng = np.random.default_rng(0)
    vectors = ServingVectors(cf_user=rng.normal(size=(3, 4)).astype(np.float32),
                             cf_item=rng.normal(size=(6, 4)).astype(np.float32), cf_bias=np.zeros(6, np.float32),
                             seq_user=rng.normal(size=(3, 4)).astype(np.float32),
                             content_item=rng.normal(size=(6, 4)).astype(np.float32),
                             content_bias=np.zeros(6, np.float32))
    events = pd.DataFrame({"user": [0] * 3 + [1] * 8, "item": [0, 1, 2, 0, 1, 2, 3, 0, 1, 2, 3], "timestamp": range(11)})
    run = SimpleNamespace(vectors=vectors, events=events, n_users=3, n_items=6, config={"alpha": 0.5},
                          user_ids=np.array(["a", "b", "c"], dtype=object),
                          item_ids=np.array([f"i{j}" for j in range(6)], dtype=object),
                          items=pd.DataFrame({"title": [f"T{j}" for j in range(6)]}),
                          metrics={"evaluation": {"segments": {"alpha_by_segment": {"< 5": 1.0, "5–20": 0.0},
                                                               "definitions": {"activity": {"bounds": [5, 20]}}}}})
    recs = recommend(run, k=2, alpha_by_segment=True)
    for user, alpha in ((0, 1.0), (1, 0.0), (2, 1.0)):  # 3 events ("< 5"), 8 ("5–20"), none ("< 5" too)
        got = recs[recs["user"] == user]
        np.testing.assert_allclose(got["score"], alpha * got["cf_score"] + (1 - alpha) * got["content_score"],
                                   rtol=1e-5)


def test_alpha_curves_plot_one_line_per_segment_and_star_the_chosen_alpha():
    from recsys.plots import segment_alpha_curves

    sweep = pd.DataFrame([{"segment": s, "alpha": a / 10, "NDCG@10": v * a / 10, "n_users": 5}
                          for s, v in (("all users", 1.0), ("< 5", -1.0)) for a in range(11)])
    fig = segment_alpha_curves(sweep, {"< 5": 0.0})
    lines = [t for t in fig.data if t.mode == "lines+markers"]
    assert [t.name for t in lines] == ["all users", "&lt; 5"]  # legend text is HTML in plotly: escaped
    star = [t for t in fig.data if t.marker.symbol == "star"]
    assert len(star) == 1 and star[0].x[0] == 0.0 and star[0].y[0] == 0.0


def test_evaluate_json_has_the_segment_report(planted_files, tmp_path, capsys):
    from recsys.cli import main

    out = tmp_path / "metrics.json"
    assert main(["evaluate", "--interactions", str(planted_files / "events.csv"), "--items",
                 str(planted_files / "items.csv"), "--dim", "8", "--lstm-units", "8", "--cnn-filters", "8",
                 "--seq-len", "8", "--epochs", "2", "--quiet", "--out", str(out)]) == 0
    report = json.loads(out.read_text())["segments"]
    assert report["definitions"]["activity"]["bounds"] == [5, 20]
    rows = pd.DataFrame(report["rows"])
    assert {"model", "popularity", "item_knn", "ease"} <= set(rows["method"])
    assert {"NDCG@10 low", "NDCG@10 high", "HR@10 low", "HR@10 high"} <= set(rows.columns)
    assert report["comparisons"] and report["alpha_sweep"] and report["alpha_by_segment"]
