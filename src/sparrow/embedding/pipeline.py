"""`sparrow embed`: train item vectors from a build, derive user vectors, find similar movies."""

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow.config import EmbeddingSettings, SparkSettings
from sparrow.embedding import skipgram
from sparrow.embedding.sequences import item_sequences, positive_history
from sparrow.embedding.users import user_vectors
from sparrow.embedding.vectors import Vectors, load_items, save_items, save_users
from sparrow.errors import ConfigError

METHODS = ("item2vec", "deepwalk", "node2vec")


def skipgram_config(settings: EmbeddingSettings) -> skipgram.SkipGramConfig:
    return skipgram.SkipGramConfig(
        dim=settings.dim, window=settings.window, epochs=settings.epochs,
        negative=settings.negative, min_count=settings.min_count, sample=settings.subsample,
        seed=settings.seed,
        workers=settings.workers,
    )  # fmt: skip


def sentences(method: str, sequences: list[np.ndarray], s: EmbeddingSettings) -> list[np.ndarray]:
    """What the skip-gram trainer reads: the sequences themselves, or walks on their graph."""
    if method == "item2vec":
        return sequences
    from sparrow.embedding.graph import TransitionGraph, deepwalk, node2vec

    graph = TransitionGraph.from_sequences(sequences)
    if method == "deepwalk":
        return deepwalk(graph, walks=s.walks, length=s.walk_length, seed=s.seed)
    return node2vec(graph, walks=s.walks, length=s.walk_length, p=s.p, q=s.q, seed=s.seed)


def embed_items(
    build: Path, method: str, settings: EmbeddingSettings, spark: SparkSettings | None = None
) -> dict[str, Any]:
    """Train `method` item vectors on the build's training period; save; return the summary.

    With `settings.engine == "spark"` sequences, graph and walks are made on Spark (`spark`
    gives the master and its settings); vectors from the mllib trainer are saved as
    `<method>-mllib`, beside gensim's.
    """
    if method not in METHODS:
        raise ConfigError(
            f"unknown embedding method {method!r}; choose one of: {', '.join(METHODS)}"
        )
    if settings.trainer == "mllib" and settings.engine != "spark":
        raise ConfigError("the mllib trainer runs on Spark: add --engine spark")
    started = time.perf_counter()
    if settings.engine == "spark":
        corpus, items, walked = _on_spark(build, method, settings, spark or SparkSettings())
    else:
        corpus = sentences(
            method, item_sequences(positive_history(build, settings.min_count)), settings
        )
        walked = time.perf_counter()
        items = skipgram.train(corpus, skipgram_config(settings))
    done = time.perf_counter()
    name = f"{method}-mllib" if settings.trainer == "mllib" else method
    info = {
        "name": name,
        "method": method,
        "engine": settings.engine,
        "trainer": settings.trainer,
        "skipgram": skipgram_config(settings).as_dict(),
        "walks": {"walks": settings.walks, "length": settings.walk_length, "p": settings.p,
                  "q": settings.q} if method != "item2vec" else None,
        "sentences": len(corpus),
        "items": len(items.ids),
        "timings_s": {"sentences": round(walked - started, 3), "training": round(done - walked, 3)},
    }  # fmt: skip
    save_items(build, name, items, info)
    return info


def _on_spark(
    build: Path, method: str, settings: EmbeddingSettings, spark: SparkSettings
) -> tuple[list[np.ndarray], Vectors, float]:
    """Sentences made on Spark, their vectors, and the time the sentences were ready."""
    from sparrow.embedding import spark as on_spark
    from sparrow.features.spark_engine import DEFAULT_CONF, spark_session

    session = spark_session(spark.master, DEFAULT_CONF | spark.conf)
    try:
        frame, column = on_spark.sequences(session, build, settings.min_count), "items"
        if method != "item2vec":
            frame = on_spark.walks(session, on_spark.graph(frame), method, settings)
            column = "walk"
        frame = frame.persist()
        corpus = on_spark.collect(frame, column)
        walked = time.perf_counter()
        if settings.trainer == "mllib":
            items = on_spark.mllib_word2vec(frame, column, skipgram_config(settings))
        else:
            items = skipgram.train(corpus, skipgram_config(settings))
        return corpus, items, walked
    finally:
        session.stop()


def embed_users(build: Path, method: str, half_life_days: float | None) -> Vectors:
    """User vectors from the build's training positives and the saved `method` item vectors."""
    users = user_vectors(positive_history(build), load_items(build, method), half_life_days)
    save_users(build, method, users)
    return users


def similar(build: Path, movie_id: int, method: str, k: int) -> list[dict[str, Any]]:
    """The k movies most similar to `movie_id` by cosine similarity of `method` vectors."""
    from sparrow.embedding.index import ExactIndex

    items = load_items(build, method)
    at = np.flatnonzero(items.ids == movie_id)
    if not len(at):
        raise ConfigError(f"movie {movie_id} has no {method} vector (unknown, or too few ratings)")
    index = ExactIndex.build(items.ids, items.vectors, metric="cosine")
    ids, scores = index.search(items.vectors[at], k, exclude=np.array([movie_id]))
    found = ids[0] >= 0
    neighbours, similarity = ids[0][found], scores[0][found]
    catalog = pq.read_table(build / "catalog" / "items.parquet")
    rows = catalog.take(pc.index_in(pa.array(neighbours, pa.int32()), catalog["item_id"]))
    return [
        {"movieId": int(m), "title": t, "genres": g, "similarity": float(s)}
        for m, t, g, s in zip(neighbours, rows["title"].to_pylist(), rows["genres"].to_pylist(),
                              similarity, strict=True)
    ]  # fmt: skip
