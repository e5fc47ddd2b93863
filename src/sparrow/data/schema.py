"""The canonical tables every loader produces (DESIGN.md section 3).

Nothing downstream knows which MovieLens layout a table came from. Ids are int32,
timestamps are Unix seconds (int64), ratings float32 (MovieLens ratings are multiples
of 0.5, exact in float32), missing values are nulls.
"""

from dataclasses import dataclass

import pyarrow as pa

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


@dataclass(frozen=True)
class Dataset:
    """One MovieLens dataset as canonical tables; `users` only where the layout has demographics."""

    name: str  # the folder name, e.g. "ml-latest-small"
    layout: str  # "csv" (ml-latest*, ml-25m, ml-32m), "ml-1m" or "ml-100k"
    ratings: pa.Table
    items: pa.Table
    links: pa.Table
    tags: pa.Table
    users: pa.Table | None = None
