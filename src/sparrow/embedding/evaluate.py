"""`sparrow embed evaluate`: next-item prediction across the time split, and index quality.

For every user who liked a movie before the split's cutoff and likes one after it, the target
is their first liked movie after the cutoff (users new after the cutoff have no history to
start from; they are the popularity fallback's job, not the embeddings'). Each recommender
names 10 movies the user has not rated in the training period: (a) the neighbours of the
user's last liked training movie, (b) the movies nearest to the user vector, and the
popularity baseline (most liked training movies). HR@10, NDCG@10 and catalogue
coverage are reported per method; a user a method cannot serve (no vector) counts as a miss.
"""

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow.embedding.index import build_index, recall_at_k
from sparrow.embedding.sequences import item_sequences, positive_threshold
from sparrow.embedding.users import user_vectors
from sparrow.embedding.vectors import Vectors, load_items
from sparrow.errors import DataError

K = 10
BATCH = 512


class _Split:
    """The build's ratings seen from the cutoff: what users liked and rated before, and after."""

    def __init__(self, build: Path) -> None:
        ratings = pq.read_table(build / "catalog" / "ratings.parquet")
        ratings = ratings.sort_by([("user_id", "ascending"), ("ts", "ascending"),
                                   ("item_id", "ascending")])  # fmt: skip
        is_train = pc.equal(ratings["split"], "train")
        liked = pc.greater_equal(ratings["rating"], positive_threshold(build))
        train = ratings.filter(is_train)
        self.liked_train = ratings.filter(pc.and_(is_train, liked))
        test = ratings.filter(pc.and_(pc.invert(is_train), liked))
        if test.num_rows == 0:
            raise DataError(
                f"{build}: no positive test ratings to evaluate (a time split is needed)"
            )
        test = test.filter(pc.is_in(test["user_id"], pc.unique(self.liked_train["user_id"])))
        users = test["user_id"].to_numpy()
        first = np.r_[True, users[1:] != users[:-1]]
        self.users = users[first]  # (U,) test users with a liked training movie, sorted
        self.targets = test["item_id"].to_numpy()[first]  # (U,) their first liked test movie
        train_users = train["user_id"].to_numpy()
        firsts = train_users[np.r_[True, train_users[1:] != train_users[:-1]]]
        self.seen = dict(zip(firsts.tolist(), item_sequences(train), strict=True))
        items = self.liked_train["item_id"].to_numpy()
        ids, counts = np.unique(items, return_counts=True)
        self.popular = ids[np.argsort(-counts, kind="stable")]  # most liked first
        self.catalog = pq.read_table(build / "catalog" / "items.parquet").num_rows

    def last_liked(self) -> dict[int, int]:
        users = self.liked_train["user_id"].to_numpy()
        items = self.liked_train["item_id"].to_numpy()
        return dict(zip(users.tolist(), items.tolist(), strict=True))  # later rows win: the last


def _metrics(recommended: list[np.ndarray], targets: np.ndarray, catalog: int) -> dict[str, Any]:
    hits, gains, shown = 0, 0.0, set()
    for recs, target in zip(recommended, targets, strict=True):
        shown.update(recs.tolist())
        where = np.flatnonzero(recs == target)
        if len(where):
            hits += 1
            gains += 1.0 / float(np.log2(where[0] + 2))
    n = len(targets)
    return {"hr@10": hits / n, "ndcg@10": gains / n, "coverage": len(shown) / catalog, "users": n}


def _nearest(queries: np.ndarray, items: Vectors, exclude: list[np.ndarray]) -> list[np.ndarray]:
    """Top K item ids by cosine for each query row, leaving out each query's `exclude` ids."""
    unit = items.vectors / np.maximum(np.linalg.norm(items.vectors, axis=1, keepdims=True), 1e-12)
    q = queries / np.maximum(np.linalg.norm(queries, axis=1, keepdims=True), 1e-12)
    order = np.argsort(items.ids)
    out = []
    for start in range(0, len(q), BATCH):
        scores = q[start : start + BATCH] @ unit.T  # (B, N)
        for row, banned in enumerate(exclude[start : start + BATCH]):
            at = np.searchsorted(items.ids, banned, sorter=order).clip(max=len(order) - 1)
            scores[row, order[at[items.ids[order[at]] == banned]]] = -np.inf
        top = np.argpartition(-scores, min(K, scores.shape[1] - 1), axis=1)[:, :K]  # (B, K)
        top_scores = np.take_along_axis(scores, top, 1)
        order_in_top = np.argsort(-top_scores, 1)
        ranked = np.take_along_axis(top, order_in_top, 1)
        allowed = np.isfinite(np.take_along_axis(top_scores, order_in_top, 1))
        out += [items.ids[r][ok] for r, ok in zip(ranked, allowed, strict=True)]
    return out


def next_item(build: Path, methods: list[str]) -> dict[str, dict[str, Any]]:
    """HR@10, NDCG@10 and coverage of popularity and of each method's two recommenders."""
    split = _Split(build)
    seen = [split.seen.get(int(u), np.zeros(0, np.int64)) for u in split.users]
    popular = [split.popular[~np.isin(split.popular, s)][:K] for s in seen]
    report = {"popularity": _metrics(popular, split.targets, split.catalog)}
    last = split.last_liked()
    for method in methods:
        items = load_items(build, method)
        index = {int(m): i for i, m in enumerate(items.ids)}
        rows = [index.get(last.get(int(u), -1), -1) for u in split.users]
        has = np.array(rows) >= 0
        recs = _nearest(
            items.vectors[np.array(rows)[has]],
            items,
            [s for s, h in zip(seen, has, strict=True) if h],
        )
        report[f"{method} (last item)"] = _metrics(_pad(recs, has), split.targets, split.catalog)
        users = user_vectors(split.liked_train.select(["user_id", "item_id", "ts"]), items)
        at = np.searchsorted(users.ids, split.users).clip(max=max(len(users.ids) - 1, 0))
        has = users.ids[at] == split.users if len(users.ids) else np.zeros(len(at), bool)
        recs = _nearest(
            users.vectors[at[has]], items, [s for s, h in zip(seen, has, strict=True) if h]
        )
        report[f"{method} (user vector)"] = _metrics(_pad(recs, has), split.targets, split.catalog)
    return report


def _pad(recs: list[np.ndarray], has: np.ndarray) -> list[np.ndarray]:
    """Recommendations for every user: an empty list (a miss) where the method had none."""
    it = iter(recs)
    return [next(it) if h else np.zeros(0, np.int64) for h in has]


def index_quality(
    build: Path, method: str, kinds: tuple[str, ...] = ("lsh", "hnsw")
) -> dict[str, Any]:
    """Recall@10 against exact search and per-query latency of each approximate index."""
    items = load_items(build, method)
    exact_ids, _ = build_index("exact", items.ids, items.vectors).search(items.vectors, K)
    report: dict[str, Any] = {}
    for kind in kinds:
        started = time.perf_counter()
        index = build_index(kind, items.ids, items.vectors)
        built = time.perf_counter()
        latencies = []
        found = []
        for vector in items.vectors[:2000]:
            t = time.perf_counter()
            ids, _ = index.search(vector[None, :], K)
            latencies.append(time.perf_counter() - t)
            found.append(ids[0])
        report[kind] = {
            "recall@10": recall_at_k(np.array(found), exact_ids[: len(found)]),
            "query_ms_median": 1000 * float(np.median(latencies)),
            "build_s": built - started,
        }
    return report


def write_report(build: Path, report: dict[str, Any]) -> Path:
    path = build / "reports" / "embeddings.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return path
