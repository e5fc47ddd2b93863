"""The embedded stream processor: log -> per-user states -> online store, batch by batch; and
the `stream_runner` family's protocol.

Each batch: read up to `batch` entries, group the events by user (log order kept per user),
get the users' states in one call (a user without a state starts from their catalogue
ratings, so their features continue the offline ones), apply the events, write the changed
states in one call (Redis: one MULTI/EXEC), then commit the log. A crash anywhere before the
commit replays the batch; event ids make the replay a no-op (at-least-once + idempotent).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from sparrow.artifacts.events import Event
from sparrow.artifacts.schema import MAX_ID, Definitions
from sparrow.features.online import MAX_EVENT_IDS, MovieInfo, UserState, apply_many, initial_state
from sparrow.store.base import OnlineStore, UpdatableStore
from sparrow.stream.log import Batch, EventLog

if TYPE_CHECKING:  # pydantic is not in the Flink environment, which imports `Processor`
    from sparrow.config import StoreSettings, StreamSettings

log = logging.getLogger("sparrow.stream")
BLOCK_MS = 500
STORE_TIMEOUT_S = 10.0  # a batch writes up to 1,000 users' keys in one transaction
ItemVectors = Mapping[str, tuple[np.ndarray, np.ndarray]]  # method -> (ids (N,), vectors (N, D))
NO_VECTORS: Mapping[str, np.ndarray] = {}


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


def catalogue(
    store: OnlineStore,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], dict[int, MovieInfo]]:
    """The store's item vectors of every method and every movie's genres and year."""
    vectors = {m: store.item_vectors(m) for m in store.embedding_methods()}
    ids = store.top_movies(None, "popularity", MAX_ID)
    movies = {
        m.movie_id: MovieInfo(tuple(m.genres), m.release_year)
        for m in store.movies(ids)
        if m is not None
    }
    return vectors, movies


class Processor:
    """Applies batches to a store; `run` drives it from a log."""

    def __init__(
        self,
        store: UpdatableStore,
        item_vectors: ItemVectors,
        movies: Mapping[int, MovieInfo],
        definitions: Definitions,
    ) -> None:
        self.store, self.movies, self.definitions = store, movies, definitions
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
                out[user_id] = initial_state(
                    user_id, ratings, self.movies.get, self.vectors_of, self.definitions
                )
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
            items = (
                (e, self.movies.get(e.movie_id), self.vectors_of(e.movie_id)) for e in user_events
            )
            new = apply_many(old, user_id, items, self.definitions)
            if old is None or new.events != old.events:
                changed[user_id] = new
        self.store.put_states(changed)
        return len(changed)


def run(
    store: UpdatableStore,
    events: EventLog,
    item_vectors: ItemVectors,
    movies: Mapping[int, MovieInfo],
    definitions: Definitions,
    batch: int = MAX_EVENT_IDS,
    stop: threading.Event | None = None,
    once: bool = False,
) -> Stats:
    """Process `events` into `store` until `stop` is set, or (`once`) until the log is drained.
    Answers the counts; an error (store or log down) propagates after nothing was committed.
    A batch holds at most `MAX_EVENT_IDS` entries, so a replayed one is a no-op."""
    if not 0 < batch <= MAX_EVENT_IDS:
        raise ValueError(f"batch must be 1..{MAX_EVENT_IDS} (the event ids a state keeps)")
    processor = Processor(store, item_vectors, movies, definitions)
    stats, start = Stats(), time.perf_counter()
    while stop is None or not stop.is_set():
        got: Batch = events.read(batch, 0 if once else BLOCK_MS)
        if not len(got):
            if once:
                break
            continue
        stats.writes += processor.apply(got.events) if got.events else 0
        events.commit(got)
        stats.events += len(got.events)
        stats.dead += len(got.dead)
        stats.batches += 1
        for where, reason, _ in got.dead:
            log.warning("event=dead_letter position=%s reason=%r", where, reason)
    stats.seconds = time.perf_counter() - start
    return stats


class StreamRunner(Protocol):
    """What runs the stream processor of `sparrow stream run` (the `stream_runner` family of
    `plugins.py`), made from the stream settings."""

    def __init__(self, settings: StreamSettings) -> None: ...

    def run(
        self, build: Path, store: StoreSettings, once: bool, stop: threading.Event
    ) -> dict[str, Any]:
        """Apply the build's events to the store until `stop` is set or (`once`) the log is
        drained; answers a summary (counts, seconds)."""
        ...
