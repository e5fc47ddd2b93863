"""Item transition graph and random walks over it (DeepWalk, Node2vec), vectorised with numpy.

The graph follows the original's `generateTransitionMatrix`: an edge a -> b for every consecutive
pair in a user's sequence, weighted by how often the pair occurs. Walks sample each step in O(1)
from per-node alias tables and advance all walks together, one step per iteration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import numpy as np

from sparrow.errors import ConfigError

STARTS = ("weighted", "uniform")


@dataclass(frozen=True, eq=False)
class TransitionGraph:
    """Directed weighted graph in CSR form; nodes are movieIds, edges are positions into `nodes`."""

    nodes: np.ndarray  # (N,) movieIds, sorted
    indptr: np.ndarray  # (N+1,) CSR row pointers
    indices: np.ndarray  # (E,) destination node positions, sorted within each row
    weights: np.ndarray  # (E,) float64 pair counts

    @classmethod
    def from_sequences(cls, sequences: list[np.ndarray]) -> TransitionGraph:
        """Count consecutive pairs (a -> b) over all sequences; every item seen becomes a node."""
        seqs = [np.asarray(s, dtype=np.int64).reshape(-1) for s in sequences]
        flat = np.concatenate(seqs) if seqs else np.empty(0, np.int64)  # (L,)
        nodes, pos = np.unique(flat, return_inverse=True)  # (N,), (L,)
        lengths = np.array([s.size for s in seqs], dtype=np.int64)
        has_next = np.ones(flat.size, dtype=bool)  # False at the last item of each sequence
        has_next[np.cumsum(lengths)[lengths > 0] - 1] = False
        src = np.flatnonzero(has_next)  # (P,) positions in flat of each pair's first item
        n = np.int64(nodes.size)
        codes, counts = np.unique(pos[src] * n + pos[src + 1], return_counts=True)  # (E,)
        return cls._from_codes(nodes, codes, counts.astype(np.float64))

    @classmethod
    def from_edges(
        cls, nodes: np.ndarray, src: np.ndarray, dst: np.ndarray, weights: np.ndarray
    ) -> TransitionGraph:
        """A graph from distinct weighted edges between movieIds, all of them in `nodes`."""
        nodes = np.unique(np.asarray(nodes, dtype=np.int64))  # (N,)
        n = np.int64(nodes.size)
        codes = np.searchsorted(nodes, src) * n + np.searchsorted(nodes, dst)  # (E,)
        order = np.argsort(codes, kind="stable")
        return cls._from_codes(nodes, codes[order], np.asarray(weights, np.float64)[order])

    @classmethod
    def _from_codes(
        cls, nodes: np.ndarray, codes: np.ndarray, weights: np.ndarray
    ) -> TransitionGraph:
        """CSR arrays from sorted edge codes (source position * N + destination position)."""
        n = np.int64(nodes.size)
        indptr = np.zeros(nodes.size + 1, dtype=np.int64)
        np.cumsum(np.bincount(codes // n, minlength=nodes.size), out=indptr[1:])
        return cls(nodes, indptr, (codes % n).astype(np.int64), weights)

    def edge_rows(self) -> np.ndarray:
        """(E,) source node position of every edge."""
        return np.repeat(np.arange(self.nodes.size, dtype=np.int64), np.diff(self.indptr))

    def out_weights(self) -> np.ndarray:
        """(N,) total out-weight of every node (0 for dangling nodes)."""
        return np.bincount(self.edge_rows(), self.weights, minlength=self.nodes.size)

    @cached_property
    def alias_tables(self) -> tuple[np.ndarray, np.ndarray]:
        """(E,) keep-probability of each column's own edge, (E,) alias destination; built once."""
        return _alias_tables(self)


def deepwalk(
    graph: TransitionGraph, *, walks: int, length: int, seed: int, starts: str = "weighted"
) -> list[np.ndarray]:
    """`walks` first-order random walks of up to `length` movieIds, steps ∝ edge weight."""
    return _walk(graph, walks, length, 1.0, 1.0, seed, starts)


def node2vec(
    graph: TransitionGraph,
    *,
    walks: int,
    length: int,
    p: float,
    q: float,
    seed: int,
    starts: str = "weighted",
) -> list[np.ndarray]:
    """Second-order biased walks (Grover & Leskovec 2016).

    Coming from t to v, the next node x is drawn ∝ w(v, x) * alpha with alpha = 1/p if x == t,
    1 if the edge t -> x exists (x is one step from t), 1/q otherwise. The first step is
    first-order. Exact rejection sampling: propose from v's alias table, accept with
    alpha / max(1/p if the edge v -> t exists, 1, 1/q).
    """
    return _walk(graph, walks, length, p, q, seed, starts)


def _walk(
    g: TransitionGraph, walks: int, length: int, p: float, q: float, seed: int, starts: str
) -> list[np.ndarray]:
    if walks < 0:
        raise ConfigError(f"walks must be >= 0, got {walks}")
    if length < 1:
        raise ConfigError(f"walk length must be >= 1, got {length}")
    for name, value in (("p", p), ("q", q)):
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"node2vec {name} must be a finite number > 0, got {value}")
    if starts not in STARTS:
        raise ConfigError(f"unknown walk starts {starts!r}; choose one of {', '.join(STARTS)}")
    rng = np.random.default_rng(seed)
    n = g.nodes.size
    out_w = g.out_weights()  # (N,)
    if walks == 0 or n == 0 or (starts == "weighted" and out_w.sum() <= 0):
        return []  # nothing to start from: no nodes, or no edges to weight the starts
    if starts == "weighted":
        first = rng.choice(n, size=walks, p=out_w / out_w.sum())  # (W,)
    else:
        first = rng.integers(0, n, size=walks)
    prob, alias = g.alias_tables  # (E,), (E,)
    deg = np.diff(g.indptr)  # (N,)
    codes = g.edge_rows() * n + g.indices  # (E,) sorted edge codes for the t -> x test
    inv_p, inv_q = 1.0 / p, 1.0 / q
    biased = inv_p != 1.0 or inv_q != 1.0
    path = np.full((walks, length), -1, dtype=np.int64)  # (W, length) node positions, -1 = ended
    path[:, 0] = first
    live = np.arange(walks)
    for step in range(1, length):
        live = live[deg[path[live, step - 1]] > 0]  # walks at a dangling node stop
        if live.size == 0:
            break
        v = path[live, step - 1]  # (A,)
        t = path[live, step - 2] if step > 1 else np.full(live.size, -1)  # (A,) -1: no previous
        if biased:  # (A,) rejection bound: largest alpha on v's out-edges (1/p only if v -> t)
            top = np.where(_has_edge(codes, n, v, t), max(inv_p, 1.0, inv_q), max(1.0, inv_q))
        nxt = np.empty(live.size, dtype=np.int64)
        pending = np.arange(live.size)
        while pending.size:
            vp = v[pending]
            col = g.indptr[vp] + np.minimum(
                (rng.random(pending.size) * deg[vp]).astype(np.int64), deg[vp] - 1
            )  # (P,) uniformly chosen alias column of v
            x = np.where(rng.random(pending.size) < prob[col], g.indices[col], alias[col])
            if biased:
                tp = t[pending]
                near = _has_edge(codes, n, tp, x)
                alpha = np.where(x == tp, inv_p, np.where(near, 1.0, inv_q))
                ok = (tp < 0) | (rng.random(pending.size) * top[pending] < alpha)
            else:
                ok = np.ones(pending.size, dtype=bool)
            nxt[pending[ok]] = x[ok]
            pending = pending[~ok]
        path[live, step] = nxt
    kept = path >= 0
    flat = g.nodes[path[kept]]  # row-major, so each walk's nodes stay together and in order
    return np.split(flat, np.cumsum(kept.sum(axis=1))[:-1])


def _has_edge(codes: np.ndarray, n: int, src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """(K,) whether edge src -> dst exists (False where src < 0), by searchsorted on edge codes."""
    key = src * n + dst
    found = codes[np.minimum(np.searchsorted(codes, key), codes.size - 1)] == key
    out: np.ndarray = found & (src >= 0)
    return out


def _alias_tables(g: TransitionGraph) -> tuple[np.ndarray, np.ndarray]:
    """Per-row alias tables (Vose), built for all rows at once.

    Returns (E,) probability of keeping the column's own edge and (E,) alias destination.
    Each column holds T and edge k has mass s_k = w_k * deg * T / row sum; T is the row sum for
    integer counts (every quantity then an exact integer in float64), else 1.
    Light edges (s < T) are filled in CSR order from a stream of the heavy edges' surplus, as in
    the sweeping construction of Hübschle-Schneider & Sanders (2019): prefix sums of deficits D
    and surpluses U decide which heavy edge fills which light one, with no Python loop.
    """
    rows = g.edge_rows()  # (E,)
    row_sum = g.out_weights()[rows]  # (E,)
    if np.array_equal(g.weights, np.round(g.weights)):
        total, scaled = row_sum, g.weights * np.diff(g.indptr)[rows]  # (E,) T, (E,) s
    else:  # unit columns keep the prefix sums of rows of any magnitude on one scale
        total, scaled = np.ones(rows.size), g.weights * np.diff(g.indptr)[rows] / row_sum
    prob = np.ones(rows.size)
    alias = g.indices.copy()
    li = np.flatnonzero(scaled < total)  # (a,) light edges
    hi = np.flatnonzero(scaled >= total)  # (b,) heavy edges; every non-empty row has one
    lrow, hrow = rows[li], rows[hi]
    deficit = total[li] - scaled[li]
    d = _segment_cumsum(deficit, lrow)  # (a,) deficit up to and including each light edge
    u = _segment_cumsum(scaled[hi] - total[hi], hrow)  # (b,) surplus up to each heavy edge
    h_first = np.searchsorted(hrow, hrow)  # (b,) first heavy edge of the row
    h_count = np.bincount(hrow, minlength=g.nodes.size)  # (N,)
    # A light edge is filled by the first heavy edge of its row not yet used up: U >= D before it.
    m = _count_below(hrow, u, lrow, d - deficit, strict=True)  # (a,)
    first_h = np.searchsorted(hrow, lrow)  # (a,)
    sel = np.flatnonzero(m < h_count[lrow])  # rounding can leave none (then keep prob 1)
    prob[li[sel]] = scaled[li[sel]] / total[li[sel]]
    alias[li[sel]] = g.indices[hi[first_h[sel] + m[sel]]]
    # A heavy edge is used up after the first light edge with D > U; its rest is topped up
    # from the next heavy edge of the row.
    n_l = _count_below(lrow, d, hrow, u, strict=False)  # (b,) light edges with D <= U
    first_l = np.searchsorted(lrow, hrow)  # (b,)
    used = (n_l < np.bincount(lrow, minlength=g.nodes.size)[hrow]) & (
        np.arange(hi.size) - h_first + 1 < h_count[hrow]
    )
    sel = np.flatnonzero(used)
    rest = u[sel] + total[hi[sel]] - d[first_l[sel] + n_l[sel]]
    prob[hi[sel]] = np.clip(rest / total[hi[sel]], 0.0, 1.0)
    alias[hi[sel]] = g.indices[hi[sel + 1]]
    return prob, alias


def _segment_cumsum(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """(K,) inclusive cumulative sum restarting at each new value of the sorted `rows`."""
    c = np.cumsum(values)
    start = np.searchsorted(rows, rows)
    out: np.ndarray = c - c[start] + values[start]
    return out


def _count_below(
    k_row: np.ndarray, k_val: np.ndarray, q_row: np.ndarray, q_val: np.ndarray, *, strict: bool
) -> np.ndarray:
    """(Q,) per query, keys in the same row with value < (strict) or <= the query's value.

    Keys must be sorted by (row, value). numpy orders complex numbers lexicographically, so
    row + 1j * value is one sortable key and a single searchsorted merges all rows at once.
    """
    keys = k_row + 1j * k_val  # (K,)
    side: Literal["left", "right"] = "left" if strict else "right"
    res: np.ndarray = np.searchsorted(keys, q_row + 1j * q_val, side=side) - np.searchsorted(
        k_row, q_row
    )
    return res
