"""Exact nearest neighbours: every query scored against every item with batched matrix products."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sparrow.index.base import BATCH, Floats, Ids, ItemIndex


class ExactIndex(ItemIndex):
    """Brute force, in blocks of BATCH queries."""

    kind = "exact"

    def __init__(self, ids: Ids, vectors: Floats, metric: str, seed: int, params: dict[str, int]):
        super().__init__(ids, metric, vectors.shape[1], seed, params)
        self.vectors = vectors  # (N, D), normalised for cosine

    @classmethod
    def _build(
        cls, ids: Ids, vectors: Floats, metric: str, seed: int, params: dict[str, int]
    ) -> ExactIndex:
        return cls(ids, vectors, metric, seed, params)

    def _search(self, queries: Floats, m: int) -> tuple[Ids, Floats]:
        pos = np.empty((len(queries), m), dtype=np.int64)
        scores = np.empty((len(queries), m), dtype=np.float32)
        for start in range(0, len(queries), BATCH):
            block = queries[start : start + BATCH] @ self.vectors.T  # (B, N)
            pos[start : start + BATCH], scores[start : start + BATCH] = _top_k(block, m)
        return pos, scores

    def _save(self, folder: Path) -> None:
        np.save(folder / "vectors.npy", self.vectors)

    @classmethod
    def _load(
        cls, folder: Path, ids: Ids, metric: str, seed: int, params: dict[str, int]
    ) -> ExactIndex:
        return cls(ids, np.load(folder / "vectors.npy"), metric, seed, params)


def _top_k(scores: Floats, m: int) -> tuple[Ids, Floats]:
    """Columns of the m best scores per row, best first (ties: lower column first)."""
    cols = np.empty((len(scores), m), dtype=np.int64)
    best = np.empty((len(scores), m), dtype=np.float32)
    kth = scores.shape[1] - m
    for row, row_cols, row_best in zip(scores, cols, best, strict=True):
        # the columns scoring at least the m-th best, in column order, then stably by score
        top = np.flatnonzero(row >= np.partition(row, kth)[kth])
        top_scores = row[top]
        order = np.argsort(-top_scores, kind="stable")[:m]
        row_cols[:], row_best[:] = top[order], top_scores[order]
    return cols, best
