"""The online store: what the service reads per request, whichever backend holds it.

Two backends implement it (`backend.StoreBackend`, the `store` family of `plugins.py`): memory
(loaded from a build directory) and Redis (loaded by `sparrow store push`). One contract suite
(`tests/contract/test_store.py`) runs against both. Every method is batched where a request
needs many rows, so a Redis backend answers each in one pipelined round trip.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import numpy as np
import pyarrow as pa

from sparrow.features.online import UserState

SortBy = Literal["rating", "releaseYear", "popularity"]


@dataclass(frozen=True)
class Rating:
    movie_id: int
    user_id: int
    score: float
    timestamp: int


@dataclass(frozen=True)
class Movie:
    """A movie as `/getmovie` shows it; statistics over every rating in the build's catalogue."""

    movie_id: int
    title: str  # without the "(year)"
    release_year: int | None
    imdb_id: str | None  # zero-padded, e.g. "0114709"
    tmdb_id: str | None
    genres: list[str]
    rating_number: int
    average_rating: float
    top_ratings: list[Rating] = field(default_factory=list)  # up to 10, ascending by score


@dataclass(frozen=True)
class User:
    """A user as `/getuser` shows it: every rating in the catalogue, oldest first."""

    user_id: int
    average_rating: float
    highest_rating: float
    lowest_rating: float
    rating_count: int
    ratings: list[Rating]


@dataclass(frozen=True)
class Profile:
    """What a recommendation reads of its user, in one call (one round trip in Redis, where
    it is also one consistent view: the stream writes a user's keys in one transaction)."""

    rated: np.ndarray  # as `rated`
    recent_liked: np.ndarray  # as `recent_liked`
    features: pa.Table  # as `user_features`
    vector: np.ndarray | None  # as `user_vector` (None when no method was asked for)


class OnlineStore(Protocol):
    """Read side of the online store. Unknown ids give None / empty results, never errors."""

    def version(self) -> str:
        """The loaded snapshot's version (the build's config digest and load time)."""
        ...

    def movies(self, ids: list[int]) -> list[Movie | None]:
        """Movies by id, in the order asked; None for an unknown id."""
        ...

    def user(self, user_id: int) -> User | None: ...

    def genres(self) -> list[str]:
        """Every genre with at least one movie, sorted."""
        ...

    def top_movies(self, genre: str | None, sort_by: SortBy, size: int) -> list[int]:
        """Movie ids of `genre` (all movies when None) by average rating (movies with at least
        a few ratings first), release year or popularity (rating count), best first."""
        ...

    def movie_features(self, ids: list[int]) -> pa.Table:
        """Online movie features (the sample columns movieId, releaseYear, movieGenre1..3,
        movieRatingCount, movieAvgRating, movieRatingStddev), one row per id in order; an
        unknown id has nulls but its movieId."""
        ...

    def user_features(self, user_id: int) -> pa.Table:
        """Online user features (userId, userRatedMovie1..5, userRatingCount,
        userAvgReleaseYear, userReleaseYearStddev, userAvgRating, userRatingStddev,
        userGenre1..5), one row; an unknown user has nulls but its userId."""
        ...

    def rated(self, user_id: int) -> np.ndarray:
        """int64 ids of every movie the user has rated, oldest first (empty for an unknown
        user)."""
        ...

    def recent_liked(self, user_id: int, size: int) -> np.ndarray:
        """int64 ids of the user's `size` most recent liked movies (rating >= the build's
        threshold, every split), most recent first."""
        ...

    def co_occurring(self, movie_id: int, size: int) -> np.ndarray:
        """int64 ids of the movies most often liked by the same users in the training period,
        most first (empty when unknown)."""
        ...

    def embedding_methods(self) -> list[str]:
        """Methods with item vectors in the store (e.g. item2vec, deepwalk)."""
        ...

    def item_vectors(self, method: str) -> tuple[np.ndarray, np.ndarray]:
        """Every item vector of `method`: ids (N,) int64 and vectors (N, D) float32. The service
        reads them once at start-up to build its nearest-neighbour index. A method not in
        `embedding_methods()` is a DataError (a configuration mistake, not an unknown id)."""
        ...

    def user_vector(self, method: str, user_id: int) -> np.ndarray | None:
        """The user's (D,) float32 vector for `method` (the mean of the vectors of the movies
        they liked), or None (unknown user or method, or no liked movie with a vector)."""
        ...

    def profile(self, user_id: int, method: str | None, recent: int) -> Profile:
        """`rated`, `recent_liked(user_id, recent)`, `user_features` and `user_vector(method)`
        of a user at once."""
        ...

    def ping(self) -> bool:
        """Whether the backend answers now (Redis up); the memory store always does."""
        ...


class UserStateStore(Protocol):
    """Write side used by the stream processor (`sparrow.stream`), next to the read API.

    `put_states` also updates what the read API returns for those users: `user_features`,
    `recent_liked`, `rated` and `user_vector` (every method); Redis writes every key of a batch
    in one MULTI/EXEC, so a reader never sees half an update. `user()` (the catalogue) is not
    changed.
    """

    def get_states(self, user_ids: list[int]) -> dict[int, UserState]:
        """The stored states of those users that have one."""
        ...

    def put_states(self, states: dict[int, UserState]) -> None: ...

    def users(self, user_ids: list[int]) -> list[User | None]:
        """Catalogue users by id (batched `user()`): a user's first state is built from them."""
        ...

    def embedding_methods(self) -> list[str]: ...


class UpdatableStore(OnlineStore, UserStateStore, Protocol):
    """A store the stream processor writes: the read API and the write side."""


def make_ratings(movie_id: int, users: Any, scores: Any, ts: Any) -> list[Rating]:
    """A movie's Rating objects from its columns."""
    scores = np.asarray(scores, np.float32).tolist()
    return [Rating(movie_id, int(u), s, int(t)) for u, s, t in zip(users, scores, ts, strict=True)]


def make_user(user_id: int, movies: Any, scores: Any, ts: Any) -> User:
    """A User from the columns of its ratings (oldest first)."""
    values = np.asarray(scores, np.float32)
    ratings = [
        Rating(int(m), user_id, s, int(t))
        for m, s, t in zip(movies, values.tolist(), ts, strict=True)
    ]
    wide = values.astype(np.float64)
    return User(
        user_id, float(wide.mean()), float(wide.max()), float(wide.min()), len(values), ratings
    )
