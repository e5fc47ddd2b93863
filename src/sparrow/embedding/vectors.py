"""Item and user vectors in a build directory: `embeddings/<method>/`."""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sparrow.atomic import atomic_dir
from sparrow.errors import DataError


@dataclass(frozen=True)
class Vectors:
    """Vectors keyed by id: row i of `vectors` belongs to `ids[i]`."""

    ids: np.ndarray  # (N,) int64
    vectors: np.ndarray  # (N, D) float32

    def table(self, key: str) -> pa.Table:
        flat = pa.array(self.vectors.reshape(-1), pa.float32())
        dim = self.vectors.shape[1] if self.vectors.ndim == 2 else 0
        return pa.table({key: pa.array(self.ids, pa.int32()),
                         "vector": pa.FixedSizeListArray.from_arrays(flat, dim)})  # fmt: skip

    @classmethod
    def from_table(cls, table: pa.Table, key: str) -> "Vectors":
        dim = table.schema.field("vector").type.list_size
        flat = table["vector"].combine_chunks().flatten().to_numpy()
        return cls(table[key].to_numpy().astype(np.int64), flat.reshape(-1, dim).astype(np.float32))


def method_dir(build: Path, method: str) -> Path:
    return build / "embeddings" / method


def save_items(build: Path, method: str, items: Vectors, info: dict[str, Any]) -> Path:
    """Replace `embeddings/<method>/` with these item vectors and `config.json` (atomically)."""
    with atomic_dir(method_dir(build, method), overwrite=True) as tmp:
        pq.write_table(items.table("movieId"), tmp / "items.parquet")
        (tmp / "config.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return method_dir(build, method)


def load_items(build: Path, method: str) -> Vectors:
    """The item vectors a `sparrow embed <method>` run saved."""
    path = method_dir(build, method) / "items.parquet"
    if not path.is_file():
        raise DataError(
            f"no {method} vectors in {build}; run: sparrow embed {method} --build {build}"
        )
    return Vectors.from_table(pq.read_table(path), "movieId")


def save_users(build: Path, method: str, users: Vectors) -> Path:
    """`embeddings/<method>/users.parquet`, written to a temporary name and renamed."""
    path = method_dir(build, method) / "users.parquet"
    tmp = path.with_name(".users.parquet.tmp")
    pq.write_table(users.table("userId"), tmp)
    tmp.rename(path)
    return path
