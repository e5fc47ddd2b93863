"""Sustained events/s of the embedded stream runner (ml-latest-small build) into the memory
store and into Redis, from a file log and from a Redis Stream.

    .venv/bin/python bench/stream.py [--events 50000] [--batch 500] [--redis-url URL]

Writes bench/results/stream.json and prints a table.
"""

import argparse
import json
import random
import time
import uuid
from pathlib import Path
from typing import Any

import redis

from common import CACHE, REPO, SMALL
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.store.memory_store import MemoryStore
from sparrow.store.push import push_snapshot
from sparrow.store.redis_store import RedisStore
from sparrow.store.snapshot import Snapshot, load
from sparrow.stream.log import EventLog, FileLog, RedisLog, add_events
from sparrow.stream.runner import Store, catalogue, run


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
        out.append({"id": uuid.uuid4().hex, "type": kind, "userId": rng.choice(users),
                    "movieId": rng.choice(movies),
                    "rating": rng.randint(1, 10) / 2 if kind == "rating" else None,
                    "timestamp": 1_700_000_000 + i, "receivedAt": 1_700_000_000.5 + i})  # fmt: skip
    return out


def measure(store: Store, log: EventLog, threshold: float, batch: int) -> dict[str, float]:
    vectors, movies = catalogue(store)
    start = time.perf_counter()
    stats = run(store, log, vectors, movies, threshold, batch=batch, once=True)
    seconds = time.perf_counter() - start
    return {"events": stats.events, "seconds": round(seconds, 3),
            "events_per_s": round(stats.events / seconds)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    snapshot = load(small_build())
    records = events(args.events, snapshot)
    folder = CACHE / f"stream-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    (folder / "events.log").write_text("".join(json.dumps(r) + "\n" for r in records))
    results: dict[str, dict[str, float]] = {}
    results["memory, file log"] = measure(MemoryStore(snapshot), FileLog(folder / "events.log"),
                                          snapshot.threshold, args.batch)  # fmt: skip
    client = redis.Redis.from_url(args.redis_url)
    prefix = f"sparrow-bench-{uuid.uuid4().hex[:8]}"
    try:
        push_snapshot(client, snapshot, prefix)
        store = RedisStore(args.redis_url, prefix, timeout=10.0)
        (folder / "events.log.offset").unlink()
        results["redis, file log"] = measure(store, FileLog(folder / "events.log"),
                                             snapshot.threshold, args.batch)  # fmt: skip
        stream = f"{prefix}:events"
        add_events(client, stream, records)
        results["redis, redis stream (replay: all ids seen)"] = measure(
            store, RedisLog(args.redis_url, stream, "bench"), snapshot.threshold, args.batch
        )
        push_snapshot(client, snapshot, prefix + "-fresh")  # a fresh version: no states yet
        fresh = RedisStore(args.redis_url, prefix + "-fresh", timeout=10.0)
        results["redis, redis stream"] = measure(
            fresh, RedisLog(args.redis_url, stream, "bench2"), snapshot.threshold, args.batch
        )
    finally:
        keys = list(client.scan_iter(match=f"{prefix}*", count=1000))
        for i in range(0, len(keys), 1000):
            client.unlink(*keys[i : i + 1000])
    out = {"events": args.events, "batch": args.batch, "users": len(snapshot.ratings.ids),
           "results": results}  # fmt: skip
    path = REPO / "bench" / "results" / "stream.json"
    path.write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'path':<46} {'events/s':>10} {'seconds':>8}")
    for name, r in results.items():
        print(f"{name:<46} {r['events_per_s']:>10,.0f} {r['seconds']:>8.2f}")


if __name__ == "__main__":
    main()
