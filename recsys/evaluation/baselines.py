"""Non-neural baselines that a neural recommender has to beat: popularity, item-kNN and EASE.

All follow scikit-learn manners: ``__init__`` only stores arguments, ``fit(X)`` learns from a
``[n_users, n_items]`` interaction matrix (see ``metrics.interaction_matrix``) and returns ``self``,
learned state ends in ``_``, and ``score(users)`` uses the fitted rows of ``X`` as each user's
history, returning dense float32 ``[len(users), n_items]`` scores.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg
import scipy.sparse as sp

from recsys.evaluation.metrics import full_ranking_metrics, topk_items

__all__ = [
    "NotFittedError",
    "PopularityRecommender",
    "ItemKNNRecommender",
    "EASERecommender",
    "tune_ease",
    "tune_item_knn",
    "EASE_MAX_ITEMS",
]

EASE_GRID = (10, 50, 100, 200, 500, 1000, 2000, 5000)
KNN_GRID = (10, 20, 50, 100, 200, 500)
EASE_MAX_ITEMS = 20_000
"""Largest catalogue EASE accepts: its weights are a dense ``[n_items, n_items]`` matrix."""


class NotFittedError(ValueError, AttributeError):
    """Raised when ``score`` is called before ``fit`` (same bases as scikit-learn's)."""


class _Recommender:
    """Shared input checks and history lookup; subclasses implement ``_fit`` and ``_score``."""

    def fit(self, X) -> "_Recommender":
        """Learns from the ``[n_users, n_items]`` interaction matrix ``X``; returns ``self``."""
        self.X_ = _as_csr(X, type(self).__name__).copy()
        self.n_users_, self.n_items_ = self.X_.shape
        self._fit(self.X_)
        return self

    def score(self, users) -> np.ndarray:
        """Scores every item for each user: ``[len(users)] -> float32 [len(users), n_items]``."""
        if not hasattr(self, "X_"):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted yet; call fit(X) before score(users)."
            )
        users = np.asarray(users, dtype=np.int64).reshape(-1)
        if len(users) and (users.min() < 0 or users.max() >= self.n_users_):
            bad = users.min() if users.min() < 0 else users.max()
            raise ValueError(
                f"{type(self).__name__}.score: user index {bad} is outside [0, {self.n_users_}) "
                "of the matrix it was fitted on."
            )
        return np.ascontiguousarray(self._score(users), dtype=np.float32)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.endswith("_"))
        return f"{type(self).__name__}({args})"


class PopularityRecommender(_Recommender):
    """Scores each item by its column sum in ``X`` (the number of users for a binary ``X``)."""

    def _fit(self, X: sp.csr_matrix) -> None:
        self.item_counts_ = np.asarray(X.sum(axis=0), dtype=np.float32).reshape(-1)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.tile(self.item_counts_, (len(users), 1))


class ItemKNNRecommender(_Recommender):
    """Item-based k-nearest-neighbours with cosine similarity on the binarised ``X``.

    ``sim(i, j) = |U_i ∩ U_j| / (sqrt(|U_i|) sqrt(|U_j|) + shrink)`` with ``U_i`` the users of
    item ``i``. Each candidate item ``j`` keeps only its ``n_neighbors`` most similar items
    (ties by lower index), giving the sparse ``W [n_items, n_items]``; ``score = X_u · W``.

    Args:
        n_neighbors: Neighbours kept per item.
        shrink: Added to the cosine denominator; damps similarities built on few co-occurrences.
    """

    def __init__(self, n_neighbors: int = 100, *, shrink: float = 0.0):
        self.n_neighbors = n_neighbors
        self.shrink = shrink

    def _fit(self, X: sp.csr_matrix) -> None:
        if self.n_neighbors < 1:
            raise ValueError(f"ItemKNNRecommender: n_neighbors must be >= 1, got {self.n_neighbors}.")
        similarity = cosine_item_similarity(X, shrink=self.shrink)
        neighbors, values = _top_neighbors(similarity, self.n_neighbors)
        self.weights_ = _neighbor_matrix(neighbors, values, self.n_neighbors)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.X_[users] @ self.weights_).toarray()


class EASERecommender(_Recommender):
    """EASE (Steck 2019): a closed-form item-item linear model with a zero diagonal.

    ``G = XᵀX + l2·I``, ``P = G⁻¹``, ``B = −P / diag(P)`` (column-wise), ``diag(B) = 0``;
    ``score = X_u · B``. ``B`` is dense ``[n_items, n_items]`` (float64 solve, float32 stored),
    so the catalogue is capped at ``max_items``.

    Args:
        l2: Ridge penalty λ (> 0); tune it with ``tune_ease``.
        max_items: Refuse catalogues bigger than this (memory grows as ``n_items²``).
    """

    def __init__(self, l2: float = 500.0, *, max_items: int = EASE_MAX_ITEMS):
        self.l2 = l2
        self.max_items = max_items

    def _fit(self, X: sp.csr_matrix) -> None:
        _check_ease_size(X.shape[1], self.max_items)
        self.weights_ = ease_weights(item_gram(X), l2=self.l2)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.X_[users] @ self.weights_


def item_gram(X) -> np.ndarray:
    """Dense float64 ``XᵀX [n_items, n_items]`` via a sparse product (``X`` never densified)."""
    X = _as_csr(X, "item_gram")
    gram = (X.T.tocsr() @ X).toarray()
    return gram.astype(np.float64, copy=False)


def ease_weights(gram: np.ndarray, *, l2: float) -> np.ndarray:
    """EASE weights from a precomputed ``XᵀX``; lets ``tune_ease`` reuse one gram for the grid.

    Args:
        gram: Dense ``[n_items, n_items]`` ``XᵀX`` (not modified).
        l2: Ridge penalty λ > 0.

    Returns:
        float32 ``B [n_items, n_items]`` with ``B[i, j] = −P[i, j] / P[j, j]`` and ``B[j, j] = 0``.
    """
    if not l2 > 0:
        raise ValueError(f"EASE: l2 must be > 0 (the closed form needs an invertible XᵀX + l2·I), got {l2}.")
    G = np.array(gram, dtype=np.float64)
    G[np.diag_indices_from(G)] += l2
    B = _spd_inverse(G)
    del G
    B /= -np.diag(B)[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def cosine_item_similarity(X, *, shrink: float = 0.0) -> sp.csr_matrix:
    """Sparse cosine similarity between the item columns of the binarised ``X``, zero diagonal.

    Returns:
        float32 ``csr [n_items, n_items]``, symmetric, only co-occurring pairs stored.
    """
    if shrink < 0:
        raise ValueError(f"cosine_item_similarity: shrink must be >= 0, got {shrink}.")
    binary = _as_csr(X, "cosine_item_similarity").copy()
    binary.data[:] = 1.0
    binary.eliminate_zeros()
    co_counts = (binary.T.tocsr() @ binary).tocsr()
    co_counts.setdiag(0.0)
    co_counts.eliminate_zeros()
    norms = np.sqrt(np.asarray(binary.sum(axis=0), dtype=np.float64).reshape(-1))
    rows = np.repeat(np.arange(co_counts.shape[0]), np.diff(co_counts.indptr))
    denominator = norms[rows] * norms[co_counts.indices] + shrink
    co_counts.data = (co_counts.data / denominator).astype(np.float32)
    co_counts.sort_indices()
    return co_counts


def tune_ease(
    X_train,
    *,
    valid_users,
    valid_targets,
    n_items: int,
    k: int = 10,
    grid=EASE_GRID,
    batch_size: int = 1024,
    max_items: int = 20_000,
) -> tuple[float, dict]:
    """Chooses EASE's λ by validation NDCG@k (full ranking, train items excluded).

    ``XᵀX`` is computed once and reused for every λ.

    Returns:
        ``(best_l2, {l2: ndcg})``; ties go to the earlier grid value.
    """
    X = _check_tuning_input(X_train, n_items, "tune_ease")
    _check_ease_size(n_items, max_items)
    gram = item_gram(X)
    results: dict = {}
    for l2 in grid:
        weights = ease_weights(gram, l2=l2)
        results[l2] = _validation_ndcg(
            lambda u, w=weights: X[u] @ w, X, valid_users, valid_targets, n_items, k, batch_size
        )
    return _best(results), results


def tune_item_knn(
    X_train,
    *,
    valid_users,
    valid_targets,
    n_items: int,
    k: int = 10,
    grid=KNN_GRID,
    shrink: float = 0.0,
    batch_size: int = 1024,
) -> tuple[int, dict]:
    """Chooses ItemKNN's ``n_neighbors`` by validation NDCG@k; similarities are computed once.

    Returns:
        ``(best_n_neighbors, {n_neighbors: ndcg})``; ties go to the earlier grid value.
    """
    X = _check_tuning_input(X_train, n_items, "tune_item_knn")
    similarity = cosine_item_similarity(X, shrink=shrink)
    neighbors, values = _top_neighbors(similarity, max(grid))
    results: dict = {}
    for n in grid:
        weights = _neighbor_matrix(neighbors, values, n)
        results[n] = _validation_ndcg(
            lambda u, w=weights: (X[u] @ w).toarray(), X, valid_users, valid_targets, n_items, k, batch_size
        )
    return _best(results), results


def _validation_ndcg(score_fn, X, users, targets, n_items, k, batch_size) -> float:
    metrics = full_ranking_metrics(
        score_fn, users=users, targets=targets, exclude=X, n_items=n_items, k=k, batch_size=batch_size
    )
    return metrics[f"NDCG@{k}"]


def _best(results: dict):
    best_value = max(results.values())
    return next(key for key, value in results.items() if value == best_value)


def _top_neighbors(similarity: sp.csr_matrix, n_max: int, *, block: int = 512):
    """Per item (row), its ``n_max`` most similar items as dense ``[n_items, n_max]`` arrays."""
    n_items = similarity.shape[0]
    n_max = max(1, min(int(n_max), n_items))
    neighbors = np.empty((n_items, n_max), dtype=np.int64)
    values = np.empty((n_items, n_max), dtype=np.float32)
    for start in range(0, n_items, block):
        dense = similarity[start : start + block].toarray()
        top = topk_items(dense, n_max)
        neighbors[start : start + block] = top
        values[start : start + block] = np.take_along_axis(dense, top, axis=1)
    return neighbors, values


def _neighbor_matrix(neighbors: np.ndarray, values: np.ndarray, n_neighbors: int) -> sp.csr_matrix:
    """``W[i, j] = sim(i, j)`` for ``i`` among the first ``n_neighbors`` neighbours of ``j``."""
    n_items = neighbors.shape[0]
    kept_items = neighbors[:, :n_neighbors]
    kept_values = values[:, :n_neighbors]
    keep = kept_values > 0
    columns = np.broadcast_to(np.arange(n_items)[:, None], kept_items.shape)
    return sp.csr_matrix(
        (kept_values[keep], (kept_items[keep], columns[keep])), shape=(n_items, n_items), dtype=np.float32
    )


def _spd_inverse(G: np.ndarray) -> np.ndarray:
    """Inverse of a symmetric positive-definite matrix: ``G = RᵀR`` (Cholesky), ``G⁻¹ = R⁻¹R⁻ᵀ``.

    About twice as fast as a general LU inverse, and symmetric by construction.
    """
    factor, info = scipy.linalg.lapack.dpotrf(G, lower=False, clean=True)
    if info != 0:
        raise ValueError("EASE: XᵀX + l2·I is not positive definite (numerically); use a larger l2.")
    factor_inverse, info = scipy.linalg.lapack.dtrtri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError("EASE: inverting XᵀX + l2·I failed; use a larger l2.")
    return factor_inverse @ factor_inverse.T


def _check_ease_size(n_items: int, max_items: int) -> None:
    if n_items > max_items:
        raise ValueError(
            f"EASE needs dense {n_items}×{n_items} matrices (about {n_items**2 * 24 / 1e9:.1f} GB while fitting), "
            f"more than max_items={max_items} allows; drop rare items first or raise max_items."
        )


def _check_tuning_input(X_train, n_items: int, where: str) -> sp.csr_matrix:
    X = _as_csr(X_train, where)
    if X.shape[1] != n_items:
        raise ValueError(f"{where}: X_train has {X.shape[1]} item columns but n_items={n_items}.")
    return X


def _as_csr(X, where: str) -> sp.csr_matrix:
    if sp.issparse(X):
        X = sp.csr_matrix(X, dtype=np.float32)
    else:
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"{where}: X must be a 2-D [n_users, n_items] matrix, got shape {X.shape}.")
        X = sp.csr_matrix(X, dtype=np.float32)
    X.sum_duplicates()
    X.sort_indices()
    return X
