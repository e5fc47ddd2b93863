"""The one definition of every sample feature: pure numpy functions over Arrow tables.

Engines (DuckDB, Spark) only load, join, sort and partition; the semantics live
here and nowhere else. Each `*_window_features` function takes rows of whole entities
(every row of a user, or of a movie), sorted by (entity, ts, movieId), and returns one output
row per input row. Sums are taken in exact integer arithmetic (ratings as half-stars), so
every engine produces bit-identical floats.

Point in time: a row's features see only rows of the same entity with a strictly smaller
timestamp (ratings in the same second are not "before" each other), at most `history` of
them for users. `--sparrow-compat` switches to the original's definitions: movie statistics
over all ratings (the sample's own and future ones included: a label leak) and user windows of
the previous rows in file order, ties included.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.schema import (
    CATALOG_RATINGS_SCHEMA,
    HISTORY_SCHEMA,
    MOVIE_GENRE_COLUMNS,
    MOVIE_STATS,
    SAMPLE_SCHEMA,
    USER_GENRE_COLUMNS,
    USER_MOVIE_COLUMNS,
    Definitions,
)

MAX_GENRES = 63  # genre sets travel as int64 bit masks


def genre_vocabulary(items: pa.Table) -> list[str]:
    """All genres of the catalogue, sorted by name (the tie-break order of userGenre1..5)."""
    vocab = sorted(pc.unique(pc.list_flatten(items["genres"])).to_pylist())
    if len(vocab) > MAX_GENRES:
        raise ValueError(f"{len(vocab)} genres; at most {MAX_GENRES} are supported")
    return vocab


def item_features(items: pa.Table, vocab: list[str]) -> pa.Table:
    """Static movie features: releaseYear, movieGenre1..3 (file order) and the genre bit mask."""
    position = {genre: i for i, genre in enumerate(vocab)}
    genres = items["genres"].to_pylist()
    masks = [sum(1 << position[g] for g in set(gs)) for gs in genres]
    columns: dict[str, pa.Array | pa.ChunkedArray] = {
        "movieId": items["item_id"],
        "releaseYear": items["year"],
    }
    for slot, name in enumerate(MOVIE_GENRE_COLUMNS):
        columns[name] = pa.array(
            [gs[slot] if len(gs) > slot else None for gs in genres], pa.string()
        )
    columns["genreMask"] = pa.array(masks, pa.int64())
    return pa.table(columns)


def online_movies(items: pa.Table, static: pa.Table, now: pa.Table) -> pa.Table:
    """Every catalogue movie with its static features and its statistics as of the build time.

    `items`: canonical items; `static`: their `item_features`, row for row; `now`: movieId and
    MOVIE_STATS of the movie pass's sentinel rows, in any order.
    """
    stats = now.take(pc.index_in(items["item_id"], now["movieId"]))
    table = pa.table(
        {
            "movieId": items["item_id"],
            "title": items["title"],
            **{name: static[name] for name in ("releaseYear", *MOVIE_GENRE_COLUMNS)},
            **{name: stats[name] for name in MOVIE_STATS},
        }
    )
    return table.take(pc.sort_indices(table["movieId"]))


def catalog_ratings(ratings: pa.Table, is_test: np.ndarray) -> pa.Table:
    """Canonical ratings with their split, "train" or "test"."""
    split = pc.if_else(pa.array(is_test, pa.bool_()), "test", "train")
    return ratings.append_column("split", split).cast(CATALOG_RATINGS_SCHEMA)


def label(rating: np.ndarray, threshold: float) -> np.ndarray:
    """1 when the rating is at least the threshold, else 0 (int8)."""
    return (rating >= threshold).astype(np.int8)


def unit_hash(user_id: np.ndarray, item_id: np.ndarray, seed: int) -> np.ndarray:
    """A uniform number in [0, 1) per (user, movie, seed): engine-independent seeded sampling."""
    x = (user_id.astype(np.uint64) << np.uint64(32)) | item_id.astype(np.uint32).astype(np.uint64)
    x = x ^ np.uint64((seed * 0x9E3779B97F4A7C15) % 2**64)
    # splitmix64 finaliser
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


@dataclass(frozen=True)
class Split:
    """Which ratings are test: at or after `cutoff` (time split), else by a seeded hash."""

    test_fraction: float
    seed: int
    cutoff: int | None = None

    def is_test(self, ts: np.ndarray, user_id: np.ndarray, item_id: np.ndarray) -> np.ndarray:
        """A boolean per rating."""
        if self.cutoff is not None:
            return np.asarray(ts >= self.cutoff)
        return unit_hash(user_id, item_id, self.seed + 1) < self.test_fraction


def time_cutoff(ts: np.ndarray, test_fraction: float) -> int:
    """The time split: ratings at or after the returned timestamp are test, earlier ones train.

    It is the timestamp at 0-based position floor(n * (1 - test_fraction)) of the sorted
    timestamps, i.e. the (1 - test_fraction) quantile.
    """
    k = min(int(len(ts) * (1.0 - test_fraction)), len(ts) - 1)
    return int(np.partition(ts, k)[k])


def _column(table: pa.Table, name: str, dtype: type, fill: int = 0) -> np.ndarray:
    return np.asarray(table[name].fill_null(fill).to_numpy(), dtype=dtype)


def _windows(key: np.ndarray, ts: np.ndarray, strict_time: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per row: index of its entity's first row, and the end (exclusive) of its past window.

    With `strict_time` the window ends before the first row of the same (entity, ts) group, so
    ratings in the same second never see each other; otherwise it ends just before the row.
    """
    n = len(key)
    idx = np.arange(n)
    new_entity = np.ones(n, dtype=bool)
    new_entity[1:] = key[1:] != key[:-1]
    start = np.maximum.accumulate(np.where(new_entity, idx, 0))
    if not strict_time:
        return start, idx
    new_group = new_entity.copy()
    new_group[1:] |= ts[1:] != ts[:-1]
    return start, np.maximum.accumulate(np.where(new_group, idx, 0))


def _prefix(values: np.ndarray, dtype: type = np.int64) -> np.ndarray:
    """Prefix sums with a leading zero: sum(values[a:b]) == p[b] - p[a]."""
    out = np.zeros((len(values) + 1, *values.shape[1:]), dtype=dtype)
    np.cumsum(values, axis=0, out=out[1:])
    return out


def _mean_std(
    n: np.ndarray, total: np.ndarray, squares: np.ndarray, scale: float
) -> tuple[pa.Array, pa.Array]:
    """Mean (n >= 1) and sample stddev (n >= 2) from exact integer sums of values * scale."""
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = total / (n * scale)
        var = (n * squares - total * total) / (n * (n - 1) * scale * scale)
        std = np.sqrt(np.maximum(var, 0.0))
    return pa.array(mean, mask=n < 1), pa.array(std, mask=n < 2)


def movie_window_features(rows: pa.Table, d: Definitions) -> pa.Table:
    """movieRatingCount/AvgRating/RatingStddev from the movie's ratings strictly before each row.

    `rows`: movieId, timestamp, rating (null on sentinel rows), sorted by (movieId, timestamp).
    """
    key = _column(rows, "movieId", np.int64)
    ts = _column(rows, "timestamp", np.int64)
    half_stars = np.rint(_column(rows, "rating", np.float64) * 2).astype(np.int64)
    start, end = _windows(key, ts, strict_time=True)
    if d.sparrow_compat:  # every rating of the movie, the row's own and later ones included
        last = np.r_[np.flatnonzero(key[1:] != key[:-1]), len(key) - 1]
        end = np.repeat(last + 1, np.diff(np.r_[0, last + 1]))
        real = rows["rating"].is_valid().to_numpy(zero_copy_only=False).astype(np.int64)
        count = _prefix(real)[end] - _prefix(real)[start]
    else:
        count = end - start
    total = _prefix(half_stars)
    squares = _prefix(half_stars * half_stars)
    mean, std = _mean_std(count, total[end] - total[start], squares[end] - squares[start], 2.0)
    if d.sparrow_compat:  # the original rounds to 2 decimals and reports a missing stddev as 0
        mean, std = pc.round(mean, 2), pc.round(std, 2).fill_null(0.0)
    return pa.table(
        {
            "movieRatingCount": pa.array(count, pa.int64()),
            "movieAvgRating": mean,
            "movieRatingStddev": std,
        }
    )


def user_window_features(rows: pa.Table, vocab: list[str], d: Definitions) -> pa.Table:
    """User features from the user's previous `history` ratings strictly before each row.

    `rows`: userId, movieId, timestamp, rating, releaseYear, genreMask, sorted by
    (userId, timestamp, movieId). userRatedMovie1..5 are the positively rated movies of the
    window, most recent first (same second: larger movieId first); userGenre1..5 the most
    frequent genres of those positive ratings, ties by genre name.
    """
    key = _column(rows, "userId", np.int64)
    ts = _column(rows, "timestamp", np.int64)
    movie = _column(rows, "movieId", np.int64)
    rating = _column(rows, "rating", np.float64)
    half_stars = np.rint(rating * 2).astype(np.int64)
    year_valid = rows["releaseYear"].is_valid().to_numpy(zero_copy_only=False).astype(np.int64)
    year = _column(rows, "releaseYear", np.int64)
    positive = label(rating, d.positive_threshold).astype(bool)  # sentinel rows: rating 0

    start, end = _windows(key, ts, strict_time=not d.sparrow_compat)
    lo = np.maximum(start, end - d.history)
    count = end - lo
    out: dict[str, pa.Array] = {}

    # userRatedMovie1..5: the k-th most recent positive row in [lo, end)
    pos_rows = np.flatnonzero(positive)
    pos_before = _prefix(positive.astype(np.int64))
    for k, name in enumerate(USER_MOVIE_COLUMNS, 1):
        j = pos_before[end] - k
        ok = j >= pos_before[lo]
        picked = movie[pos_rows[np.where(ok, j, 0)]] if len(pos_rows) else np.zeros_like(j)
        out[name] = pa.array(picked.astype(np.int32), mask=~ok)

    out["userRatingCount"] = pa.array(count, pa.int64())
    years, year_sq = _prefix(year * year_valid), _prefix(year * year * year_valid)
    n_years = _prefix(year_valid)
    avg_year, std_year = _mean_std(
        n_years[end] - n_years[lo], years[end] - years[lo], year_sq[end] - year_sq[lo], 1.0
    )
    stars, stars_sq = _prefix(half_stars), _prefix(half_stars * half_stars)
    avg_rating, std_rating = _mean_std(
        count, stars[end] - stars[lo], stars_sq[end] - stars_sq[lo], 2.0
    )
    if d.sparrow_compat:  # the original truncates the mean year and rounds to 2 decimals
        avg_year = pc.trunc(avg_year)
        std_year, avg_rating, std_rating = (
            pc.round(a, 2) for a in (std_year, avg_rating, std_rating)
        )
    out |= {
        "userAvgReleaseYear": avg_year,
        "userReleaseYearStddev": std_year,
        "userAvgRating": avg_rating,
        "userRatingStddev": std_rating,
    }
    out |= _top_genres(rows, positive, lo, end, vocab)
    return pa.table(out)


def _top_genres(
    rows: pa.Table, positive: np.ndarray, lo: np.ndarray, end: np.ndarray, vocab: list[str]
) -> dict[str, pa.Array]:
    """userGenre1..5: genres counted over the positive rows of each window, most frequent first."""
    n_genres = len(vocab)
    masks = _column(rows, "genreMask", np.int64) * positive
    bits = np.unpackbits(masks.view(np.uint8).reshape(-1, 8), axis=1, bitorder="little")
    seen = _prefix(bits[:, :n_genres], np.int32)  # (N + 1, G)
    # one unique key per genre: higher count first, then earlier genre position (= name order)
    keys = (seen[end] - seen[lo]) * (n_genres + 1) + (n_genres - np.arange(n_genres))  # (N, G)
    names = pa.array(vocab or [""], pa.string())
    rows_idx = np.arange(len(lo))
    out = {}
    for name in USER_GENRE_COLUMNS:
        best = keys.argmax(axis=1) if n_genres else np.zeros(len(lo), dtype=np.int64)
        present = keys[rows_idx, best] > n_genres if n_genres else np.zeros(len(lo), dtype=bool)
        out[name] = names.take(pa.array(best, mask=~present))
        if n_genres:
            keys[rows_idx, best] = 0
    return out


def histories(rows: pa.Table) -> pa.Table:
    """Each user's ratings as time-ordered lists; `rows` sorted by (userId, timestamp, movieId)."""
    user = _column(rows, "userId", np.int64)
    starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]]) if len(user) else np.array([], int)
    offsets = pa.array(np.r_[starts, len(user)].astype(np.int32))
    lists = {
        name: pa.ListArray.from_arrays(offsets, rows[column].combine_chunks())
        for name, column in (
            ("movieIds", "movieId"),
            ("ratings", "rating"),
            ("timestamps", "timestamp"),
        )
    }
    return pa.table({"userId": pa.array(user[starts]), **lists}).cast(HISTORY_SCHEMA)


def samples(
    rows: pa.Table, user_features: pa.Table, d: Definitions, sample: float, seed: int
) -> tuple[pa.Table, np.ndarray]:
    """The training samples of a chunk of rows, and which rows they are (a boolean mask).

    `rows` are the user pass's input (movie features joined; sentinel rows have a null rating),
    `user_features` its `user_window_features`. A sample is kept when the user had
    `d.min_user_ratings` earlier ratings and the seeded hash of (user, movie) is below `sample`.
    """
    rating = _column(rows, "rating", np.float64)
    keep = rows["rating"].is_valid().to_numpy(zero_copy_only=False)
    keep &= user_features["userRatingCount"].to_numpy() >= d.min_user_ratings
    if sample < 1.0:
        ids = _column(rows, "userId", np.int64), _column(rows, "movieId", np.int64)
        keep &= unit_hash(*ids, seed) < sample
    columns = {name: rows[name] for name in rows.column_names if name in SAMPLE_SCHEMA.names}
    columns |= dict(zip(user_features.column_names, user_features.columns, strict=True))
    columns["label"] = pa.array(label(rating, d.positive_threshold))
    table = pa.table(columns).select(SAMPLE_SCHEMA.names).cast(SAMPLE_SCHEMA)
    return table.filter(pa.array(keep)), keep
