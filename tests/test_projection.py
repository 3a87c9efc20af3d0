"""Tests for recsys.projection: PCA/UMAP shapes, determinism, the on-disk UMAP cache, cosine neighbours."""

import warnings
from pathlib import Path

import numpy as np
import pytest

from recsys import projection
from recsys.projection import (
    ProjectionFallbackWarning,
    nearest_neighbors,
    pca_2d,
    umap_2d,
    umap_cache_path,
    umap_fallback_reason,
)


@pytest.fixture(scope="module")
def two_clusters():
    """60 vectors in 8-D: two tight, well-separated clusters of 30 (rows 0..29 and 30..59)."""
    rng = np.random.default_rng(0)
    centre_a = np.zeros(8)
    centre_a[0] = 10.0
    centre_b = np.zeros(8)
    centre_b[1] = 10.0
    return np.vstack([centre_a + rng.normal(scale=0.5, size=(30, 8)), centre_b + rng.normal(scale=0.5, size=(30, 8))])


@pytest.fixture(scope="module")
def umap_coords(two_clusters):
    """One real UMAP fit, shared by the tests that only need its output."""
    return umap_2d(two_clusters, seed=0)


# --- PCA -------------------------------------------------------------------------------------------


def test_pca_points_on_a_line_are_their_centred_coordinate():
    # Points (0,0), (1,0), (2,0): centred x is -1, 0, 1; the first loading is (1, 0) (largest entry
    # positive), so PC1 = [-1, 0, 1]; there is no variance left for PC2.
    coords = pca_2d(np.array([[0.0, 0.0], [1.0, 0.0], [2.0, 0.0]]))
    assert coords.shape == (3, 2)
    assert coords.dtype == np.float32
    np.testing.assert_allclose(coords, [[-1, 0], [0, 0], [1, 0]], atol=1e-6)


def test_pca_sign_convention_is_deterministic():
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(50, 6))
    first = pca_2d(vectors, seed=0)
    np.testing.assert_array_equal(first, pca_2d(vectors, seed=123))
    # Negating the data negates the scores (the loadings' sign is pinned, not the scores').
    np.testing.assert_allclose(pca_2d(-vectors), -first, atol=1e-5)


def test_pca_matches_sklearn_up_to_sign():
    from sklearn.decomposition import PCA

    vectors = np.random.default_rng(2).normal(size=(40, 5))
    expected = PCA(n_components=2).fit_transform(vectors)
    np.testing.assert_allclose(np.abs(pca_2d(vectors)), np.abs(expected), atol=1e-4)


def test_pca_explained_variance_by_hand():
    # Points (0,0), (2,1), (4,0): centred x = -2, 0, 2 (sum of squares 8), centred y = -1/3, 2/3, -1/3
    # (sum of squares 2/3); x and y are uncorrelated, so the components are the axes: 8 / (8 + 2/3) = 12/13.
    coords, explained = projection.pca_2d_explained(np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 0.0]]))
    np.testing.assert_allclose(explained, [12 / 13, 1 / 13], atol=1e-9)
    np.testing.assert_array_equal(coords, pca_2d(np.array([[0.0, 0.0], [2.0, 1.0], [4.0, 0.0]])))
    # Matches scikit-learn's explained_variance_ratio_ on random data.
    from sklearn.decomposition import PCA

    vectors = np.random.default_rng(3).normal(size=(60, 7))
    np.testing.assert_allclose(projection.pca_2d_explained(vectors)[1],
                               PCA(n_components=2).fit(vectors).explained_variance_ratio_, atol=1e-9)
    # No variance (one point, or all equal): zeros, not NaN.
    np.testing.assert_array_equal(projection.pca_2d_explained(np.ones((4, 3)))[1], [0.0, 0.0])
    np.testing.assert_array_equal(projection.pca_2d_explained(np.ones((1, 3)))[1], [0.0, 0.0])


def test_pca_tiny_inputs():
    np.testing.assert_array_equal(pca_2d(np.ones((1, 4))), [[0.0, 0.0]])
    assert pca_2d(np.zeros((0, 3))).shape == (0, 2)
    # 1-D vectors: PC1 is the centred value, PC2 is zero. Mean of 1, 2, 4 is 7/3.
    np.testing.assert_allclose(pca_2d(np.array([[1.0], [2.0], [4.0]]))[:, 0], [-4 / 3, -1 / 3, 5 / 3], atol=1e-6)


def test_bad_vectors_raise_clear_errors():
    with pytest.raises(ValueError, match="2-D"):
        pca_2d(np.zeros(5))
    with pytest.raises(ValueError, match="row 1 contains NaN"):
        pca_2d(np.array([[0.0, 1.0], [np.nan, 1.0]]))


# --- UMAP ------------------------------------------------------------------------------------------


@pytest.mark.slow  # first UMAP fit in a process JIT-compiles numba code: ~10 s
def test_umap_shape_and_cluster_separation(umap_coords):
    assert umap_coords.shape == (60, 2)
    assert umap_coords.dtype == np.float32
    a, b = umap_coords[:30], umap_coords[30:]
    gap = np.linalg.norm(a.mean(axis=0) - b.mean(axis=0))
    spread = max(a.std(axis=0).max(), b.std(axis=0).max())
    assert gap > 3 * spread


@pytest.mark.slow  # first UMAP fit in a process JIT-compiles numba code: ~10 s
def test_umap_is_deterministic_for_a_seed(two_clusters, umap_coords):
    np.testing.assert_array_equal(umap_2d(two_clusters, seed=0), umap_coords)


@pytest.mark.slow  # first UMAP fit in a process JIT-compiles numba code: ~10 s
def test_umap_cache_is_written_then_served_without_recomputing(two_clusters, umap_coords, tmp_path, monkeypatch):
    first = umap_2d(two_clusters, seed=0, cache_dir=tmp_path)
    np.testing.assert_array_equal(first, umap_coords)
    path = umap_cache_path(two_clusters, cache_dir=tmp_path, seed=0)
    assert path.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temp files left behind
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), first)

    import umap

    class _MustNotRun:
        def __init__(self, *args, **kwargs):
            raise AssertionError("UMAP was recomputed although a cached result exists")

    monkeypatch.setattr(umap, "UMAP", _MustNotRun)
    np.testing.assert_array_equal(umap_2d(two_clusters, seed=0, cache_dir=tmp_path), first)
    # float64 input with equal values is the same key: vectors are hashed as float32.
    np.testing.assert_array_equal(umap_2d(two_clusters.astype(np.float64), seed=0, cache_dir=tmp_path), first)


class _FakeUMAP:
    """Stands in for umap.UMAP: returns the first two columns and counts fits."""

    fits = 0

    def __init__(self, **kwargs):
        self.kwargs = kwargs

    def fit_transform(self, matrix):
        type(self).fits += 1
        return matrix[:, :2] + self.kwargs["random_state"]


@pytest.fixture
def fake_umap(monkeypatch):
    import umap

    _FakeUMAP.fits = 0
    monkeypatch.setattr(umap, "UMAP", _FakeUMAP)
    return _FakeUMAP


def test_umap_cache_key_includes_params(two_clusters, tmp_path, fake_umap):
    paths = {
        umap_cache_path(two_clusters, cache_dir=tmp_path, seed=0),
        umap_cache_path(two_clusters, cache_dir=tmp_path, seed=1),
        umap_cache_path(two_clusters, cache_dir=tmp_path, n_neighbors=10),
        umap_cache_path(two_clusters, cache_dir=tmp_path, min_dist=0.5),
        umap_cache_path(two_clusters, cache_dir=tmp_path, metric="euclidean"),
        umap_cache_path(two_clusters[::-1], cache_dir=tmp_path),
    }
    assert len(paths) == 6
    umap_2d(two_clusters, seed=0, cache_dir=tmp_path)
    umap_2d(two_clusters, seed=1, cache_dir=tmp_path)
    umap_2d(two_clusters, seed=0, cache_dir=tmp_path)
    assert fake_umap.fits == 2
    assert fake_umap.fits == len(list(tmp_path.glob("umap-*.npy")))


def test_umap_corrupt_cache_file_is_recomputed(two_clusters, tmp_path, fake_umap):
    path = umap_cache_path(two_clusters, cache_dir=tmp_path, seed=0)
    path.write_bytes(b"not a numpy file")
    coords = umap_2d(two_clusters, seed=0, cache_dir=tmp_path)
    assert fake_umap.fits == 1
    np.testing.assert_array_equal(np.load(path, allow_pickle=False), coords)


def test_umap_falls_back_to_pca_for_tiny_inputs(fake_umap, tmp_path):
    vectors = np.random.default_rng(3).normal(size=(16, 4))  # 16 < n_neighbors + 2 = 17
    assert "at least n_neighbors + 2 = 17" in umap_fallback_reason(16, n_neighbors=15)
    assert umap_fallback_reason(17, n_neighbors=15) is None
    with pytest.warns(ProjectionFallbackWarning, match="showing PCA"):
        coords = umap_2d(vectors, cache_dir=tmp_path)
    np.testing.assert_array_equal(coords, pca_2d(vectors))
    assert fake_umap.fits == 0
    assert not list(tmp_path.iterdir())
    with pytest.warns(ProjectionFallbackWarning):
        np.testing.assert_array_equal(umap_2d(np.ones((1, 4))), [[0.0, 0.0]])
    # Lowering n_neighbors lets UMAP run on the same 16 vectors.
    with warnings.catch_warnings():
        warnings.simplefilter("error", ProjectionFallbackWarning)
        umap_2d(vectors, n_neighbors=5)
    assert fake_umap.fits == 1


# --- nearest neighbours ----------------------------------------------------------------------------


VECTORS = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 1.0], [-1.0, 0.0], [2.0, 0.0], [0.0, 0.0]])


def test_cosine_neighbours_hand_checked():
    # Cosine to row 0 = (1, 0): row 4 (2,0) -> 1; row 1 (1,1) -> 1/sqrt(2); row 2 (0,1) -> 0;
    # row 5 (zero vector) -> 0 by definition; row 3 (-1,0) -> -1. Ties (rows 2 and 5) by lower index.
    indices, sims = nearest_neighbors(VECTORS, 0, k=10)
    np.testing.assert_array_equal(indices, [4, 1, 2, 5, 3])
    np.testing.assert_allclose(sims, [1.0, 1 / np.sqrt(2), 0.0, 0.0, -1.0], atol=1e-6)
    assert sims.dtype == np.float32
    top2, _ = nearest_neighbors(VECTORS, 0, k=2)
    np.testing.assert_array_equal(top2, [4, 1])


def test_neighbours_exclude_query_and_respect_k():
    indices, _ = nearest_neighbors(VECTORS, 1, k=3)
    assert 1 not in indices and len(indices) == 3
    assert len(nearest_neighbors(VECTORS[:1], 0, k=5)[0]) == 0
    assert len(nearest_neighbors(VECTORS, 0, k=0)[0]) == 0


def test_dot_and_euclidean_neighbours():
    # Dot with (1,1): row 4 -> 2, rows 0 and 2 -> 1, row 5 -> 0, row 3 -> -1.
    indices, sims = nearest_neighbors(VECTORS, 1, k=5, metric="dot")
    np.testing.assert_array_equal(indices, [4, 0, 2, 5, 3])
    np.testing.assert_allclose(sims, [2, 1, 1, 0, -1])
    # Euclidean from (0,0): rows 0, 2, 3 at distance 1 (similarity -1), then (1,1) at sqrt(2).
    indices, sims = nearest_neighbors(VECTORS, 5, k=4, metric="euclidean")
    np.testing.assert_array_equal(indices, [0, 2, 3, 1])
    np.testing.assert_allclose(sims, [-1, -1, -1, -np.sqrt(2)], atol=1e-6)


def test_neighbours_bad_arguments():
    with pytest.raises(IndexError, match="out of range for 6 vectors"):
        nearest_neighbors(VECTORS, 6)
    with pytest.raises(IndexError):
        nearest_neighbors(VECTORS, -1)
    with pytest.raises(ValueError, match="Unknown metric 'manhattan'"):
        nearest_neighbors(VECTORS, 0, metric="manhattan")
    with pytest.raises(ValueError):
        nearest_neighbors(VECTORS, 0, k=-1)


# --- exact kNN for UMAP ----------------------------------------------------------------------------


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_exact_knn_matches_a_brute_force_search(metric):
    from sklearn.neighbors import NearestNeighbors

    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(700, 12)).astype(np.float32)
    vectors[9] = 0.0  # a zero vector: cosine distance 1 to every other vector
    indices, distances = projection.exact_knn(vectors, 10, metric=metric, block_rows=128)
    expected_d, expected_i = NearestNeighbors(n_neighbors=10, metric=metric, algorithm="brute").fit(vectors) \
        .kneighbors(vectors)
    assert indices.shape == distances.shape == (700, 10)
    assert (indices[:, 0] == np.arange(700)).all() and (distances[:, 0] == 0).all()  # itself first
    np.testing.assert_allclose(distances, expected_d, atol=1e-5)
    # same neighbour sets except where distances tie at the k-th place (the zero vector's row)
    same = [set(a) == set(b) for a, b in zip(indices, expected_i)]
    assert sum(same) >= 699
    if metric == "cosine":
        assert (distances[9, 1:] == 1.0).all() and indices[9, 1:].tolist() == list(range(9))


def test_exact_knn_puts_zero_vectors_together_as_umap_learns_cosine_does():
    vectors = np.array([[0.0, 0.0], [1.0, 0.1], [0.0, 0.0], [1.0, 0.0], [0.0, 0.0]], dtype=np.float32)
    indices, distances = projection.exact_knn(vectors, 3, metric="cosine")
    assert indices[0].tolist() == [0, 2, 4] and indices[2].tolist() == [2, 0, 4]
    np.testing.assert_array_equal(distances[0], [0.0, 0.0, 0.0])
    assert indices[1].tolist() == [1, 3, 0]  # a zero vector is at distance 1 from the rest
    np.testing.assert_allclose(distances[1, 2], 1.0)


def test_exact_knn_breaks_ties_by_lower_index():
    vectors = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [3.0, 0.0], [0.0, 5.0]], dtype=np.float32)
    indices, distances = projection.exact_knn(vectors, 3, metric="cosine")
    assert indices[0].tolist() == [0, 1, 3]  # rows 1 and 3 point the same way as row 0
    assert indices[2].tolist() == [2, 4, 0]
    np.testing.assert_allclose(distances[2], [0.0, 0.0, 1.0], atol=1e-6)


def test_umap_uses_the_exact_graph_up_to_the_limit_and_its_own_search_above(two_clusters, monkeypatch):
    """Up to EXACT_KNN_MAX umap-learn's neighbour search (pynndescent above 4,096 rows, recompiled in every
    process) is never called; above it, it is."""
    import umap.umap_

    calls = []
    real = umap.umap_.nearest_neighbors

    def spy(*args, **kwargs):
        calls.append(len(args[0]))
        return real(*args, **kwargs)

    monkeypatch.setattr(umap.umap_, "nearest_neighbors", spy)
    exact = umap_2d(two_clusters, seed=0)
    assert calls == []
    assert _separated(exact)
    monkeypatch.setattr(projection, "EXACT_KNN_MAX", 10)
    approximate = umap_2d(two_clusters, seed=0)
    assert calls == [60]
    assert _separated(approximate)


def _separated(coords) -> bool:
    """The two clusters of `two_clusters` land apart: every point is closer to its own cluster's centre."""
    a, b = coords[:30].mean(axis=0), coords[30:].mean(axis=0)
    near_a = np.linalg.norm(coords - a, axis=1) < np.linalg.norm(coords - b, axis=1)
    return bool(near_a[:30].all() and not near_a[30:].any())


def test_module_exports_public_api():
    assert set(projection.__all__) >= {"pca_2d", "umap_2d", "nearest_neighbors"}


def test_cache_hit_does_not_import_umap(tmp_path):
    """Serving a cached projection must not pay umap's multi-second import."""
    import subprocess
    import sys

    vectors = np.arange(40, dtype=np.float32).reshape(20, 2)
    path = umap_cache_path(vectors, cache_dir=tmp_path)
    expected = np.arange(40, dtype=np.float32).reshape(20, 2)[::-1].copy()
    np.save(path, expected)
    script = (
        "import sys, numpy as np\n"
        "from recsys.projection import umap_2d\n"
        f"out = umap_2d(np.arange(40, dtype=np.float32).reshape(20, 2), cache_dir={str(tmp_path)!r})\n"
        f"assert (out == np.load({str(path)!r})).all()\n"
        "assert 'umap' not in sys.modules, 'umap was imported'\n"
    )
    repo_root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, cwd=repo_root)


def test_kmeans_labels_separate_two_clusters_and_are_seeded():
    # Two tight groups far apart: rows 0-2 near (0, 0), rows 3-5 near (10, 10).
    vectors = np.array([[0, 0], [0.1, 0], [0, 0.1], [10, 10], [10.1, 10], [10, 10.1]], dtype=np.float32)
    labels = projection.kmeans_labels(vectors, n_clusters=2, seed=0)
    assert labels.shape == (6,)
    assert len(set(labels[:3])) == 1 and len(set(labels[3:])) == 1 and labels[0] != labels[3]
    assert np.array_equal(labels, projection.kmeans_labels(vectors, n_clusters=2, seed=0))
    # More clusters than distinct vectors: capped instead of failing.
    assert set(projection.kmeans_labels(np.ones((4, 3)), n_clusters=5)) == {0}
