"""The Flink runner against the embedded one: the same file log (replayed ids, re-ratings,
clicks, views, new users, malformed lines) into two Redis prefixes gives the same states,
feature rows, rated, liked and user vectors for every touched user.

Real services: the PyFlink local mini-cluster of `make flink-env` (.venv-flink), started by
`sparrow stream run --runner flink --once`, and Redis (the shared one or a private server).
"""

import json
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import redis
from tests.integration.test_stream import synthetic, write_lines
from tests.services import any_redis, delete_prefix

from sparrow.store.push import push_snapshot
from sparrow.store.redis_store import RedisStore
from sparrow.store.snapshot import Snapshot, load
from sparrow.stream.file_log import FileLog
from sparrow.stream.runner import catalogue, run

SPARROW = str(Path(sys.executable).parent / "sparrow")
MALFORMED = ["{not json", json.dumps({"type": "rating", "userId": 1, "movieId": 1})]


@pytest.fixture
def stores(serving_build: Path) -> Iterator[tuple[Snapshot, RedisStore, RedisStore]]:
    """The build's snapshot pushed under two fresh prefixes: embedded (A) and Flink (B)."""
    snapshot = load(serving_build)
    with any_redis() as url:
        prefixes = [f"sparrow-test-{uuid.uuid4().hex[:12]}" for _ in range(2)]
        for prefix in prefixes:
            push_snapshot(redis.Redis.from_url(url), snapshot, prefix)
        try:
            yield snapshot, RedisStore(url, prefixes[0]), RedisStore(url, prefixes[1])
        finally:
            for prefix in prefixes:
                delete_prefix(url, prefix)


def test_flink_job_writes_what_the_embedded_runner_writes(
    stores: tuple[Snapshot, RedisStore, RedisStore], serving_build: Path, tmp_path: Path
) -> None:
    snapshot, embedded, flink = stores
    events = synthetic(3_000, 7, snapshot)
    build = tmp_path / "build"  # the build's manifest (threshold) and an event log of its own
    build.mkdir()
    shutil.copy(serving_build / "manifest.json", build)
    log = build / "events" / "events.log"
    write_lines(log, [*events[:1_000], *MALFORMED, *events[1_000:], *events[:200]])

    vectors, movies = catalogue(embedded)
    stats = run(embedded, FileLog(log), vectors, movies, snapshot.definitions, once=True)
    assert (stats.events, stats.dead) == (3_200, 2)
    done = subprocess.run(
        [
            SPARROW,
            "stream",
            "run",
            "--build",
            str(build),
            "--store",
            "redis",
            "--runner",
            "flink",
            "--redis-url",
            embedded.url,
            "--prefix",
            flink.prefix,
            "--once",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    users = sorted({e["userId"] for e in events})
    expected, got = embedded.get_states(users), flink.get_states(users)
    assert sorted(got) == users == sorted(expected)
    assert sum(s.events for s in got.values()) == len({e["id"] for e in events})
    for user in users:
        assert got[user].to_dict() == expected[user].to_dict()
        assert flink.user_features(user) == embedded.user_features(user)
        assert flink.rated(user).tolist() == embedded.rated(user).tolist()
        assert (
            flink.recent_liked(user, 10**6).tolist() == embedded.recent_liked(user, 10**6).tolist()
        )
        np.testing.assert_array_equal(
            flink.user_vector("item2vec", user), embedded.user_vector("item2vec", user)
        )
    dead = [json.loads(line) for line in log.with_name("events.log.dead").read_text().splitlines()]
    assert sorted(d["line"] for d in dead) == sorted(MALFORMED * 2)  # each runner's two
