"""The tables of a build directory: canonical catalogue tables, samples, histories and online
features, with their column names, slot counts and Arrow schemas; and the feature definitions'
parameters. The one place that names a column (docs/architecture.md, "Contracts").

Canonical tables: every loader produces exactly these, and nothing downstream knows which
MovieLens layout a table came from. Ids are int32 (at most `MAX_ID`), timestamps Unix seconds
(int64), ratings float32 (multiples of 0.5, exact in float32), missing values nulls.

Samples carry the original's 27 columns with its names; online features are the same columns
"as of now" (`features/movies.parquet`, `features/users.parquet`), so a model reads the same
columns offline and online. Pure pyarrow: imported by the light Flink environment.
"""

from dataclasses import dataclass

import pyarrow as pa

MAX_ID = 2**31 - 1  # ids are int32 in every table

RATINGS = pa.schema(
    [
        pa.field("user_id", pa.int32(), nullable=False),
        pa.field("item_id", pa.int32(), nullable=False),
        pa.field("rating", pa.float32(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
    ]
)

ITEMS = pa.schema(
    [
        pa.field("item_id", pa.int32(), nullable=False),
        pa.field("title", pa.string(), nullable=False),  # without the trailing "(YYYY)"
        pa.field("year", pa.int32()),  # from a trailing "(YYYY)"; null when absent
        pa.field("genres", pa.list_(pa.string()), nullable=False),  # [] for "(no genres listed)"
    ]
)

LINKS = pa.schema(
    [
        pa.field("item_id", pa.int32(), nullable=False),
        pa.field("imdb_id", pa.string()),  # kept as published, with leading zeros ("0114709")
        pa.field("tmdb_id", pa.int32()),
    ]
)

TAGS = pa.schema(
    [
        pa.field("user_id", pa.int32(), nullable=False),
        pa.field("item_id", pa.int32(), nullable=False),
        pa.field("tag", pa.string(), nullable=False),
        pa.field("ts", pa.int64(), nullable=False),
    ]
)

USERS = pa.schema(
    [
        pa.field("user_id", pa.int32(), nullable=False),
        pa.field("gender", pa.string()),
        pa.field("age", pa.int32()),
        pa.field("occupation", pa.string()),
        pa.field("zip_code", pa.string()),
    ]
)

# the catalogue's ratings (`catalog/ratings.parquet`): canonical, with their split
CATALOG_RATINGS_SCHEMA = RATINGS.append(pa.field("split", pa.string(), nullable=False))


@dataclass(frozen=True)
class Definitions:
    """The parameters of the feature semantics (recorded in the manifest), shared by the offline
    features and their online updates."""

    positive_threshold: float = 3.5  # label = rating >= threshold
    history: int = 100  # previous ratings a user feature sees
    sparrow_compat: bool = False

    @property
    def min_user_ratings(self) -> int:
        """Samples need this many previous ratings (the original drops each user's first two)."""
        return 2 if self.sparrow_compat else 0


MOVIE_GENRE_SLOTS = 3
USER_MOVIE_SLOTS = 5
USER_GENRE_SLOTS = 5
MOVIE_GENRE_COLUMNS = tuple(f"movieGenre{k}" for k in range(1, MOVIE_GENRE_SLOTS + 1))
USER_MOVIE_COLUMNS = tuple(f"userRatedMovie{k}" for k in range(1, USER_MOVIE_SLOTS + 1))
USER_GENRE_COLUMNS = tuple(f"userGenre{k}" for k in range(1, USER_GENRE_SLOTS + 1))
MOVIE_STATS = ("movieRatingCount", "movieAvgRating", "movieRatingStddev")

SAMPLE_SCHEMA = pa.schema(
    [
        ("movieId", pa.int32()),
        ("userId", pa.int32()),
        ("rating", pa.float32()),
        ("timestamp", pa.int64()),
        ("label", pa.int8()),
        ("releaseYear", pa.int32()),
        *[(name, pa.string()) for name in MOVIE_GENRE_COLUMNS],
        ("movieRatingCount", pa.int64()),
        ("movieAvgRating", pa.float64()),
        ("movieRatingStddev", pa.float64()),
        *[(name, pa.int32()) for name in USER_MOVIE_COLUMNS],
        ("userRatingCount", pa.int64()),
        ("userAvgReleaseYear", pa.float64()),
        ("userReleaseYearStddev", pa.float64()),
        ("userAvgRating", pa.float64()),
        ("userRatingStddev", pa.float64()),
        *[(name, pa.string()) for name in USER_GENRE_COLUMNS],
    ]
)

MOVIE_STATS_SCHEMA = pa.schema([SAMPLE_SCHEMA.field(name) for name in MOVIE_STATS])
# an online movie-feature row as the store serves it (`features/movies.parquet` adds the title)
MOVIE_FEATURE_COLUMNS = ("movieId", "releaseYear", *MOVIE_GENRE_COLUMNS, *MOVIE_STATS)
# an online user-feature row: the user's sample columns as of now
USER_FEATURE_SCHEMA = pa.schema(
    [SAMPLE_SCHEMA.field("userId")]
    + [f for f in SAMPLE_SCHEMA if f.name.startswith("user") and f.name != "userId"]
)
USER_FEATURE_COLUMNS = tuple(USER_FEATURE_SCHEMA.names)

# `features/user_history.parquet`: each user's ratings as time-ordered lists
HISTORY_SCHEMA = pa.schema(
    [
        ("userId", pa.int32()),
        ("movieIds", pa.list_(pa.int32())),
        ("ratings", pa.list_(pa.float32())),
        ("timestamps", pa.list_(pa.int64())),
    ]
)
