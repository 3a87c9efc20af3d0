"""For whom does the model (and its content part) help? Test metrics per user and item segment.

Segments (each test user is in exactly one segment of each segmentation):
  * activity: the user's number of training events, `< 5`, `5–20`, `> 20` (bounds `ACTIVITY_BOUNDS`,
    shown in every label and in `definitions`);
  * popularity: whether the user's test item is a head item — the most-interacted items that together
    hold the top 20% of training events (`HEAD_SHARE`) — or a tail item (the rest);
  * text: whether the test item has text (at least one token in its description).

Every metric (NDCG@k, HR@k; the rank/tie/exclusion rules of `recsys.evaluation.metrics`) gets a 95% percentile
bootstrap interval over the segment's users (`n_boot` resamples, seeded; fewer, at least 200, when
users × methods would make 1000 slow — the report's `n_boot` says how many). The model is compared with
the best baseline of the segment (highest NDCG@k) on the *same* resamples: `model_wins_share` is the
share of resamples in which the model's mean is higher (a paired bootstrap).

The α sweep is reported per activity segment, and "α by segment" picks one α per activity segment on
validation (highest validation NDCG@k, ties to the α nearer 0.5); `user_alpha` applies it at serving
time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recsys.evaluation.baselines import (EASE_MAX_ITEMS, EASERecommender, ItemKNNRecommender, PopularityRecommender,
                                         ease_feasible, tune_ease, tune_item_knn)
from recsys.evaluation.metrics import ALPHA_GRID, interaction_matrix
from recsys.features import tokenize
from recsys.split import history_before

ACTIVITY_BOUNDS = (5, 20)
HEAD_SHARE = 0.2
BASELINE_NAMES = ("popularity", "item_knn", "ease")
SEGMENT_ORDER = {"activity": ["< 5", "5–20", "> 20"], "popularity": ["head", "tail"], "text": ["has text", "no text"]}


# ----------------------------------------------------------------------------- per-user metrics
def per_user_metrics(score_fns, *, users, targets, exclude=None, n_items: int, k: int = 10,
                     batch_size: int = 1024) -> dict:
    """Per-user HR@k and NDCG@k for one or several scorers, one pass over the user batches.

    Same rank rule as `recsys.evaluation.metrics.full_ranking_metrics` (ties shared out in expectation, excluded
    items at −inf, the user's own target never excluded), so the means equal its HR@k / NDCG@k.

    Args:
        score_fns: `fn(users [b]) -> [b, n_items]`, or `fn(users) -> list of [b, n_items]` arrays
            (several scorers at once, e.g. one per α), or a dict of such single scorers.
        users, targets: `[n]` user indices and held-out items.
        exclude: csr `[n_users, n_items]` of items not to rank per user, or None.

    Returns:
        {name: {"HR@k": [n], "NDCG@k": [n]}} for a dict of scorers, else a list of those dicts.
    """
    users = np.asarray(users, np.int64).reshape(-1)
    targets = np.asarray(targets, np.int64).reshape(-1)
    if users.shape != targets.shape:
        raise ValueError(f"per_user_metrics: {len(users)} users but {len(targets)} targets")
    named = isinstance(score_fns, dict)
    fns = list(score_fns.values()) if named else [score_fns]
    cum_ndcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))])
    out: list[list] = []
    for start in range(0, len(users), batch_size):
        batch, batch_targets = users[start:start + batch_size], targets[start:start + batch_size]
        rows = np.arange(len(batch))
        excl = exclude[batch] if exclude is not None else None
        matrices = []
        for fn in fns:
            got = fn(batch)
            matrices.extend(got if isinstance(got, (list, tuple)) else [got])
        while len(out) < len(matrices):
            out.append([])
        for slot, raw in enumerate(matrices):
            scores = np.array(raw, dtype=np.float64)
            if scores.shape != (len(batch), n_items):
                raise ValueError(f"per_user_metrics: a scorer returned shape {scores.shape}, "
                                 f"expected [{len(batch)}, {n_items}]")
            target_scores = scores[rows, batch_targets].copy()
            if excl is not None and excl.nnz:
                scores[np.repeat(rows, np.diff(excl.indptr)), excl.indices] = -np.inf
                scores[rows, batch_targets] = target_scores
            higher = np.count_nonzero(scores > target_scores[:, None], axis=1)
            tied = np.count_nonzero(scores == target_scores[:, None], axis=1) - 1
            lo, hi = np.minimum(higher, k), np.minimum(higher + tied + 1, k)
            share = 1.0 / (tied + 1.0)
            out[slot].append(((hi - lo) * share, (cum_ndcg[hi] - cum_ndcg[lo]) * share))
    results = [{f"HR@{k}": np.concatenate([p[0] for p in parts]) if parts else np.zeros(0),
                f"NDCG@{k}": np.concatenate([p[1] for p in parts]) if parts else np.zeros(0)} for parts in out]
    if named:
        return dict(zip(score_fns.keys(), results))
    return results if len(results) != 1 else results[0]


def alpha_scorer(vectors, alphas=ALPHA_GRID):
    """A `per_user_metrics` scorer giving the hybrid's scores at every α from one pair of matmuls."""
    def scores(batch):
        return vectors.blends(batch, alphas)  # `recsys.serving.blend`, the one α blend
    return scores


# ----------------------------------------------------------------------------- segments
def activity_labels(bounds=ACTIVITY_BOUNDS) -> list[str]:
    lo, hi = bounds
    return [f"< {lo}", f"{lo}–{hi}", f"> {hi}"]


def activity_segment(counts, bounds=ACTIVITY_BOUNDS) -> np.ndarray:
    """The activity label of each event count: `< lo`, `lo–hi` (both included) or `> hi`."""
    counts = np.asarray(counts)
    labels = np.asarray(activity_labels(bounds), dtype=object)
    return labels[np.where(counts < bounds[0], 0, np.where(counts <= bounds[1], 1, 2))]


def head_items(item_events: np.ndarray, *, head_share: float = HEAD_SHARE) -> np.ndarray:
    """bool `[n_items]`: the most-interacted items that together hold the top `head_share` of events.

    Items are ranked by event count (ties by lower index); an item is head while the events of the
    items ranked before it are below `head_share` of all events (so at least one item is head).
    """
    counts = np.asarray(item_events, np.float64)
    order = np.lexsort((np.arange(len(counts)), -counts))
    before = np.concatenate([[0.0], np.cumsum(counts[order])[:-1]])
    head = np.zeros(len(counts), bool)
    total = counts.sum()
    if total > 0:
        head[order[before < head_share * total]] = True
        head[counts == 0] = False
    return head


def bootstrap_means(values: dict, *, n_boot: int, rng, max_elements: int = 20_000_000) -> dict:
    """{name: [n_boot] resampled means}, every name on the same resamples of the users (paired).

    Resamples are drawn `max_elements // n` at a time, so memory stays bounded for big segments.
    """
    arrays = {name: np.asarray(v, np.float64) for name, v in values.items()}
    n = len(next(iter(arrays.values())))
    out = {name: np.empty(n_boot) for name in arrays}
    step = max(1, int(max_elements // max(n, 1)))
    for start in range(0, n_boot, step):
        size = min(step, n_boot - start)
        idx = rng.integers(0, n, size=(size, n))
        for name, v in arrays.items():
            out[name][start:start + size] = v[idx].mean(axis=1)
    return out


def bootstrap_size(n_users: int, n_methods: int, *, n_boot: int = 1000, budget: float = 5e8) -> int:
    """`n_boot`, lowered (to at least 200) when n_users × n_methods × n_boot would exceed `budget` gathers."""
    fit = int(budget // max(1, 8 * n_users * n_methods))  # each user is in 4 segments, 2 metrics each
    return int(max(min(n_boot, 200), min(n_boot, fit)))


def _interval(samples: np.ndarray, confidence: float) -> tuple[float, float]:
    tail = (1.0 - confidence) / 2 * 100
    lo, hi = np.percentile(samples, [tail, 100 - tail])
    return float(lo), float(hi)


def segment_table(per_user: dict, segments: dict, *, k: int = 10, model: str = "model",
                  baselines=BASELINE_NAMES, n_boot: int = 1000, seed: int = 0, confidence: float = 0.95,
                  orders: dict | None = None):
    """Metrics with bootstrap intervals per segment, and the paired model-vs-best-baseline comparison.

    Args:
        per_user: {method: {"HR@k": [n], "NDCG@k": [n]}} over the same n test users.
        segments: {segmentation: [n] labels}; an "all" segmentation is added.
        baselines: the method names that count as baselines for the comparison.
        orders: {segmentation: labels in display order}; listed labels without users get empty rows.

    Returns:
        (rows, comparisons): long-form lists of dicts (see `segment_report`).
    """
    metrics = (f"NDCG@{k}", f"HR@{k}")
    n = len(next(iter(per_user.values()))[metrics[0]])
    segments = {"all": np.full(n, "all users", dtype=object), **segments}
    orders = {**SEGMENT_ORDER, **(orders or {})}
    rows, comparisons = [], []
    for s_index, (segmentation, labels) in enumerate(segments.items()):
        labels = np.asarray(labels, dtype=object)
        present_labels = list(dict.fromkeys(labels.tolist()))
        fixed = orders.get(segmentation, [])
        order = list(fixed) + [x for x in present_labels if x not in fixed]
        for g_index, label in enumerate(order):
            members = np.flatnonzero(labels == label)
            if len(members) == 0:  # an empty segment still shows its bounds
                for method in per_user:
                    rows.append({"segmentation": segmentation, "segment": label, "method": method, "n_users": 0,
                                 **{f"{m}{suffix}": None for m in metrics for suffix in ("", " low", " high")}})
                continue
            rng = np.random.default_rng([seed, s_index, g_index])
            flat = bootstrap_means({(m, metric): per_user[m][metric][members] for m in per_user for metric in metrics},
                                   n_boot=n_boot, rng=rng)
            boot = {metric: {m: flat[(m, metric)] for m in per_user} for metric in metrics}
            for method in per_user:
                row = {"segmentation": segmentation, "segment": label, "method": method, "n_users": int(len(members))}
                for metric in metrics:
                    row[metric] = float(per_user[method][metric][members].mean())
                    row[f"{metric} low"], row[f"{metric} high"] = _interval(boot[metric][method], confidence)
                rows.append(row)
            present = [b for b in baselines if b in per_user]
            if model in per_user and present:
                best = max(present, key=lambda b: (float(per_user[b][metrics[0]][members].mean()), -present.index(b)))
                comp = {"segmentation": segmentation, "segment": label, "model": model, "baseline": best,
                        "n_users": int(len(members))}
                for metric in metrics:
                    diff = boot[metric][model] - boot[metric][best]
                    comp[f"{metric} difference"] = float(per_user[model][metric][members].mean()
                                                         - per_user[best][metric][members].mean())
                    comp[f"{metric} difference low"], comp[f"{metric} difference high"] = _interval(diff, confidence)
                    comp[f"{metric} model_wins_share"] = float(np.mean(diff > 0))
                    comp[f"{metric} ties_share"] = float(np.mean(diff == 0))
                comparisons.append(comp)
    return rows, comparisons


def best_alpha_by_segment(per_alpha_ndcg: np.ndarray, labels, alphas=ALPHA_GRID) -> dict:
    """{activity label: α} with the highest mean NDCG per segment (ties to the α nearer 0.5).

    Args:
        per_alpha_ndcg: `[n_alphas, n_users]` per-user validation NDCG, row a = `alphas[a]`.
        labels: `[n_users]` activity labels.
    """
    labels = np.asarray(labels, dtype=object)
    out = {}
    for label in activity_labels():
        members = labels == label
        if not members.any():
            continue
        means = per_alpha_ndcg[:, members].mean(axis=1)
        best = max(range(len(alphas)), key=lambda a: (round(float(means[a]), 12), -abs(alphas[a] - 0.5)))
        out[label] = float(alphas[best])
    return out


def alpha_sweep_by_segment(per_alpha: list, labels, *, k: int = 10, alphas=ALPHA_GRID) -> list[dict]:
    """Long-form test α sweep per activity segment: [{segment, alpha, NDCG@k, HR@k, n_users}]."""
    labels = np.asarray(labels, dtype=object)
    rows = []
    for label in ["all users"] + activity_labels():
        members = np.ones(len(labels), bool) if label == "all users" else labels == label
        if not members.any():
            continue
        for a, m in zip(alphas, per_alpha):
            rows.append({"segment": label, "alpha": float(a), f"NDCG@{k}": float(m[f"NDCG@{k}"][members].mean()),
                         f"HR@{k}": float(m[f"HR@{k}"][members].mean()), "n_users": int(members.sum())})
    return rows


def item_has_text(items: pd.DataFrame) -> np.ndarray:
    """bool `[n_items]`: the item's text has at least one token (the model's has-text rule)."""
    texts = items["text"] if "text" in items else pd.Series([""] * len(items))
    return np.array([bool(tokenize(t)) for t in texts.fillna("")], dtype=bool)


# ----------------------------------------------------------------------------- the report
def fitted_baselines(X_train, X_test_hist, *, valid_users, valid_targets, n_items: int, k: int = 10,
                     params: dict | None = None, ease_max_items: int = EASE_MAX_ITEMS) -> dict:
    """Popularity, item-kNN and EASE fitted on the history before test, as `score(users)` functions.

    `params` are the tuned settings of an earlier `evaluate_baselines` result ({"item_knn":
    {"n_neighbors"}, "ease": {"l2"}}); missing ones are tuned on validation here.
    """
    params = params or {}
    out = {"popularity": PopularityRecommender().fit(X_test_hist).score}
    n_neighbors = (params.get("item_knn") or {}).get("n_neighbors")
    if n_neighbors is None:
        n_neighbors, _ = tune_item_knn(X_train, valid_users=valid_users, valid_targets=valid_targets, n_items=n_items, k=k)
    out["item_knn"] = ItemKNNRecommender(int(n_neighbors)).fit(X_test_hist).score
    if ease_feasible(X_train.shape[0], n_items, max_items=ease_max_items):
        l2 = (params.get("ease") or {}).get("l2")
        if l2 is None:
            l2, _ = tune_ease(X_train, valid_users=valid_users, valid_targets=valid_targets, n_items=n_items, k=k)
        out["ease"] = EASERecommender(float(l2)).fit(X_test_hist).score
    return out


def segment_report(*, events, split, n_users: int, n_items: int, item_has_text, test_vectors, alpha: float,
                   valid_vectors=None, baseline_params: dict | None = None, baseline_scorers: dict | None = None,
                   baselines: bool = True, k: int = 10,
                   n_boot: int = 1000, seed: int = 0, bounds=ACTIVITY_BOUNDS, head_share: float = HEAD_SHARE) -> dict:
    """The per-segment evaluation of a trained model on a leave-last-out split (JSON-ready).

    Args:
        events: `Dataset.events`; split: its `leave_last_out_split`.
        item_has_text: bool `[n_items]`.
        test_vectors: serving vectors whose LSTM part read each user's history before the test item.
        alpha: the model's chosen α (the "model" row).
        valid_vectors: the same model's vectors with the LSTM reading the history before the validation
            item; needed for "α by segment" (omitted when None).
        baseline_params: the tuned baseline settings of `evaluate_baselines` (re-tuned when missing).
        baseline_scorers: {name: score(users)} of baselines already fitted on the history before test
            (`evaluate_baselines(..., scorers=...)` fills one); saves refitting them (EASE inverts an
            items × items matrix).

    Returns:
        {"k", "n_boot", "seed", "confidence", "definitions", "rows", "comparisons", "alpha_sweep",
        "alpha_by_segment", "validation_alpha_sweep"}; "rows" and "comparisons" are long-form (one dict per
        segment × method), every metric with "<metric> low"/"<metric> high" bounds.
    """
    if len(split.test) == 0:
        raise ValueError("no test users: segments need a leave-last-out split with test rows")
    train = split.train
    X_train = interaction_matrix(train, n_users=n_users, n_items=n_items)
    test_history = history_before(events, split.test)
    X_test_hist = interaction_matrix(test_history, n_users=n_users, n_items=n_items)
    tu, tt = split.test["user"].to_numpy(np.int64), split.test["item"].to_numpy(np.int64)
    vu, vt = split.valid["user"].to_numpy(np.int64), split.valid["item"].to_numpy(np.int64)
    user_events = np.bincount(train["user"].to_numpy(np.int64), minlength=n_users)
    item_events = np.bincount(train["item"].to_numpy(np.int64), minlength=n_items)
    head = head_items(item_events, head_share=head_share)
    has_text = np.asarray(item_has_text, bool)

    per_alpha = per_user_metrics(alpha_scorer(test_vectors), users=tu, targets=tt, exclude=X_test_hist,
                                 n_items=n_items, k=k)
    alpha_index = {a: i for i, a in enumerate(ALPHA_GRID)}
    chosen = min(ALPHA_GRID, key=lambda a: abs(a - float(alpha)))
    per_user = {"model": per_alpha[alpha_index[chosen]]}
    if abs(chosen - float(alpha)) > 1e-9:  # an α off the grid (set by hand): score it exactly
        per_user["model"] = per_user_metrics(lambda b: test_vectors.scores(b, alpha=float(alpha)), users=tu,
                                             targets=tt, exclude=X_test_hist, n_items=n_items, k=k)
    per_user["model, CF part (α=1)"] = per_alpha[alpha_index[1.0]]
    per_user["model, content part (α=0)"] = per_alpha[alpha_index[0.0]]
    test_activity = activity_segment(user_events[tu], bounds)

    by_segment, valid_sweep = None, None
    if valid_vectors is not None and len(vu):
        valid_per_alpha = per_user_metrics(alpha_scorer(valid_vectors), users=vu, targets=vt, exclude=X_train,
                                           n_items=n_items, k=k)
        valid_ndcg = np.stack([m[f"NDCG@{k}"] for m in valid_per_alpha])
        valid_activity = activity_segment(user_events[vu], bounds)
        by_segment = best_alpha_by_segment(valid_ndcg, valid_activity)
        valid_sweep = alpha_sweep_by_segment(valid_per_alpha, valid_activity, k=k)
        user_alpha_arr = np.array([by_segment.get(label, chosen) for label in test_activity])
        hr = np.zeros(len(tu))
        ndcg = np.zeros(len(tu))
        for a in np.unique(user_alpha_arr):
            m = user_alpha_arr == a
            hr[m] = per_alpha[alpha_index[float(a)]][f"HR@{k}"][m]
            ndcg[m] = per_alpha[alpha_index[float(a)]][f"NDCG@{k}"][m]
        per_user["model (α by segment)"] = {f"HR@{k}": hr, f"NDCG@{k}": ndcg}

    if baselines and baseline_scorers:
        per_user.update(per_user_metrics(dict(baseline_scorers), users=tu, targets=tt, exclude=X_test_hist,
                                         n_items=n_items, k=k))
    elif baselines:
        scorers = fitted_baselines(X_train, X_test_hist, valid_users=vu, valid_targets=vt, n_items=n_items, k=k,
                                   params=baseline_params)
        per_user.update(per_user_metrics(scorers, users=tu, targets=tt, exclude=X_test_hist, n_items=n_items, k=k))

    segments = {
        "activity": test_activity,
        "popularity": np.where(head[tt], "head", "tail").astype(object),
        "text": np.where(has_text[tt], "has text", "no text").astype(object),
    }
    n_boot = bootstrap_size(len(tu), len(per_user), n_boot=n_boot)
    rows, comparisons = segment_table(per_user, segments, k=k, n_boot=n_boot, seed=seed,
                                      orders={"activity": activity_labels(bounds)})
    return {
        "k": k, "n_boot": int(n_boot), "seed": int(seed), "confidence": 0.95, "alpha": float(alpha),
        "definitions": {
            "activity": {"bounds": list(bounds), "labels": activity_labels(bounds),
                         "counted_on": "the user's training events (before the validation item)"},
            "popularity": {"head_share": head_share, "n_head_items": int(head.sum()),
                           "head_min_events": int(item_events[head].min()) if head.any() else 0,
                           "counted_on": "training events per item; head = the most-interacted items holding "
                                         f"the top {head_share:.0%} of them, tail = the rest"},
            "text": {"rule": "the test item's description has at least one token"},
            "interval": "95% percentile bootstrap over the segment's users",
            "comparison": "paired bootstrap: share of resamples in which the model's mean beats the segment's "
                          "best baseline (highest NDCG)",
        },
        "rows": rows,
        "comparisons": comparisons,
        "alpha_sweep": alpha_sweep_by_segment(per_alpha, test_activity, k=k),
        "alpha_by_segment": by_segment,
        "validation_alpha_sweep": valid_sweep,
    }


def _interval_text(low, high) -> str:
    return "–" if low is None or pd.isna(low) else f"{low:.3f} – {high:.3f}"


def segment_display_table(report: dict) -> pd.DataFrame:
    """One row per segment × method: segment (with its bounds), method, users, NDCG@k and HR@k with 95% intervals."""
    k = int(report.get("k", 10))
    rows = pd.DataFrame(report.get("rows", []))
    if rows.empty:
        return rows
    names = {"all": "all users", "activity": "training events", "popularity": "test item popularity",
             "text": "test item text"}
    out = pd.DataFrame({
        "segmentation": rows["segmentation"].map(lambda s: names.get(s, s)),
        "segment": rows["segment"], "method": rows["method"], "users": rows["n_users"],
    })
    for metric in (f"NDCG@{k}", f"HR@{k}"):
        out[metric] = rows[metric]
        out[f"{metric} 95% interval"] = [_interval_text(lo, hi) for lo, hi in zip(rows[f"{metric} low"], rows[f"{metric} high"])]
    return out


def comparison_display_table(report: dict) -> pd.DataFrame:
    """Per segment: the model against the segment's best baseline, difference with interval and share of wins."""
    k = int(report.get("k", 10))
    comps = pd.DataFrame(report.get("comparisons", []))
    if comps.empty:
        return comps
    metric = f"NDCG@{k}"
    return pd.DataFrame({
        "segmentation": comps["segmentation"], "segment": comps["segment"], "users": comps["n_users"],
        "best baseline": comps["baseline"], f"model − baseline {metric}": comps[f"{metric} difference"],
        "95% interval": [_interval_text(lo, hi) for lo, hi in zip(comps[f"{metric} difference low"],
                                                                   comps[f"{metric} difference high"])],
        "model wins (share of resamples)": comps[f"{metric} model_wins_share"],
        f"model wins on HR@{k}": comps[f"HR@{k} model_wins_share"],
    })


# ----------------------------------------------------------------------------- serving
def run_segment_report(run) -> dict | None:
    """The segment report stored with a run (its test evaluation's `segments`), or None."""
    metrics = run.metrics or {}
    return (metrics.get("evaluation") or {}).get("segments") or metrics.get("segments") or None


def run_alpha_by_segment(run) -> dict | None:
    """The run's validated {activity label: α}, or None when the run has no segment report."""
    return (run_segment_report(run) or {}).get("alpha_by_segment") or None


def user_segment(run, user: int) -> str:
    """The user's activity segment label at serving time: from their number of events in the run."""
    seg = (run_segment_report(run) or {}).get("definitions", {}).get("activity", {})
    bounds = tuple(seg.get("bounds", ACTIVITY_BOUNDS))
    count = int(np.count_nonzero(run.events["user"].to_numpy() == int(user)))
    return str(activity_segment([count], bounds)[0])


def user_alpha(run, user: int, *, default: float) -> float:
    """The α of the user's activity segment ("α by segment"), else `default` (the run's α).

    At serving time a user's activity is their number of events in the run (what it serves from).
    """
    default = float(default)
    table = run_alpha_by_segment(run)
    if not table:
        return default
    return float(table.get(user_segment(run, user), default))


def users_alpha(run, users, *, default: float) -> np.ndarray:
    """float `[len(users)]`: each user's "α by segment" (the run's α where the run has none)."""
    default = float(default)
    users = np.asarray(users, np.int64)
    table = run_alpha_by_segment(run)
    if not table:
        return np.full(len(users), default)
    seg = (run_segment_report(run) or {}).get("definitions", {}).get("activity", {})
    bounds = tuple(seg.get("bounds", ACTIVITY_BOUNDS))
    counts = np.bincount(run.events["user"].to_numpy(np.int64), minlength=run.n_users)[users]
    return np.array([table.get(str(label), default) for label in activity_segment(counts, bounds)], np.float64)

