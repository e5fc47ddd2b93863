"""The list a user sees, replayed: is the served list better than the simplest lists?

    python bench/replay.py                                # this checkout's sparrow
    python bench/replay.py --src ../other/src --out x.json   # another checkout's, same data

Holds out each ml-latest-small user's last 20 % of ratings (by time), builds on the rest with
`sparrow build` (the defaults), serves the build with `sparrow serve` and asks
`/getrecforyou?id=U&size=10` (the default model, and `model=emb`) for every user with a held-out
movie rated >= 3.5 that they had not rated before: those movies are the relevant set. Beside
the served lists: the most-rated movies of the training ratings and EASE (Steck 2019, lambda
200, every training rating an interaction), the user's training movies removed from both.
Reports recall@10 (hits / min(10, relevant), Liang et al. 2018), NDCG@10, overlap (the mean
share of top-10 movies two users have in common) and catalogue coverage. `--src` runs the build
and the service of another checkout's `src` (PYTHONPATH), to compare two versions on one list.
"""

import argparse
import hashlib
import json
import os
import shutil
import subprocess
from itertools import combinations
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.console import Console
from rich.table import Table

from common import CACHE, REPO, SMALL
from serve import SPARROW, started
from sparrow.data.movielens import load_ratings
from sparrow.evaluation.metrics import ndcg

K = 10
LIKED = 3.5
EASE_LAMBDA = 200.0
console = Console()


def hold_out(source: Path, fraction: float, out: Path) -> tuple[pa.Table, pa.Table]:
    """A copy of the dataset folder without each user's last `fraction` of ratings (by time,
    then movie); the training and held-out ratings."""
    ratings = load_ratings(source).sort_by([("user_id", "ascending"), ("ts", "ascending"),
                                            ("item_id", "ascending")])  # fmt: skip
    users = ratings["user_id"].to_numpy()
    starts = np.r_[0, np.flatnonzero(np.diff(users)) + 1]
    sizes = np.diff(np.r_[starts, len(users)])
    rank = np.arange(len(users)) - np.repeat(starts, sizes)
    held = rank >= np.repeat(sizes - (sizes * fraction).astype(int), sizes)
    train, test = ratings.filter(pa.array(~held)), ratings.filter(pa.array(held))
    out.mkdir(parents=True, exist_ok=True)
    for name in ("movies.csv", "links.csv"):
        shutil.copy2(source / name, out / name)
    csv = train.rename_columns(["userId", "movieId", "rating", "timestamp"])
    pacsv.write_csv(csv, out / "ratings.csv")
    return train, test


def relevant_sets(train: pa.Table, test: pa.Table) -> dict[int, set[int]]:
    """Per user: held-out movies rated >= LIKED that the user had not rated in training."""
    seen: dict[int, set[int]] = {}
    for user, movie in zip(*(train[c].to_pylist() for c in ("user_id", "item_id")), strict=True):
        seen.setdefault(user, set()).add(movie)
    liked = test.filter(pc.greater_equal(test["rating"], LIKED))
    out: dict[int, set[int]] = {}
    for user, movie in zip(*(liked[c].to_pylist() for c in ("user_id", "item_id")), strict=True):
        if movie not in seen.get(user, set()):
            out.setdefault(user, set()).add(movie)
    return out


def baselines(train: pa.Table, users: list[int]) -> dict[str, list[list[int]]]:
    """The most-rated movies and EASE's lists of `users`, their training movies removed."""
    user_ids, rows = np.unique(train["user_id"].to_numpy(), return_inverse=True)
    item_ids, cols = np.unique(train["item_id"].to_numpy(), return_inverse=True)
    x = np.zeros((len(user_ids), len(item_ids)), np.float32)  # (U, I) interactions
    x[rows, cols] = 1.0
    gram = (x.T @ x).astype(np.float64)  # (I, I)
    gram[np.diag_indices_from(gram)] += EASE_LAMBDA
    p = np.linalg.inv(gram)
    b = -p / np.diag(p)  # (I, I)
    np.fill_diagonal(b, 0.0)
    at = np.searchsorted(user_ids, users)
    ease = x[at] @ b.astype(np.float32)  # (N, I)
    popular = np.broadcast_to(x.sum(0), ease.shape).copy()
    lists = {}
    for name, scores in (("most-rated", popular), ("EASE", ease)):
        scores[x[at] > 0] = -np.inf
        top = np.argsort(-scores, axis=1, kind="stable")[:, :K]
        lists[name] = item_ids[top].tolist()
    return lists


def served(url: str, users: list[int], model: str | None) -> list[list[int]]:
    params: dict[str, Any] = {"size": K} | ({"model": model} if model else {})
    with httpx.Client(base_url=url, timeout=30) as client:
        answers = [client.get("/getrecforyou", params=params | {"id": u}) for u in users]
    return [[m["movieId"] for m in a.raise_for_status().json()] for a in answers]


def metrics(lists: list[list[int]], relevant: list[set[int]], catalog: int) -> dict[str, float]:
    hits = [len(set(top[:K]) & rel) for top, rel in zip(lists, relevant, strict=True)]
    ranked = np.array([(top + [-1] * K)[:K] for top in lists])
    tops = [set(top[:K]) for top in lists]
    pairs = [len(a & b) / K for a, b in combinations(tops, 2)]
    return {
        "recall@10": float(
            np.mean([h / min(K, len(r)) for h, r in zip(hits, relevant, strict=True)])
        ),
        "ndcg@10": ndcg(ranked, [np.array(sorted(r)) for r in relevant], K),
        "overlap@10": float(np.mean(pairs)),
        "coverage": len(set().union(*tops)) / catalog,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, help="another checkout's src (default: this one's)")
    parser.add_argument("--fraction", type=float, default=0.2, help="held out per user")
    parser.add_argument("--cache", type=Path, default=CACHE)
    parser.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "replay.json")
    args = parser.parse_args()
    src = (args.src or REPO / "src").resolve()
    tag = hashlib.sha256(str(src).encode()).hexdigest()[:8]
    data, build = args.cache / "replay-data" / "ml-latest-small", args.cache / f"replay-{tag}"
    train, test = hold_out(SMALL, args.fraction, data)
    env = {"PYTHONPATH": str(src)}
    console.log(f"building {build} with {src} (cached stages are reused)")
    with build.with_suffix(".build.log").open("wb") as log:
        subprocess.run([SPARROW, "build", "--data", str(data), "--out", str(build)], check=True,
                       env=os.environ | env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    relevant = relevant_sets(train, test)
    users = sorted(relevant)
    catalog = pacsv.read_csv(SMALL / "movies.csv").num_rows
    lists = baselines(train, users)
    command = [SPARROW, "serve", "--build", str(build), "--host", "127.0.0.1", "--port",
               "{port}", "--no-stream"]  # fmt: skip
    ready = lambda port: httpx.get(f"http://127.0.0.1:{port}/healthz").raise_for_status()  # noqa: E731
    with started(command, build.with_suffix(".serve.log"), ready, env) as port:
        url = f"http://127.0.0.1:{port}"
        lists["served (default)"] = served(url, users, None)
        lists["served (model=emb)"] = served(url, users, "emb")
    rel = [relevant[u] for u in users]
    results = {name: metrics(found, rel, catalog) for name, found in lists.items()}
    table = Table(title=f"replay of ml-latest-small, last {args.fraction:.0%} held out: "
                        f"{len(users)} users, top {K}")  # fmt: skip
    for column in ("list", "recall@10", "NDCG@10", "overlap@10", "coverage"):
        table.add_column(column, justify="left" if column == "list" else "right")
    for name, m in results.items():
        table.add_row(name, *(f"{m[c]:.3f}" for c in ("recall@10", "ndcg@10", "overlap@10",
                                                        "coverage")))  # fmt: skip
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {"src": str(src), "users": len(users), "fraction": args.fraction, "lists": results}
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    console.log(f"wrote {args.out}")


if __name__ == "__main__":
    main()
