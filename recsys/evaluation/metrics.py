"""Full-ranking evaluation: every user's held-out item is ranked against the whole catalogue.

Scores are produced and ranked one user batch at a time, so a dense ``[n_users, n_items]`` matrix
never exists beyond ``[batch_size, n_items]``.

Rank and tie rule (documented once, used everywhere here):
    The 0-based rank of the target is the number of items scored strictly higher, and items that
    tie with the target are shared out fairly: the target is treated as if ties were broken
    uniformly at random, and every metric is the exact *expectation* over that tie-break. So a
    constant scorer gets exactly the random-guess metrics (HR@k = k / n_candidates), never a
    perfect score, and the result is still deterministic. Pass ``ties="pessimistic"`` to rank the
    target below every item it ties with instead.

Exclusion rule:
    ``exclude[u]`` (usually the user's training items) are set to ``-inf`` before ranking, but the
    user's own target is never excluded, even if it appears in ``exclude[u]`` (repeat consumption):
    excluding it would make the target unreachable and silently zero the user's metrics.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
import scipy.sparse as sp

__all__ = ["interaction_matrix", "full_ranking_metrics", "topk_items", "alpha_sweep", "METRIC_NAMES", "ALPHA_GRID"]

METRIC_NAMES = ("HR", "NDCG", "MRR", "Recall", "coverage")
ALPHA_GRID = tuple(round(a / 10, 1) for a in range(11))
"""The α values every sweep visits (validation, test, per segment): 0.0, 0.1, …, 1.0."""


def interaction_matrix(
    events: pd.DataFrame,
    *,
    n_users: int,
    n_items: int,
    weights: str | np.ndarray | None = None,
    binary: bool = True,
) -> sp.csr_matrix:
    """Builds the ``[n_users, n_items]`` user-item matrix from an events frame.

    Repeated ``(user, item)`` events are summed, so with ``binary=False`` and no weights the
    entries are event counts.

    Args:
        events: Frame with int columns ``user`` and ``item`` (indices, not original ids).
        n_users: Number of rows; every ``user`` must be in ``[0, n_users)``.
        n_items: Number of columns; every ``item`` must be in ``[0, n_items)``.
        weights: Column name (e.g. ``"rating"``) or array of per-event weights; only used with
            ``binary=False``.
        binary: If True, every observed pair is 1.0 (implicit feedback).

    Returns:
        ``scipy.sparse.csr_matrix`` of float32 with sorted indices and no duplicates.

    Example:
        >>> ev = pd.DataFrame({"user": [0, 0, 1], "item": [2, 2, 0]})
        >>> interaction_matrix(ev, n_users=2, n_items=3, binary=False).toarray()
        array([[0., 0., 2.],
               [1., 0., 0.]], dtype=float32)
    """
    for col in ("user", "item"):
        if col not in events.columns:
            raise ValueError(
                f"interaction_matrix: events frame has no '{col}' column "
                f"(columns: {list(events.columns)}); pass index columns 'user' and 'item'."
            )
    users = np.asarray(events["user"].to_numpy(), dtype=np.int64)
    items = np.asarray(events["item"].to_numpy(), dtype=np.int64)
    _check_range(users, n_users, "user", "n_users")
    _check_range(items, n_items, "item", "n_items")
    if binary and weights is not None:
        raise ValueError(
            "interaction_matrix: weights were given but binary=True would ignore them; "
            "pass binary=False to use the weights, or drop weights."
        )
    if binary or weights is None:
        data = np.ones(len(users), dtype=np.float32)
    elif isinstance(weights, str):
        if weights not in events.columns:
            raise ValueError(f"interaction_matrix: weights column '{weights}' is not in the events frame.")
        data = np.asarray(events[weights].to_numpy(), dtype=np.float32)
    else:
        data = np.asarray(weights, dtype=np.float32)
        if data.shape != users.shape:
            raise ValueError(
                f"interaction_matrix: weights has shape {data.shape} but there are {len(users)} events."
            )
    matrix = sp.csr_matrix((data, (users, items)), shape=(n_users, n_items), dtype=np.float32)
    matrix.sum_duplicates()
    if binary:
        matrix.data[:] = 1.0
    matrix.sort_indices()
    return matrix


def topk_items(scores: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``k`` highest scores per row, best first.

    Uses ``argpartition`` and sorts only the ``k`` winners. Ties are broken by the lower item
    index, also at the cut-off, so the result is fully deterministic.

    Args:
        scores: ``[n_items]`` or ``[batch, n_items]`` scores (NaN is not allowed).
        k: List length; capped at ``n_items``.

    Returns:
        int64 ``[k]`` or ``[batch, k]`` item indices.

    Example:
        >>> topk_items(np.array([0.1, 0.5, 0.5, 0.2]), 2)
        array([1, 2])
    """
    scores = np.asarray(scores)
    if scores.ndim == 1:
        return topk_items(scores[None, :], k)[0]
    if scores.ndim != 2:
        raise ValueError(f"topk_items: scores must be [n_items] or [batch, n_items], got shape {scores.shape}.")
    if k < 1:
        raise ValueError(f"topk_items: k must be >= 1, got {k}.")
    n_items = scores.shape[1]
    k = min(int(k), n_items)
    if scores.shape[0] == 0:
        return np.empty((0, k), dtype=np.int64)
    neg = -scores
    if k < n_items:
        cand = np.argpartition(neg, k - 1, axis=1)[:, :k]
        cand_neg = np.take_along_axis(neg, cand, axis=1)
        # A row is ambiguous when items outside the candidates tie with the k-th score; only
        # a stable full sort can then honour "lower index wins".
        cutoff = cand_neg.max(axis=1, keepdims=True)
        ambiguous = np.count_nonzero(neg <= cutoff, axis=1) > k
        if ambiguous.any():
            cand[ambiguous] = np.argsort(neg[ambiguous], axis=1, kind="stable")[:, :k]
            cand_neg[ambiguous] = np.take_along_axis(neg[ambiguous], cand[ambiguous], axis=1)
    else:
        cand = np.broadcast_to(np.arange(n_items), scores.shape).copy()
        cand_neg = neg
    order = np.lexsort((cand, cand_neg), axis=-1)
    return np.take_along_axis(cand, order, axis=1).astype(np.int64, copy=False)


def full_ranking_metrics(
    score_fn: Callable[[np.ndarray], np.ndarray],
    *,
    users: np.ndarray,
    targets: np.ndarray,
    exclude: sp.csr_matrix | None,
    n_items: int,
    k: int = 10,
    batch_size: int = 1024,
    ties: str = "expected",
) -> dict:
    """HR, NDCG, MRR, Recall and coverage at ``k`` with one held-out target per user.

    See the module docstring for the rank, tie and exclusion rules. With a 0-based rank ``r`` of
    the target: HR@k = Recall@k = ``[r < k]``, NDCG@k = ``1 / log2(r + 2)`` if ``r < k``,
    MRR@k = ``1 / (r + 1)`` if ``r < k`` (each averaged over users, in expectation over ties).
    coverage@k = distinct items in any user's top-k list (ties by lower index, excluded items
    never listed) / ``n_items``.

    Args:
        score_fn: ``score_fn(users_batch [b] int) -> [b, n_items]`` float scores, higher = better.
        users: ``[n]`` user indices (rows of ``exclude``); duplicates are evaluated separately.
        targets: ``[n]`` held-out item index per entry of ``users``.
        exclude: ``csr [n_users, n_items]`` of items never to rank per user (nonzero = excluded),
            or None.
        n_items: Catalogue size.
        k: Cut-off.
        batch_size: Users scored at once; results do not depend on it.
        ties: ``"expected"`` (default, fair expectation over ties) or ``"pessimistic"``.

    Returns:
        ``{"HR@k", "NDCG@k", "MRR@k", "Recall@k", "coverage@k"}`` as floats (k filled in, e.g.
        ``"HR@10"``) and ``"n_users"`` (int, number of evaluated entries).
    """
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if users.shape != targets.shape:
        raise ValueError(
            f"full_ranking_metrics: users ({len(users)}) and targets ({len(targets)}) must have the same length."
        )
    if len(users) == 0:
        raise ValueError("full_ranking_metrics: no users to evaluate (users is empty).")
    if k < 1 or batch_size < 1:
        raise ValueError(f"full_ranking_metrics: k and batch_size must be >= 1, got k={k}, batch_size={batch_size}.")
    if ties not in ("expected", "pessimistic"):
        raise ValueError(f"full_ranking_metrics: ties must be 'expected' or 'pessimistic', got {ties!r}.")
    _check_range(targets, n_items, "target", "n_items")
    if exclude is not None:
        exclude = sp.csr_matrix(exclude, copy=True)
        exclude.eliminate_zeros()
        if exclude.shape[1] != n_items:
            raise ValueError(
                f"full_ranking_metrics: exclude has {exclude.shape[1]} columns but n_items={n_items}."
            )
        _check_range(users, exclude.shape[0], "user", "exclude.shape[0]")

    ranks = np.arange(k, dtype=np.float64)
    cum_ndcg = np.concatenate([[0.0], np.cumsum(1.0 / np.log2(ranks + 2.0))])
    cum_mrr = np.concatenate([[0.0], np.cumsum(1.0 / (ranks + 1.0))])
    n = len(users)
    hr, ndcg, mrr = np.zeros(n), np.zeros(n), np.zeros(n)
    shown = np.zeros(n_items, dtype=bool)

    for start in range(0, len(users), batch_size):
        batch = users[start : start + batch_size]
        batch_targets = targets[start : start + batch_size]
        rows = np.arange(len(batch))
        raw = np.asarray(score_fn(batch))
        if raw.shape != (len(batch), n_items):
            raise ValueError(
                f"full_ranking_metrics: score_fn returned shape {raw.shape} for {len(batch)} users; "
                f"expected [{len(batch)}, {n_items}] (one score per catalogue item)."
            )
        scores = np.array(raw, dtype=np.result_type(raw.dtype, np.float32))
        if np.isnan(scores).any():
            raise ValueError("full_ranking_metrics: score_fn returned NaN scores; fix the model or use -inf.")
        target_scores = scores[rows, batch_targets].copy()
        if exclude is not None:
            excl = exclude[batch]
            excl_rows = np.repeat(rows, np.diff(excl.indptr))
            scores[excl_rows, excl.indices] = -np.inf
            scores[rows, batch_targets] = target_scores

        higher = np.count_nonzero(scores > target_scores[:, None], axis=1)
        tied = np.count_nonzero(scores == target_scores[:, None], axis=1) - 1
        if ties == "pessimistic":
            higher, tied = higher + tied, np.zeros_like(tied)
        lo = np.minimum(higher, k)
        hi = np.minimum(higher + tied + 1, k)
        share = 1.0 / (tied + 1.0)
        part = slice(start, start + len(batch))
        hr[part] = (hi - lo) * share
        ndcg[part] = (cum_ndcg[hi] - cum_ndcg[lo]) * share
        mrr[part] = (cum_mrr[hi] - cum_mrr[lo]) * share

        top = topk_items(scores, k)
        listed = np.isfinite(np.take_along_axis(scores, top, axis=1))
        shown[top[listed]] = True

    return {
        f"HR@{k}": float(hr.mean()),
        f"NDCG@{k}": float(ndcg.mean()),
        f"MRR@{k}": float(mrr.mean()),
        f"Recall@{k}": float(hr.mean()),
        f"coverage@{k}": float(np.count_nonzero(shown)) / n_items,
        "n_users": int(n),
    }


def alpha_sweep(vectors, *, users, targets, exclude, n_items, k=10, alphas=ALPHA_GRID, batch_size=1024) -> dict:
    """Full-ranking metrics of the hybrid at every α, from its stored component vectors (no retraining).

    `vectors` is a `recsys.serving.ServingVectors` (anything with `scores(users, alpha=a)`).
    Returns {alpha: metrics dict of `full_ranking_metrics`}.
    """
    users = np.asarray(users, np.int64)
    targets = np.asarray(targets, np.int64)
    out = {}
    for alpha in alphas:
        out[alpha] = full_ranking_metrics(
            lambda b, a=alpha: vectors.scores(b, alpha=a), users=users, targets=targets, exclude=exclude,
            n_items=n_items, k=k, batch_size=batch_size)
    return out


def _check_range(values: np.ndarray, upper: int, what: str, bound_name: str) -> None:
    if len(values) == 0:
        return
    lo, hi = int(values.min()), int(values.max())
    if lo < 0 or hi >= upper:
        bad = lo if lo < 0 else hi
        raise ValueError(f"{what} index {bad} is outside [0, {bound_name}={upper}); pass 0-based indices.")
