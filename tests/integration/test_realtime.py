"""The real-time loop through `sparrow serve`: POST /events -> the event log (the build's file
with the memory store, a Redis Stream with Redis) -> the stream processor inside the service ->
`/getrecforyou` follows what the user just rated; `/metrics` and `/healthz` tell the outcome
of each event and the processor's lag."""

import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.services import any_redis, delete_prefix
from tests.serving_fixtures import serving

from sparrow.store.push import push

NEW_USER = 900_001
WAIT_S = 15.0  # generous: the service applies an event within a second (bench/stream.py)
COLD_CHANNELS = {"popularity", "top_rated"}


@pytest.fixture
def build(serving_build: Path, tmp_path: Path) -> Path:
    """A copy of the serving build: the events posted here stay out of the other tests."""
    copy = tmp_path / "build"
    shutil.copytree(serving_build, copy, ignore=shutil.ignore_patterns("events"))
    return copy


def recommended(client: httpx.Client, user: int) -> list[dict[str, Any]]:
    response = client.get("/getrecforyou", params={"id": user, "size": 50, "model": "deepfm"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()
    return items


def metric(client: httpx.Client, name: str) -> float:
    lines = [x for x in client.get("/metrics").text.splitlines() if x.startswith(name)]
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines)


def rate(client: httpx.Client, user: int, movies: list[int]) -> None:
    for movie in movies:
        event = {"type": "rating", "userId": user, "movieId": movie, "rating": 5.0}
        response = client.post("/events", json=event)
        assert response.status_code == 202, response.text


def reflected(client: httpx.Client, user: int, rated: list[int]) -> list[dict[str, Any]]:
    """The user's recommendations once they follow the ratings: the rated movies are gone and
    their neighbours are recalled (fails after WAIT_S)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        items = recommended(client, user)
        ids = {m["movieId"] for m in items}
        channels = {c for m in items for c in m["recallChannels"]}
        if not ids & set(rated) and "recent_liked" in channels:
            return items
        assert time.monotonic() < deadline, f"not reflected after {WAIT_S} s: {channels}"
        time.sleep(0.05)


def check_loop(client: httpx.Client) -> list[int]:
    """A new user rates three of their (popular) recommendations; answers the rated movies."""
    before = recommended(client, NEW_USER)
    assert {c for m in before for c in m["recallChannels"]} <= COLD_CHANNELS
    rated = [m["movieId"] for m in before[:3]]
    rate(client, NEW_USER, rated)
    after = reflected(client, NEW_USER, rated)
    assert {m["rankedBy"] for m in after} == {"deepfm"}
    invalid = client.post("/events", json={"type": "rating", "userId": 1, "movieId": 1})
    assert invalid.status_code == 422
    assert metric(client, 'sparrow_events_total{outcome="accepted"}') == 3
    assert metric(client, 'sparrow_events_total{outcome="invalid"}') == 1
    assert metric(client, "sparrow_stream_lag") == 0
    health = client.get("/healthz").json()
    assert health["stream"] == {"running": True, "lag": 0, "error": None}
    return rated


def test_the_memory_service_applies_its_events(build: Path, tmp_path: Path) -> None:
    with serving(build, tmp_path / "serve.log") as url, httpx.Client(base_url=url) as client:
        rated = check_loop(client)
    log = (build / "events" / "events.log").read_text().splitlines()
    assert len(log) == 3 and not (build / "events" / "events.log.offset").exists()
    # a restart starts from the build again and re-applies the log
    with serving(build, tmp_path / "again.log") as url, httpx.Client(base_url=url) as client:
        reflected(client, NEW_USER, rated)


def test_the_redis_service_applies_its_events(build: Path, tmp_path: Path) -> None:
    prefix = f"sparrow-rt-{uuid.uuid4().hex[:10]}"
    with any_redis() as redis_url:
        push(build, redis_url, prefix, progress=False)
        env = {"SPARROW_STORE__PREFIX": prefix}
        args = ("--store", "redis", "--redis-url", redis_url)
        try:
            with (
                serving(build, tmp_path / "serve.log", *args, env=env) as url,
                httpx.Client(base_url=url) as client,
            ):
                check_loop(client)  # also: the user's cached profile followed the ratings
                misses = metric(client, 'sparrow_profile_cache_total{result="miss"}')
                for _ in range(3):
                    recommended(client, NEW_USER)
                assert metric(client, 'sparrow_profile_cache_total{result="hit"}') >= 2
                assert metric(client, 'sparrow_profile_cache_total{result="miss"}') <= misses + 1
            assert not (build / "events").exists()  # the events went to the Redis Stream
        finally:
            delete_prefix(redis_url, prefix)


def test_no_stream_leaves_the_events_to_a_separate_processor(build: Path, tmp_path: Path) -> None:
    with (
        serving(build, tmp_path / "serve.log", "--no-stream") as url,
        httpx.Client(base_url=url) as client,
    ):
        rate(client, NEW_USER, [1])
        assert client.get("/healthz").json()["stream"] is None
        time.sleep(1.0)
        assert {c for m in recommended(client, NEW_USER) for c in m["recallChannels"]} <= (
            COLD_CHANNELS
        )
