"""Movie cards: each movie's `/getmovie` JSON, serialised once per store version and kept.

A card (details, rating statistics, top ratings) changes only with a new build, so every list
(`/getrecommendation`, `/getsimilarmovie`, `/getrecforyou`) is assembled from cached bytes; a
recommended movie is its card with `recallChannels`, `score` and `rankedBy` appended. This
saves the store reads and the validation of every movie of every answer (most of the time of
`/getsimilarmovie`).
"""

import json
import threading

import pydantic_core

from sparrow.serving.schemas import Movie
from sparrow.store.base import OnlineStore

LIMIT = 100_000  # cards kept (about 1.5 kB each); past it the cache starts again


class Cards:
    """The cards of a store's movies, read and serialised on first use."""

    def __init__(self, store: OnlineStore, limit: int = LIMIT) -> None:
        self.store, self.limit = store, limit
        self.version = store.version()
        self._cards: dict[int, bytes] = {}
        self._lock = threading.Lock()

    def get(self, ids: list[int]) -> list[bytes | None]:
        """The cards of `ids` (None for a movie the store does not have)."""
        version = self.store.version()
        with self._lock:
            if version != self.version or len(self._cards) > self.limit:
                self.version, self._cards = version, {}
            cards = self._cards
        missing = [i for i in dict.fromkeys(ids) if i not in cards]
        for movie_id, movie in zip(missing, self.store.movies(missing), strict=True):
            if movie is not None:
                cards[movie_id] = pydantic_core.to_json(Movie.model_validate(movie), by_alias=True)
        return [cards.get(i) for i in ids]


def json_list(items: list[bytes]) -> bytes:
    """A JSON array of serialised items."""
    return b"[" + b",".join(items) + b"]"


def with_fields(card: bytes, **fields: object) -> bytes:
    """`card` (a JSON object) with `fields` added at its end."""
    extra = json.dumps(fields, separators=(",", ":")).encode()
    return card[:-1] + b"," + extra[1:]
