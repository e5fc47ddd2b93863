"""Embedding training time, walk speed, and index build time, speed and recall@10.

    python bench/embeddings.py                     # ml-latest-small and synthetic 5M: ~5 minutes
    python bench/embeddings.py --sizes small

For each dataset a feature build is made once (cached in --cache), then: each method's
`sparrow embed` (sentences and training time), DeepWalk and Node2vec walks per second, and for
the Item2vec vectors each index kind's build time, queries per second (one query at a time)
and recall@10 against exact search. Prints a table and writes JSON.
"""

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from common import CACHE, REPO, dataset
from sparrow.artifacts.vectors import load_items
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.embedding.corpus import METHODS
from sparrow.embedding.graph import TransitionGraph, deepwalk, node2vec
from sparrow.embedding.pipeline import embed_items
from sparrow.embedding.sequences import item_sequences, positive_history
from sparrow.features.pipeline import build
from sparrow.index.base import build_index, recall_at_k

QUERIES = 1000


def feature_build(size: str, cache: Path) -> Path:
    out = cache / f"build-{size}"
    if not (out / "manifest.json").is_file():
        build(dataset(size, cache), out, FeatureSettings(), progress=False)
    return out


def walk_speed(build_dir: Path, settings: EmbeddingSettings) -> dict[str, float]:
    graph = TransitionGraph.from_sequences(item_sequences(positive_history(build_dir)))
    deepwalk(graph, walks=10, length=2, seed=0)  # builds the alias tables once
    n, length = settings.walks, settings.walk_length
    walkers: dict[str, Callable[[], object]] = {
        "deepwalk": lambda: deepwalk(graph, walks=n, length=length, seed=1),
        "node2vec p=0.5 q=2": lambda: node2vec(graph, walks=n, length=length, p=0.5, q=2, seed=1),
    }
    speeds = {}
    for name, walk in walkers.items():
        start = time.perf_counter()
        walk()
        speeds[name] = n / (time.perf_counter() - start)
    return speeds


def index_speed(build_dir: Path) -> dict[str, dict[str, float]]:
    items = load_items(build_dir, "item2vec")
    queries = items.vectors[:QUERIES]
    exact, _ = build_index("exact", items.ids, items.vectors).search(queries, 10)
    report = {}
    for kind in ("exact", "lsh", "hnsw"):
        start = time.perf_counter()
        index = build_index(kind, items.ids, items.vectors)
        built = time.perf_counter()
        found = np.vstack([index.search(q[None, :], 10)[0] for q in queries])
        elapsed = time.perf_counter() - built
        report[kind] = {
            "build_s": built - start,
            "queries_per_s": len(queries) / elapsed,
            "recall@10": recall_at_k(found, exact),
        }
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="small,5m", help="comma-separated: small,1m,5m,25m")
    parser.add_argument("--cache", type=Path, default=CACHE, help="where data and builds are kept")
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "embeddings.json")
    args = parser.parse_args()
    settings = EmbeddingSettings()
    results: dict[str, Any] = {}
    for size in args.sizes.split(","):
        build_dir = feature_build(size, args.cache)
        training = {m: embed_items(build_dir, m, settings)["timings_s"] for m in METHODS}
        results[size] = {
            "training_s": training,
            "walks_per_s": walk_speed(build_dir, settings),
            "indexes": index_speed(build_dir),
        }

    console = Console()
    table = Table(title="embedding training (seconds: sentences + skip-gram)")
    for column in ("dataset", *METHODS, "deepwalk walks/s", "node2vec walks/s"):
        table.add_column(column, justify="left" if column == "dataset" else "right")
    for size, r in results.items():
        speeds = list(r["walks_per_s"].values())
        times = [f"{sum(r['training_s'][m].values()):.1f}" for m in METHODS]
        table.add_row(size, *times, *(f"{s:,.0f}" for s in speeds))
    console.print(table)
    indexes = Table(title=f"item2vec indexes ({QUERIES} single queries)")
    for column in ("dataset", "index", "build s", "queries/s", "recall@10"):
        indexes.add_column(column, justify="left" if column in ("dataset", "index") else "right")
    for size, r in results.items():
        for kind, m in r["indexes"].items():
            indexes.add_row(
                size,
                kind,
                f"{m['build_s']:.3f}",
                f"{m['queries_per_s']:,.0f}",
                f"{m['recall@10']:.3f}",
            )
    console.print(indexes)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
