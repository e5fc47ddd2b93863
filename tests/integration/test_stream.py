"""The stream processor end to end: events in a file log or a Redis Stream -> the memory and
Redis stores' read API; crashes between the store write and the commit; dead letters.

Redis: the shared Redis at 6379 or a private redis-server (the fixtures of the store contract
suite), under unique prefixes deleted at teardown.
"""

import json
import random
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import redis
from tests.services import any_redis, delete_prefix

from sparrow.artifacts.schema import USER_FEATURE_COLUMNS
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.embedding.pipeline import embed_items
from sparrow.features.online import MAX_EVENT_IDS, features, user_vector
from sparrow.features.pipeline import build
from sparrow.store.memory_store import MemoryStore
from sparrow.store.push import push_snapshot
from sparrow.store.redis_store import RedisStore
from sparrow.store.snapshot import Snapshot, load
from sparrow.stream.file_log import FileLog
from sparrow.stream.redis_log import RedisLog, add_events
from sparrow.stream.runner import Processor, catalogue, run

NEW_USER = 900_001


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with any_redis() as url:
        yield url


@pytest.fixture(scope="module")
def snapshot(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    out = tmp_path_factory.mktemp("stream") / "build"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    embed_items(out, "item2vec", EmbeddingSettings(epochs=1, workers=1))
    return load(out)


@pytest.fixture
def redis_store(snapshot: Snapshot, redis_url: str) -> Iterator[RedisStore]:
    prefix = f"sparrow-test-{uuid.uuid4().hex[:12]}"
    push_snapshot(redis.Redis.from_url(redis_url), snapshot, prefix)
    yield RedisStore(redis_url, prefix)
    delete_prefix(redis_url, prefix)


@pytest.fixture
def stores(snapshot: Snapshot, redis_store: RedisStore) -> dict[str, Any]:
    return {"memory": MemoryStore(snapshot), "redis": redis_store}


def record(
    i: int, user: int, movie: int, rating: float | None, ts: int, kind: str = "rating"
) -> dict[str, Any]:
    return {
        "id": f"ev-{i}",
        "type": kind,
        "userId": user,
        "movieId": movie,
        "rating": rating,
        "timestamp": ts,
        "receivedAt": ts + 0.5,
    }


def write_lines(path: Path, lines: list[Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        for line in lines:
            out.write((line if isinstance(line, str) else json.dumps(line)) + "\n")


def unrated(store: Any, user: int, snapshot: Snapshot, n: int) -> list[int]:
    seen = set(store.rated(user).tolist())
    vectors = set(snapshot.items["item2vec"].ids.tolist())
    return [m for m in snapshot.movie_ids.tolist() if m not in seen and m in vectors][:n]


def run_once(store: Any, log: Any, snapshot: Snapshot) -> Any:
    vectors, movies = catalogue(store)
    return run(store, log, vectors, movies, snapshot.definitions, batch=64, once=True)


def test_first_states_continue_the_offline_features(snapshot: Snapshot) -> None:
    store = MemoryStore(snapshot)
    vectors, movies = catalogue(store)
    users = snapshot.ratings.ids.tolist()
    states = Processor(store, vectors, movies, snapshot.definitions).initial(users)
    assert len(states) == len(users) == 610
    for user, state in states.items():
        assert features(state) == store.user_features(user).to_pylist()[0]
        assert state.liked == store.recent_liked(user, 10**6).tolist()
        assert state.rated == store.rated(user).tolist()
        offline, online = store.user_vector("item2vec", user), user_vector(state, "item2vec")
        assert (offline is None) == (online is None)
        if offline is not None and online is not None:
            np.testing.assert_allclose(online, offline, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_file_log_events_reach_the_read_api(
    kind: str, stores: dict[str, Any], tmp_path: Path, snapshot: Snapshot
) -> None:
    store = stores[kind]
    a, b = unrated(store, 1, snapshot, 2)
    path = tmp_path / "events" / "events.log"
    write_lines(
        path,
        [
            record(1, 1, a, 5.0, 2_000_000_000),
            record(2, 1, b, 1.0, 2_000_000_001),
            "{not json",
            record(3, 1, b, None, 2_000_000_002, "click"),
            {"type": "rating", "userId": 1, "movieId": a},
            record(4, NEW_USER, a, 4.0, 2_000_000_003),
        ],
    )
    stats = run_once(store, FileLog(path), snapshot)
    assert (stats.events, stats.dead) == (4, 2)
    row = store.user_features(1).to_pylist()[0]
    assert list(row) == list(USER_FEATURE_COLUMNS)
    assert row["userRatedMovie1"] == a and row["userRatingCount"] == 100
    assert store.recent_liked(1, 1).tolist() == [a]
    assert store.rated(1).tolist()[-2:] == [a, b]
    state = store.get_states([1])[1]
    assert (state.latest_movie, state.events) == (b, 3)
    assert np.allclose(store.user_vector("item2vec", 1), user_vector(state, "item2vec"))
    item = dict(
        zip(
            snapshot.items["item2vec"].ids.tolist(), snapshot.items["item2vec"].vectors, strict=True
        )
    )[a]
    assert store.user_features(NEW_USER).to_pylist()[0]["userRatedMovie1"] == a
    assert store.rated(NEW_USER).tolist() == [a] == store.recent_liked(NEW_USER, 5).tolist()
    np.testing.assert_allclose(store.user_vector("item2vec", NEW_USER), item, rtol=1e-6)
    dead = [json.loads(line) for line in path.with_name("events.log.dead").read_text().splitlines()]
    assert next(d["line"] for d in dead) == "{not json" and len(dead) == 2
    log = FileLog(path)
    assert log.lag() == 0 and run_once(store, log, snapshot).events == 0


def test_a_batch_fits_in_the_event_ids_a_state_keeps(snapshot: Snapshot, tmp_path: Path) -> None:
    store, log = MemoryStore(snapshot), FileLog(tmp_path / "events.log")
    for batch in (0, MAX_EVENT_IDS + 1):
        with pytest.raises(ValueError, match="batch must be"):
            run(store, log, {}, {}, snapshot.definitions, batch=batch, once=True)
    assert (
        run(store, log, {}, {}, snapshot.definitions, batch=MAX_EVENT_IDS, once=True).batches == 0
    )


def synthetic(n: int, seed: int, snapshot: Snapshot) -> list[dict[str, Any]]:
    """`n` events of 200 users (some new), with duplicates of earlier ids (client retries)."""
    rng = random.Random(seed)
    users = [*rng.sample(snapshot.ratings.ids.tolist(), 190), *range(NEW_USER, NEW_USER + 10)]
    movies = snapshot.movie_ids.tolist()
    out: list[dict[str, Any]] = []
    for i in range(n):
        if out and rng.random() < 0.02:
            out.append(rng.choice(out))
            continue
        kind = rng.choice(["rating"] * 8 + ["click", "view"])
        rating = rng.randint(1, 10) / 2 if kind == "rating" else None
        out.append(
            record(
                i,
                rng.choice(users),
                rng.choice(movies),
                rating,
                1_600_000_000 + i * 7 + rng.randint(0, 50),
                kind,
            )
        )
    return out


class CrashError(Exception):
    pass


class Crashing:
    """A store that raises after `writes` successful put_states (before the commit) or, when
    `before`, instead of the put."""

    def __init__(self, store: Any, writes: int, before: bool) -> None:
        self.store, self.writes, self.before = store, writes, before

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def put_states(self, states: dict[int, Any]) -> None:
        if self.writes == 0 and self.before:
            raise CrashError
        self.store.put_states(states)
        self.writes -= 1
        if self.writes < 0:
            raise CrashError


def crash_until_done(store: Any, make_log: Any, snapshot: Snapshot, seed: int) -> int:
    rng, crashes = random.Random(seed), 0
    vectors, movies = catalogue(store)
    while True:
        flaky = Crashing(store, rng.randint(0, 25), rng.random() < 0.3)
        try:
            run(
                flaky, make_log(crashes), vectors, movies, snapshot.definitions, batch=97, once=True
            )
            return crashes
        except CrashError:
            crashes += 1
            if crashes > 30:  # then run clean to the end
                run(store, make_log(crashes), vectors, movies, snapshot.definitions, once=True)
                return crashes


def states_of(store: Any, users: list[int]) -> dict[int, Any]:
    return {u: s.to_dict() for u, s in store.get_states(users).items()}


def test_crashes_and_replays_give_the_clean_pass(
    snapshot: Snapshot, redis_store: RedisStore, tmp_path: Path
) -> None:
    events = synthetic(10_000, 3, snapshot)
    users = sorted({e["userId"] for e in events})
    clean = MemoryStore(snapshot)
    write_lines(tmp_path / "clean.log", events)
    stats = run_once(clean, FileLog(tmp_path / "clean.log"), snapshot)
    assert stats.events == 10_000
    expected = states_of(clean, users)
    assert sum(s["n"] for s in expected.values()) == len({e["id"] for e in events})

    crashy = MemoryStore(snapshot)
    write_lines(tmp_path / "crashy.log", events)
    crashes = crash_until_done(crashy, lambda _: FileLog(tmp_path / "crashy.log"), snapshot, 1)
    assert crashes >= 3
    assert states_of(crashy, users) == expected

    stream = f"{redis_store.prefix}:events"
    add_events(redis_store.client, stream, events)
    url = redis_store.url
    crashes = crash_until_done(
        redis_store,
        lambda i: RedisLog(url, stream, "g", consumer=f"c{i % 2}", claim_idle_ms=0),
        snapshot,
        2,
    )
    assert crashes >= 3
    assert states_of(redis_store, users) == expected
    for user in users[::10]:
        assert redis_store.user_features(user) == clean.user_features(user)
        assert redis_store.recent_liked(user, 50).tolist() == clean.recent_liked(user, 50).tolist()
        assert redis_store.rated(user).tolist() == clean.rated(user).tolist()
        np.testing.assert_array_equal(
            redis_store.user_vector("item2vec", user), clean.user_vector("item2vec", user)
        )
    assert RedisLog(url, stream, "g").lag() == 0


def test_redis_stream_dead_letters(redis_store: RedisStore, snapshot: Snapshot) -> None:
    stream = f"{redis_store.prefix}:events"
    (a,) = unrated(redis_store, 5, snapshot, 1)
    add_events(redis_store.client, stream, [record(1, 5, a, 4.5, 2_000_000_000)])
    redis_store.client.xadd(stream, {"event": b"\xff not json"})
    redis_store.client.xadd(stream, {"other": "field"})
    log = RedisLog(redis_store.url, stream, "g")
    stats = run_once(redis_store, log, snapshot)
    assert (stats.events, stats.dead) == (1, 2)
    assert redis_store.recent_liked(5, 1).tolist() == [a]
    dead = redis_store.client.xrange(f"{stream}:dead")
    assert [d[1][b"reason"].decode()[:8] for d in dead] == ["not JSON", "no event"]
    assert log.lag() == 0
    assert redis_store.client.xpending(stream, "g")["pending"] == 0
