"""The nearest-neighbour index contract: every kind of the `index` family in `plugins.py` answers
through one interface (best first, -1 padding, exclusion, persistence), finds true neighbours,
and refuses bad input the same way."""

from pathlib import Path

import numpy as np
import pytest

from sparrow.errors import ConfigError, DataError
from sparrow.index.base import ItemIndex, build_index, recall_at_k
from sparrow.plugins import BACKENDS, load_backend

KINDS = list(BACKENDS["index"].types)
MIN_RECALL = {"exact": 1.0, "hnsw": 0.98, "lsh": 0.9}  # recall@10 on clustered vectors


def clustered(n: int = 3000, dim: int = 16, seed: int = 1) -> np.ndarray:
    """`n` vectors around 60 centres: neighbourhoods an approximate index can find."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((60, dim))
    return (centres[rng.integers(0, 60, n)] + 0.15 * rng.standard_normal((n, dim))).astype(
        np.float32
    )


def test_every_kind_has_a_recall_floor() -> None:
    assert sorted(MIN_RECALL) == sorted(KINDS)


@pytest.mark.parametrize("kind", KINDS)
def test_the_plugin_table_names_the_kind(kind: str) -> None:
    cls = load_backend("index", kind)
    assert issubclass(cls, ItemIndex) and cls.kind == kind
    assert type(build_index(kind, [1, 2], np.eye(2))) is cls


@pytest.mark.parametrize("kind", KINDS)
def test_finds_true_neighbours(kind: str) -> None:
    vectors = clustered()
    ids = np.arange(len(vectors)) * 7 + 3
    queries = vectors[::30]
    exact, _ = build_index("exact", ids, vectors).search(queries, 10)
    found, scores = build_index(kind, ids, vectors).search(queries, 10)
    assert found.dtype == np.int64 and scores.dtype == np.float32 and found.shape == (100, 10)
    assert recall_at_k(found, exact) >= MIN_RECALL[kind]
    valid = found >= 0
    assert (np.diff(np.where(valid, scores, -np.inf), axis=1) <= 1e-6).all()  # best first
    assert (found[:, 0] == ids[::30]).mean() >= 0.95  # a vector is its own nearest neighbour


@pytest.mark.parametrize("kind", KINDS)
def test_exclude_pads_and_search_is_deterministic(kind: str) -> None:
    vectors = clustered(500)
    ids = np.arange(500) + 100
    first = build_index(kind, ids, vectors, seed=5)
    found, scores = first.search(vectors[:40], 8, exclude=ids[:40])
    assert not (found == ids[:40, None]).any()
    again = build_index(kind, ids, vectors, seed=5).search(vectors[:40], 8, exclude=ids[:40])
    np.testing.assert_array_equal(found, again[0])
    np.testing.assert_array_equal(scores, again[1])
    few = build_index(kind, [10, 20, 30], vectors[:3])
    padded, padded_scores = few.search(vectors[:1], 5, exclude=np.array([10]))
    kept = padded[0] >= 0  # LSH may find fewer than the others: padding comes last
    assert padded.shape == (1, 5) and kept.sum() <= 2 and not kept[kept.sum() :].any()
    assert set(padded[0, kept].tolist()) <= {20, 30} and np.isneginf(padded_scores[0, ~kept]).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("metric", ["cosine", "ip"])
def test_save_load_round_trip(kind: str, metric: str, tmp_path: Path) -> None:
    vectors = np.random.default_rng(9).standard_normal((500, 12)).astype(np.float32)
    ids = np.arange(500) + 100
    index = build_index(kind, ids, vectors, metric=metric)
    folder = tmp_path / "index"
    index.save(folder)
    index.save(folder)  # replacing a saved index is allowed
    loaded = ItemIndex.load(folder)
    assert type(loaded) is type(index)
    assert (loaded.kind, loaded.metric, loaded.dim, loaded.count) == (kind, metric, 12, 500)
    assert loaded.params == index.params
    queries = vectors[:40]
    before = index.search(queries, 7, exclude=ids[:40])
    after = loaded.search(queries, 7, exclude=ids[:40])
    np.testing.assert_array_equal(before[0], after[0])
    np.testing.assert_array_equal(before[1], after[1])


def test_load_of_a_missing_index_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the index"):
        ItemIndex.load(tmp_path / "missing")


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_is_refused_alike(kind: str) -> None:
    vectors = np.eye(4, dtype=np.float32)
    with pytest.raises(ConfigError, match="unique"):
        build_index(kind, [1, 1, 2, 3], vectors)
    with pytest.raises(ConfigError, match="NaN"):
        build_index(kind, [1, 2, 3, 4], vectors * np.nan)
    with pytest.raises(ConfigError, match="unknown"):
        build_index(kind, [1, 2, 3, 4], vectors, no_such_parameter=1)
    index = build_index(kind, [1, 2, 3, 4], vectors)
    with pytest.raises(ConfigError, match="k must be"):
        index.search(vectors, 0)
    with pytest.raises(ConfigError, match="dimension 3"):
        index.search(np.ones((1, 3)), 1)


def test_an_unknown_kind_names_the_choices() -> None:
    with pytest.raises(ConfigError, match=", ".join(KINDS)):
        build_index("annoy", [1], np.ones((1, 2)))
