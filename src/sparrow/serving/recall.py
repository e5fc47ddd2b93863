"""Multi-channel recall: candidate movies from several sources, merged, each labelled with the
channels that found it.

Similar movies: embedding neighbours of the movie, the top-rated movies of each of its genres,
movies co-liked with it. Recommended for you: neighbours of the user's vector, neighbours of
the user's recent liked movies, top movies of the user's favourite genres, popular movies
(a larger share for users with few ratings); an unknown user gets popular and top-rated
movies. Everything the user rated is filtered out (the original recommended watched movies).
Channel sizes are totals per channel; an experiment variant may override them by name (its
`recall` table): user_vector, recent_liked, genre, popularity, top_rated. Similar movies come
from the channels embedding, genre and cooccurrence. Items name their channels in
`recallChannels`.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import filterfalse, islice

import numpy as np
import pyarrow as pa

from sparrow.serving.vectors import Space
from sparrow.store.base import Movie, OnlineStore, SortBy

SIMILAR_SIZES = {"embedding": 100, "genre": 100, "cooccurrence": 50}
# about 760 distinct candidates for a median ml-latest-small user (channels overlap)
FOR_YOU_SIZES = {
    "user_vector": 400, "recent_liked": 250, "genre": 300, "popularity": 100, "top_rated": 100,
}  # fmt: skip
# channels of the whole catalogue's best movies, and how each sorts them
CATALOGUE_CHANNELS: tuple[tuple[str, SortBy], ...] = (
    ("popularity", "popularity"),
    ("top_rated", "rating"),
)
COLD_POPULARITY = 400  # popularity channel size for users with fewer than COLD_RATINGS ratings
COLD_RATINGS = 5
RECENT_LIKED = 5  # recent liked movies whose neighbours are recalled
USER_GENRES = ("userGenre1", "userGenre2", "userGenre3")


@dataclass
class Candidates:
    """Candidate ids in the order first found, each with the channels that found it."""

    exclude: set[int] = field(default_factory=set)
    limit: int | None = None
    channels: dict[int, list[str]] = field(default_factory=dict)

    def add(self, channel: str, ids: Iterable[int], size: int | None = None) -> None:
        """Add the first `size` ids found by `channel` that are not excluded (past `limit`,
        known ids still gain the channel)."""
        channels, limit = self.channels, self.limit
        ids = ids.tolist() if isinstance(ids, np.ndarray) else ids
        for movie_id in islice(filterfalse(self.exclude.__contains__, ids), size):
            found = channels.get(movie_id)
            if found is None:
                if limit is None or len(channels) < limit:
                    channels[movie_id] = [channel]
            elif channel not in found:
                found.append(channel)

    @property
    def ids(self) -> np.ndarray:
        """(N,) int64 candidate ids, in the order first found."""
        return np.fromiter(self.channels, np.int64, len(self.channels))


@dataclass(frozen=True)
class UserContext:
    """What recall and ranking need to know about the requesting user."""

    user_id: int
    rated: np.ndarray  # (R,) int64 movies the user rated
    recent_liked: np.ndarray  # (L,) int64, most recent first
    features: pa.Table  # one row of online user features (nulls but userId when unknown)
    vector: np.ndarray | None  # (D,) the user's vector, else the mean of the recent liked ones

    @property
    def known(self) -> bool:
        return len(self.rated) > 0

    @property
    def genres(self) -> list[str]:
        """The user's favourite genres (userGenre1..3), best first."""
        return [g for name in USER_GENRES if (g := self.features.column(name)[0].as_py())]

    @classmethod
    def load(cls, store: OnlineStore, space: Space | None, user_id: int) -> "UserContext":
        """Read the user from the store; `space` gives the vectors."""
        found = store.profile(user_id, None if space is None else space.method, RECENT_LIKED)
        recent = np.asarray(found.recent_liked, np.int64)
        vector = found.vector
        if space is not None and vector is None:
            vector = space.mean(recent)
        return cls(user_id, np.asarray(found.rated, np.int64), recent, found.features, vector)


def _sizes(defaults: dict[str, int], overrides: dict[str, int]) -> dict[str, int]:
    return defaults | {k: v for k, v in overrides.items() if k in defaults}


def _per(total: int, parts: int) -> int:
    """Share of a channel's size per query (at least 1 when the channel is on)."""
    return 0 if total <= 0 or parts == 0 else max(1, total // parts)


def _add_genres(
    found: Candidates, store: OnlineStore, genres: list[str], total: int, extra: int = 0
) -> None:
    """The top-rated movies of each genre, an equal share of the channel's size each."""
    size = _per(total, len(genres))
    for genre in genres if size else []:
        found.add("genre", store.top_movies(genre, "rating", size + extra), size)


def similar(
    store: OnlineStore, space: Space | None, movie: Movie, overrides: dict[str, int] | None = None
) -> Candidates:
    """Candidates for movies similar to `movie` (the movie itself excluded)."""
    sizes = _sizes(SIMILAR_SIZES, overrides or {})
    found = Candidates(exclude={movie.movie_id})
    query = space.mean(np.array([movie.movie_id])) if space is not None else None
    if space is not None and query is not None:
        found.add("embedding", space.neighbours(query[None], sizes["embedding"])[0])
    _add_genres(found, store, movie.genres, sizes["genre"])
    if sizes["cooccurrence"] > 0:
        found.add("cooccurrence", store.co_occurring(movie.movie_id, sizes["cooccurrence"]))
    return found


def for_user(
    store: OnlineStore,
    space: Space | None,
    user: UserContext,
    limit: int,
    overrides: dict[str, int] | None = None,
) -> Candidates:
    """At most `limit` candidates for the user, none of them already rated. A cold user (an
    unknown one, few ratings, or no liked movie: no vector) gets more popular movies and the
    top-rated ones."""
    cold = len(user.rated) < COLD_RATINGS or user.vector is None
    defaults = FOR_YOU_SIZES | ({"popularity": COLD_POPULARITY} if cold else {"top_rated": 0})
    sizes = _sizes(defaults, overrides or {})
    found = Candidates(exclude=set(user.rated.tolist()), limit=limit)
    # rated movies are filtered out: ask each source for that many more than the channel keeps
    extra = min(len(user.rated), 1000)
    if space is not None and user.vector is not None and sizes["user_vector"] > 0:
        k = sizes["user_vector"] + extra
        found.add("user_vector", space.neighbours(user.vector[None], k)[0], sizes["user_vector"])
    per_movie = _per(sizes["recent_liked"], len(user.recent_liked))
    if space is not None and per_movie:
        pos, has = space.rows(user.recent_liked)
        for row in space.neighbours(space.unit[pos[has]], per_movie + extra):
            found.add("recent_liked", row, per_movie)
    _add_genres(found, store, user.genres, sizes["genre"], extra)
    for channel, sort_by in CATALOGUE_CHANNELS:
        if sizes[channel] > 0:
            ranked = store.top_movies(None, sort_by, sizes[channel] + extra)
            found.add(channel, ranked, sizes[channel])
    return found
