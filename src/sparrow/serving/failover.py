"""A store that serves a local copy while its primary (Redis) is down.

Every call goes to the primary; when it raises, the call is answered from the backup (the
memory store loaded from the same build), the error is counted and the primary is left alone
for `retry_s` seconds, so a dead Redis costs one failed call per period, not one per request.
The first call that succeeds again ends the outage. `degraded()` says what `/healthz` reports.
The primary is opened by the first call, so the service also starts while Redis is down.
"""

import threading
import time
from collections.abc import Callable
from typing import TypeVar

import numpy as np
import pyarrow as pa

from sparrow.serving.observe import Metrics, event, failure
from sparrow.store.base import Movie, OnlineStore, Profile, SortBy, User

T = TypeVar("T")


class FailoverStore:
    """`OnlineStore` over a primary and a backup with the same data."""

    def __init__(
        self,
        connect: Callable[[], OnlineStore],
        backup: OnlineStore,
        metrics: Metrics,
        retry_s: float = 2.0,
    ) -> None:
        self.connect = connect
        self.primary: OnlineStore | None = None
        self.backup = backup
        self.metrics = metrics
        self.retry_s = retry_s
        self.down_since: float | None = None  # monotonic time of the first failure
        self.last_try = 0.0  # monotonic time of the last failed attempt
        self._lock = threading.Lock()

    def degraded(self) -> str | None:
        """What is degraded now, or None when the primary answers."""
        if self.down_since is None:
            return None
        seconds = time.monotonic() - self.down_since
        return f"redis down: serving the memory copy (for {seconds:.0f} s)"

    def _call(self, op: str, call: Callable[[OnlineStore], T]) -> T:
        if self.down_since is not None and time.monotonic() - self.last_try < self.retry_s:
            return call(self.backup)
        try:
            if self.primary is None:
                self.primary = self.connect()
            result = call(self.primary)
        except Exception as exc:  # any failure of the primary: a connection, a timeout, a bug
            self._failed(op, exc)
            return call(self.backup)
        if self.down_since is not None:
            self._recovered()
        return result

    def _failed(self, op: str, exc: Exception) -> None:
        self.metrics.store_errors.labels(op).inc()
        with self._lock:
            now = time.monotonic()
            self.last_try = now
            if self.down_since is None:
                self.down_since = now
                self.metrics.store_degraded.set(1)
                failure("store_down", exc, op=op)

    def _recovered(self) -> None:
        with self._lock:
            if self.down_since is None:
                return
            event("store_recovered", down_s=time.monotonic() - self.down_since)
            self.down_since = None
            self.metrics.store_degraded.set(0)

    def version(self) -> str:
        return self._call("version", lambda s: s.version())

    def movies(self, ids: list[int]) -> list[Movie | None]:
        return self._call("movies", lambda s: s.movies(ids))

    def user(self, user_id: int) -> User | None:
        return self._call("user", lambda s: s.user(user_id))

    def genres(self) -> list[str]:
        return self._call("genres", lambda s: s.genres())

    def top_movies(self, genre: str | None, sort_by: SortBy, size: int) -> list[int]:
        return self._call("top_movies", lambda s: s.top_movies(genre, sort_by, size))

    def movie_features(self, ids: list[int]) -> pa.Table:
        return self._call("movie_features", lambda s: s.movie_features(ids))

    def user_features(self, user_id: int) -> pa.Table:
        return self._call("user_features", lambda s: s.user_features(user_id))

    def rated(self, user_id: int) -> np.ndarray:
        return self._call("rated", lambda s: s.rated(user_id))

    def recent_liked(self, user_id: int, size: int) -> np.ndarray:
        return self._call("recent_liked", lambda s: s.recent_liked(user_id, size))

    def co_occurring(self, movie_id: int, size: int) -> np.ndarray:
        return self._call("co_occurring", lambda s: s.co_occurring(movie_id, size))

    def embedding_methods(self) -> list[str]:
        return self._call("embedding_methods", lambda s: s.embedding_methods())

    def item_vectors(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        return self._call("item_vectors", lambda s: s.item_vectors(method))

    def user_vector(self, method: str, user_id: int) -> np.ndarray | None:
        return self._call("user_vector", lambda s: s.user_vector(method, user_id))

    def profile(self, user_id: int, method: str | None, recent: int) -> Profile:
        return self._call("profile", lambda s: s.profile(user_id, method, recent))

    def ping(self) -> bool:
        """Whether the primary answers now (a failed ping does not start an outage)."""
        try:
            return self.primary is not None and bool(self.primary.ping())
        except Exception:
            return False
