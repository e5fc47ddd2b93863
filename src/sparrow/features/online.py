"""The online user features: per-user state of the real-time loop and its update rule, pure
functions (stdlib + numpy only: the Flink job imports them).

`apply(state, event, ..., definitions)` folds one event into a `UserState`; `features(state)`
gives the online user-feature row (`artifacts.schema.USER_FEATURE_COLUMNS`), with the offline
definitions of `features.definitions` as of "now", parameterised by the build's `Definitions`:
the window is the user's last `definitions.history` ratings in (timestamp, movieId) order;
userRatingCount/AvgRating/RatingStddev and userAvgReleaseYear/ReleaseYearStddev are taken over
the window (sample stddev, null below 2 values; exact integer sums, so floats are bit-identical);
userRatedMovie1..5 are its liked ratings (rating >= `definitions.positive_threshold`), most
recent first (same second: larger id first); userGenre1..5 the genres most frequent among them,
ties by name.

Rules beyond the offline definitions (the catalogue has one rating per user and movie):
- click and view events only update the latest movie (the original Flink job's output);
- a re-rating replaces the movie's earlier rating in the window, in `liked` and in the user
  vector; `rated` keeps the movie once, at its first position;
- `liked` (every liked movie, most recent first) is in arrival order; the window is kept in
  timestamp order, so a late event lands where the offline sort would put it (or nowhere, when
  it is older than a full window);
- the user vector per embedding method is the running sum / count of the vectors of the liked
  movies that have one (float64 sums: within float32 rounding of the offline mean);
- an event whose id is among the user's last `MAX_EVENT_IDS` applied ids (kept as 64-bit
  `fingerprint`s) is ignored, so a log replayed after a crash (at-least-once delivery) changes
  nothing twice.
The original's leaky `sparrow_compat` definitions are not reproduced online.

`apply` never mutates its input: it returns a new state (the caller may keep the old one).
"""

import hashlib
import json
import math
import struct
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from itertools import compress, islice
from typing import Any

import numpy as np

from sparrow.artifacts.events import Event
from sparrow.artifacts.schema import (
    USER_GENRE_COLUMNS,
    USER_GENRE_SLOTS,
    USER_MOVIE_COLUMNS,
    USER_MOVIE_SLOTS,
    Definitions,
)

MAX_EVENT_IDS = 1_000
FINGERPRINT = 8  # bytes kept of each event id


@dataclass(frozen=True)
class MovieInfo:
    """What a rating needs of its movie."""

    genres: tuple[str, ...]
    release_year: int | None


NO_INFO = MovieInfo((), None)  # an unknown movie


@dataclass
class Window:
    """The user's last `history` ratings in (timestamp, movieId) order, one list per column,
    and their sums, kept up to date. `genres` holds each rating's genres as a bit mask over
    `vocab` (the genre names met so far, in order of appearance: at most 63)."""

    ts: list[int] = field(default_factory=list)
    movie: list[int] = field(default_factory=list)
    half: list[int] = field(default_factory=list)  # the rating in half stars
    liked: list[bool] = field(default_factory=list)
    year: list[int | None] = field(default_factory=list)  # the movie's release year
    genres: list[int] = field(default_factory=list)
    vocab: list[str] = field(default_factory=list)
    # sums of half, half², 1 per known year, year, year² (exact integers)
    totals: list[int] = field(default_factory=lambda: [0] * 5)
    tally: list[int] = field(default_factory=list)  # per `vocab` genre: liked ratings with it

    def columns(self) -> tuple[list[Any], ...]:
        return self.ts, self.movie, self.half, self.liked, self.year, self.genres

    def copy(self) -> "Window":
        return Window(
            list(self.ts),
            list(self.movie),
            list(self.half),
            list(self.liked),
            list(self.year),
            list(self.genres),
            list(self.vocab),
            list(self.totals),
            list(self.tally),
        )

    def recount(self) -> "Window":
        """Itself, with `totals` and `tally` computed from the columns."""
        self.totals, self.tally = [0] * 5, [0] * len(self.vocab)
        for at in range(len(self.ts)):
            self._count(at, 1)
        return self

    def _count(self, at: int, sign: int) -> None:
        """Add (`sign` 1) or take away (-1) the rating at `at` to or from the sums."""
        half, year, totals = self.half[at], self.year[at], self.totals
        totals[0] += sign * half
        totals[1] += sign * half * half
        if year is not None:
            totals[2] += sign
            totals[3] += sign * year
            totals[4] += sign * year * year
        if self.liked[at]:
            mask = self.genres[at]
            while mask:
                bit = mask & -mask
                self.tally[bit.bit_length() - 1] += sign
                mask ^= bit

    def _delete(self, at: int) -> None:
        self._count(at, -1)
        for column in self.columns():
            del column[at]

    def remove(self, movie_id: int) -> None:
        """Drop the movie's rating, if in the window."""
        if movie_id in self.movie:
            self._delete(self.movie.index(movie_id))

    def insert(
        self, ts: int, movie_id: int, half: int, liked: bool, info: MovieInfo, history: int
    ) -> None:
        """Add a rating (of a movie not in the window) at its place; the oldest of a window of
        `history` ratings leaves (the new one itself when it is older than all of them)."""
        lo = bisect_left(self.ts, ts)
        at = bisect_right(self.movie, movie_id, lo, bisect_right(self.ts, ts, lo))
        if len(self.ts) >= history:
            if at == 0:
                return
            self._delete(0)
            at -= 1
        values = (ts, movie_id, half, liked, info.release_year, self.mask(info.genres))
        for column, value in zip(self.columns(), values, strict=True):
            column.insert(at, value)
        self._count(at, 1)

    def mask(self, names: Iterable[str]) -> int:
        """The bit mask of `names` (new names join `vocab`)."""
        mask = 0
        for name in names:
            if name not in self.vocab:
                self.vocab.append(name)
                self.tally.append(0)
            mask |= 1 << self.vocab.index(name)
        return mask


_NO_YEAR = -(2**31)  # an unknown year in `to_bytes`
_HEAD = struct.Struct("<I")


@dataclass
class UserState:
    """What the stream keeps per user (see the module docstring). Treat as immutable."""

    user_id: int
    window: Window = field(default_factory=Window)
    rated: list[int] = field(default_factory=list)  # oldest first
    liked: list[int] = field(default_factory=list)  # most recent first
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # method -> float64 (D,)
    counts: dict[str, int] = field(default_factory=dict)  # method -> liked movies with a vector
    latest_movie: int | None = None
    latest_ts: int | None = None
    # the `fingerprint`s of the last MAX_EVENT_IDS applied event ids, oldest first
    event_ids: bytes = b""
    events: int = 0  # stream events applied

    def copy(self) -> "UserState":
        return UserState(
            self.user_id,
            self.window.copy(),
            list(self.rated),
            list(self.liked),
            {m: s.copy() for m, s in self.sums.items()},
            dict(self.counts),
            self.latest_movie,
            self.latest_ts,
            self.event_ids,
            self.events,
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able form of the whole state (two states are equal when these are)."""
        w = self.window
        return {
            "u": self.user_id,
            "t": list(w.ts),
            "m": list(w.movie),
            "h": list(w.half),
            "k": list(w.liked),
            "y": list(w.year),
            "g": list(w.genres),
            "v": list(w.vocab),
            "s": {m: s.tolist() for m, s in self.sums.items()},
            "c": dict(self.counts),
            "lm": self.latest_movie,
            "lt": self.latest_ts,
            "ids": self.event_ids.hex(),
            "n": self.events,
            "r": list(self.rated),
            "l": list(self.liked),
        }

    def to_bytes(self) -> bytes:
        """The state but `rated` and `liked` in a compact binary form (what the Redis store
        keeps): the head's length (uint32), the head (JSON: the scalars, the genre vocabulary,
        the window's totals and tally, the vector counts and sizes), the window's columns
        (int64, (6, n)), the event-id fingerprints, each sum (float64); little-endian."""
        w = self.window
        head = {
            "u": self.user_id,
            "lm": self.latest_movie,
            "lt": self.latest_ts,
            "n": self.events,
            "v": w.vocab,
            "a": w.totals,
            "g": w.tally,
            "c": self.counts,
            "d": {m: len(s) for m, s in self.sums.items()},
            "w": len(w.ts),
            "i": len(self.event_ids),
        }
        years = [_NO_YEAR if y is None else y for y in w.year]
        columns = np.array([w.ts, w.movie, w.half, w.liked, years, w.genres], "<i8")
        raw = json.dumps(head, separators=(",", ":")).encode()
        return b"".join(
            [
                _HEAD.pack(len(raw)),
                raw,
                columns.tobytes(),
                self.event_ids,
                *(s.astype("<f8").tobytes() for s in self.sums.values()),
            ]
        )

    @classmethod
    def from_bytes(
        cls, raw: bytes, rated: list[int] | None = None, liked: list[int] | None = None
    ) -> "UserState":
        """The state of `to_bytes`, with `rated` and `liked` (kept as they are; default:
        empty)."""
        (size,) = _HEAD.unpack_from(raw)
        offset = _HEAD.size + size
        head = json.loads(raw[_HEAD.size : offset])
        n = head["w"]
        ts, movie, half, flags, years, genres = (
            np.frombuffer(raw, "<i8", 6 * n, offset).reshape(6, n).tolist()
        )
        offset += 48 * n
        ids = raw[offset : offset + head["i"]]
        offset += head["i"]
        sums = {}
        for method, dim in head["d"].items():
            sums[method] = np.frombuffer(raw, "<f8", dim, offset).astype(np.float64)
            offset += 8 * dim
        years = [None if y == _NO_YEAR else y for y in years]
        window = Window(
            ts,
            movie,
            half,
            [bool(f) for f in flags],
            years,
            genres,
            head["v"],
            head["a"],
            head["g"],
        )
        return cls(
            head["u"],
            window,
            rated or [],
            liked or [],
            sums,
            head["c"],
            head["lm"],
            head["lt"],
            ids,
            head["n"],
        )


def fingerprint(event_id: str) -> bytes:
    """The 8 bytes a state keeps of an event id (blake2b: the same in every process)."""
    data = event_id.encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, digest_size=FINGERPRINT).digest()


def _seen(fingerprints: bytes, key: bytes) -> bool:
    """Whether `key` is one of `fingerprints` (a match starts at a multiple of FINGERPRINT)."""
    at = fingerprints.find(key)
    while at > 0 and at % FINGERPRINT:
        at = fingerprints.find(key, at + 1)
    return at >= 0


def apply(
    state: UserState | None,
    event: Event,
    movie: MovieInfo | None,
    vectors: Mapping[str, np.ndarray],
    definitions: Definitions,
) -> UserState:
    """The state after `event` (`state` None: a user without history). `movie`: the event's
    movie (None when unknown: no year, no genres); `vectors`: its item vector per embedding
    method (methods without one left out). A replayed event id returns `state` itself."""
    key = fingerprint(event.id)
    if state is not None and _seen(state.event_ids, key):
        return state
    out = UserState(event.user_id) if state is None else state.copy()
    _apply(out, set(out.rated), key, event, movie, vectors, definitions)
    return out


def apply_many(
    state: UserState | None,
    user_id: int,
    items: Iterable[tuple[Event, MovieInfo | None, Mapping[str, np.ndarray]]],
    definitions: Definitions,
) -> UserState:
    """`apply` of each item in turn (one copy of the state, not one per event)."""
    out = UserState(user_id) if state is None else state.copy()
    rated = set(out.rated)
    for event, movie, vectors in items:
        key = fingerprint(event.id)
        if not _seen(out.event_ids, key):
            _apply(out, rated, key, event, movie, vectors, definitions)
    return out


def _apply(
    state: UserState,
    rated: set[int],
    key: bytes,
    event: Event,
    movie: MovieInfo | None,
    vectors: Mapping[str, np.ndarray],
    definitions: Definitions,
) -> None:
    """Fold `event` (its id's fingerprint: `key`) into `state` in place."""
    state.event_ids = (state.event_ids + key)[-FINGERPRINT * MAX_EVENT_IDS :]
    state.events += 1
    rate(state, rated, event.movie_id, event.rating, event.timestamp, movie, vectors, definitions)


def rate(
    state: UserState,
    rated: set[int],
    movie_id: int,
    rating: float | None,
    ts: int,
    movie: MovieInfo | None,
    vectors: Mapping[str, np.ndarray],
    definitions: Definitions,
    window: bool = True,
) -> None:
    """Fold a click/view (`rating` None) or a rating into `state` in place (no event id);
    `rated` is the set of `state.rated`, kept up to date (membership in O(1)). Not `window`: a
    rating the window would not keep (the caller knows), left out of it."""
    state.latest_movie, state.latest_ts = movie_id, ts
    if rating is None:
        return
    liked = rating >= definitions.positive_threshold
    again = movie_id in rated  # a re-rating (only then can the movie be in window or liked)
    if again:
        state.window.remove(movie_id)
    if window:
        state.window.insert(
            ts, movie_id, round(rating * 2), liked, movie or NO_INFO, definitions.history
        )
    if not again:
        state.rated.append(movie_id)
        rated.add(movie_id)
    was = again and movie_id in state.liked
    if was:
        state.liked.remove(movie_id)
    if liked:
        state.liked.insert(0, movie_id)
    sign = int(liked) - int(was)
    for method, vector in vectors.items() if sign else ():
        total = state.sums.get(method)
        if total is None:
            total = state.sums[method] = np.zeros(len(vector), np.float64)
        (np.add if sign > 0 else np.subtract)(total, vector, out=total)
        state.counts[method] = state.counts.get(method, 0) + sign


def initial_state(
    user_id: int,
    ratings: Iterable[tuple[int, float, int]],
    movie_of: Callable[[int], MovieInfo | None],
    vectors_of: Callable[[int], Mapping[str, np.ndarray]],
    definitions: Definitions,
) -> UserState:
    """The state of a user's catalogue ratings ((movie, score, ts), oldest first, as the online
    store's `user()` gives them): features, liked, rated and vectors equal the snapshot's.
    Only the ratings that end in the window (the last `definitions.history` by time) go
    through it."""
    ratings = list(ratings)
    by_time = sorted(range(len(ratings)), key=lambda i: (ratings[i][2], ratings[i][0]))
    window = set(by_time[-definitions.history :])
    state, rated = UserState(user_id), set[int]()
    for i, (movie_id, score, ts) in enumerate(ratings):
        rate(
            state,
            rated,
            movie_id,
            score,
            ts,
            movie_of(movie_id),
            vectors_of(movie_id),
            definitions,
            i in window,
        )
    return state


def user_vector(state: UserState, method: str) -> np.ndarray | None:
    """The mean of the liked movies' vectors of `method` (float32), None without one."""
    count = state.counts.get(method, 0)
    return None if count <= 0 else (state.sums[method] / count).astype(np.float32)


def _mean_std(n: int, total: int, squares: int, scale: float) -> tuple[float | None, float | None]:
    """As `features.definitions`' mean and stddev, for one row (same operations, so the same
    floats)."""
    mean = total / (n * scale) if n >= 1 else None
    if n < 2:
        return mean, None
    var = (n * squares - total * total) / (n * (n - 1) * scale * scale)
    return mean, math.sqrt(max(var, 0.0))


def features(state: UserState) -> dict[str, Any]:
    """The online user-feature row (`USER_FEATURE_COLUMNS`, as `OnlineStore.user_features` has
    it)."""
    w = state.window
    halves, halves_sq, n_years, years, years_sq = w.totals
    avg_year, std_year = _mean_std(n_years, years, years_sq, 1.0)
    avg, std = _mean_std(len(w.half), halves, halves_sq, 2.0)
    positive = list(islice(compress(reversed(w.movie), reversed(w.liked)), USER_MOVIE_SLOTS))
    counted = sorted((-n, g) for g, n in zip(w.vocab, w.tally, strict=True) if n)
    genres = [g for _, g in counted[:USER_GENRE_SLOTS]]
    row: dict[str, Any] = {"userId": state.user_id}
    row |= dict(zip(USER_MOVIE_COLUMNS, _padded(positive, USER_MOVIE_SLOTS), strict=True))
    row |= {
        "userRatingCount": len(w.half),
        "userAvgReleaseYear": avg_year,
        "userReleaseYearStddev": std_year,
        "userAvgRating": avg,
        "userRatingStddev": std,
    }
    row |= dict(zip(USER_GENRE_COLUMNS, _padded(genres, USER_GENRE_SLOTS), strict=True))
    return row


def _padded(values: list[Any], size: int) -> list[Any]:
    """`values` filled up to `size` with None."""
    return values + [None] * (size - len(values))
