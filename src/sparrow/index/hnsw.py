"""HNSW graph search with faiss `IndexHNSWFlat` (cosine = inner product of normalised vectors).

Determinism: the graph is built single-threaded by default (`build_threads=1`) with the level
draws seeded from `seed`, so the same data and seed give the same graph and the same results.
More build threads are faster but insert in a racy order: the graph, and so the approximate
results, may then differ between builds. Search is deterministic for a given graph and
uses faiss's default thread count.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, cast

import faiss
import numpy as np

from sparrow.index.base import Floats, Ids, ItemIndex


class HNSWIndex(ItemIndex):
    """faiss HNSW over inner products; labels are positions into `ids`."""

    kind = "hnsw"
    defaults: ClassVar[dict[str, int]] = {
        "M": 32,
        "ef_construction": 200,
        "ef_search": 128,
        "build_threads": 1,
    }

    def __init__(
        self, ids: Ids, index: faiss.IndexHNSWFlat, metric: str, seed: int, params: dict[str, int]
    ):
        super().__init__(ids, metric, index.d, seed, params)
        self.index = index
        self.index.hnsw.efSearch = params["ef_search"]

    @classmethod
    def _build(
        cls, ids: Ids, vectors: Floats, metric: str, seed: int, params: dict[str, int]
    ) -> HNSWIndex:
        index = faiss.IndexHNSWFlat(vectors.shape[1], params["M"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["ef_construction"]
        index.hnsw.rng = faiss.RandomGenerator(seed)  # type: ignore[attr-defined]  # node levels
        threads = faiss.omp_get_max_threads()
        faiss.omp_set_num_threads(params["build_threads"])
        try:
            index.add(vectors)
        finally:
            faiss.omp_set_num_threads(threads)
        return cls(ids, index, metric, seed, params)

    def _search(self, queries: Floats, m: int) -> tuple[Ids, Floats]:
        scores, pos = self.index.search(queries, m)  # (Q, m) each, labels -1 when missing
        return pos.astype(np.int64), scores.astype(np.float32)

    def _save(self, folder: Path) -> None:
        faiss.write_index(self.index, str(folder / "hnsw.faiss"))

    @classmethod
    def _load(
        cls, folder: Path, ids: Ids, metric: str, seed: int, params: dict[str, int]
    ) -> HNSWIndex:
        index = faiss.read_index(str(folder / "hnsw.faiss"))  # already the concrete class
        return cls(ids, cast(faiss.IndexHNSWFlat, index), metric, seed, params)
