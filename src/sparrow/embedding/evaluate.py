"""`sparrow embed evaluate`: next liked movie through the test period, and index quality.

Every liked rating of the test period is a target, for a user who liked a movie before it (in
either period). Each recommender sees only what the user did strictly before the target's
timestamp, as the online service does with a fresh history: (a) the neighbours of the user's
last liked movie, (b) the movies nearest to the mean vector of the movies they liked (the user
vector), and the popularity baseline (most liked training movies). Movies the user rated before
are never recommended. Vectors and popularity come from the training period only, so nothing
after the cutoff leaks into the model. HR@10, NDCG@10 and catalogue coverage are reported per
recommender; a target a recommender cannot serve (no vector) counts as a miss. Past
`max_targets`, a seeded sample of the targets is evaluated.
"""

import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.vectors import Vectors, load_items, training_info
from sparrow.embedding.sequences import positive_threshold
from sparrow.errors import DataError
from sparrow.index.base import build_index, recall_at_k

K = 10
BATCH = 512
MAX_TARGETS = 20_000


class _Targets:
    """The test period's liked ratings to predict, each with the user's history before it."""

    def __init__(self, build: Path, max_targets: int, seed: int) -> None:
        layout = BuildDir(build)
        ratings = layout.read(layout.catalog("ratings"))
        ratings = ratings.sort_by(
            [("user_id", "ascending"), ("ts", "ascending"), ("item_id", "ascending")]
        )
        users, ts = ratings["user_id"].to_numpy(), ratings["ts"].to_numpy()
        self.items = ratings["item_id"].to_numpy().astype(np.int64)  # (R,) in (user, ts) order
        self.liked = ratings["rating"].to_numpy() >= positive_threshold(build)
        is_train = ratings["split"].to_numpy(zero_copy_only=False) == "train"
        rows = np.arange(len(users))
        new_user = np.r_[True, users[1:] != users[:-1]]
        user_start = np.maximum.accumulate(np.where(new_user, rows, 0))
        # history of row r: rows [user_start, before) with a timestamp strictly earlier than r's
        before = np.maximum.accumulate(np.where(new_user | np.r_[True, ts[1:] != ts[:-1]], rows, 0))
        last_liked = np.maximum.accumulate(np.where(self.liked, rows, -1))
        previous = last_liked[np.maximum(before - 1, 0)]
        wanted = ~is_train & self.liked & (before > user_start) & (previous >= user_start)
        targets = np.flatnonzero(wanted)
        if not len(targets):
            raise DataError(
                f"{build}: no liked test rating follows a liked rating (a time split is needed)"
            )
        if len(targets) > max_targets:
            targets = np.sort(np.random.default_rng(seed).choice(targets, max_targets, False))
        self.targets = self.items[targets]  # (T,) the movies to predict
        self.users = users[targets]  # (T,)
        self.begin, self.end = user_start[targets], before[targets]  # (T,) history rows
        self.last = self.items[previous[targets]]  # (T,) last liked movie before each target
        liked_train = self.items[is_train & self.liked]
        ids, counts = np.unique(liked_train, return_counts=True)
        self.popular = ids[np.argsort(-counts, kind="stable")]  # most liked first
        self.catalog = layout.read(layout.catalog("items")).num_rows
        self.involved = np.isin(users, self.users)  # (R,) rows of users with a target

    def seen(self) -> list[np.ndarray]:
        """Per target, the movies the user rated before it."""
        return [self.items[b:e] for b, e in zip(self.begin, self.end, strict=True)]

    def user_means(self, items: Vectors) -> tuple[np.ndarray, np.ndarray]:
        """Per target, the mean vector of the movies liked before it (T, D), and which have one."""
        order = np.argsort(items.ids)
        at = np.searchsorted(items.ids, self.items, sorter=order).clip(max=len(order) - 1)
        known = self.involved & self.liked & (items.ids[order[at]] == self.items)
        rows = np.flatnonzero(known)  # the ratings that count, in (user, ts) order
        sums = np.vstack(
            [
                np.zeros((1, items.vectors.shape[1])),
                np.cumsum(items.vectors[order[at[rows]]], 0, dtype=np.float64),
            ]
        )
        lo, hi = np.searchsorted(rows, self.begin), np.searchsorted(rows, self.end)
        has = hi > lo
        means = (sums[hi] - sums[lo])[has] / (hi - lo)[has, None]
        return means.astype(np.float32), has


def _metrics(recommended: list[np.ndarray], t: _Targets) -> dict[str, Any]:
    hits, gains, shown = 0, 0.0, set()
    for recs, target in zip(recommended, t.targets, strict=True):
        shown.update(recs.tolist())
        where = np.flatnonzero(recs == target)
        if len(where):
            hits += 1
            gains += 1.0 / float(np.log2(where[0] + 2))
    n = len(t.targets)
    return {
        "hr@10": hits / n,
        "ndcg@10": gains / n,
        "coverage": len(shown) / t.catalog,
        "targets": n,
        "users": len(np.unique(t.users)),
    }


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


def next_item(
    build: Path, methods: list[str], max_targets: int = MAX_TARGETS, seed: int = 42
) -> dict[str, dict[str, Any]]:
    """HR@10, NDCG@10 and coverage of popularity and of each method's two recommenders."""
    t = _Targets(build, max_targets, seed)
    seen = t.seen()
    popular = [t.popular[: K + len(s)] for s in seen]  # enough to leave K after the seen ones
    recs = [p[~np.isin(p, s)][:K] for p, s in zip(popular, seen, strict=True)]
    report = {"popularity": _metrics(recs, t)}
    for method in methods:
        items = load_items(build, method)
        order = np.argsort(items.ids)
        at = np.searchsorted(items.ids, t.last, sorter=order).clip(max=len(order) - 1)
        has = items.ids[order[at]] == t.last
        queries = {
            "last item": (items.vectors[order[at[has]]], has),
            "user vector": t.user_means(items),
        }
        for name, (vectors, has) in queries.items():
            recs = _nearest(vectors, items, [s for s, h in zip(seen, has, strict=True) if h])
            report[f"{method} ({name})"] = _metrics(_pad(recs, has), t)
    return report


def _pad(recs: list[np.ndarray], has: np.ndarray) -> list[np.ndarray]:
    """Recommendations for every target: an empty list (a miss) where the method had none."""
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


def evaluate(build: Path, methods: list[str]) -> tuple[dict[str, Any], Path]:
    """`sparrow embed evaluate`: next liked movie of popularity and each method, how each was
    trained, and its indexes' quality; written to `reports/embeddings.json` (its path)."""
    trained = {m: training_info(build, m) for m in methods}
    report = {
        "next_item": next_item(build, methods),
        "training": {
            m: {k: info[k] for k in ("trainer", "engine", "items", "timings_s")}
            for m, info in trained.items()
        },
        "indexes": {m: index_quality(build, m) for m in methods},
    }
    path = BuildDir(build).report("embeddings.json")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    return report, path
