"""Item and user vectors in a build directory (`embeddings/<method>/`), and the one definition
of a user vector, shared by the offline build and the online store.

A user vector is the mean of the vectors of the movies the user liked, optionally time-decayed.
A user with no liked movie that has a vector gets no vector (not a zero vector). Unlike the
original's Python version, which sums the vectors, this is a (weighted) mean, so a user's
vector does not grow with activity.
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sparrow.artifacts.layout import BuildDir
from sparrow.atomic import atomic_dir
from sparrow.errors import DataError

SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Vectors:
    """Vectors keyed by id: row i of `vectors` belongs to `ids[i]`."""

    ids: np.ndarray  # (N,) int64
    vectors: np.ndarray  # (N, D) float32

    def table(self, key: str) -> pa.Table:
        flat = pa.array(self.vectors.reshape(-1), pa.float32())
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        return pa.table(
            {
                key: pa.array(self.ids, pa.int32()),
                "vector": pa.FixedSizeListArray.from_arrays(flat, dim),
            }
        )

    @classmethod
    def from_table(cls, table: pa.Table, key: str) -> "Vectors":
        dim = table.schema.field("vector").type.list_size
        flat = table["vector"].combine_chunks().flatten().to_numpy()
        return cls(table[key].to_numpy().astype(np.int64), flat.reshape(-1, dim).astype(np.float32))


def embedding_methods(build: Path) -> list[str]:
    """The embedding methods with item vectors in the build, sorted."""
    return sorted(p.parent.name for p in BuildDir(build).embeddings_dir.glob("*/items.parquet"))


def items_path(build: Path, method: str) -> Path:
    return BuildDir(build).embedding(method) / "items.parquet"


def save_items(build: Path, method: str, items: Vectors, info: dict[str, Any]) -> Path:
    """Replace `embeddings/<method>/` with these item vectors and `config.json` (atomically)."""
    folder = BuildDir(build).embedding(method)
    with atomic_dir(folder, overwrite=True) as tmp:
        pq.write_table(items.table("movieId"), tmp / "items.parquet")
        (tmp / "config.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return folder


def training_info(build: Path, method: str) -> dict[str, Any]:
    """The `config.json` that `save_items` wrote for `method`."""
    path = BuildDir(build).embedding(method) / "config.json"
    return dict(json.loads(path.read_text(encoding="utf-8")))


def load_items(build: Path, method: str) -> Vectors:
    """The item vectors a `sparrow embed <method>` run saved."""
    path = items_path(build, method)
    if not path.is_file():
        raise DataError(
            f"no {method} vectors in {build}; run: sparrow embed {method} --build {build}"
        )
    try:
        return Vectors.from_table(pq.read_table(path), "movieId")
    except (pa.ArrowException, OSError, ValueError, KeyError) as exc:
        raise DataError(f"cannot read {path}: {exc}") from exc


def save_users(build: Path, method: str, users: Vectors) -> Path:
    """`embeddings/<method>/users.parquet`, written to a temporary name and renamed."""
    path = BuildDir(build).embedding(method) / "users.parquet"
    tmp = path.with_name(".users.parquet.tmp")
    pq.write_table(users.table("userId"), tmp)
    tmp.rename(path)
    return path


def user_vectors(history: pa.Table, items: Vectors, half_life_days: float | None = None) -> Vectors:
    """One vector per user of `history` (user_id, item_id, ts of liked movies, sorted by user)
    with any known item.

    With `half_life_days`, a rating's weight halves every that many days before the user's last
    liked rating: recent taste counts more.
    """
    users = history["user_id"].to_numpy().astype(np.int64)
    movies = history["item_id"].to_numpy().astype(np.int64)
    ts = history["ts"].to_numpy().astype(np.float64)
    order = np.argsort(items.ids)
    pos = np.searchsorted(items.ids, movies, sorter=order).clip(max=max(len(order) - 1, 0))
    known = (items.ids[order[pos]] == movies) if len(order) else np.zeros(len(movies), bool)
    users, ts, rows = users[known], ts[known], order[pos[known]]
    user_ids, owner = np.unique(users, return_inverse=True)  # owner: (R,) user position
    weights = np.ones(len(rows))
    if half_life_days is not None:
        last = np.full(len(user_ids), -np.inf)
        np.maximum.at(last, owner, ts)
        weights = 0.5 ** ((last[owner] - ts) / (half_life_days * SECONDS_PER_DAY))
    if not len(user_ids):
        return Vectors(user_ids, np.zeros((0, items.vectors.shape[1]), np.float32))
    # history is sorted by user, so each user's rows are one run: sum runs with reduceat
    starts = np.r_[0, np.flatnonzero(np.diff(owner)) + 1]
    weights = weights.astype(np.float32)  # float32 products: a quarter of float64's memory
    sums = np.add.reduceat(items.vectors[rows] * weights[:, None], starts, axis=0)  # (U, D)
    totals = np.add.reduceat(weights, starts)  # (U,)
    return Vectors(user_ids, (sums / totals[:, None]).astype(np.float32))
