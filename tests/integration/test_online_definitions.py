"""Online features follow the build's definitions: a build of ml-latest-small with a 7-rating
user window and a 4-star like threshold keeps both after the stream's updates, on the memory and
the Redis store: every user's first state equals the offline online features, and after new
ratings the store holds what the offline definitions compute over the user's ratings then.

(The stream once hard-coded a 100-rating window and updated such a build's features over a
window the models never saw.)
"""

import json
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest
import redis
from tests.services import any_redis, delete_prefix

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.schema import Definitions
from sparrow.config import EmbeddingSettings, FeatureSettings, StoreSettings, StreamSettings
from sparrow.embedding.pipeline import embed_items
from sparrow.features import definitions as feature_definitions
from sparrow.features.online import features as online_features
from sparrow.features.passes import MovieAttributes
from sparrow.features.pipeline import build
from sparrow.plugins import load_backend
from sparrow.store.base import UpdatableStore
from sparrow.store.memory_store import MemoryStore
from sparrow.store.push import push_snapshot
from sparrow.store.redis_store import RedisStore
from sparrow.store.snapshot import Snapshot, load
from sparrow.stream.file_log import FileLog
from sparrow.stream.runner import Processor, catalogue, run

HISTORY, THRESHOLD = 7, 4.0
USERS = (1, 5, 68, 414, 900_001)  # long and short histories, and a user new to the build


@pytest.fixture(scope="module")
def built(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("definitions") / "build"
    build(
        ml_latest_small,
        out,
        FeatureSettings(history=HISTORY, positive_threshold=THRESHOLD),
        progress=False,
    )
    embed_items(out, "item2vec", EmbeddingSettings(epochs=1, workers=1))
    return out


@pytest.fixture(scope="module")
def snapshot(built: Path) -> Snapshot:
    found = load(built)
    assert found.definitions == Definitions(THRESHOLD, HISTORY)
    return found


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with any_redis() as url:
        yield url


@pytest.fixture
def stores(snapshot: Snapshot, redis_url: str) -> Iterator[dict[str, UpdatableStore]]:
    prefix = f"sparrow-test-{uuid.uuid4().hex[:12]}"
    push_snapshot(redis.Redis.from_url(redis_url), snapshot, prefix)
    yield {"memory": MemoryStore(snapshot), "redis": RedisStore(redis_url, prefix)}
    delete_prefix(redis_url, prefix)


def offline_row(store: UpdatableStore, built: Path, user: int, extra: list[tuple]) -> dict:
    """The user's online features by the offline definitions of the build: the catalogue's
    ratings and `extra` ones ((movie, rating, ts)), seen from after the last of them."""
    layout = BuildDir(built)
    manifest = layout.manifest()
    items = layout.read(layout.catalog("items"))
    found = store.user(user)
    ratings = [(r.movie_id, r.score, r.timestamp) for r in (found.ratings if found else [])]
    rows = sorted([*ratings, *extra], key=lambda r: (r[2], r[0]))
    now = max(ts for _, _, ts in rows) + 1
    table = pa.table(
        {
            "userId": pa.array([user] * (len(rows) + 1), pa.int32()),
            "movieId": pa.array([m for m, _, _ in rows] + [None], pa.int32()),
            "timestamp": pa.array([t for _, _, t in rows] + [now], pa.int64()),
            "rating": pa.array([r for _, r, _ in rows] + [None], pa.float32()),
        }
    )
    static = feature_definitions.item_features(items, manifest.genres)
    joined = MovieAttributes(static).join(table)
    out = feature_definitions.user_window_features(joined, manifest.genres, manifest.definitions)
    return {"userId": user, **{name: out[name][-1].as_py() for name in out.column_names}}


def new_ratings(snapshot: Snapshot, store: UpdatableStore, user: int) -> list[tuple]:
    """Ten ratings of movies the user has not rated, after the build's last rating."""
    rng = np.random.default_rng(user)
    seen = set(store.rated(user).tolist())
    movies = [m for m in snapshot.movie_ids.tolist() if m not in seen]
    picked = rng.choice(movies, 10, replace=False).tolist()
    stars = rng.integers(1, 11, 10) / 2
    return [
        (m, float(r), 1_700_000_000 + i) for i, (m, r) in enumerate(zip(picked, stars, strict=True))
    ]


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_first_states_use_the_builds_window(
    kind: str, stores: dict[str, UpdatableStore], snapshot: Snapshot
) -> None:
    store = stores[kind]
    vectors, movies = catalogue(store)
    users = snapshot.ratings.ids.tolist()
    states = Processor(store, vectors, movies, snapshot.definitions).initial(users)
    counts = []
    for user, state in states.items():
        row = store.user_features(user).to_pylist()[0]
        assert row == online_features(state)
        counts.append(row["userRatingCount"])
    assert max(counts) == HISTORY  # the window of the build, not the default 100


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_stream_updates_equal_the_offline_features(
    kind: str,
    stores: dict[str, UpdatableStore],
    snapshot: Snapshot,
    built: Path,
    tmp_path: Path,
) -> None:
    store = stores[kind]
    extra = {user: new_ratings(snapshot, store, user) for user in USERS}
    expected = {user: offline_row(store, built, user, rated) for user, rated in extra.items()}
    log = tmp_path / "events.log"
    lines = [
        {
            "id": f"{user}-{i}",
            "type": "rating",
            "userId": user,
            "movieId": movie,
            "rating": rating,
            "timestamp": ts,
        }
        for user, rated in extra.items()
        for i, (movie, rating, ts) in enumerate(rated)
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    vectors, movies = catalogue(store)
    definitions = BuildDir(built).manifest().definitions  # what every runner passes
    stats = run(store, FileLog(log), vectors, movies, definitions, once=True)
    assert stats.events == len(lines) and stats.dead == 0
    for user in USERS:
        row = store.user_features(user).to_pylist()[0]
        assert row == expected[user], user
        assert row["userRatingCount"] == HISTORY
        liked = [m for m, r, _ in sorted(extra[user], key=lambda x: -x[2]) if r >= THRESHOLD]
        assert store.recent_liked(user, len(liked)).tolist() == liked


def test_sparrow_stream_run_reads_the_builds_definitions(
    built: Path, snapshot: Snapshot, redis_url: str, tmp_path: Path
) -> None:
    """The embedded runner of `sparrow stream run`, into Redis, from the build's event file."""
    prefix = f"sparrow-test-{uuid.uuid4().hex[:12]}"
    push_snapshot(redis.Redis.from_url(redis_url), snapshot, prefix)
    try:
        store = RedisStore(redis_url, prefix)
        rated = new_ratings(snapshot, store, 1)
        expected = offline_row(store, built, 1, rated)
        events = [
            {
                "id": f"r{i}",
                "type": "rating",
                "userId": 1,
                "movieId": movie,
                "rating": rating,
                "timestamp": ts,
                "receivedAt": ts,
            }
            for i, (movie, rating, ts) in enumerate(rated)
        ]
        settings = StoreSettings(type="redis", redis_url=redis_url, prefix=prefix)
        load_backend("event_log", "file").open(built, settings).append(events)
        runner = load_backend("stream_runner", "embedded")(StreamSettings())
        summary: dict[str, Any] = runner.run(built, settings, True, threading.Event())
        assert summary["events"] == len(events) and summary["lag"] == 0
        assert store.user_features(1).to_pylist()[0] == expected
    finally:
        delete_prefix(redis_url, prefix)
        BuildDir(built).events_log.unlink(missing_ok=True)
        BuildDir(built).events_log.with_name("events.log.offset").unlink(missing_ok=True)
