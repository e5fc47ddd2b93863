"""`sparrow embed`: train item vectors from a build, derive user vectors, find similar movies."""

import time
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.vectors import Vectors, load_items, save_items, save_users, user_vectors
from sparrow.config import EmbeddingSettings, SparkSettings
from sparrow.embedding import skipgram
from sparrow.embedding.corpus import METHODS
from sparrow.embedding.sequences import positive_history
from sparrow.errors import ConfigError
from sparrow.plugins import load_backend


def skipgram_config(settings: EmbeddingSettings) -> skipgram.SkipGramConfig:
    """The trainer's settings (the same names, but `subsample`: gensim's `sample`)."""
    shared = {"dim", "window", "epochs", "negative", "min_count", "seed", "workers"}
    return skipgram.SkipGramConfig(sample=settings.subsample, **settings.model_dump(include=shared))


def embed_items(
    build: Path, method: str, settings: EmbeddingSettings, spark: SparkSettings | None = None
) -> dict[str, Any]:
    """Train `method` item vectors on the build's training period; save; return the summary.

    The sentences are made by `settings.engine` (local, or spark: `spark` gives the master and
    its settings) and trained by `settings.trainer` (gensim, or Spark MLlib's Word2Vec, whose
    vectors are saved as `<method>-mllib`, beside gensim's).
    """
    if method not in METHODS:
        raise ConfigError(
            f"unknown embedding method {method!r}; choose one of: {', '.join(METHODS)}"
        )
    trainer = load_backend("trainer", settings.trainer)()
    if trainer.corpus not in (None, settings.engine):
        raise ConfigError(
            f"the {settings.trainer} trainer runs on {trainer.corpus}: "
            f"add --engine {trainer.corpus}"
        )
    config = skipgram_config(settings)
    started = time.perf_counter()
    maker = load_backend("corpus", settings.engine)(spark or SparkSettings())
    with maker.corpus(build, method, settings) as corpus:
        walked = time.perf_counter()
        items = trainer.train(corpus, config)
    done = time.perf_counter()
    name = method + trainer.suffix
    info = {
        "name": name,
        "method": method,
        "engine": settings.engine,
        "trainer": settings.trainer,
        "skipgram": config.as_dict(),
        "walks": {
            "walks": settings.walks,
            "length": settings.walk_length,
            "p": settings.p,
            "q": settings.q,
        }
        if method != "item2vec"
        else None,
        "sentences": len(corpus.sentences),
        "items": len(items.ids),
        "timings_s": {"sentences": round(walked - started, 3), "training": round(done - walked, 3)},
    }
    save_items(build, name, items, info)
    return info


def embed_users(build: Path, method: str, half_life_days: float | None) -> Vectors:
    """User vectors from the build's training positives and the saved `method` item vectors."""
    users = user_vectors(positive_history(build), load_items(build, method), half_life_days)
    save_users(build, method, users)
    return users


def similar(build: Path, movie_id: int, method: str, k: int) -> list[dict[str, Any]]:
    """The k movies most similar to `movie_id` by cosine similarity of `method` vectors."""
    from sparrow.index.exact import ExactIndex

    items = load_items(build, method)
    at = np.flatnonzero(items.ids == movie_id)
    if not len(at):
        raise ConfigError(f"movie {movie_id} has no {method} vector (unknown, or too few ratings)")
    index = ExactIndex.build(items.ids, items.vectors, metric="cosine")
    ids, scores = index.search(items.vectors[at], k, exclude=np.array([movie_id]))
    found = ids[0] >= 0
    neighbours, similarity = ids[0][found], scores[0][found]
    layout = BuildDir(build)
    catalog = layout.read(layout.catalog("items"))
    rows = catalog.take(pc.index_in(pa.array(neighbours, pa.int32()), catalog["item_id"]))
    return [
        {"movieId": int(m), "title": t, "genres": g, "similarity": float(s)}
        for m, t, g, s in zip(
            neighbours,
            rows["title"].to_pylist(),
            rows["genres"].to_pylist(),
            similarity,
            strict=True,
        )
    ]
