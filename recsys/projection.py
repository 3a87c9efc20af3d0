"""2-D projections of embedding vectors for the embedding map, and nearest-neighbour search.

PCA is instant and exact, so it is the default view; UMAP shows local structure better but costs
seconds, so its result is cached on disk, keyed by the vectors' bytes and the parameters.

Example:
    >>> coords = pca_2d(run.cf_item)                           # [n_items, 2]
    >>> coords = umap_2d(run.cf_item, cache_dir=run_dir / "projections")
    >>> idx, sim = nearest_neighbors(run.cf_item, 42, k=10)   # the 10 items most like item 42
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

__all__ = [
    "ProjectionFallbackWarning",
    "kmeans_labels",
    "nearest_neighbors",
    "pca_2d",
    "pca_2d_explained",
    "umap_2d",
    "umap_cache_path",
    "umap_fallback_reason",
    "exact_knn",
]

_CACHE_FORMAT = 3  # bump when the cached array's meaning changes (2: UMAP_EPOCHS passes, 3: exact kNN)
# umap-learn runs 500 optimisation passes up to 10k rows and 200 above; 200 everywhere keeps a 10k-item
# map at ~4 s once compiled, with pictures indistinguishable for exploration.
UMAP_EPOCHS = 200
_METRICS = ("cosine", "dot", "euclidean")
# Up to this many vectors UMAP gets its neighbour graph from an exact blocked matmul search instead of
# pynndescent, whose NN-descent functions numba cannot disk-cache (they use dynamic globals): that
# compile cost ~8 s in every new process. Exact search is also deterministic and at least as accurate.
EXACT_KNN_MAX = 20_000


class ProjectionFallbackWarning(UserWarning):
    """UMAP could not run on this input, so PCA was used instead."""


def _as_matrix(vectors) -> np.ndarray:
    """Returns `vectors` as a C-contiguous float32 [n, d] array, or raises a ValueError that names the fix."""
    matrix = np.ascontiguousarray(vectors, dtype=np.float32)
    if matrix.ndim != 2:
        raise ValueError(
            f"Expected a 2-D array of vectors [n, dim], got shape {matrix.shape}; "
            "reshape to one row per item or user."
        )
    if not np.isfinite(matrix).all():
        bad_row = int(np.flatnonzero(~np.isfinite(matrix).all(axis=1))[0])
        raise ValueError(
            f"Vector row {bad_row} contains NaN or infinity; retrain the model or drop that row before projecting."
        )
    return matrix


def pca_2d(vectors, *, seed: int = 0) -> np.ndarray:
    """Projects vectors onto their first two principal components.

    Computed by an exact SVD, so the result does not depend on `seed` (kept for the same call shape
    as `umap_2d`). Signs are fixed: in each component the loading with the largest absolute value is
    positive (SVD signs are otherwise arbitrary), so the same vectors always give the same picture.

    Args:
        vectors: [n, dim] array.
        seed: Unused; accepted so callers can switch between PCA and UMAP freely.

    Returns:
        float32 array [n, 2]. Rows with fewer than 2 informative directions get 0 in the missing column
        (n == 1 gives [[0, 0]]).
    """
    del seed
    return pca_2d_explained(vectors)[0]


def pca_2d_explained(vectors) -> tuple[np.ndarray, np.ndarray]:
    """`pca_2d` and the share of the total variance each of the two components explains.

    The map's axes say e.g. "PC1 (23% of variance)", so a reader knows how much of the vectors'
    spread the picture shows.

    Returns:
        (coords float32 [n, 2], explained float64 [2]: each component's variance over the total,
        0 for a missing component or when there is no variance).

    Example:
        >>> coords, explained = pca_2d_explained(np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 0.0]]))
        >>> explained.round(3).tolist()   # x varies by 8/3, y by 2/9: 0.923 and 0.077
        [0.923, 0.077]
    """
    from threadpoolctl import threadpool_limits

    matrix = _as_matrix(vectors).astype(np.float64)
    n, dim = matrix.shape
    out = np.zeros((n, 2), dtype=np.float64)
    explained = np.zeros(2, dtype=np.float64)
    if n < 2 or dim == 0:
        return out.astype(np.float32), explained
    # One BLAS thread: on a busy 2-core machine competing threads made a 50k-row PCA 6x slower.
    with threadpool_limits(1):
        centered = matrix - matrix.mean(axis=0, keepdims=True)
        # The [dim, dim] covariance's eigenvectors are the right singular vectors of `centered`:
        # O(n·dim²) instead of a full SVD of the [n, dim] matrix.
        eigvals, eigvecs = np.linalg.eigh(centered.T @ centered)
        order = np.argsort(eigvals)[::-1]
        total = float(np.clip(eigvals, 0.0, None).sum())
        for j in range(min(2, dim)):
            if eigvals[order[j]] <= 1e-12 * max(eigvals[order[0]], 1e-300):
                break
            v = eigvecs[:, order[j]]
            sign = 1.0 if v[np.argmax(np.abs(v))] >= 0 else -1.0
            out[:, j] = sign * (centered @ v)
            explained[j] = float(eigvals[order[j]]) / total if total > 0 else 0.0
    return out.astype(np.float32), explained


def umap_fallback_reason(n_rows: int, *, n_neighbors: int = 15) -> str | None:
    """Says why `umap_2d` would fall back to PCA for `n_rows` vectors, or None when UMAP runs.

    Pages show this note next to the map so nobody mistakes a PCA picture for a UMAP one.
    """
    if n_rows < n_neighbors + 2:
        return (
            f"UMAP needs at least n_neighbors + 2 = {n_neighbors + 2} vectors, got {n_rows}; "
            "showing PCA instead (lower n_neighbors to use UMAP)."
        )
    return None


def _umap_version() -> str:
    """Installed umap-learn version, read from package metadata so a cache hit never imports umap (slow)."""
    try:
        return importlib.metadata.version("umap-learn")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _umap_key(matrix: np.ndarray, *, seed: int, n_neighbors: int, min_dist: float, metric: str) -> str:
    """sha256 hex of the vectors' bytes, shape and every parameter that changes the UMAP output."""
    params = {
        "format": _CACHE_FORMAT,
        "umap": _umap_version(),
        "shape": list(matrix.shape),
        "dtype": str(matrix.dtype),
        "seed": int(seed),
        "n_neighbors": int(n_neighbors),
        "min_dist": float(min_dist),
        "metric": str(metric),
        "n_epochs": UMAP_EPOCHS,
    }
    digest = hashlib.sha256(json.dumps(params, sort_keys=True).encode())
    digest.update(matrix.tobytes())
    return digest.hexdigest()


def umap_cache_path(
    vectors,
    *,
    cache_dir: str | os.PathLike,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
) -> Path:
    """Path of the .npy file that `umap_2d` reads and writes for these vectors and parameters."""
    matrix = _as_matrix(vectors)
    key = _umap_key(matrix, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric)
    return Path(cache_dir) / f"umap-{key[:40]}.npy"


def _load_cached(path: Path, n_rows: int) -> np.ndarray | None:
    """Returns the cached [n_rows, 2] array at `path`, or None when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        cached = np.load(path, allow_pickle=False)
    except (OSError, ValueError):
        return None
    if cached.shape != (n_rows, 2) or not np.isfinite(cached).all():
        return None
    return cached.astype(np.float32, copy=False)


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """Writes `array` to `path` via a temporary file in the same folder and os.replace, so readers
    never see a half-written file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, array, allow_pickle=False)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise


def umap_2d(
    vectors,
    *,
    seed: int = 0,
    n_neighbors: int = 15,
    min_dist: float = 0.1,
    metric: str = "cosine",
    cache_dir: str | os.PathLike | None = None,
) -> np.ndarray:
    """Projects vectors to 2-D with UMAP (umap-learn), deterministically, cached on disk.

    `random_state=seed` makes UMAP single-threaded and reproducible: the same vectors and parameters
    give the same array. With `cache_dir`, the result is stored as `umap-<sha256>.npy` (never pickled)
    and later calls with equal vectors and parameters read it instead of recomputing.

    With fewer than `n_neighbors + 2` vectors UMAP's graph is meaningless, so this returns
    `pca_2d(vectors)` and emits a `ProjectionFallbackWarning` (`umap_fallback_reason` gives the same
    note for display). Fallback results are not cached (PCA is instant).

    Args:
        vectors: [n, dim] array.
        seed: UMAP random_state.
        n_neighbors: UMAP neighbourhood size (local vs global structure).
        min_dist: UMAP minimum distance between embedded points.
        metric: Distance in the input space, e.g. "cosine" or "euclidean".
        cache_dir: Folder for cached projections; None disables caching.

    Returns:
        float32 array [n, 2].
    """
    matrix = _as_matrix(vectors)
    reason = umap_fallback_reason(matrix.shape[0], n_neighbors=n_neighbors)
    if reason is not None:
        warnings.warn(reason, ProjectionFallbackWarning, stacklevel=2)
        return pca_2d(matrix, seed=seed)

    path = None
    if cache_dir is not None:
        path = umap_cache_path(
            matrix, cache_dir=cache_dir, seed=seed, n_neighbors=n_neighbors, min_dist=min_dist, metric=metric
        )
        cached = _load_cached(path, matrix.shape[0])
        if cached is not None:
            return cached

    import umap

    _enable_umap_disk_cache()
    precomputed = (None, None, None)
    if matrix.shape[0] <= EXACT_KNN_MAX and metric in ("cosine", "euclidean"):
        precomputed = exact_knn(matrix, n_neighbors, metric=metric)
    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=min_dist,
        metric=metric,
        random_state=seed,
        n_jobs=1,
        n_epochs=UMAP_EPOCHS,
        precomputed_knn=precomputed,
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*n_jobs.*overridden.*")
        warnings.filterwarnings("ignore", message=".*knn_search_index.*")  # we never `transform` new points
        coords = np.asarray(reducer.fit_transform(matrix), dtype=np.float32)
    if path is not None:
        _save_atomic(path, coords)
    return coords


def exact_knn(vectors, k: int, *, metric: str = "cosine", block_rows: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row, itself first, as UMAP's `precomputed_knn` expects.

    Distances are computed one block of rows at a time ([block_rows, n] floats), on one BLAS thread
    (steady on a busy machine). Cosine distance follows umap-learn: 1 - cos; a zero vector is at
    distance 0 from other zero vectors and 1 from the rest. Ties go to the lower index, so the graph
    is reproducible.

    Returns:
        (indices int64 [n, k], distances float32 [n, k]).
    """
    from threadpoolctl import threadpool_limits

    matrix = _as_matrix(vectors).astype(np.float32, copy=False)
    n = matrix.shape[0]
    k = min(int(k), n)
    zero = np.zeros(n, dtype=bool)
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1, keepdims=True)
        matrix = np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)
        zero = norms[:, 0] == 0
    elif metric != "euclidean":
        raise ValueError(f"exact_knn: metric must be 'cosine' or 'euclidean', got {metric!r}")
    squares = np.einsum("ij,ij->i", matrix, matrix)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    with threadpool_limits(1):
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            rows = np.arange(stop - start)
            # ranked by a score with the same order as the distance: -cos, or |y|^2 - 2 x.y
            score = matrix[start:stop] @ matrix.T
            if metric == "cosine":
                np.negative(score, out=score)
                zero_rows = np.flatnonzero(zero[start:stop])
                if len(zero_rows):  # zero vs zero: distance 0, as umap-learn's cosine
                    score[np.ix_(zero_rows, np.flatnonzero(zero))] = -1.0
            else:
                score *= -2.0
                score += squares[None, :]
            score[rows, rows + start] = -np.inf  # itself first
            if k < n:
                nearest = np.argpartition(score, k - 1, axis=1)[:, :k]
            else:
                nearest = np.tile(np.arange(n), (len(rows), 1))
            picked = np.take_along_axis(score, nearest, axis=1)
            # argpartition picks arbitrarily among values tied at the k-th place: take the lowest indices
            kth = picked.max(axis=1)
            for row in np.flatnonzero((score <= kth[:, None]).sum(axis=1) > k):
                below = np.flatnonzero(score[row] < kth[row])
                nearest[row] = np.concatenate([below, np.flatnonzero(score[row] == kth[row])[: k - len(below)]])
                picked[row] = score[row, nearest[row]]
            order = np.lexsort((nearest, picked), axis=1)
            nearest = np.take_along_axis(nearest, order, axis=1)
            picked = np.take_along_axis(picked, order, axis=1)
            if metric == "cosine":
                found = 1.0 + picked
            else:
                found = np.sqrt(np.maximum(squares[start:stop, None] + picked, 0.0))
            found[:, 0] = 0.0
            indices[start:stop] = nearest
            distances[start:stop] = np.maximum(found, 0.0)
    return indices, distances


_UMAP_CACHE_ENABLED = False


def _enable_umap_disk_cache() -> None:
    """Turns on numba's on-disk cache for umap-learn's and pynndescent's compiled functions.

    Most of them are not declared `cache=True`, so every new process used to JIT-compile them again
    (~30 s before the first map); with the cache a new process maps 10k items in ~11 s. Functions
    numba cannot cache are compiled as before.
    """
    global _UMAP_CACHE_ENABLED
    if _UMAP_CACHE_ENABLED:
        return
    import sys

    from numba.core.registry import CPUDispatcher

    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith(("umap", "pynndescent")):
            continue
        for attr in dir(module):
            function = getattr(module, attr, None)
            if isinstance(function, CPUDispatcher) and not function.signatures:
                try:
                    function.enable_caching()
                except Exception:  # noqa: BLE001 - not cacheable: compiled per process as before
                    pass
    _UMAP_CACHE_ENABLED = True


def warm_up_umap(seed: int = 0, *, nn_descent: bool = False) -> None:
    """Compiles umap-learn's numba code on a tiny random input (seconds with a warm numba disk cache,
    ~30 s the first time), and with `nn_descent` pynndescent's too (maps above EXACT_KNN_MAX use it,
    and numba cannot disk-cache it, so it costs ~8 s in every process).

    The Embeddings page calls this in a background thread when UMAP is picked, so the map takes seconds.
    """
    rng = np.random.default_rng(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        umap_2d(rng.normal(size=(64, 8)).astype(np.float32), seed=seed, n_neighbors=5)
        if nn_descent:
            from pynndescent import NNDescent

            NNDescent(rng.normal(size=(300, 8)).astype(np.float32), n_neighbors=5, metric="cosine",
                      random_state=seed, n_jobs=1)


def nearest_neighbors(vectors, query_index: int, *, k: int = 10, metric: str = "cosine") -> tuple[np.ndarray, np.ndarray]:
    """Finds the k vectors most similar to `vectors[query_index]`, excluding the query row itself.

    Similarity is cosine (zero vectors have similarity 0 to everything), dot product, or negative
    euclidean distance. Ties are broken by the lower index, so results are reproducible.

    Args:
        vectors: [n, dim] array.
        query_index: Row of the query, 0 <= query_index < n.
        k: Number of neighbours; fewer are returned when n - 1 < k.
        metric: "cosine", "dot" or "euclidean".

    Returns:
        (indices int64 [k'], similarities float32 [k']), most similar first, k' = min(k, n - 1).

    Example:
        >>> nearest_neighbors(np.array([[1, 0], [1, 1], [0, 1]]), 0, k=2)
        (array([1, 2]), array([0.70710677, 0.        ], dtype=float32))
    """
    if metric not in _METRICS:
        raise ValueError(f"Unknown metric {metric!r}; use one of {', '.join(_METRICS)}.")
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}.")
    matrix = _as_matrix(vectors).astype(np.float64)
    n = matrix.shape[0]
    if not 0 <= int(query_index) < n:
        raise IndexError(f"query_index {query_index} is out of range for {n} vectors (valid: 0..{n - 1}).")
    query = matrix[int(query_index)]
    if metric == "cosine":
        norms = np.linalg.norm(matrix, axis=1)
        safe = np.where(norms > 0, norms, 1.0)
        sims = (matrix @ query) / (safe * safe[int(query_index)])
        sims[norms == 0] = 0.0
        if norms[int(query_index)] == 0:
            sims[:] = 0.0
    elif metric == "dot":
        sims = matrix @ query
    else:
        sims = -np.linalg.norm(matrix - query, axis=1)
    candidates = np.delete(np.arange(n), int(query_index))
    order = np.argsort(-sims[candidates], kind="stable")[: min(k, n - 1)]
    indices = candidates[order].astype(np.int64)
    return indices, sims[indices].astype(np.float32)


def kmeans_labels(vectors, *, n_clusters: int = 8, seed: int = 0) -> np.ndarray:
    """Cluster ids from k-means on the vectors (seeded), for colouring the embedding map.

    Args:
        vectors: [n, dim] array.
        n_clusters: Wanted clusters; capped at the number of distinct vectors.
        seed: k-means initialisation seed (the same seed gives the same labels).

    Returns:
        int64 array [n] of cluster ids in 0..n_clusters-1.
    """
    from sklearn.cluster import KMeans

    matrix = _as_matrix(vectors)
    if n_clusters < 1:
        raise ValueError(f"n_clusters must be >= 1, got {n_clusters}.")
    n_distinct = len(np.unique(matrix, axis=0)) if len(matrix) else 0
    k = max(1, min(int(n_clusters), n_distinct))
    if len(matrix) == 0:
        return np.zeros(0, dtype=np.int64)
    model = KMeans(n_clusters=k, n_init=4, random_state=seed)
    return model.fit_predict(matrix).astype(np.int64)
