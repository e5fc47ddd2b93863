"""Ranking candidates: a model in one batch within a time budget, else embeddings, else popularity.

A ranking model scores every candidate in one ONNX Runtime call on rows assembled like the
training samples: the candidates' online movie features beside the user's online features
(an unknown user: nulls but the id). The call runs on a small thread pool so the request can
stop waiting when the budget (`budget_ms`) is spent; a late or failing model, or a full pool,
falls back to the cosine of the user's vector (or the mean of the recent liked movies) with each
candidate's vector, and without vectors to popularity (rating count). Every fallback is
counted with its reason and reported in the `X-Sparrow-Ranking` header.
"""

import os
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.runtime import OnnxModel, pair_inputs
from sparrow.artifacts.schema import MAX_ID
from sparrow.serving.observe import Metrics, describe, failure
from sparrow.serving.recall import UserContext
from sparrow.serving.vectors import Space
from sparrow.store.base import OnlineStore

EMB = "emb"  # model=emb: the cosine of embedding vectors
ALIASES = {"neuralcf": "neumf", "nerualcf": "neumf"}  # the original's name, and its misspelling
NO_VECTOR = -1.0  # the score of a candidate without a vector (the original's convention)


@dataclass(frozen=True)
class Ranked:
    """Candidates best first with their scores, what ranked them and why it fell back."""

    ids: np.ndarray  # (N,) int64
    scores: np.ndarray  # (N,) float64, finite
    ranked_by: str
    fallback: str | None = None  # the reason, when ranked_by is not what was asked for

    @property
    def header(self) -> str:
        """`X-Sparrow-Ranking`: `deepfm`, or `fallback=item2vec; reason=budget`."""
        if self.fallback is None:
            return self.ranked_by
        return f"fallback={self.ranked_by}; reason={self.fallback}"

    def top(self, size: int) -> list[tuple[int, float]]:
        return list(zip(self.ids[:size].tolist(), self.scores[:size].tolist(), strict=True))


def ordered(ids: np.ndarray, scores: np.ndarray, ranked_by: str) -> Ranked:
    """Sort by score, best first; NaN (no vector) last with score -1; ties keep recall order."""
    missing = np.isnan(scores)
    order = np.lexsort((-np.where(missing, 0.0, scores), missing))
    filled = np.where(missing, NO_VECTOR, scores).astype(np.float64)
    return Ranked(ids[order], filled[order], ranked_by)


def by_cosine(space: Space, query: np.ndarray | None, ids: np.ndarray) -> Ranked | None:
    """Candidates by cosine with `query`; None without a query or any candidate vector."""
    if query is None:
        return None
    scores = space.cosine(query, ids)
    return None if np.isnan(scores).all() and len(ids) else ordered(ids, scores, space.method)


@dataclass(frozen=True)
class Catalogue:
    """Every movie's online features of a store version, read once: the popularity fallback
    and each model's encoded movies derive from it (a request then reads none)."""

    version: str
    ids: list[int]  # by popularity
    features: pa.Table  # `OnlineStore.movie_features` of `ids`

    @classmethod
    def read(cls, store: OnlineStore) -> "Catalogue":
        ids = store.top_movies(None, "popularity", MAX_ID)  # the whole catalogue
        return cls(store.version(), ids, store.movie_features(ids))


@dataclass(frozen=True)
class Popularity:
    """Every movie's rating count (the last fallback ranks by it)."""

    version: str
    counts: dict[int, float]

    @classmethod
    def of(cls, catalogue: Catalogue) -> "Popularity":
        counts = pc.fill_null(catalogue.features["movieRatingCount"], 0)
        values = counts.to_numpy().astype(np.float64).tolist()
        return cls(catalogue.version, dict(zip(catalogue.ids, values, strict=True)))

    def rank(self, ids: np.ndarray) -> Ranked:
        """Candidates by rating count (0 when unknown)."""
        scores = np.fromiter((self.counts.get(i, 0.0) for i in ids.tolist()), np.float64, len(ids))
        return ordered(ids, scores, "popularity")


def model_rows(movies: pa.Table, user: UserContext) -> pa.Table:
    """Rows with the sample columns: each movie's features beside the user's features."""
    users = user.features.take(np.zeros(movies.num_rows, np.int64))  # the one row, repeated
    columns = {name: movies[name] for name in movies.column_names}
    columns |= {name: users[name] for name in users.column_names if name not in columns}
    return pa.table(columns)


@dataclass(frozen=True)
class MovieInputs:
    """A model's movie-side inputs of every movie of a store version, encoded once (a request
    then encodes only its user's row)."""

    version: str
    ids: np.ndarray  # (M,) int64 movie ids, sorted
    inputs: dict[str, np.ndarray]  # rows in the order of `ids`

    @classmethod
    def encode(cls, model: OnnxModel, catalogue: Catalogue, store: OnlineStore) -> "MovieInputs":
        nobody = UserContext(
            0, np.zeros(0, np.int64), np.zeros(0, np.int64), store.user_features(0), None
        )
        inputs = model.encoders.encode(model_rows(catalogue.features, nobody))
        ids = np.asarray(catalogue.ids, np.int64)
        order = np.argsort(ids)
        return cls(catalogue.version, ids[order], {k: v[order] for k, v in inputs.items()})

    def take(self, ids: np.ndarray) -> dict[str, np.ndarray] | None:
        """The inputs of `ids`; None when one is not in the catalogue."""
        rows = np.searchsorted(self.ids, ids).clip(max=len(self.ids) - 1)
        if not np.array_equal(self.ids[rows], ids):
            return None
        return {name: value[rows] for name, value in self.inputs.items()}


class OverloadedError(Exception):
    """Every ranking thread is busy: do not queue behind them."""


class Ranker:
    """Scores candidates with the loaded models, within the time budget, with fallbacks."""

    def __init__(self, models: dict[str, OnnxModel], metrics: Metrics, budget_ms: float) -> None:
        self.models = models
        self.metrics = metrics
        self.budget_s = budget_ms / 1000
        self.threads = max(2, os.cpu_count() or 2)
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="sparrow-rank")
        self.busy = 0
        self._lock = threading.Lock()
        self._movies: dict[str, MovieInputs] = {}
        self._popularity: Popularity | None = None
        self._catalogue: Catalogue | None = None

    @staticmethod
    def resolve(name: str) -> str:
        """The model a request names, aliases resolved (`nerualcf` -> `neumf`)."""
        return ALIASES.get(name, name)

    def score(
        self, name: str, store: OnlineStore, user: UserContext, ids: np.ndarray
    ) -> np.ndarray:
        """Model `name`'s probabilities (N,) for the user and candidates, here and now: the
        candidates' encoded movie side beside the user's encoded row."""
        model = self.models[name]
        movies = self.movie_inputs(name, store)
        candidates = movies.take(ids)
        if candidates is None:  # a movie outside the catalogue: encode every row
            rows = model_rows(store.movie_features(ids.tolist()), user)
            return model.score(rows).astype(np.float64)
        user_inputs = model.encoders.encode_user(user.features.to_pylist()[0])
        return model.score_inputs(pair_inputs(candidates, user_inputs)).astype(np.float64)

    def by_popularity(self, store: OnlineStore, ids: np.ndarray) -> Ranked:
        """Candidates by rating count; in recall order when even the store fails."""
        try:
            popularity = self._popularity
            if popularity is None or popularity.version != store.version():
                popularity = self._popularity = Popularity.of(self.catalogue(store))
        except Exception as exc:
            failure("popularity_failed", exc)
            return Ranked(ids, np.zeros(len(ids)), "recall")
        return popularity.rank(ids)

    def movie_inputs(self, name: str, store: OnlineStore) -> MovieInputs:
        """Model `name`'s encoded movies of the store's version (encoded on first use)."""
        found = self._movies.get(name)
        if found is None or found.version != store.version():
            catalogue = self.catalogue(store)
            found = self._movies[name] = MovieInputs.encode(self.models[name], catalogue, store)
        return found

    def catalogue(self, store: OnlineStore) -> Catalogue:
        """The store version's catalogue (read on first use)."""
        found = self._catalogue
        if found is None or found.version != store.version():
            found = self._catalogue = Catalogue.read(store)
        return found

    def _submit(
        self, name: str, store: OnlineStore, user: UserContext, ids: np.ndarray
    ) -> "Future[np.ndarray]":
        with self._lock:
            if self.busy >= 2 * self.threads:
                raise OverloadedError
            self.busy += 1
        future = self.pool.submit(self.score, name, store, user, ids)
        future.add_done_callback(self._release)
        return future

    def _release(self, _: "Future[np.ndarray]") -> None:
        with self._lock:
            self.busy -= 1

    def _within_budget(
        self, name: str, store: OnlineStore, user: UserContext, ids: np.ndarray
    ) -> Ranked | str:
        """The model's ranking, or why there is none."""
        if name not in self.models:
            return "unavailable"
        started = time.perf_counter()
        try:
            scores = self._submit(name, store, user, ids).result(timeout=self.budget_s)
        except FutureTimeout:
            return "budget"
        except OverloadedError:
            return "overloaded"
        except Exception as exc:
            failure("ranking_failed", exc, model=name)
            return "error"
        if time.perf_counter() - started > self.budget_s:  # done, but after the budget
            return "budget"
        return ordered(ids, scores, name)

    def rank(
        self, name: str, store: OnlineStore, space: Space | None, user: UserContext, ids: np.ndarray
    ) -> Ranked:
        """Rank `ids` for the user with model `name` (or EMB); never raises for a store outage."""
        reason = None
        if name != EMB:
            ranked = self._within_budget(name, store, user, ids)
            if isinstance(ranked, Ranked):
                return ranked
            reason = ranked
        ranked_emb = by_cosine(space, user.vector, ids) if space is not None else None
        if ranked_emb is not None and reason is None:
            return ranked_emb
        fallback = ranked_emb or self.by_popularity(store, ids)
        return self.fell_back(fallback, reason or "no-vector")

    def fell_back(self, ranked: Ranked, reason: str) -> Ranked:
        """`ranked` marked as a fallback for `reason`, counted."""
        self.metrics.fallbacks.labels(reason, ranked.ranked_by).inc()
        return Ranked(ranked.ids, ranked.scores, ranked.ranked_by, reason)

    def warm_up(self, store: OnlineStore, user: UserContext, ids: np.ndarray) -> dict[str, str]:
        """Score once with every model (a session's first run allocates, and would be late);
        a model that cannot score is dropped. Returns the dropped models and why."""
        self.by_popularity(store, ids)  # reads the rating counts
        dropped = {}
        for name in list(self.models):
            try:
                self.score(name, store, user, ids)
            except Exception as exc:
                failure("model_failed", exc, model=name, stage="warm-up")
                dropped[name] = describe(exc)
                del self.models[name]
        return dropped

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


def similar(
    store: OnlineStore, space: Space | None, ranker: Ranker, movie_id: int, ids: np.ndarray
) -> Ranked:
    """Candidates by embedding similarity to the movie; by popularity when it has no vector."""
    query = space.mean(np.array([movie_id])) if space is not None else None
    ranked = by_cosine(space, query, ids) if space is not None else None
    return ranked or ranker.fell_back(ranker.by_popularity(store, ids), "no-vector")
