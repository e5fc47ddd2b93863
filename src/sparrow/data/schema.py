"""A MovieLens dataset as the canonical tables every loader produces (their schemas:
`sparrow.artifacts.schema`, since a build's catalogue holds the same tables)."""

from dataclasses import dataclass

import pyarrow as pa


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
