"""The online-store contract: memory and Redis give the same answers on real ml-latest-small.

The Redis backend runs against the Redis at 127.0.0.1:6379 ($SPARROW_TEST_REDIS) under a unique
prefix (deleted at teardown), or against a redis-server this module starts when nothing answers
there. Tests that break a server (out of memory, outage) use a private redis-server of their own.
"""

import dataclasses
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
import pytest
import redis
from tests.services import any_redis, delete_prefix, free_port, redis_server
from typer.testing import CliRunner

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.vectors import load_items
from sparrow.cli.store import store_app
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.embedding.pipeline import embed_items
from sparrow.errors import BuildError, ConfigError, DataError
from sparrow.features.pipeline import build
from sparrow.store import keys as redis_keys
from sparrow.store import push as push_module
from sparrow.store.base import OnlineStore
from sparrow.store.memory_store import MemoryStore
from sparrow.store.profile_cache import ProfileCache
from sparrow.store.push import push, push_snapshot
from sparrow.store.redis_store import TIMEOUT_S, RedisStore
from sparrow.store.snapshot import Snapshot, load

SORT_BYS = ("rating", "releaseYear", "popularity")


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """The shared Redis at 6379, or a private redis-server when nothing answers there."""
    with any_redis() as url:
        yield url


@pytest.fixture
def prefix(redis_url: str) -> Iterator[str]:
    """A fresh key prefix, deleted after the test."""
    name = f"sparrow-test-{uuid.uuid4().hex[:12]}"
    yield name
    delete_prefix(redis_url, name)


@pytest.fixture(scope="session")
def small_build(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("store") / "build"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    embed_items(out, "item2vec", EmbeddingSettings(epochs=2, workers=1))
    return out


@pytest.fixture(scope="session")
def snapshot(small_build: Path) -> Snapshot:
    return load(small_build)


@pytest.fixture(scope="session")
def stores(snapshot: Snapshot, redis_url: str) -> Iterator[dict[str, OnlineStore]]:
    """Memory, Redis, and Redis keeping profiles in a `ProfileCache` (as the service does)."""
    name = f"sparrow-test-{uuid.uuid4().hex[:12]}"
    push_snapshot(redis.Redis.from_url(redis_url), snapshot, name)
    cache = ProfileCache(redis_url, 100, TIMEOUT_S)
    yield {
        "memory": MemoryStore(snapshot),
        "redis": RedisStore(redis_url, name),
        "redis+cache": RedisStore(redis_url, name, cache=cache),
    }
    cache.close()
    delete_prefix(redis_url, name)


@pytest.fixture(params=["memory", "redis", "redis+cache"])
def store(request: pytest.FixtureRequest, stores: dict[str, OnlineStore]) -> OnlineStore:
    return stores[request.param]


def test_version_is_the_build_digest_and_a_time(store: OnlineStore, snapshot: Snapshot) -> None:
    assert store.version() == snapshot.version
    assert store.version().startswith(snapshot.config_digest + "-")


def test_toy_story(store: OnlineStore) -> None:
    (movie,) = store.movies([1])
    assert movie is not None
    assert (movie.movie_id, movie.title, movie.release_year) == (1, "Toy Story", 1995)
    assert (movie.imdb_id, movie.tmdb_id) == ("0114709", "862")
    assert movie.genres == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert movie.rating_number == 215
    assert movie.average_rating == pytest.approx(3.9209302325581397)
    top = movie.top_ratings
    assert len(top) == 10 and all(r.movie_id == 1 for r in top)
    order = [(r.score, -r.timestamp) for r in top]
    assert order == sorted(order)  # ascending by score, ties newest first


def test_unknown_ids_give_none_or_empty(store: OnlineStore) -> None:
    assert store.movies([1, -5, 99_999_999])[1:] == [None, None]
    assert store.movies([]) == []
    assert store.user(-1) is None
    for empty in (store.rated(-1), store.recent_liked(-1, 5), store.co_occurring(-1, 5)):
        assert empty.dtype == np.int64 and len(empty) == 0
    assert store.top_movies("No Such Genre", "rating", 5) == []
    assert store.user_vector("item2vec", -1) is None
    assert store.user_vector("no-such-method", 1) is None
    with pytest.raises(DataError, match="no no-such-method vectors"):
        store.item_vectors("no-such-method")


def test_user_1_has_every_rating_oldest_first(store: OnlineStore) -> None:
    user = store.user(1)
    assert user is not None and user.rating_count == 232 == len(user.ratings)
    scores = [r.score for r in user.ratings]
    assert user.average_rating == pytest.approx(np.mean(scores))
    assert (user.highest_rating, user.lowest_rating) == (5.0, 1.0)
    times = [r.timestamp for r in user.ratings]
    assert times == sorted(times)
    rated = store.rated(1)
    assert rated.dtype == np.int64 and len(rated) == 232
    assert set(rated.tolist()) == {r.movie_id for r in user.ratings}


def test_genres_are_every_genre_sorted(store: OnlineStore, small_build: Path) -> None:

    assert store.genres() == sorted(BuildDir(small_build).manifest().genres)
    assert "(no genres listed)" not in store.genres()


@pytest.mark.parametrize("sort_by", SORT_BYS)
def test_top_action_movies(store: OnlineStore, sort_by: str) -> None:
    ids = store.top_movies("Action", sort_by, 30)  # type: ignore[arg-type]
    assert len(ids) == 30 and len(set(ids)) == 30
    movies = [m for m in store.movies(ids) if m is not None]
    assert len(movies) == 30 and all("Action" in m.genres for m in movies)
    if sort_by == "rating":
        assert all(m.rating_number >= 5 for m in movies)
        keys: list[float] = [m.average_rating for m in movies]
    elif sort_by == "releaseYear":
        keys = [m.release_year or 0 for m in movies]
    else:
        keys = [m.rating_number for m in movies]
    assert keys == sorted(keys, reverse=True)
    assert store.top_movies("Action", sort_by, 3) == ids[:3]  # type: ignore[arg-type]
    every = store.top_movies(None, sort_by, 100_000)  # type: ignore[arg-type]
    assert len(every) == 9742


def test_movie_features_rows_in_order_unknown_as_nulls(
    store: OnlineStore, small_build: Path
) -> None:
    table = store.movie_features([2, 99_999_999, 1])
    assert table.column_names[0] == "movieId" and "movieAvgRating" in table.column_names
    rows = table.to_pylist()
    assert [r["movieId"] for r in rows] == [2, 99_999_999, 1]
    saved = {
        r["movieId"]: r
        for r in pq.read_table(small_build / "features/movies.parquet")
        .select(table.column_names)
        .to_pylist()
    }
    assert rows[0] == saved[2] and rows[2] == saved[1]
    assert all(v is None for name, v in rows[1].items() if name != "movieId")
    assert store.movie_features([]).num_rows == 0


def test_user_features_one_row(store: OnlineStore, small_build: Path) -> None:
    table = store.user_features(1)
    saved = pq.read_table(small_build / "features/users.parquet").to_pylist()
    assert table.num_rows == 1 and table.to_pylist()[0] == next(
        r for r in saved if r["userId"] == 1
    )
    unknown = store.user_features(-7).to_pylist()[0]
    assert unknown["userId"] == -7
    assert all(v is None for name, v in unknown.items() if name != "userId")
    assert table.schema == store.user_features(-7).schema


def test_recent_liked_is_most_recent_first(store: OnlineStore) -> None:
    user = store.user(1)
    assert user is not None
    liked = sorted(
        (r for r in user.ratings if r.score >= 3.5),
        key=lambda r: (r.timestamp, r.movie_id),
        reverse=True,
    )
    assert store.recent_liked(1, 10).tolist() == [r.movie_id for r in liked[:10]]
    assert len(store.recent_liked(1, 10_000)) == len(liked)


def test_co_occurring(store: OnlineStore, snapshot: Snapshot) -> None:
    ids = store.co_occurring(1, 10)
    assert ids.dtype == np.int64 and len(ids) == 10 and 1 not in ids.tolist()
    counts = snapshot.cooc.get(1, "count")
    assert list(counts) == sorted(counts, reverse=True)
    assert len(store.co_occurring(1, 1000)) <= 50


def test_embeddings(store: OnlineStore, small_build: Path) -> None:
    assert store.embedding_methods() == ["item2vec"]
    ids, vectors = store.item_vectors("item2vec")
    saved = load_items(small_build, "item2vec")
    assert ids.dtype == np.int64 and vectors.dtype == np.float32
    assert np.array_equal(ids, saved.ids) and np.array_equal(vectors, saved.vectors)
    user = store.user(1)
    assert user is not None
    row = {int(i): n for n, i in enumerate(ids)}
    liked = [row[r.movie_id] for r in user.ratings if r.score >= 3.5 and r.movie_id in row]
    vector = store.user_vector("item2vec", 1)
    assert vector is not None and vector.dtype == np.float32 and vector.shape == (64,)
    np.testing.assert_allclose(vector, vectors[liked].mean(axis=0), rtol=1e-5, atol=1e-6)


def test_ping(store: OnlineStore) -> None:
    assert store.ping() is True


def test_both_backends_give_identical_answers(stores: dict[str, OnlineStore]) -> None:
    memory, red = stores["memory"], stores["redis"]
    ids = [*range(1, 700), 99_999_999]
    assert memory.movies(ids) == red.movies(ids)
    assert memory.movie_features(ids).equals(red.movie_features(ids))
    for user_id in [*range(1, 611, 7), 610, 611]:
        assert memory.user(user_id) == red.user(user_id)
        assert memory.user_features(user_id).equals(red.user_features(user_id))
        assert np.array_equal(memory.rated(user_id), red.rated(user_id))
        assert np.array_equal(memory.recent_liked(user_id, 20), red.recent_liked(user_id, 20))
        a, b = memory.user_vector("item2vec", user_id), red.user_vector("item2vec", user_id)
        assert (a is None and b is None) or (
            a is not None and b is not None and a.tobytes() == b.tobytes()
        )
    for movie_id in range(1, 400):
        assert np.array_equal(memory.co_occurring(movie_id, 50), red.co_occurring(movie_id, 50))
    for genre in [None, *memory.genres()]:
        for sort_by in SORT_BYS:
            assert memory.top_movies(genre, sort_by, 100) == red.top_movies(genre, sort_by, 100)  # type: ignore[arg-type]
    assert memory.genres() == red.genres()
    assert memory.embedding_methods() == red.embedding_methods()
    for x, y in zip(memory.item_vectors("item2vec"), red.item_vectors("item2vec"), strict=True):
        assert x.dtype == y.dtype and x.tobytes() == y.tobytes()


# --- Redis only ---------------------------------------------------------------------------


def _version_keys(url: str, prefix: str, version: str) -> int:
    client = redis.Redis.from_url(url)
    return sum(
        1 for _ in client.scan_iter(match=redis_keys.Keys(prefix, version).pattern, count=1000)
    )


def _renamed(snapshot: Snapshot, n: int) -> Snapshot:
    return dataclasses.replace(snapshot, version=f"{snapshot.version}-{n}")


def test_push_switches_and_keeps_only_the_previous_version(
    snapshot: Snapshot, redis_url: str, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = redis.Redis.from_url(redis_url)
    v1 = push_snapshot(client, _renamed(snapshot, 1), prefix)
    first = RedisStore(redis_url, prefix)
    keys_v1 = _version_keys(redis_url, prefix, v1)
    assert first.version() == v1 and keys_v1 == first.meta.counts["keys"]
    seen: list[bytes | None] = []
    verify = push_module._verify

    def spy(c: redis.Redis, written: list[str]) -> None:  # every key of v2 is written by now
        seen.append(c.get(redis_keys.active_key(prefix)))
        verify(c, written)

    monkeypatch.setattr(push_module, "_verify", spy)
    v2 = push_snapshot(client, _renamed(snapshot, 2), prefix)
    assert seen == [v1.encode()]  # the switch comes only after every key is written
    assert client.get(redis_keys.active_key(prefix)) == v2.encode()
    assert _version_keys(redis_url, prefix, v1) == keys_v1  # kept for rollback
    assert first.version() == v1 and first.movies([1])[0] is not None  # still serving v1
    v3 = push_snapshot(client, _renamed(snapshot, 3), prefix)
    assert {v.decode() for v in client.smembers(redis_keys.versions_key(prefix))} == {v2, v3}
    assert _version_keys(redis_url, prefix, v1) == 0
    assert _version_keys(redis_url, prefix, v2) == keys_v1
    assert first.reload() == v3 and first.movies([1])[0] is not None


def test_a_corrupt_build_fails_before_writing(
    small_build: Path, snapshot: Snapshot, redis_url: str, prefix: str, tmp_path: Path
) -> None:
    v1 = push_snapshot(redis.Redis.from_url(redis_url), snapshot, prefix)
    broken = tmp_path / "broken"
    shutil.copytree(small_build, broken)
    (broken / "embeddings/item2vec/items.parquet").write_bytes(b"PAR1 not a parquet file")
    with pytest.raises(DataError, match=r"items\.parquet"):
        push(broken, redis_url, prefix, progress=False)
    store = RedisStore(redis_url, prefix)
    assert store.version() == v1 and store.movies([1])[0] is not None
    client = redis.Redis.from_url(redis_url)
    assert {v.decode() for v in client.smembers(redis_keys.versions_key(prefix))} == {v1}


def test_a_push_failing_midway_is_deleted_and_the_old_version_serves(
    small_build: Path, snapshot: Snapshot
) -> None:
    with redis_server("--maxmemory-policy", "noeviction") as (url, _):
        client = redis.Redis.from_url(url)
        v1 = push_snapshot(client, snapshot, "sparrow")
        keys_v1 = _version_keys(url, "sparrow", v1)
        client.config_set("maxmemory", client.info("memory")["used_memory"] + (3 << 20))
        with pytest.raises(BuildError, match=r"push to .* failed: .*memory"):
            push(small_build, url, "sparrow", progress=False)  # runs out of memory midway
        client.config_set("maxmemory", 0)
        assert client.get(redis_keys.active_key("sparrow")) == v1.encode()
        assert {v.decode() for v in client.smembers(redis_keys.versions_key("sparrow"))} == {v1}
        assert client.dbsize() == keys_v1 + 2  # v1's keys, active, versions (no lock left)
        assert RedisStore(url, "sparrow").movies([1])[0] is not None


def test_an_outage_is_quick_to_surface(snapshot: Snapshot) -> None:
    with redis_server() as (url, _):
        push_snapshot(redis.Redis.from_url(url), snapshot, "sparrow")
        store = RedisStore(url, "sparrow")
        assert store.ping() is True
    start = time.perf_counter()
    assert store.ping() is False
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        store.movies([1])
    with pytest.raises((redis.ConnectionError, redis.TimeoutError)):
        RedisStore(url, "sparrow")
    assert time.perf_counter() - start < 1.0


def test_nothing_pushed_is_a_clear_error(redis_url: str, prefix: str) -> None:
    with pytest.raises(DataError, match=r"no version pushed .* run sparrow store push"):
        RedisStore(redis_url, prefix)


def test_cli_push_and_info(small_build: Path, redis_url: str, prefix: str) -> None:
    runner = CliRunner()
    args: list[Any] = ["--redis-url", redis_url, "--prefix", prefix]
    result = runner.invoke(store_app, ["push", "--build", str(small_build), *args])
    assert result.exit_code == 0, result.output
    version = RedisStore(redis_url, prefix).version()
    assert version in result.output and "movies" in result.output
    result = runner.invoke(store_app, ["info", *args])
    assert result.exit_code == 0 and f"active: {version}" in result.output
    dead = runner.invoke(
        store_app,
        ["push", "--build", str(small_build), "--redis-url", f"redis://127.0.0.1:{free_port()}/0"],
    )
    assert isinstance(dead.exception, ConfigError) and "cannot reach Redis" in str(dead.exception)


@pytest.mark.parametrize("user_id", [1, 414, -1])
def test_a_profile_is_the_user_reads_at_once(store: OnlineStore, user_id: int) -> None:
    for method, recent in 2 * (("item2vec", 5), (None, 3), ("no-such-method", 0)):  # 2: cached
        found = store.profile(user_id, method, recent)
        assert found.rated.tolist() == store.rated(user_id).tolist()
        assert found.recent_liked.tolist() == store.recent_liked(user_id, recent).tolist()
        assert found.features.equals(store.user_features(user_id))
        vector = None if method is None else store.user_vector(method, user_id)
        assert (found.vector is None) == (vector is None)
        if vector is not None:
            assert found.vector is not None and found.vector.tolist() == vector.tolist()
