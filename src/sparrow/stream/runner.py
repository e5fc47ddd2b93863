"""The embedded stream processor: log -> per-user states -> online store, batch by batch.

Each batch: read up to `batch` entries, group the events by user (log order kept per user),
get the users' states in one call (a user without a state starts from their catalogue
ratings, so their features continue the offline ones), apply the events, write the changed
states in one call (Redis: one MULTI/EXEC), then commit the log. A crash anywhere before the
commit replays the batch; event ids make the replay a no-op (at-least-once + idempotent).
"""

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sparrow.store.base import OnlineStore, UserStateStore
from sparrow.stream.log import Batch, EventLog
from sparrow.stream.updates import (
    MAX_EVENT_IDS,
    Event,
    MovieInfo,
    UserState,
    apply_many,
    initial_state,
)

log_ = logging.getLogger(__name__)
BLOCK_MS = 500
ItemVectors = Mapping[str, tuple[np.ndarray, np.ndarray]]  # method -> (ids (N,), vectors (N, D))
NO_VECTORS: Mapping[str, np.ndarray] = {}


class Store(OnlineStore, UserStateStore, Protocol):
    """What the runner needs of a store: the read API and the write side."""


@dataclass
class Stats:
    events: int = 0  # entries read that were valid events (replays included)
    dead: int = 0
    batches: int = 0
    writes: int = 0  # user states written
    seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return (self.events + self.dead) / self.seconds if self.seconds else 0.0


def catalogue(store: OnlineStore) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]],
                                           dict[int, MovieInfo]]:  # fmt: skip
    """The store's item vectors of every method and every movie's genres and year."""
    vectors = {m: store.item_vectors(m) for m in store.embedding_methods()}
    ids = store.top_movies(None, "popularity", 2**31 - 1)
    movies = {m.movie_id: MovieInfo(tuple(m.genres), m.release_year)
              for m in store.movies(ids) if m is not None}  # fmt: skip
    return vectors, movies


class Processor:
    """Applies batches to a store; `run` drives it from a log."""

    def __init__(self, store: Store, item_vectors: ItemVectors, movies: Mapping[int, MovieInfo],
                 threshold: float) -> None:  # fmt: skip
        self.store, self.movies, self.threshold = store, movies, threshold
        per_movie: dict[int, dict[str, np.ndarray]] = {}
        for method, (ids, vectors) in item_vectors.items():
            for movie_id, vector in zip(ids.tolist(), vectors, strict=True):
                per_movie.setdefault(movie_id, {})[method] = vector
        self.vectors: Mapping[int, Mapping[str, np.ndarray]] = per_movie

    def vectors_of(self, movie_id: int) -> Mapping[str, np.ndarray]:
        return self.vectors.get(movie_id, NO_VECTORS)

    def initial(self, user_ids: list[int]) -> dict[int, UserState]:
        """States of users from their catalogue ratings (users not in it: none)."""
        out = {}
        for user_id, user in zip(user_ids, self.store.users(user_ids), strict=True):
            if user is not None:
                ratings = ((r.movie_id, r.score, r.timestamp) for r in user.ratings)
                out[user_id] = initial_state(user_id, ratings, self.movies.get, self.vectors_of,
                                             self.threshold)  # fmt: skip
        return out

    def apply(self, events: list[Event]) -> int:
        """Apply `events` (log order) and write the changed states; answers how many."""
        by_user: dict[int, list[Event]] = {}
        for event in events:
            by_user.setdefault(event.user_id, []).append(event)
        users = list(by_user)
        states = self.store.get_states(users)
        missing = [u for u in users if u not in states]
        if missing:
            states |= self.initial(missing)
        changed: dict[int, UserState] = {}
        for user_id, user_events in by_user.items():
            old = states.get(user_id)
            items = ((e, self.movies.get(e.movie_id), self.vectors_of(e.movie_id))
                     for e in user_events)  # fmt: skip
            new = apply_many(old, user_id, items, self.threshold)
            if old is None or new.events != old.events:
                changed[user_id] = new
        self.store.put_states(changed)
        return len(changed)


def run(store: Store, log: EventLog, item_vectors: ItemVectors, movies: Mapping[int, MovieInfo],
        threshold: float, batch: int = MAX_EVENT_IDS, stop: threading.Event | None = None,
        once: bool = False) -> Stats:  # fmt: skip
    """Process `log` into `store` until `stop` is set, or (`once`) until the log is drained.
    Answers the counts; an error (store or log down) propagates after nothing was committed.
    A batch holds at most `MAX_EVENT_IDS` entries, so a replayed one is a no-op."""
    if not 0 < batch <= MAX_EVENT_IDS:
        raise ValueError(f"batch must be 1..{MAX_EVENT_IDS} (the event ids a state keeps)")
    processor = Processor(store, item_vectors, movies, threshold)
    stats, start = Stats(), time.perf_counter()
    while stop is None or not stop.is_set():
        got: Batch = log.read(batch, 0 if once else BLOCK_MS)
        if not len(got):
            if once:
                break
            continue
        stats.writes += processor.apply(got.events) if got.events else 0
        log.commit(got)
        stats.events += len(got.events)
        stats.dead += len(got.dead)
        stats.batches += 1
        for where, reason, _ in got.dead:
            log_.warning("dead letter %s: %s", where, reason)
    stats.seconds = time.perf_counter() - start
    return stats
