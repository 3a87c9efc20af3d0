"""Non-neural baselines that a neural recommender has to beat: popularity, item-kNN and EASE.

All follow scikit-learn manners: ``__init__`` only stores arguments, ``fit(X)`` learns from a
``[n_users, n_items]`` interaction matrix (see ``metrics.interaction_matrix``) and returns ``self``,
learned state ends in ``_``, and ``score(users)`` uses the fitted rows of ``X`` as each user's
history, returning dense float32 ``[len(users), n_items]`` scores.
"""

from __future__ import annotations

import functools

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
    "EASE_MAX_GRAM",
    "ease_feasible",
    "column_quadratic_forms",
    "tuning_sample",
]

EASE_GRID = (10, 50, 100, 200, 500, 1000, 2000, 5000)
KNN_GRID = (10, 20, 50, 100, 200, 500)
EASE_MAX_ITEMS = 200_000
"""Largest catalogue EASE accepts (scores are dense ``[batch, n_items]``; the dual form never builds ``n_items²``)."""
EASE_MAX_GRAM = 20_000
"""Largest ``min(n_users, n_items)``: EASE factorises a dense gram of the smaller side (``XᵀX`` or ``XXᵀ``)."""
EASE_TUNING_USERS = 2_000
"""``tune_ease`` scores a seeded sample of this many validation users when there are more."""


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

    ``P = (XᵀX + l2·I)⁻¹``, ``B = I − P·diag(P)⁻¹`` (so ``B[i, j] = −P[i, j] / P[j, j]`` and
    ``diag(B) = 0``), ``score = X_u · B``. Two exact forms, chosen by ``form="auto"`` as the one
    whose dense matrix is smaller:

    * ``"primal"`` (``n_items <= n_users``): inverts the ``[n_items, n_items]`` gram and stores
      ``B`` as ``weights_`` (float64 solve, float32 stored).
    * ``"dual"`` (``n_items > n_users``): by Woodbury, with ``K = XXᵀ + l2·I [n_users, n_users]``,
      ``X·P = K⁻¹X`` and ``diag(P) = (1 − diag(XᵀK⁻¹X)) / l2``, so
      ``X_u·B = X_u − (K⁻¹X)_u / diag(P)``. Stores ``user_inverse_ = K⁻¹`` and
      ``item_scale_ = 1 / diag(P) [n_items]``; no ``[n_items, n_items]`` matrix is ever formed,
      which makes wide catalogues (e.g. 2k users × 50k items) cheap.

    Args:
        l2: Ridge penalty λ (> 0); tune it with ``tune_ease``.
        max_items: Refuse catalogues bigger than this (scores are dense ``[batch, n_items]``).
        form: ``"auto"``, ``"primal"`` or ``"dual"`` (same scores up to rounding).
    """

    def __init__(self, l2: float = 500.0, *, max_items: int = EASE_MAX_ITEMS, form: str = "auto"):
        self.l2 = l2
        self.max_items = max_items
        self.form = form

    def _fit(self, X: sp.csr_matrix) -> None:
        _check_l2(self.l2)
        self.form_ = _ease_form(X.shape, self.form, self.max_items)
        if self.form_ == "primal":
            self.weights_ = ease_weights(item_gram(X), l2=self.l2)
        else:
            self.user_inverse_, self.item_scale_ = _dual_ease(user_gram(X), X, l2=self.l2)

    def _score(self, users: np.ndarray) -> np.ndarray:
        if self.form_ == "primal":
            return _primal_scores(self.X_, self.weights_, users)
        return _dual_scores(self.X_, self.user_inverse_, self.item_scale_, users)


def item_gram(X) -> np.ndarray:
    """Dense float64 ``XᵀX [n_items, n_items]`` via a sparse product (``X`` never densified)."""
    X = _as_csr(X, "item_gram")
    gram = (X.T.tocsr() @ X).toarray()
    return gram.astype(np.float64, copy=False)


def user_gram(X) -> np.ndarray:
    """Dense float64 ``XXᵀ [n_users, n_users]``, EASE's gram in the dual form, via a sparse product."""
    X = _as_csr(X, "user_gram")
    gram = (X @ X.T.tocsr()).toarray()
    return gram.astype(np.float64, copy=False)


def ease_weights(gram: np.ndarray, *, l2: float) -> np.ndarray:
    """EASE weights (primal form) from a precomputed ``XᵀX``.

    Args:
        gram: Dense ``[n_items, n_items]`` ``XᵀX`` (not modified).
        l2: Ridge penalty λ > 0.

    Returns:
        float32 ``B [n_items, n_items]`` with ``B[i, j] = −P[i, j] / P[j, j]`` and ``B[j, j] = 0``.
    """
    _check_l2(l2)
    G = np.array(gram, dtype=np.float64)
    G[np.diag_indices_from(G)] += l2
    B = _spd_inverse(G)
    del G
    B /= -np.diag(B)[None, :]
    B[np.diag_indices_from(B)] = 0.0
    return B.astype(np.float32)


def ease_feasible(n_users: int, n_items: int, *, max_items: int = EASE_MAX_ITEMS) -> bool:
    """Whether EASE fits at this size: ``n_items <= max_items`` and ``min(n_users, n_items) <= EASE_MAX_GRAM``."""
    return n_items <= max_items and min(n_users, n_items) <= EASE_MAX_GRAM


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
    max_items: int = EASE_MAX_ITEMS,
    max_users: int | None = EASE_TUNING_USERS,
    form: str = "auto",
) -> tuple[float, dict]:
    """Chooses EASE's λ by validation NDCG@k (full ranking, train items excluded).

    The gram of the smaller side (``XᵀX`` in the primal form, ``XXᵀ`` in the dual form, see
    ``EASERecommender``) is computed once; each λ then costs one Cholesky inverse of it, so a
    600-user × 10k-item matrix needs 600×600 inverses, not 10k×10k ones. With more than
    ``max_users`` validation entries, a seeded sample of ``max_users`` of them (the same for every λ)
    is scored; on ML-100K and the shapes a, b, d of ``bench/shapes.py`` it picks the same λ as
    scoring them all. ``max_users=None`` scores every entry.

    Returns:
        ``(best_l2, {l2: ndcg})``; ties go to the earlier grid value.
    """
    X = _check_tuning_input(X_train, n_items, "tune_ease")
    form = _ease_form(X.shape, form, max_items)
    for l2 in grid:
        _check_l2(l2)
    users, targets = tuning_sample(valid_users, valid_targets, max_users)
    # One eigendecomposition G = Q·diag(w)·Qᵀ would serve every λ as Q·diag(1/(w+λ))·Qᵀ, but it is
    # measured slower than a Cholesky inverse per λ. At 10k×10k (2 cores, load 5-6): dsyevd 217 cpu-s
    # (399 s wall) vs dpotrf+dpotri 31 cpu-s (61 s), and each λ would still need a [2000, 10k]·[10k, 10k]
    # product (7.9 cpu-s), so 280 vs 249 cpu-s for the 8-value grid; float32: ssyevd 176 cpu-s vs
    # spotrf+spotri 17.5 cpu-s.
    gram = item_gram(X) if form == "primal" else user_gram(X)
    results: dict = {}
    for l2 in grid:
        if form == "primal":
            score = functools.partial(_primal_scores, X, ease_weights(gram, l2=l2))
        else:
            score = functools.partial(_dual_scores, X, *_dual_ease(gram, X, l2=l2))
        results[l2] = _validation_ndcg(score, X, users, targets, n_items, k, batch_size)
        del score  # frees this λ's inverse before the next one is built
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
    """Inverse of a symmetric positive-definite float64 ``G`` (overwritten) by Cholesky: ``G = RᵀR``, then ``potri``.

    ``potrf`` + ``potri`` take about ``n³`` flops, against ``2.7n³`` for ``trtri`` and a full
    ``R⁻¹ @ R⁻ᵀ`` product (measured at n=3000, one thread: 0.55 vs 0.86 cpu-s). Both work in place
    on ``G.T`` (the same matrix, Fortran-ordered); the upper triangle ``potri`` leaves is mirrored
    in blocks, so the result is exactly symmetric.
    """
    factor, info = scipy.linalg.lapack.dpotrf(G.T, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise ValueError("EASE: XᵀX + l2·I is not positive definite (numerically); use a larger l2.")
    inverse, info = scipy.linalg.lapack.dpotri(factor, lower=False, overwrite_c=True)
    if info != 0:
        raise ValueError("EASE: inverting XᵀX + l2·I failed; use a larger l2.")
    for start in range(0, inverse.shape[0], 1024):
        stop = start + 1024
        inverse[start:stop, :start] = inverse[:start, start:stop].T
        block = inverse[start:stop, start:stop]
        block[...] = np.triu(block) + np.triu(block, 1).T
    return inverse.T  # C-ordered again; the transpose of a symmetric matrix is itself


def _dual_ease(gram: np.ndarray, X: sp.csr_matrix, *, l2: float) -> tuple[np.ndarray, np.ndarray]:
    """EASE in the dual form from ``XXᵀ``: ``(K⁻¹, 1 / diag(P))`` with ``K = XXᵀ + l2·I``.

    Args:
        gram: Dense ``[n_users, n_users]`` ``XXᵀ`` (not modified).
        X: The ``[n_users, n_items]`` matrix it came from.
        l2: Ridge penalty λ > 0.

    Returns:
        float32 ``K⁻¹ [n_users, n_users]`` and float64 ``1 / diag(P) [n_items]``, where
        ``diag(P) = (1 − x_jᵀK⁻¹x_j) / l2`` (Woodbury); see ``EASERecommender``.
    """
    _check_l2(l2)
    K = np.array(gram, dtype=np.float64)
    K[np.diag_indices_from(K)] += l2
    # The factorisation stays float64: 1 − x_jᵀK⁻¹x_j cancels for popular items at small l2. A float32
    # one ranked the same on shape c (validation NDCG equal at l2 = 10 and 500, top-10 sets equal) but
    # saved only 15% of the tuning cpu (87.5 vs 103.6 cpu-s for those two l2). K⁻¹ is stored and
    # multiplied in float32, whose rounding cond(K) does not amplify.
    user_inverse = _spd_inverse(K)
    item_scale = _item_scale(column_quadratic_forms(X, user_inverse), l2)
    return user_inverse.astype(np.float32), item_scale


def _primal_scores(X: sp.csr_matrix, weights: np.ndarray, users) -> np.ndarray:
    """``X_u·B`` for fitted rows ``users [b]`` with the primal form's dense ``B``: ``[b, n_items]``."""
    return X[users] @ weights


def _dual_scores(X: sp.csr_matrix, user_inverse: np.ndarray, item_scale: np.ndarray, users) -> np.ndarray:
    """``X_u·B = X_u − (K⁻¹X)_u / diag(P)`` for fitted rows ``users [b]``: float32 ``[b, n_items]``.

    ``(K⁻¹X)_u`` costs ``b × nnz(X)``; the scaling and the ``X_u`` term are applied in place.
    """
    scores = np.ascontiguousarray(user_inverse[users] @ X, dtype=np.float32)
    scores *= -item_scale.astype(np.float32)
    history = X[users]
    scores[np.repeat(np.arange(len(history.indptr) - 1), np.diff(history.indptr)), history.indices] += history.data
    return scores


def column_quadratic_forms(X: sp.csr_matrix, M: np.ndarray, *, block: int = 2048) -> np.ndarray:
    """``c[j] = x_jᵀ·M·x_j`` for every column ``x_j`` of ``X [n_users, n_items]`` and dense ``M [n_users, n_users]``.

    Sums ``X ∘ (M·X)`` down each column, one item block of ``(M·X)`` at a time (``n_users × nnz(X)``
    work, ``[block, n_users]`` memory). Reading only the ``Σ_j n_j²`` entries ``M[u, v]`` of users
    who share an item (a loop over items) was measured about as fast on shape c (7.5 vs 7.7 cpu-s)
    and 3× slower on ML-100K (0.09 vs 0.03 cpu-s).
    """
    item_users = X.T.tocsr()
    out = np.empty(X.shape[1])
    for start in range(0, X.shape[1], block):
        rows = item_users[start : start + block]
        out[start : start + block] = np.asarray(rows.multiply(rows @ M).sum(axis=1)).reshape(-1)
    return out


def _item_scale(quadratic_forms: np.ndarray, l2: float) -> np.ndarray:
    """``1 / diag(P) = l2 / (1 − x_jᵀK⁻¹x_j)`` (dual form); the denominator is ``l2·P[j, j] > 0`` exactly."""
    residual = 1.0 - quadratic_forms
    if residual.size and not residual.min() > 0:
        raise ValueError(f"EASE: (XᵀX + l2·I)⁻¹ has a non-positive diagonal at l2={l2} (numerically); use a larger l2.")
    return l2 / residual


def _ease_form(shape: tuple[int, int], form: str, max_items: int) -> str:
    """``"primal"`` or ``"dual"`` for an ``[n_users, n_items]`` matrix; raises when EASE does not fit."""
    n_users, n_items = shape
    if form not in ("auto", "primal", "dual"):
        raise ValueError(f"EASE: form must be 'auto', 'primal' or 'dual', got {form!r}.")
    if n_items > max_items:
        raise ValueError(
            f"EASE scores dense [batch, {n_items}] rows, more items than max_items={max_items} allows; "
            "drop rare items first or raise max_items."
        )
    if form == "auto":
        form = "primal" if n_items <= n_users else "dual"
    side = n_items if form == "primal" else n_users
    if side > EASE_MAX_GRAM:
        fix = ("use form='auto'" if min(n_users, n_items) <= EASE_MAX_GRAM else
               "both sides are too big; drop rare items and inactive users first")
        raise ValueError(
            f"EASE ({form} form) on {n_users} users × {n_items} items needs dense {side}×{side} matrices (about "
            f"{side**2 * 24 / 1e9:.1f} GB while fitting), more than EASE_MAX_GRAM={EASE_MAX_GRAM}: {fix}."
        )
    return form


def tuning_sample(users, targets, max_users: int | None, *, seed: int = 0):
    """A seeded sample of ``max_users`` validation entries (in their order), or all of them."""
    users = np.asarray(users, dtype=np.int64).reshape(-1)
    targets = np.asarray(targets, dtype=np.int64).reshape(-1)
    if max_users is None or len(users) <= max_users:
        return users, targets
    keep = np.sort(np.random.default_rng(seed).choice(len(users), size=max_users, replace=False))
    return users[keep], targets[keep]


def _check_l2(l2) -> None:
    if not l2 > 0:
        raise ValueError(f"EASE: l2 must be > 0 (the closed form needs an invertible XᵀX + l2·I), got {l2}.")


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
