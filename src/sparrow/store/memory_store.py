"""The in-process online store: a `Snapshot` of a build directory, held in memory.

Lookups are dict/array indexing; nothing is recomputed per request. Arrays handed out are copies,
so a caller may modify them.
"""

import threading
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from sparrow.config import StoreSettings
from sparrow.errors import DataError
from sparrow.features.online import UserState, features, user_vector
from sparrow.store.base import Movie, Profile, SortBy, User
from sparrow.store.derive import ALL
from sparrow.store.profile_cache import ProfileCache
from sparrow.store.snapshot import Snapshot, load


class MemoryStore:
    """`OnlineStore` over a snapshot held in this process."""

    remote: ClassVar[bool] = False
    event_log: ClassVar[str] = "file"

    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot
        snapshot.warm()
        self._movie_rows = _row_index(snapshot.movie_features)
        self._user_rows = _row_index(snapshot.user_features)
        self._vector_rows = {m: _ids_index(v.ids) for m, v in snapshot.users.items()}
        # the stream's updates (put_states), read before the snapshot
        self._lock = threading.Lock()
        self._states: dict[int, UserState] = {}
        self._features: dict[int, dict[str, Any]] = {}
        self._rated: dict[int, np.ndarray] = {}
        self._liked: dict[int, np.ndarray] = {}
        self._vectors: dict[str, dict[int, np.ndarray | None]] = {m: {} for m in snapshot.items}

    @classmethod
    def from_build(cls, build: Path) -> "MemoryStore":
        """Load `build` (DataError when it is not a complete build)."""
        return cls(load(build))

    @classmethod
    def open(
        cls, build: Path, settings: StoreSettings, cache: ProfileCache | None = None
    ) -> "MemoryStore":
        """`from_build` (a memory store has nothing to configure and keeps no profile cache)."""
        return cls.from_build(build)

    @classmethod
    def profile_cache(cls, settings: StoreSettings) -> ProfileCache | None:
        return None

    def version(self) -> str:
        return self.snapshot.version

    def movies(self, ids: list[int]) -> list[Movie | None]:
        return [self.snapshot.movie(i) for i in ids]

    def user(self, user_id: int) -> User | None:
        return self.snapshot.user(user_id)

    def genres(self) -> list[str]:
        return list(self.snapshot.genres)

    def top_movies(self, genre: str | None, sort_by: SortBy, size: int) -> list[int]:
        ranked = self.snapshot.top.get((ALL if genre is None else genre, sort_by))
        return [] if ranked is None else ranked[: max(size, 0)].tolist()

    def movie_features(self, ids: list[int]) -> pa.Table:
        return _take(self.snapshot.movie_features, self._movie_rows, ids)

    def user_features(self, user_id: int) -> pa.Table:
        row = self._features.get(user_id)
        if row is not None:
            return pa.Table.from_pylist([row], schema=self.snapshot.user_features.schema)
        return _take(self.snapshot.user_features, self._user_rows, [user_id])

    def rated(self, user_id: int) -> np.ndarray:
        ids = self._rated.get(user_id)
        if ids is None:
            ids = self.snapshot.ratings.get(user_id, "movie")
        return ids.astype(np.int64)

    def recent_liked(self, user_id: int, size: int) -> np.ndarray:
        ids = self._liked.get(user_id)
        if ids is None:
            ids = self.snapshot.liked.get(user_id, "movie")
        return ids[: max(size, 0)].astype(np.int64)

    def co_occurring(self, movie_id: int, size: int) -> np.ndarray:
        return self.snapshot.cooc.get(movie_id, "movie")[: max(size, 0)].astype(np.int64)

    def embedding_methods(self) -> list[str]:
        return sorted(self.snapshot.items)

    def item_vectors(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        items = self.snapshot.items.get(method)
        if items is None:
            raise DataError(
                f"no {method} vectors in the store (it has: "
                f"{', '.join(self.embedding_methods()) or 'none'})"
            )
        return items.ids.astype(np.int64), items.vectors.astype(np.float32)

    def user_vector(self, method: str, user_id: int) -> np.ndarray | None:
        updated = self._vectors.get(method, {})
        if user_id in updated:
            vector = updated[user_id]
            return None if vector is None else vector.copy()
        row = self._vector_rows.get(method, {}).get(user_id)
        return None if row is None else self.snapshot.users[method].vectors[row].copy()

    def profile(self, user_id: int, method: str | None, recent: int) -> Profile:
        with self._lock:  # the stream's update of this user: all of it or none
            vector = None if method is None else self.user_vector(method, user_id)
            return Profile(
                self.rated(user_id),
                self.recent_liked(user_id, recent),
                self.user_features(user_id),
                vector,
            )

    def ping(self) -> bool:
        return True

    # write side (`UserStateStore`)

    def get_states(self, user_ids: list[int]) -> dict[int, UserState]:
        return {u: self._states[u] for u in user_ids if u in self._states}

    def users(self, user_ids: list[int]) -> list[User | None]:
        return [self.snapshot.user(u) for u in user_ids]

    def put_states(self, states: dict[int, UserState]) -> None:
        """Store the states and what they derive (each value computed before any is replaced;
        each read sees a user's old or new value)."""
        rows = {u: features(s) for u, s in states.items()}
        rated = {u: np.asarray(s.rated, np.int64) for u, s in states.items()}
        liked = {u: np.asarray(s.liked, np.int64) for u, s in states.items()}
        vectors = {m: {u: user_vector(s, m) for u, s in states.items()} for m in self._vectors}
        with self._lock:
            self._states.update(states)
            self._features.update(rows)
            self._rated.update(rated)
            self._liked.update(liked)
            for method, values in vectors.items():
                self._vectors[method].update(values)


def _ids_index(ids: np.ndarray) -> dict[int, int]:
    return dict(zip(ids.tolist(), range(len(ids)), strict=True))


def _row_index(table: pa.Table) -> dict[int, int]:
    """Key (first column) -> row."""
    return _ids_index(table.column(0).to_numpy())


def _take(table: pa.Table, rows: dict[int, int], ids: list[int]) -> pa.Table:
    """Rows of `ids` in order; an unknown id is a row of nulls but its id."""
    picked = table.take(pa.array([rows.get(i) for i in ids], pa.int64()))
    key = table.schema.field(0)
    return picked.set_column(0, key, pa.array(ids, key.type))
