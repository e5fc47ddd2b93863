"""Sustained events/s of the stream runners (ml-latest-small build): the embedded one into the
memory store and into Redis, from a file log and from a Redis Stream, and the Flink job; then the
end-to-end freshness through `sparrow serve` on both stores.

    .venv/bin/python bench/stream.py [--events 50000] [--batch 1000] [--redis-url URL]
        [--freshness-trials 200]

Writes bench/results/stream.json and prints a table.
"""

import argparse
import json
import os
import random
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import redis

from common import CACHE, REPO, SMALL
from sparrow.artifacts.schema import Definitions
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.store.base import UpdatableStore
from sparrow.store.memory_store import MemoryStore
from sparrow.store.push import push, push_snapshot
from sparrow.store.redis_store import RedisStore
from sparrow.store.snapshot import Snapshot, load
from sparrow.stream.file_log import FileLog
from sparrow.stream.log import EventLog
from sparrow.stream.redis_log import RedisLog, add_events
from sparrow.stream.runner import catalogue, run


def small_build() -> Path:
    out = CACHE / "stream-build"
    if not (out / "embeddings" / "item2vec" / "items.parquet").is_file():
        from sparrow.embedding.pipeline import embed_items
        from sparrow.features.pipeline import build

        build(SMALL, out, FeatureSettings(), progress=False)
        embed_items(out, "item2vec", EmbeddingSettings(epochs=1, workers=1))
    return out


def events(n: int, snapshot: Snapshot, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    users, movies = snapshot.ratings.ids.tolist(), snapshot.movie_ids.tolist()
    out = []
    for i in range(n):
        kind = "rating" if rng.random() < 0.8 else rng.choice(["click", "view"])
        out.append(
            {
                "id": uuid.uuid4().hex,
                "type": kind,
                "userId": rng.choice(users),
                "movieId": rng.choice(movies),
                "rating": rng.randint(1, 10) / 2 if kind == "rating" else None,
                "timestamp": 1_700_000_000 + i,
                "receivedAt": 1_700_000_000.5 + i,
            }
        )
    return out


def measure(
    store: UpdatableStore, log: EventLog, definitions: Definitions, batch: int
) -> dict[str, float]:
    vectors, movies = catalogue(store)
    start = time.perf_counter()
    stats = run(store, log, vectors, movies, definitions, batch=batch, once=True)
    seconds = time.perf_counter() - start
    return {
        "events": stats.events,
        "seconds": round(seconds, 3),
        "events_per_s": round(stats.events / seconds),
    }


def measure_flink(
    client: "redis.Redis", url: str, snapshot: Snapshot, log: Path, prefix: str
) -> dict[str, float]:
    """The Flink job (local mini-cluster, `make flink-env`) on `log` into a fresh version under
    `prefix`; its start-up (a job on an empty log) is measured apart."""
    from sparrow.stream.flink_launch import flink_python, job_command, run_job

    python, empty = flink_python(), log.with_name("empty.log")
    empty.touch()
    push_snapshot(client, snapshot, prefix)
    seconds = []
    for path in (empty, log):
        args = [
            "--events",
            str(path),
            "--threshold",
            str(snapshot.definitions.positive_threshold),
            "--history",
            str(snapshot.definitions.history),
            "--redis-url",
            url,
            "--prefix",
            prefix,
        ]
        start = time.perf_counter()
        if run_job(job_command(python, args)) != 0:
            raise SystemExit(f"the Flink job failed on {path}")
        seconds.append(time.perf_counter() - start)
    events = sum(1 for _ in log.open("rb"))
    return {
        "events": events,
        "seconds": round(seconds[1], 3),
        "events_per_s": round(events / seconds[1]),
        "startup_s": round(seconds[0], 3),
        "events_per_s_after_startup": round(events / (seconds[1] - seconds[0])),
    }


def freshness(store: str, trials: int, redis_url: str) -> dict[str, float]:
    """Event accepted (202) -> the first `/getrecforyou` answer that reflects it, through
    `sparrow serve` and its in-service processor: a user's top recommendation is rated 5 stars,
    then the list is asked for again until that movie has left it (rated movies are filtered
    out). Each request waits for the previous answer (one client)."""
    from serve import REC, SPARROW, serving_build, started

    build = serving_build(CACHE)
    prefix, extra = f"sparrow-fresh-{uuid.uuid4().hex[:8]}", []
    if store == "redis":
        push(build, redis_url, prefix, progress=False)
        extra = ["--store", "redis", "--redis-url", redis_url]
    command = [
        SPARROW,
        "serve",
        "--build",
        str(build),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        *extra,
    ]
    os.environ["SPARROW_STORE__PREFIX"] = prefix
    users = random.Random(1).sample(sorted(load(build).ratings.ids.tolist()), trials)
    seconds = []
    try:
        shutil.rmtree(build / "events", ignore_errors=True)  # the memory store replays the log
        ready = lambda port: httpx.get(f"http://127.0.0.1:{port}/healthz").raise_for_status()  # noqa: E731
        with (
            started(command, CACHE / f"fresh-{store}.log", ready) as port,
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client,
        ):
            for user in users:
                params = {"id": user, "size": 10}
                movie = client.get(REC, params=params).json()[0]["movieId"]
                event = {"type": "rating", "userId": user, "movieId": movie, "rating": 5.0}
                client.post("/events", json=event).raise_for_status()
                accepted = time.perf_counter()
                while movie in {m["movieId"] for m in client.get(REC, params=params).json()}:
                    pass
                seconds.append(time.perf_counter() - accepted)
    finally:
        del os.environ["SPARROW_STORE__PREFIX"]
        shutil.rmtree(build / "events", ignore_errors=True)
        if store == "redis":
            delete_keys(redis.Redis.from_url(redis_url), prefix)
    ms = np.array(seconds) * 1000
    return {
        "trials": trials,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def delete_keys(client: "redis.Redis", prefix: str) -> None:
    keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
    for i in range(0, len(keys), 1000):
        client.unlink(*keys[i : i + 1000])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument(
        "--freshness-trials", type=int, default=200, help="ratings timed through the service"
    )
    args = parser.parse_args()
    snapshot = load(small_build())
    records = events(args.events, snapshot)
    folder = CACHE / f"stream-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / "events.log").write_text("".join(json.dumps(r) + "\n" for r in records))
    results: dict[str, dict[str, float]] = {}
    results["memory, file log"] = measure(
        MemoryStore(snapshot), FileLog(folder / "events.log"), snapshot.definitions, args.batch
    )
    client = redis.Redis.from_url(args.redis_url)
    prefix = f"sparrow-bench-{uuid.uuid4().hex[:8]}"
    try:
        push_snapshot(client, snapshot, prefix)
        store = RedisStore(args.redis_url, prefix, timeout=10.0)
        (folder / "events.log.offset").unlink()
        results["redis, file log"] = measure(
            store, FileLog(folder / "events.log"), snapshot.definitions, args.batch
        )
        stream = f"{prefix}:events"
        add_events(client, stream, records)
        results["redis, redis stream (replay: all ids seen)"] = measure(
            store, RedisLog(args.redis_url, stream, "bench"), snapshot.definitions, args.batch
        )
        push_snapshot(client, snapshot, prefix + "-fresh")  # a fresh version: no states yet
        fresh = RedisStore(args.redis_url, prefix + "-fresh", timeout=10.0)
        results["redis, redis stream"] = measure(
            fresh, RedisLog(args.redis_url, stream, "bench2"), snapshot.definitions, args.batch
        )
        results["flink, redis store, file log"] = measure_flink(
            client, args.redis_url, snapshot, folder / "events.log", prefix + "-flink"
        )
    finally:
        delete_keys(client, prefix)
    visible = {s: freshness(s, args.freshness_trials, args.redis_url) for s in ("memory", "redis")}
    out = {
        "events": args.events,
        "batch": args.batch,
        "users": len(snapshot.ratings.ids),
        "results": results,
        "freshness": visible,
    }
    path = REPO / "bench" / "results" / "stream.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'path':<46} {'events/s':>10} {'seconds':>8}")
    for name, r in results.items():
        print(f"{name:<46} {r['events_per_s']:>10,.0f} {r['seconds']:>8.2f}")
    print(f"\n{'freshness (event accepted -> visible)':<46} {'p50 ms':>10} {'p99 ms':>8}")
    for name, f in visible.items():
        print(f"{'sparrow serve, ' + name + ' store':<46} {f['p50_ms']:>10.1f} {f['p99_ms']:>8.1f}")


if __name__ == "__main__":
    main()
