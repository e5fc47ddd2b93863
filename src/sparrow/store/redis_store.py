"""The Redis online store: reads the version `sparrow store push` made active.

Every method is one round trip (GET, MGET, GETRANGE or HGETALL), but `profile` makes none for
a user read before, until the user changes, when given a `ProfileCache` (the service's case).
Socket timeouts are short, so
an outage surfaces within a fraction of a second as `redis.exceptions.ConnectionError` or
`TimeoutError`, which propagate: the service decides how to degrade. `ping()` never raises.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

import numpy as np
import pyarrow as pa
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from sparrow.errors import DataError
from sparrow.features.online import UserState, features, user_vector
from sparrow.store import keys as redis_keys
from sparrow.store.base import Movie, Profile, SortBy, User
from sparrow.store.derive import ALL
from sparrow.store.profile_cache import ProfileCache

if TYPE_CHECKING:  # pydantic is not in the Flink environment, which imports this module
    from sparrow.config import StoreSettings

TIMEOUT_S = 0.3


def connect(url: str, timeout: float = TIMEOUT_S) -> redis.Redis:
    """A client of `url` with `timeout`-second socket timeouts and one retry (a stale pooled
    connection reconnects); ValueError for a malformed URL."""
    return redis.Redis.from_url(
        url, socket_timeout=timeout, socket_connect_timeout=timeout, retry=Retry(NoBackoff(), 1)
    )


class RedisStore:
    """`OnlineStore` over the active version under `prefix` in the Redis at `url`; with a
    `cache` (which it does not own: its creator closes it), profiles are kept in it."""

    remote: ClassVar[bool] = True
    event_log: ClassVar[str] = "redis"

    def __init__(
        self,
        url: str,
        prefix: str = "sparrow",
        *,
        timeout: float = TIMEOUT_S,
        cache: ProfileCache | None = None,
    ) -> None:
        self.url, self.prefix, self.cache = url, prefix, cache
        self.client = connect(url, timeout)
        self.reload()

    @classmethod
    def open(
        cls, build: Path, settings: StoreSettings, cache: ProfileCache | None = None
    ) -> RedisStore:
        """The version pushed under the settings' prefix (the build itself is not read)."""
        timeout = settings.timeout_s or TIMEOUT_S
        return cls(settings.redis_url, settings.prefix, timeout=timeout, cache=cache)

    @classmethod
    def profile_cache(cls, settings: StoreSettings) -> ProfileCache | None:
        """A cache of `settings.cache_users` profiles (None when 0)."""
        if settings.cache_users == 0:
            return None
        return ProfileCache(
            settings.redis_url, settings.cache_users, settings.timeout_s or TIMEOUT_S
        )

    def reload(self) -> str:
        """Read the active version and its meta (again); the service may call it after a push."""
        active = cast(bytes | None, self.client.get(redis_keys.active_key(self.prefix)))
        if active is None:
            raise DataError(
                f"no version pushed to {self.url} under prefix {self.prefix!r}; "
                "run sparrow store push"
            )
        keys = redis_keys.Keys(self.prefix, active.decode())
        fields = cast(dict[bytes, bytes], self.client.hgetall(keys.meta))
        if not fields:
            raise DataError(
                f"active version {keys.version} has no meta in {self.url} (deleted?); "
                "run sparrow store push"
            )
        self.keys, self.meta = keys, redis_keys.Meta.from_fields(fields)
        self._top: dict[str, np.ndarray] = {}  # top lists of this version, read once
        if self.cache is not None:
            self.cache.track(keys.profile_prefixes(self.meta.methods))
        return keys.version

    def version(self) -> str:
        return self.keys.version

    def movies(self, ids: list[int]) -> list[Movie | None]:
        raw = self._mget([self.keys.movie(i) for i in ids])
        return [None if r is None else redis_keys.decode_movie(r) for r in raw]

    def user(self, user_id: int) -> User | None:
        raw = self._get(self.keys.user(user_id))
        return None if raw is None else redis_keys.decode_user(raw)

    def genres(self) -> list[str]:
        return list(self.meta.genres)

    def top_movies(self, genre: str | None, sort_by: SortBy, size: int) -> list[int]:
        """From a local copy of the whole list (a version's keys never change; the lists are
        a few bytes per movie and every recommendation reads several)."""
        key = self.keys.top(ALL if genre is None else genre, sort_by)
        ranked = self._top.get(key)
        if ranked is None:
            raw = self._get(key)
            if raw is None:  # no such genre: nothing to keep
                return []
            ranked = self._top[key] = redis_keys.decode_ids(raw)
        return cast(list[int], ranked[: max(size, 0)].tolist())

    def movie_features(self, ids: list[int]) -> pa.Table:
        rows = self._mget([self.keys.movie_features(i) for i in ids])
        return redis_keys.decode_rows(self.meta.movie_schema, ids, rows)

    def user_features(self, user_id: int) -> pa.Table:
        row = self._get(self.keys.user_features(user_id))
        return redis_keys.decode_rows(self.meta.user_schema, [user_id], [row])

    def rated(self, user_id: int) -> np.ndarray:
        return redis_keys.decode_ids(self._get(self.keys.rated(user_id)))

    def recent_liked(self, user_id: int, size: int) -> np.ndarray:
        return self._prefix(self.keys.liked(user_id), size)

    def co_occurring(self, movie_id: int, size: int) -> np.ndarray:
        return self._prefix(self.keys.cooc(movie_id), size)

    def embedding_methods(self) -> list[str]:
        return list(self.meta.methods)

    def item_vectors(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        fields = cast(dict[bytes, bytes], self.client.hgetall(self.keys.items(method)))
        if not fields:
            raise DataError(
                f"no {method} vectors in the store (it has: "
                f"{', '.join(self.meta.methods) or 'none'})"
            )
        return redis_keys.decode_items(fields)

    def user_vector(self, method: str, user_id: int) -> np.ndarray | None:
        return redis_keys.decode_vector(self._get(self.keys.user_vector(method, user_id)))

    def profile(self, user_id: int, method: str | None, recent: int) -> Profile:
        """The cache's copy, else one MULTI/EXEC: a consistent view of the user (the stream
        writes it in one)."""
        if self.cache is None:
            return self._read_profile(user_id, method, recent)
        found, epoch = self.cache.lookup(user_id, (method, recent))
        if found is None:
            found = self._read_profile(user_id, method, recent)
            self.cache.keep(user_id, (method, recent), found, epoch)
        return found

    def _read_profile(self, user_id: int, method: str | None, recent: int) -> Profile:
        keys = self.keys
        pipe = self.client.pipeline(transaction=True)
        pipe.get(keys.rated(user_id))
        pipe.getrange(keys.liked(user_id), 0, max(recent, 0) * redis_keys.ID.itemsize - 1)
        pipe.get(keys.user_features(user_id))
        if method is not None:
            pipe.get(keys.user_vector(method, user_id))
        rated, liked, row, *vector = pipe.execute()
        return Profile(
            redis_keys.decode_ids(rated),
            redis_keys.decode_ids(liked)[: max(recent, 0)],
            redis_keys.decode_rows(self.meta.user_schema, [user_id], [row]),
            redis_keys.decode_vector(vector[0]) if vector else None,
        )

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.RedisError, OSError):
            return False

    # write side (`UserStateStore`): the active version's keys, as read above

    def get_states(self, user_ids: list[int]) -> dict[int, UserState]:
        """One MGET of the users' state, rated and liked keys."""
        keys = self.keys
        raw = self._mget([f(u) for u in user_ids for f in (keys.state, keys.rated, keys.liked)])
        out: dict[int, UserState] = {}
        for i, user_id in enumerate(user_ids):
            state, rated, liked = raw[3 * i : 3 * i + 3]
            if state is not None:
                out[user_id] = UserState.from_bytes(
                    state,
                    redis_keys.decode_ids(rated).tolist(),
                    redis_keys.decode_ids(liked).tolist(),
                )
        return out

    def users(self, user_ids: list[int]) -> list[User | None]:
        raw = self._mget([self.keys.user(u) for u in user_ids])
        return [None if r is None else redis_keys.decode_user(r) for r in raw]

    def put_states(self, states: dict[int, UserState]) -> None:
        """Write every state and its state, uf, rated, liked and user-vector keys with one MSET
        (and one DEL of the vectors gone) in one MULTI/EXEC: a reader sees all of a batch or
        none of it."""
        if not states:
            return
        keys, schema = self.keys, self.meta.user_schema
        values: dict[str, bytes] = {}
        gone: list[str] = []
        for user_id, state in states.items():
            values[keys.state(user_id)] = state.to_bytes()
            values[keys.user_features(user_id)] = redis_keys.encode_row(schema, features(state))
            values[keys.rated(user_id)] = redis_keys.encode_ids(np.asarray(state.rated, np.int64))
            values[keys.liked(user_id)] = redis_keys.encode_ids(np.asarray(state.liked, np.int64))
            for method in self.meta.methods:
                vector = user_vector(state, method)
                key = keys.user_vector(method, user_id)
                if vector is None:
                    gone.append(key)
                else:
                    values[key] = redis_keys.encode_vector(vector)
        pipe = self.client.pipeline(transaction=True)
        pipe.mset(values)
        if gone:
            pipe.delete(*gone)
        pipe.execute()

    def _get(self, key: str) -> bytes | None:
        return cast(bytes | None, self.client.get(key))

    def _mget(self, keys: list[str]) -> list[bytes | None]:
        return cast(list[bytes | None], self.client.mget(keys)) if keys else []

    def _prefix(self, key: str, size: int) -> np.ndarray:
        """The first `size` ids of an encoded id list (GETRANGE reads only those bytes)."""
        if size <= 0:
            return np.zeros(0, np.int64)
        end = size * redis_keys.ID.itemsize - 1
        return redis_keys.decode_ids(cast(bytes, self.client.getrange(key, 0, end)))
