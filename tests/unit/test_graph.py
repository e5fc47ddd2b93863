"""Transition graph and DeepWalk / Node2vec walks: exact structure, walk statistics, determinism."""

import numpy as np
import pytest

from sparrow.embedding.graph import TransitionGraph, deepwalk, node2vec
from sparrow.errors import ConfigError


def graph(*seqs: list[int] | np.ndarray) -> TransitionGraph:
    return TransitionGraph.from_sequences([np.array(s, dtype=np.int64) for s in seqs])


def test_from_sequences_counts_consecutive_pairs_within_each_sequence() -> None:
    g = graph([10, 20, 30], [20, 30], [30, 10], [], [40], [20, 10, 20])
    np.testing.assert_array_equal(g.nodes, [10, 20, 30, 40])
    np.testing.assert_array_equal(g.indptr, [0, 1, 3, 4, 4])  # 40 is dangling
    np.testing.assert_array_equal(g.indices, [1, 0, 2, 0])  # 10->20, 20->10, 20->30, 30->10
    np.testing.assert_array_equal(g.weights, [2.0, 1.0, 2.0, 1.0])
    assert g.weights.dtype == np.float64
    np.testing.assert_allclose(probabilities(g), [1.0, 1 / 3, 2 / 3, 1.0])
    rows = np.repeat(np.arange(4), np.diff(g.indptr))
    np.testing.assert_allclose(np.bincount(rows, probabilities(g), minlength=4), [1, 1, 1, 0])


def probabilities(g: TransitionGraph) -> np.ndarray:
    """(E,) transition probabilities: each edge's weight over its source's out-weight."""
    out: np.ndarray = g.weights / g.out_weights()[g.edge_rows()]
    return out


def check_alias(g: TransitionGraph) -> None:
    """Column keep/alias mass per row must add up to the row's transition probabilities."""
    prob, alias = g.alias_tables
    assert ((prob >= 0) & (prob <= 1)).all()
    rows, deg = g.edge_rows(), np.diff(g.indptr)[g.edge_rows()]
    n = g.nodes.size
    implied = np.zeros((n, n))
    np.add.at(implied, (rows, g.indices), prob / deg)
    np.add.at(implied, (rows, alias), (1 - prob) / deg)
    target = np.zeros((n, n))
    np.add.at(target, (rows, g.indices), probabilities(g))
    np.testing.assert_allclose(implied, target, atol=1e-12)


def test_alias_tables_reproduce_row_probabilities_exactly() -> None:
    rng = np.random.default_rng(3)
    counts = graph(*(rng.zipf(1.5, size=30) % 25 for _ in range(200)))
    rows = counts.edge_rows()
    magnitude = 10.0 ** rng.integers(-8, 10, size=counts.nodes.size)  # rows on unlike scales
    floats_w = (rng.random(rows.size) + 0.01) * magnitude[rows]
    floats = TransitionGraph(counts.nodes, counts.indptr, counts.indices, floats_w)
    for g in (counts, floats):
        check_alias(g)


def test_no_edges_and_zero_walks() -> None:
    empty = TransitionGraph.from_sequences([])
    assert empty.nodes.size == 0 and empty.indptr.tolist() == [0]
    assert deepwalk(empty, walks=5, length=3, seed=0, starts="uniform") == []
    single = graph([5], [], [7])
    assert single.indices.size == 0 and single.indptr.tolist() == [0, 0, 0]
    assert deepwalk(single, walks=5, length=3, seed=0) == []  # no out-weight to start from
    walks = node2vec(single, walks=4, length=3, p=0.5, q=2, seed=0, starts="uniform")
    assert len(walks) == 4 and all(w.size == 1 and w[0] in (5, 7) for w in walks)
    assert deepwalk(graph([1, 2]), walks=0, length=3, seed=0) == []


def test_chain_walks_are_deterministic_and_stop_at_the_dangling_end() -> None:
    g = graph([1, 2, 3, 4])
    for walks in (
        deepwalk(g, walks=300, length=10, seed=1),
        # no back edges: the rejection bound ignores 1/p, so a tiny p costs nothing here
        node2vec(g, walks=300, length=10, p=1e-9, q=4, seed=1),
    ):
        assert len(walks) == 300
        assert all(w.dtype == np.int64 and w.tolist() == list(range(w[0], 5)) for w in walks)
        assert {int(w[0]) for w in walks} == {1, 2, 3}  # weighted starts: 4 has no out-weight
    short = deepwalk(g, walks=50, length=2, seed=1, starts="uniform")
    assert all(w.tolist() in ([1, 2], [2, 3], [3, 4], [4]) for w in short)
    assert [1, 2] in [w.tolist() for w in short] and [4] in [w.tolist() for w in short]


def test_first_step_frequency_follows_edge_weight() -> None:
    g = graph([1, 2], [1, 2], [1, 2], [1, 3])  # 1 -> 2 weight 3, 1 -> 3 weight 1
    for walks in (
        deepwalk(g, walks=40_000, length=5, seed=7),
        node2vec(g, walks=40_000, length=5, p=1, q=1, seed=8),
        node2vec(g, walks=40_000, length=5, p=0.2, q=3, seed=9),  # first step is first-order
    ):
        steps = np.array([w.tolist() for w in walks])  # every walk starts at 1, ends after 1 step
        assert steps.shape == (40_000, 2) and (steps[:, 0] == 1).all()
        assert abs((steps[:, 1] == 2).mean() - 0.75) < 0.01


def second_steps(walks: list[np.ndarray]) -> np.ndarray:
    """Third node of the walks that start 0 -> 1."""
    return np.array([int(w[2]) for w in walks if w.size > 2 and w[0] == 0 and w[1] == 1])


def test_node2vec_bias_matches_the_exact_second_order_distribution() -> None:
    # From 1: -> 0 (w 1, back to t), -> 2 (w 1, edge 0 -> 2 exists), -> 3 (w 2, only 3 -> 0 exists).
    g = graph([0, 1], [0, 1], [0, 1], [0, 2], [1, 0], [1, 2], [1, 3], [1, 3], [3, 0])
    kw = {"walks": 60_000, "length": 3, "seed": 11}
    for walks, expected in (
        (deepwalk(g, **kw), [0.25, 0.25, 0.5]),
        (node2vec(g, p=1, q=1, **kw), [0.25, 0.25, 0.5]),
        # alpha: return 1/p = 2, t -> x neighbour 1, otherwise 1/q = 0.5 (x -> t does not count)
        (node2vec(g, p=0.5, q=2, **kw), [0.5, 0.25, 0.25]),
    ):
        third = second_steps(walks)
        assert third.size > 15_000
        freq = [(third == x).mean() for x in (0, 2, 3)]
        np.testing.assert_allclose(freq, expected, atol=0.015)


def return_rate(walks: list[np.ndarray]) -> float:
    back = [np.mean(w[2:] == w[:-2]) for w in walks if w.size > 2]
    return float(np.mean(back))


def test_small_p_returns_more_and_small_q_explores_further() -> None:
    # A triangle 1-2-3 (both directions) with a tail 3 -> 4 -> 5 -> 6.
    g = graph([1, 2, 3, 1, 3, 2, 1], [3, 4, 5, 6])
    kw = {"walks": 4000, "length": 8, "seed": 5, "starts": "uniform"}
    low_p = return_rate(node2vec(g, p=0.05, q=1, **kw))
    high_p = return_rate(node2vec(g, p=20, q=1, **kw))
    assert low_p > 0.5 and high_p < 0.05  # measured: 0.60 and 0.02 (p = 1: 0.22)
    # A band graph: i <-> i+1 and i <-> i+2, so every node has close (triangle) and far neighbours.
    band = graph(
        list(range(40)),
        list(range(39, -1, -1)),
        list(range(0, 40, 2)),
        list(range(1, 40, 2)),
        list(range(38, -1, -2)),
        list(range(39, 0, -2)),
    )
    distinct = {
        q: np.mean([np.unique(w).size for w in node2vec(band, p=1, q=q, **kw)]) for q in (0.1, 10)
    }
    assert distinct[0.1] > distinct[10] + 1.5  # measured: 7.1 vs 4.1 nodes


def test_same_seed_same_walks_different_seed_different_walks() -> None:
    rng = np.random.default_rng(0)
    g = graph(*(rng.integers(0, 50, size=20) for _ in range(100)))
    for walk in (deepwalk, lambda g, **kw: node2vec(g, p=0.5, q=2, **kw)):
        a, b, c = (walk(g, walks=200, length=10, seed=s) for s in (1, 1, 2))
        assert [w.tolist() for w in a] == [w.tolist() for w in b]
        assert [w.tolist() for w in a] != [w.tolist() for w in c]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"walks": -1}, "walks"),
        ({"length": 0}, "length"),
        ({"p": 0.0}, "p must"),
        ({"q": -1.0}, "q must"),
        ({"q": float("nan")}, "q must"),
        ({"starts": "random"}, "starts"),
    ],
)
def test_bad_parameters_raise_config_error(kw: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"walks": 3, "length": 4, "p": 1.0, "q": 1.0, "seed": 0} | kw
    with pytest.raises(ConfigError, match=message):
        node2vec(graph([1, 2, 3]), **args)
