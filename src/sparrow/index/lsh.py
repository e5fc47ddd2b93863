"""Locality-sensitive hashing with random hyperplanes (SimHash), as in the course's lesson 12.

Each of `tables` hash tables hashes a vector to the signs of its dot products with `bits`
random hyperplanes. A query's candidates are the union of its buckets over all tables, then
re-ranked exactly. Fewer than k candidates leaves -1 padding: there is no brute-force fallback.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import ClassVar

import numpy as np

from sparrow.errors import ConfigError
from sparrow.index.base import Floats, Ids, ItemIndex

_PAIRS = 250_000  # (query, candidate) pairs scored at a time: bounds memory to _PAIRS x D


class LSHIndex(ItemIndex):
    """Random-projection LSH: `tables` tables of `bits`-bit bucket codes, exact re-ranking."""

    kind = "lsh"
    defaults: ClassVar[dict[str, int]] = {"tables": 8, "bits": 10}

    def __init__(
        self,
        ids: Ids,
        vectors: Floats,
        planes: Floats,
        metric: str,
        seed: int,
        params: dict[str, int],
    ):
        super().__init__(ids, metric, vectors.shape[1], seed, params)
        self.vectors = vectors  # (N, D), normalised for cosine
        self.planes = planes  # (D, tables * bits) hyperplane normals
        codes = self._hash(vectors)  # (N, T)
        self.order = np.argsort(codes, axis=0, kind="stable").T.copy()  # (T, N) positions by code
        self.sorted_codes = np.take_along_axis(codes.T, self.order, axis=1)  # (T, N) ascending

    def _hash(self, vectors: Floats) -> Ids:
        """Bucket code of each vector in each table: (N, D) -> (N, T) int64."""
        tables, bits = self.params["tables"], self.params["bits"]
        signs = (vectors @ self.planes > 0).reshape(len(vectors), tables, bits)  # (N, T, bits)
        weights = np.left_shift(np.int64(1), np.arange(bits, dtype=np.int64))  # (bits,)
        return (signs @ weights).astype(np.int64)

    @classmethod
    def _build(
        cls, ids: Ids, vectors: Floats, metric: str, seed: int, params: dict[str, int]
    ) -> LSHIndex:
        if params["bits"] > 62:
            raise ConfigError(f"lsh bits must be at most 62, got {params['bits']}")
        rng = np.random.default_rng(seed)
        planes = rng.standard_normal((vectors.shape[1], params["tables"] * params["bits"]))
        return cls(ids, vectors, planes.astype(np.float32), metric, seed, params)

    def _search(self, queries: Floats, m: int) -> tuple[Ids, Floats]:
        tables = self.params["tables"]
        codes = self._hash(queries)  # (Q, T)
        lo = np.empty_like(codes)
        hi = np.empty_like(codes)
        for t in range(tables):
            lo[:, t] = np.searchsorted(self.sorted_codes[t], codes[:, t], side="left")
            hi[:, t] = np.searchsorted(self.sorted_codes[t], codes[:, t], side="right")
        pos = np.full((len(queries), m), -1, dtype=np.int64)
        scores = np.full((len(queries), m), -np.inf, dtype=np.float32)
        # Group queries so that each group scores at most about _PAIRS candidate pairs.
        group = np.cumsum((hi - lo).sum(axis=1)) // _PAIRS  # (Q,) non-decreasing
        bounds = np.flatnonzero(np.diff(group, prepend=-1, append=group[-1] + 1))
        for start, stop in itertools.pairwise(bounds):
            self._search_group(queries, lo, hi, int(start), int(stop), pos, scores)
        return pos, scores

    def _search_group(
        self, queries: Floats, lo: Ids, hi: Ids, start: int, stop: int, pos: Ids, scores: Floats
    ) -> None:
        """Score the candidates of queries [start, stop) and write their best into pos, scores."""
        tables, n, m = lo.shape[1], self.count, pos.shape[1]
        counts = (hi[start:stop] - lo[start:stop]).ravel()  # (B * T,) bucket sizes
        slot = np.repeat(np.arange(len(counts)), counts)  # (P,) (query, table) of each pair
        offset = np.arange(len(slot)) - np.repeat(np.cumsum(counts) - counts, counts)  # (P,)
        cand = self.order[slot % tables, lo[start:stop].ravel()[slot] + offset]  # (P,)
        key = np.unique((slot // tables) * n + cand)  # de-duplicated, sorted by query
        query, cand = key // n, key % n
        score = np.einsum("ij,ij->i", queries[start + query], self.vectors[cand])  # (P',)
        order = np.lexsort((cand, -score, query))  # by query, then score desc, then position
        query, cand, score = query[order], cand[order], score[order]
        rank = np.arange(len(query)) - np.searchsorted(query, query)  # rank within its query
        keep = rank < m
        pos[start + query[keep], rank[keep]] = cand[keep]
        scores[start + query[keep], rank[keep]] = score[keep]

    def _save(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.vectors)
        np.save(folder / "planes.npy", self.planes)

    @classmethod
    def _load(
        cls, folder: Path, ids: Ids, metric: str, seed: int, params: dict[str, int]
    ) -> LSHIndex:
        vectors = np.load(folder / "vectors.npy")
        return cls(ids, vectors, np.load(folder / "planes.npy"), metric, seed, params)
