"""`sparrow store push`: write a build's snapshot to Redis under a new version, then switch.

Order: load the snapshot (a bad build fails before Redis is touched); take the push lock; add
the version to `{prefix}:versions`; write every key with pipelines in batches; check that every
key exists; write the version's meta; switch `{prefix}:active` with one `SET ... GET`; delete
every version except the new one and the one it replaced (kept for rollback). A failure before
the switch deletes the new version's keys and leaves the active version serving.
"""

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import redis
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sparrow.errors import BuildError, ConfigError
from sparrow.store import keys as redis_keys
from sparrow.store.redis_store import connect
from sparrow.store.snapshot import Snapshot, load

BATCH = 1000  # commands per pipeline round trip
BATCH_BYTES = 8 << 20  # ... or fewer when the values are large
PUSH_TIMEOUT_S = 30.0
LOCK_TIMEOUT_S = 3600

Value = bytes | dict[str, bytes]  # a dict is written with HSET


def push(build: Path, url: str, prefix: str, progress: bool = True) -> str:
    """Push `build` to the Redis at `url` under `prefix`; return the new active version."""
    snapshot = load(build)
    client = open_redis(url)
    try:
        return push_snapshot(client, snapshot, prefix, str(build), progress)
    except redis.RedisError as exc:
        active = _text(client, redis_keys.active_key(prefix))
        raise BuildError(f"push to {url} failed: {exc}; active version: {active}") from exc


def open_redis(url: str) -> "redis.Redis":
    """A client for bulk work (long timeouts); ConfigError when `url` is bad or down."""
    try:
        client = connect(url, PUSH_TIMEOUT_S)
        client.ping()
    except ValueError as exc:
        raise ConfigError(f"invalid Redis URL {url!r}: {exc}") from exc
    except redis.RedisError as exc:
        raise ConfigError(
            f"cannot reach Redis at {url} ({exc}); start it or set --redis-url (store.redis_url)"
        ) from exc
    return client


def push_snapshot(
    client: "redis.Redis", snapshot: Snapshot, prefix: str, build: str = "", progress: bool = False
) -> str:
    """Write `snapshot` as a new version and make it active (see the module docstring)."""
    keys = redis_keys.Keys(prefix, snapshot.version)
    lock = client.lock(redis_keys.lock_key(prefix), timeout=LOCK_TIMEOUT_S, blocking=False)
    if not lock.acquire():
        raise BuildError(
            f"another push to prefix {prefix!r} is running (or died: delete "
            f"{redis_keys.lock_key(prefix)} if none is)"
        )
    try:
        if not client.sadd(redis_keys.versions_key(prefix), keys.version):
            raise BuildError(f"version {keys.version} already exists under {prefix!r}")
        try:
            start, used = time.perf_counter(), _used_memory(client)
            written = _write(client, writes(snapshot, keys), expected_keys(snapshot), progress)
            _verify(client, written)
            counts = snapshot.counts() | {
                "keys": len(written) + 1,
                "used_memory_delta": _used_memory(client) - used,
                "push_ms": round(1000 * (time.perf_counter() - start)),
            }
            client.hset(keys.meta, mapping=_meta(snapshot, build, counts).fields())  # type: ignore[arg-type]
            previous = _decode(client.set(redis_keys.active_key(prefix), keys.version, get=True))
        except BaseException:
            with contextlib.suppress(redis.RedisError):  # if Redis is gone, the next push will
                _forget(client, prefix, keys.version)
            raise
        stale = {
            v.decode() for v in cast(set[bytes], client.smembers(redis_keys.versions_key(prefix)))
        }
        for version in stale - {keys.version, previous}:
            _forget(client, prefix, version)
        return keys.version
    finally:
        lock.release()


def writes(snapshot: Snapshot, keys: redis_keys.Keys) -> Iterator[tuple[str, Value]]:
    """(key, value) of every key of the snapshot but the meta."""
    for movie_id in snapshot.movie_ids.tolist():
        yield keys.movie(movie_id), redis_keys.encode_movie(snapshot.movie(movie_id))  # type: ignore[arg-type]
    features = (
        (snapshot.movie_features, keys.movie_features),
        (snapshot.user_features, keys.user_features),
    )
    for table, name in features:
        yield from zip(
            map(name, table.column(0).to_pylist()), redis_keys.encode_rows(table), strict=True
        )
    for i, user_id in enumerate(snapshot.ratings.ids.tolist()):
        movies, scores, ts = (snapshot.ratings.at(i, c) for c in ("movie", "score", "ts"))
        yield keys.user(user_id), redis_keys.encode_user(user_id, movies, scores, ts)
        yield keys.rated(user_id), redis_keys.encode_ids(movies)
    for i, user_id in enumerate(snapshot.liked.ids.tolist()):
        yield keys.liked(user_id), redis_keys.encode_ids(snapshot.liked.at(i, "movie"))
    for i, movie_id in enumerate(snapshot.cooc.ids.tolist()):
        yield keys.cooc(movie_id), redis_keys.encode_ids(snapshot.cooc.at(i, "movie"))
    for (genre, sort_by), ids in snapshot.top.items():
        yield keys.top(genre, sort_by), redis_keys.encode_ids(ids)
    for method, items in snapshot.items.items():
        yield keys.items(method), redis_keys.encode_items(items.ids, items.vectors)
        users = snapshot.users[method]
        for user_id, vector in zip(users.ids.tolist(), users.vectors, strict=True):
            yield keys.user_vector(method, user_id), redis_keys.encode_vector(vector)


def expected_keys(snapshot: Snapshot) -> int:
    """How many keys `writes` yields, counted from the snapshot independently."""
    c = snapshot.counts()
    return (
        c["movies"]
        + c["movie_features"]
        + c["user_features"]
        + 2 * c["users"]
        + c["liked_users"]
        + c["cooc_movies"]
        + c["top_lists"]
        + sum(1 + c[f"{m}_users"] for m in snapshot.items)
    )


def _write(
    client: "redis.Redis", items: Iterator[tuple[str, Value]], total: int, progress: bool
) -> list[str]:
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    written: list[str] = []
    with Progress(*columns, disable=not progress) as bar:
        task = bar.add_task("writing keys", total=total)
        pipe, size = client.pipeline(transaction=False), 0
        for key, value in items:
            if isinstance(value, dict):
                pipe.hset(key, mapping=value)  # type: ignore[arg-type]
                size += sum(len(v) for v in value.values())
            else:
                pipe.set(key, value)
                size += len(value)
            written.append(key)
            if len(pipe) >= BATCH or size >= BATCH_BYTES:
                bar.advance(task, len(pipe))
                pipe.execute()
                size = 0
        bar.advance(task, len(pipe))
        pipe.execute()
    if len(written) != total:
        raise BuildError(f"wrote {len(written)} keys, expected {total}")
    return written


def _verify(client: "redis.Redis", written: list[str]) -> None:
    pipe = client.pipeline(transaction=False)
    for i in range(0, len(written), BATCH):
        pipe.exists(*written[i : i + BATCH])
    found = sum(cast(list[int], pipe.execute()))
    if found != len(written):
        raise BuildError(f"only {found} of {len(written)} keys written are in Redis")


def _forget(client: "redis.Redis", prefix: str, version: str) -> None:
    """Delete every key of `version` and its entry in the versions set."""
    batch: list[Any] = []
    for key in client.scan_iter(match=redis_keys.Keys(prefix, version).pattern, count=BATCH):
        batch.append(key)
        if len(batch) >= BATCH:
            client.unlink(*batch)
            batch = []
    if batch:
        client.unlink(*batch)
    client.srem(redis_keys.versions_key(prefix), version)


def _meta(snapshot: Snapshot, build: str, counts: dict[str, int]) -> redis_keys.Meta:
    return redis_keys.Meta(
        snapshot.version,
        snapshot.config_digest,
        snapshot.created,
        build,
        sorted(snapshot.items),
        snapshot.genres,
        counts,
        snapshot.movie_features.schema,
        snapshot.user_features.schema,
    )


def _used_memory(client: "redis.Redis") -> int:
    return int(client.info("memory")["used_memory"])


def _decode(raw: Any) -> str | None:
    return None if raw is None else bytes(raw).decode()


def _text(client: "redis.Redis", key: str) -> str | None:
    try:
        return _decode(client.get(key))
    except redis.RedisError:
        return None


def info(url: str, prefix: str) -> dict[str, Any]:
    """The active version and every stored version's meta (newest first)."""
    client = open_redis(url)
    versions = [
        v.decode() for v in cast(set[bytes], client.smembers(redis_keys.versions_key(prefix)))
    ]
    metas = []
    for version in versions:
        fields = cast(dict[bytes, bytes], client.hgetall(redis_keys.Keys(prefix, version).meta))
        if fields:
            metas.append(redis_keys.Meta.from_fields(fields))
    metas.sort(key=lambda m: m.created, reverse=True)
    return {"active": _text(client, redis_keys.active_key(prefix)), "versions": metas}
