"""Nearest-neighbour search over item vectors: the `ItemIndex` interface every kind implements.

Kinds (the `index` family of `plugins.py`): "exact" (numpy, `exact.py`), "lsh" (random
hyperplanes, `lsh.py`), "hnsw" (faiss, `hnsw.py`). Metrics: "cosine" (inner product of
L2-normalised vectors) and "ip" (raw inner product). Every kind returns positions best first,
padded with id -1 and score -inf.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar, cast

import numpy as np
import numpy.typing as npt

from sparrow.atomic import atomic_dir
from sparrow.errors import ConfigError, DataError
from sparrow.plugins import load_backend

Ids = npt.NDArray[np.int64]
Floats = npt.NDArray[np.float32]

METRICS = ("cosine", "ip")
BATCH = 1024  # queries (or recall rows) per vectorised block


def _kind_class(kind: str) -> type[ItemIndex]:
    """The class implementing `kind` (imported lazily: faiss only when "hnsw" is chosen)."""
    return cast(type[ItemIndex], load_backend("index", kind))


def _prepare(vectors: Any, metric: str, what: str, dim: int | None = None) -> Floats:
    """Check a (N, D) matrix of finite numbers; float32, L2-normalised for cosine."""
    v = np.asarray(vectors, dtype=np.float32)
    if v.ndim != 2 or v.shape[0] == 0 or v.shape[1] == 0:
        raise ConfigError(f"{what} must be a non-empty 2-D array (N, D), got shape {v.shape}")
    if dim is not None and v.shape[1] != dim:
        raise ConfigError(f"{what} have dimension {v.shape[1]}, the index has {dim}")
    if not np.isfinite(v).all():
        raise ConfigError(f"{what} contain NaN or infinite values")
    if metric == "cosine":
        norms = np.linalg.norm(v, axis=1, keepdims=True)  # (N, 1)
        norms[norms == 0] = 1.0  # zero vectors stay zero
        v = v / norms
    return np.ascontiguousarray(v)


class ItemIndex(ABC):
    """Nearest neighbours of query vectors among item vectors, by cosine or inner product."""

    kind: ClassVar[str]
    defaults: ClassVar[dict[str, int]] = {}  # the kind's tuning parameters and their defaults

    def __init__(self, ids: Ids, metric: str, dim: int, seed: int, params: dict[str, int]):
        self.ids = ids  # (N,) item id of each stored position
        self.metric = metric
        self.dim = dim
        self.seed = seed
        self.params = params

    @property
    def count(self) -> int:
        """How many items the index holds."""
        return len(self.ids)

    @classmethod
    def build(
        cls, ids: Any, vectors: Any, *, metric: str = "cosine", seed: int = 42, **params: int
    ) -> ItemIndex:
        """Index `vectors` (N, D) under the unique integer `ids` (N,)."""
        if metric not in METRICS:
            raise ConfigError(f"unknown metric {metric!r}; choose one of: {', '.join(METRICS)}")
        unknown = sorted(set(params) - set(cls.defaults))
        if unknown:
            allowed = ", ".join(cls.defaults) or "none"
            raise ConfigError(
                f"unknown {cls.kind} index parameter(s) {unknown}; allowed: {allowed}"
            )
        merged = {**cls.defaults, **params}
        bad = {
            name: value
            for name, value in merged.items()
            if not isinstance(value, int) or isinstance(value, bool) or value < 1
        }
        if bad:
            raise ConfigError(f"{cls.kind} index parameters must be positive integers, got {bad}")
        v = _prepare(vectors, metric, "vectors")
        id_array = np.asarray(ids)
        if id_array.ndim != 1 or not np.issubdtype(id_array.dtype, np.integer):
            raise ConfigError(
                f"ids must be a 1-D integer array, got {id_array.dtype} {id_array.shape}"
            )
        if len(id_array) != len(v):
            raise ConfigError(f"{len(id_array)} ids but {len(v)} vectors")
        if len(np.unique(id_array)) != len(id_array):
            raise ConfigError("ids must be unique")
        return cls._build(id_array.astype(np.int64), v, metric, seed, merged)

    def search(self, queries: Any, k: int, *, exclude: Any = None) -> tuple[Ids, Floats]:
        """The k best items per query: ids (Q, k) int64 and scores (Q, k) float32, best first.

        Missing results are id -1 with score -inf. `exclude` (Q,) drops one id per query
        (the query item itself when looking for similar items).
        """
        if not isinstance(k, int | np.integer) or k < 1:
            raise ConfigError(f"k must be a positive integer, got {k!r}")
        q = _prepare(queries, self.metric, "queries", self.dim)  # (Q, D)
        excluded = None
        if exclude is not None:
            excluded = np.asarray(exclude)
            if excluded.shape != (len(q),) or not np.issubdtype(excluded.dtype, np.integer):
                raise ConfigError(
                    f"exclude must be {len(q)} integer ids, got shape {excluded.shape}"
                )
        m = min(k + (excluded is not None), self.count)
        pos, scores = self._search(q, m)  # (Q, m) positions (-1 = none), scores
        ids = np.where(pos >= 0, self.ids[pos], -1)
        scores = np.where(pos >= 0, scores, -np.inf).astype(np.float32)
        if excluded is not None:
            drop = ids == excluded[:, None]  # (Q, m)
            order = np.argsort(drop, axis=1, kind="stable")  # kept ones first, in rank order
            ids = np.where(drop, -1, ids)
            scores = np.where(drop, -np.inf, scores).astype(np.float32)
            ids = np.take_along_axis(ids, order, axis=1)
            scores = np.take_along_axis(scores, order, axis=1)
        out_ids = np.full((len(q), k), -1, dtype=np.int64)
        out_scores = np.full((len(q), k), -np.inf, dtype=np.float32)
        width = min(k, ids.shape[1])
        out_ids[:, :width] = ids[:, :width]
        out_scores[:, :width] = scores[:, :width]
        return out_ids, out_scores

    def save(self, folder: Path) -> None:
        """Write the index files and meta.json into `folder` (replaced whole, atomically)."""
        meta = {
            "kind": self.kind,
            "metric": self.metric,
            "params": self.params,
            "seed": self.seed,
            "dim": self.dim,
            "count": self.count,
        }
        with atomic_dir(Path(folder), overwrite=True) as tmp:
            np.save(tmp / "ids.npy", self.ids)
            self._save(tmp)
            (tmp / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")

    @staticmethod
    def load(folder: Path) -> ItemIndex:
        """Read an index written by `save`, as the subclass its meta.json names."""
        meta_path = Path(folder) / "meta.json"
        try:
            meta = json.loads(meta_path.read_text())
            cls = _kind_class(meta["kind"])
            ids = np.load(Path(folder) / "ids.npy")
            return cls._load(Path(folder), ids, meta["metric"], meta["seed"], meta["params"])
        except (OSError, ValueError, KeyError) as err:
            raise DataError(f"cannot read the index in {folder}: {err}") from err

    @classmethod
    @abstractmethod
    def _build(
        cls, ids: Ids, vectors: Floats, metric: str, seed: int, params: dict[str, int]
    ) -> ItemIndex:
        """Build from checked, prepared (normalised for cosine) vectors (N, D)."""

    @abstractmethod
    def _search(self, queries: Floats, m: int) -> tuple[Ids, Floats]:
        """Positions (Q, m) (-1 = none) and scores (Q, m) of the m best, best first."""

    @abstractmethod
    def _save(self, folder: Path) -> None:
        """Write the kind's own files (ids.npy and meta.json are written by `save`)."""

    @classmethod
    @abstractmethod
    def _load(
        cls, folder: Path, ids: Ids, metric: str, seed: int, params: dict[str, int]
    ) -> ItemIndex:
        """Read the kind's own files."""


def build_index(
    kind: str, ids: Any, vectors: Any, *, metric: str = "cosine", seed: int = 42, **params: int
) -> ItemIndex:
    """Build an index of `kind` (a type of the `index` family); ConfigError naming the choices."""
    return _kind_class(kind).build(ids, vectors, metric=metric, seed=seed, **params)


def recall_at_k(approx_ids: Any, exact_ids: Any) -> float:
    """Mean over queries of the share of exact neighbours (Q, k) found in `approx_ids` (Q, k').

    Padding (-1) in `exact_ids` is not counted; a query with no exact neighbours counts as 1.
    """
    approx = np.asarray(approx_ids)
    exact = np.asarray(exact_ids)
    if approx.ndim != 2 or exact.ndim != 2 or len(approx) != len(exact):
        raise ConfigError(f"id arrays must be (Q, k) with the same Q: {approx.shape} {exact.shape}")
    recalls = np.ones(len(exact))
    for start in range(0, len(exact), BATCH):
        a = approx[start : start + BATCH, :, None]  # (B, k', 1)
        e = exact[start : start + BATCH, None, :]  # (B, 1, k)
        found = ((a == e) & (e >= 0)).any(axis=1).sum(axis=1)  # (B,)
        wanted = (exact[start : start + BATCH] >= 0).sum(axis=1)  # (B,)
        recalls[start : start + BATCH] = np.where(wanted > 0, found / np.maximum(wanted, 1), 1.0)
    return float(recalls.mean()) if len(recalls) else 1.0
