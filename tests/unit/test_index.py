"""Nearest-neighbour indexes, kind by kind: exact answers on constructed data, LSH's candidates,
HNSW's recall and determinism (what every kind shares: tests/contract/test_index.py)."""

from collections.abc import Callable

import numpy as np
import pytest

from sparrow.errors import ConfigError
from sparrow.index.base import build_index, recall_at_k
from sparrow.index.lsh import LSHIndex


def unit_vectors(n: int, dim: int, seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32)  # (N, D)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


# Four 2-d items: by cosine to (1, 0) the order is 10, 20, 30, 40; by inner product 30 wins.
IDS = np.array([10, 20, 30, 40])
VECS = np.array([[1.0, 0.0], [1.0, 0.5], [3.0, 3.0], [0.0, 1.0]], dtype=np.float32)


def test_exact_cosine_neighbours_and_scores() -> None:
    index = build_index("exact", IDS, VECS)
    ids, scores = index.search(np.array([[2.0, 0.0]]), 4)
    assert ids.tolist() == [[10, 20, 30, 40]]
    expected = [1.0, 1 / np.sqrt(1.25), 1 / np.sqrt(2), 0.0]
    np.testing.assert_allclose(scores[0], expected, rtol=1e-6, atol=1e-6)
    assert ids.dtype == np.int64 and scores.dtype == np.float32


def test_exact_inner_product_neighbours() -> None:
    index = build_index("exact", IDS, VECS, metric="ip")
    ids, scores = index.search(np.array([[1.0, 0.1], [0.0, 2.0]]), 2)
    assert ids.tolist() == [[30, 20], [30, 40]]
    np.testing.assert_allclose(scores, [[3.3, 1.05], [6.0, 2.0]], rtol=1e-6)


def test_exclude_drops_the_query_item() -> None:
    index = build_index("exact", IDS, VECS)
    ids, _ = index.search(VECS[:2], 2, exclude=np.array([10, 20]))
    assert ids.tolist() == [[20, 30], [30, 10]]  # (1, 0.5) is nearer (3, 3) than (1, 0)


def test_k_larger_than_count_pads() -> None:
    index = build_index("exact", IDS, VECS)
    ids, scores = index.search(VECS[:1], 6, exclude=np.array([10]))
    assert ids.tolist() == [[20, 30, 40, -1, -1, -1]]
    assert np.isneginf(scores[0, 3:]).all() and np.isfinite(scores[0, :3]).all()


def test_zero_vector_stays_zero_under_cosine() -> None:
    index = build_index("exact", [1, 2], np.array([[0.0, 0.0], [0.0, 1.0]]))
    ids, scores = index.search(np.array([[0.0, 3.0]]), 2)
    assert ids.tolist() == [[2, 1]]
    assert scores.tolist() == [[1.0, 0.0]]


def test_exact_batches_and_ties_are_deterministic() -> None:
    vectors = unit_vectors(300, 8, seed=1)
    index = build_index("exact", np.arange(300), vectors)
    queries = unit_vectors(2500, 8, seed=2)  # more than one batch of 1024
    ids, scores = index.search(queries, 5)
    brute = queries @ vectors.T  # (Q, N)
    expected = np.argsort(-brute, axis=1, kind="stable")[:, :5]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(brute, expected, axis=1), rtol=1e-5)
    tied = build_index("exact", [7, 5, 9], np.ones((3, 2)))
    assert tied.search(np.ones((1, 2)), 3)[0].tolist() == [[7, 5, 9]]  # ties: stored order
    assert tied.search(np.ones((1, 2)), 2)[0].tolist() == [[7, 5]]  # also where k cuts them
    many = build_index("exact", np.arange(50), np.ones((50, 2)))
    assert (many.search(np.ones((20, 2)), 3)[0] == [0, 1, 2]).all()


@pytest.fixture(scope="module")
def planted() -> tuple[np.ndarray, np.ndarray]:
    """2,000 random unit vectors plus, for the first 50, a near-duplicate (ids 2000..2049)."""
    base = unit_vectors(2000, 32, seed=3)
    noise = np.random.default_rng(4).normal(0.0, 0.01, (50, 32)).astype(np.float32)
    return np.arange(2050), np.vstack([base, base[:50] + noise])


def test_lsh_finds_planted_neighbours(planted: tuple[np.ndarray, np.ndarray]) -> None:
    ids, vectors = planted
    index = build_index("lsh", ids, vectors, tables=16, bits=8)
    found, scores = index.search(vectors[:50], 1, exclude=ids[:50])
    rate = float((found[:, 0] == ids[2000:]).mean())
    assert rate >= 0.95
    assert (scores[:, 0] > 0.99).mean() >= 0.95


def test_lsh_matches_exact_reranking_of_its_candidates(
    planted: tuple[np.ndarray, np.ndarray],
) -> None:
    ids, vectors = planted
    index = build_index("lsh", ids, vectors, tables=4, bits=6, seed=7)
    assert isinstance(index, LSHIndex)
    queries = index.vectors[::97]  # (22, 32), normalised
    got, got_scores = index.search(queries, 20)
    codes, qcodes = index._hash(index.vectors), index._hash(queries)  # (N, T), (Q, T)
    for row in range(len(queries)):
        cand = np.flatnonzero((codes == qcodes[row]).any(axis=1))
        brute = index.vectors[cand] @ queries[row]
        best = cand[np.lexsort((cand, -brute))][:20]
        assert got[row][got[row] >= 0].tolist() == best.tolist()
        np.testing.assert_allclose(got_scores[row][: len(best)], np.sort(brute)[::-1][:20], 1e-5)


def test_lsh_pads_when_buckets_are_small() -> None:
    vectors = unit_vectors(200, 16, seed=5)
    index = build_index("lsh", np.arange(200), vectors, tables=1, bits=12)
    ids, scores = index.search(vectors[:10], 50)
    assert (ids == -1).any()  # 200 items over 4096 buckets: fewer than 50 candidates
    assert (ids[:, 0] == np.arange(10)).all()  # each query's own bucket holds itself
    assert np.isneginf(scores[ids == -1]).all()


def test_hnsw_recall_against_exact() -> None:
    vectors = np.random.default_rng(6).standard_normal((5000, 32)).astype(np.float32)
    ids = np.arange(5000) * 3 + 1
    queries = np.random.default_rng(7).standard_normal((200, 32)).astype(np.float32)
    exact_ids, _ = build_index("exact", ids, vectors).search(queries, 10)
    hnsw_ids, _ = build_index("hnsw", ids, vectors).search(queries, 10)
    assert recall_at_k(hnsw_ids, exact_ids) >= 0.98


def test_hnsw_build_is_deterministic() -> None:
    vectors = unit_vectors(1000, 16, seed=8)
    first = build_index("hnsw", np.arange(1000), vectors, M=8, ef_construction=40, ef_search=16)
    again = build_index("hnsw", np.arange(1000), vectors, M=8, ef_construction=40, ef_search=16)
    a, b = first.search(vectors[:100], 10), again.search(vectors[:100], 10)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: build_index("annoy", IDS, VECS), "exact, lsh, hnsw"),
        (lambda: build_index("exact", IDS, VECS, metric="l2"), "unknown metric"),
        (lambda: build_index("exact", IDS[:3], VECS), "4 vectors"),
        (lambda: build_index("exact", [], np.empty((0, 2))), "non-empty"),
        (lambda: build_index("exact", [1, 1, 2, 3], VECS), "unique"),
        (lambda: build_index("exact", IDS, VECS[:, :1] * np.nan), "NaN"),
        (lambda: build_index("lsh", IDS, VECS, tables=0), "positive integers"),
        (lambda: build_index("lsh", IDS, VECS, bits=63), "at most 62"),
        (lambda: build_index("exact", IDS, VECS, tables=4), "unknown exact index parameter"),
        (lambda: build_index("exact", IDS, VECS).search(VECS, 0), "k must be"),
        (lambda: build_index("exact", IDS, VECS).search(VECS, 1.5), "k must be"),
        (lambda: build_index("exact", IDS, VECS).search(np.ones((1, 3)), 1), "dimension 3"),
        (lambda: build_index("exact", IDS, VECS).search(VECS, 1, exclude=[1]), "exclude"),
    ],
)
def test_bad_input_is_a_config_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        call()


def test_recall_at_k_by_hand() -> None:
    exact = np.array([[1, 2, 3], [4, 5, -1], [-1, -1, -1]])
    approx = np.array([[3, 9, 1], [5, 8, 7], [1, 2, 3]])
    # 2/3, 1/2 (padding not counted), 1 (nothing to find)
    assert recall_at_k(approx, exact) == pytest.approx((2 / 3 + 1 / 2 + 1) / 3)
    assert recall_at_k(exact[:2], exact[:2]) == 1.0
