"""Per-user state of the real-time loop and its update rule: pure functions (stdlib + numpy only).

`apply(state, event, ...)` folds one event into a `UserState`; `features(state)` gives the
online user-feature row, with the offline definitions of `sparrow.features.definitions` as of
"now": the window is the user's last `HISTORY` ratings in (timestamp, movieId) order;
userRatingCount/AvgRating/RatingStddev and userAvgReleaseYear/ReleaseYearStddev are taken over
the window (sample stddev, null below 2 values; exact integer sums, so floats are bit-identical);
userRatedMovie1..5 are its liked ratings (rating >= threshold), most recent first (same second:
larger id first); userGenre1..5 the genres most frequent among them, ties by name.

Rules beyond the offline definitions (the catalogue has one rating per user and movie):
- click and view events only update the latest movie (the original Flink job's output);
- a re-rating replaces the movie's earlier rating in the window, in `liked` and in the user
  vector; `rated` keeps the movie once, at its first position;
- `liked` (every liked movie, most recent first) is in arrival order; the window is kept in
  timestamp order, so a late event lands where the offline sort would put it (or nowhere, when
  it is older than a full window);
- the user vector per embedding method is the running sum / count of the vectors of the liked
  movies that have one (float64 sums: within float32 rounding of the offline mean);
- an event whose id is among the user's last `MAX_EVENT_IDS` applied ids is ignored, so a log
  replayed after a crash (at-least-once delivery) changes nothing twice.

`apply` never mutates its input: it returns a new state (the caller may keep the old one).
"""

import math
from bisect import insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

HISTORY = 100  # ratings in the window (Definitions.history)
MOVIE_SLOTS = 5
GENRE_SLOTS = 5
MAX_EVENT_IDS = 1_000
EVENT_TYPES = ("rating", "click", "view")
MAX_ID = 2**31 - 1
FEATURE_COLUMNS = ("userId", *(f"userRatedMovie{i}" for i in range(1, MOVIE_SLOTS + 1)),
                   "userRatingCount", "userAvgReleaseYear", "userReleaseYearStddev",
                   "userAvgRating", "userRatingStddev",
                   *(f"userGenre{i}" for i in range(1, GENRE_SLOTS + 1)))  # fmt: skip

# a window entry: (timestamp, movieId, half stars, liked, release year or None, genres)
Entry = tuple[int, int, int, bool, int | None, tuple[str, ...]]


@dataclass(frozen=True)
class Event:
    """A validated event of the log (`POST /events` line format)."""

    id: str
    type: str  # rating | click | view
    user_id: int
    movie_id: int
    rating: float | None
    timestamp: int


@dataclass(frozen=True)
class MovieInfo:
    """What a rating needs of its movie."""

    genres: tuple[str, ...]
    release_year: int | None


def _int(record: Mapping[str, Any], name: str, required: bool = True) -> int | None:
    value = record.get(name)
    if value is None and not required:
        return None
    if type(value) is not int or not 0 < value <= (MAX_ID if name != "timestamp" else 2**62):
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def parse_event(record: Any, fallback_id: str) -> Event:
    """An `Event` of a decoded log record (ValueError when malformed). `fallback_id` (the log
    position) names an event without an "id"."""
    if not isinstance(record, dict):
        raise ValueError(f"an event is a JSON object, not {type(record).__name__}")
    kind = record.get("type")
    if kind not in EVENT_TYPES:
        raise ValueError(f"type must be one of {EVENT_TYPES}, not {kind!r}")
    rating = record.get("rating")
    if kind == "rating":
        if (
            not isinstance(rating, int | float)
            or isinstance(rating, bool)
            or not (0.5 <= rating <= 5.0 and rating * 2 % 1 == 0)
        ):
            raise ValueError(f"rating must be 0.5..5 in half stars, not {rating!r}")
    elif rating is not None:
        raise ValueError(f"a {kind} event has no rating")
    event_id = fallback_id if record.get("id") is None else record["id"]
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"id must be a non-empty string, not {event_id!r}")
    user, movie, ts = (_int(record, n) for n in ("userId", "movieId", "timestamp"))
    assert user is not None and movie is not None and ts is not None
    return Event(event_id, kind, user, movie, None if rating is None else float(rating), ts)


@dataclass
class UserState:
    """What the stream keeps per user (see the module docstring). Treat as immutable."""

    user_id: int
    window: list[Entry] = field(default_factory=list)  # (ts, movie) order, at most HISTORY
    rated: list[int] = field(default_factory=list)  # oldest first
    liked: list[int] = field(default_factory=list)  # most recent first
    sums: dict[str, np.ndarray] = field(default_factory=dict)  # method -> float64 (D,)
    counts: dict[str, int] = field(default_factory=dict)  # method -> liked movies with a vector
    latest_movie: int | None = None
    latest_ts: int | None = None
    event_ids: list[str] = field(default_factory=list)  # oldest first, at most MAX_EVENT_IDS
    events: int = 0  # stream events applied

    def copy(self) -> "UserState":
        return UserState(self.user_id, list(self.window), list(self.rated), list(self.liked),
                         {m: s.copy() for m, s in self.sums.items()}, dict(self.counts),
                         self.latest_movie, self.latest_ts, list(self.event_ids),
                         self.events)  # fmt: skip

    def to_dict(self, lists: bool = True) -> dict[str, Any]:
        """A JSON-able form; without `lists`, `rated` and `liked` are left out (a store that
        keeps them elsewhere passes them back to `from_dict`)."""
        out: dict[str, Any] = {
            "u": self.user_id, "w": [list(e) for e in self.window],
            "s": {m: s.tolist() for m, s in self.sums.items()}, "c": dict(self.counts),
            "lm": self.latest_movie, "lt": self.latest_ts, "ids": " ".join(self.event_ids),
            "n": self.events,
        }  # fmt: skip
        if lists:
            out |= {"r": list(self.rated), "l": list(self.liked)}
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any], rated: list[int] | None = None,
                  liked: list[int] | None = None) -> "UserState":  # fmt: skip
        window: list[Entry] = [(int(t), int(m), int(h), bool(k), y, tuple(g))
                               for t, m, h, k, y, g in d["w"]]  # fmt: skip
        ids = d["ids"].split(" ") if d["ids"] else []
        return cls(int(d["u"]), window, list(d["r"] if rated is None else rated),
                   list(d["l"] if liked is None else liked),
                   {m: np.asarray(s, np.float64) for m, s in d["s"].items()},
                   {m: int(c) for m, c in d["c"].items()}, d["lm"], d["lt"], ids,
                   int(d["n"]))  # fmt: skip


def apply(state: UserState | None, event: Event, movie: MovieInfo | None,
          vectors: Mapping[str, np.ndarray], threshold: float) -> UserState:  # fmt: skip
    """The state after `event` (`state` None: a user without history). `movie`: the event's
    movie (None when unknown: no year, no genres); `vectors`: its item vector per embedding
    method (methods without one left out). A replayed event id returns `state` itself."""
    if state is not None and event.id in state.event_ids:
        return state
    out = UserState(event.user_id) if state is None else state.copy()
    _apply(out, set(out.rated), event, movie, vectors, threshold)
    return out


def apply_many(state: UserState | None, user_id: int,
               items: Iterable[tuple[Event, MovieInfo | None, Mapping[str, np.ndarray]]],
               threshold: float) -> UserState:  # fmt: skip
    """`apply` of each item in turn (one copy of the state, not one per event)."""
    out = UserState(user_id) if state is None else state.copy()
    seen, rated = set(out.event_ids), set(out.rated)
    for event, movie, vectors in items:
        if event.id not in seen:
            _apply(out, rated, event, movie, vectors, threshold)
            seen.add(event.id)
    return out


def _apply(s: UserState, rated: set[int], e: Event, movie: MovieInfo | None,
           vectors: Mapping[str, np.ndarray], threshold: float) -> None:  # fmt: skip
    """Fold `e` into `s` in place."""
    s.event_ids.append(e.id)
    if len(s.event_ids) > MAX_EVENT_IDS:
        del s.event_ids[: len(s.event_ids) - MAX_EVENT_IDS]
    s.events += 1
    rate(s, rated, e.movie_id, e.rating, e.timestamp, movie, vectors, threshold)


def rate(s: UserState, rated: set[int], movie_id: int, rating: float | None, ts: int,
         movie: MovieInfo | None, vectors: Mapping[str, np.ndarray],
         threshold: float) -> None:  # fmt: skip
    """Fold a click/view (`rating` None) or a rating into `s` in place (no event id); `rated`
    is the set of `s.rated`, kept up to date (membership in O(1))."""
    s.latest_movie, s.latest_ts = movie_id, ts
    if rating is None:
        return
    half = round(rating * 2)
    liked = rating >= threshold
    info = movie or MovieInfo((), None)
    again = movie_id in rated  # a re-rating (only then can the movie be in window or liked)
    if again:
        for i, entry in enumerate(s.window):
            if entry[1] == movie_id:
                del s.window[i]
                break
    genres = tuple(sorted(set(info.genres)))
    insort(s.window, (ts, movie_id, half, liked, info.release_year, genres))
    if len(s.window) > HISTORY:
        del s.window[0]
    if not again:
        s.rated.append(movie_id)
        rated.add(movie_id)
    was = again and movie_id in s.liked
    if was:
        s.liked.remove(movie_id)
    if liked:
        s.liked.insert(0, movie_id)
    sign = int(liked) - int(was)
    for method, vector in vectors.items() if sign else ():
        total = s.sums.get(method)
        if total is None:
            total = s.sums[method] = np.zeros(len(vector), np.float64)
        total += sign * np.asarray(vector, np.float64)
        s.counts[method] = s.counts.get(method, 0) + sign


def initial_state(user_id: int, ratings: Iterable[tuple[int, float, int]],
                  movie_of: Callable[[int], MovieInfo | None],
                  vectors_of: Callable[[int], Mapping[str, np.ndarray]],
                  threshold: float) -> UserState:  # fmt: skip
    """The state of a user's catalogue ratings ((movie, score, ts), oldest first, as the online
    store's `user()` gives them): features, liked, rated and vectors equal the snapshot's."""
    s, rated = UserState(user_id), set[int]()
    for movie_id, score, ts in ratings:
        rate(s, rated, movie_id, score, ts, movie_of(movie_id), vectors_of(movie_id), threshold)
    return s


def user_vector(state: UserState, method: str) -> np.ndarray | None:
    """The mean of the liked movies' vectors of `method` (float32), None without one."""
    count = state.counts.get(method, 0)
    return None if count <= 0 else (state.sums[method] / count).astype(np.float32)


def _mean_std(n: int, total: int, squares: int, scale: float) -> tuple[float | None, float | None]:
    """As `definitions._mean_std`, for one row (same operations, so the same floats)."""
    mean = total / (n * scale) if n >= 1 else None
    if n < 2:
        return mean, None
    var = (n * squares - total * total) / (n * (n - 1) * scale * scale)
    return mean, math.sqrt(max(var, 0.0))


def features(state: UserState) -> dict[str, Any]:
    """The online user-feature row (`FEATURE_COLUMNS`, as `OnlineStore.user_features` has it)."""
    window = state.window
    n_years = years = years_sq = halves = halves_sq = 0
    counts: dict[str, int] = {}
    positive: list[int] = []
    for _, movie_id, half, liked, year, names in reversed(window):
        halves += half
        halves_sq += half * half
        if year is not None:
            n_years += 1
            years += year
            years_sq += year * year
        if liked:
            positive.append(movie_id)
            for genre in names:
                counts[genre] = counts.get(genre, 0) + 1
    avg_year, std_year = _mean_std(n_years, years, years_sq, 1.0)
    avg, std = _mean_std(len(window), halves, halves_sq, 2.0)
    genres = sorted(counts, key=lambda g: (-counts[g], g))[:GENRE_SLOTS]
    row: dict[str, Any] = {"userId": state.user_id}
    for i in range(MOVIE_SLOTS):
        row[f"userRatedMovie{i + 1}"] = positive[i] if i < len(positive) else None
    row |= {
        "userRatingCount": len(window),
        "userAvgReleaseYear": avg_year,
        "userReleaseYearStddev": std_year,
        "userAvgRating": avg,
        "userRatingStddev": std,
    }
    for i in range(GENRE_SLOTS):
        row[f"userGenre{i + 1}"] = genres[i] if i < len(genres) else None
    return row
