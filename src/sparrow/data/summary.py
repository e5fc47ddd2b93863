"""What `sparrow data info` shows: counts, time range, density, rating histogram, genres.

Computed with pyarrow.compute over the canonical tables (no Python loop over rows), so a
25M-rating dataset summarises in seconds.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
from rich.console import Group, RenderableType
from rich.table import Table

from sparrow.data.schema import Dataset

BAR_WIDTH = 40  # characters of the longest histogram bar


@dataclass(frozen=True)
class DatasetSummary:
    """Headline figures of one dataset; times are Unix seconds, None when there are no ratings."""

    name: str
    layout: str
    users: int  # distinct users who rated
    items: int  # movies in the catalogue
    rated_items: int  # distinct movies with at least one rating
    ratings: int
    tags: int
    first_ts: int | None
    last_ts: int | None
    density: float  # ratings / (users * rated_items)
    mean_rating: float
    rating_histogram: dict[float, int]  # rating -> count, ascending rating
    genres: dict[str, int]  # genre -> movies, most common first (ties by name)
    items_without_year: int
    items_without_genres: int
    ratings_per_user_mean: float
    ratings_per_user_median: float
    ratings_per_user_max: int
    ratings_per_item_median: float  # over rated items


def summarize(ds: Dataset) -> DatasetSummary:
    """Compute the summary of `ds` (a few vectorised passes over the ratings)."""
    ratings, items = ds.ratings, ds.items
    per_user = _counts_by(ratings, "user_id")
    per_item = _counts_by(ratings, "item_id")
    users, rated, n = len(per_user), len(per_item), ratings.num_rows
    ts = pc.min_max(ratings["ts"]).as_py()
    histogram = pc.value_counts(ratings["rating"]).to_pylist()
    genres = pc.value_counts(pc.list_flatten(items["genres"])).to_pylist()
    genres.sort(key=lambda g: (-g["counts"], g["values"]))
    return DatasetSummary(
        name=ds.name,
        layout=ds.layout,
        users=users,
        items=items.num_rows,
        rated_items=rated,
        ratings=n,
        tags=ds.tags.num_rows,
        first_ts=ts["min"],
        last_ts=ts["max"],
        density=n / (users * rated) if n else 0.0,
        mean_rating=float(pc.mean(ratings["rating"]).as_py() or 0.0),
        rating_histogram={
            h["values"]: h["counts"] for h in sorted(histogram, key=lambda h: h["values"])
        },
        genres={g["values"]: g["counts"] for g in genres},
        items_without_year=items["year"].null_count,
        items_without_genres=_count_true(pc.equal(pc.list_value_length(items["genres"]), 0)),
        ratings_per_user_mean=n / users if users else 0.0,
        ratings_per_user_median=float(np.median(per_user)) if users else 0.0,
        ratings_per_user_max=int(per_user.max()) if users else 0,
        ratings_per_item_median=float(np.median(per_item)) if rated else 0.0,
    )


def render(summary: DatasetSummary) -> RenderableType:
    """An overview table, the rating histogram with bars, and the genres by movie count."""
    return Group(_overview(summary), _histogram(summary), _genres(summary))


def _counts_by(table: pa.Table, column: str) -> npt.NDArray[np.int64]:
    """(distinct values,) ratings per value of `column`."""
    counts = table.group_by(column).aggregate([(column, "count")])
    return np.asarray(counts[f"{column}_count"].to_numpy(), dtype=np.int64)


def _count_true(mask: pa.ChunkedArray) -> int:
    return int(pc.sum(mask).as_py() or 0)


def _overview(s: DatasetSummary) -> Table:
    table = Table(title=f"{s.name} ({s.layout} layout)", show_header=False, title_justify="left")
    table.add_column("figure", style="bold")
    table.add_column("value", justify="right")
    period = "-" if s.first_ts is None else f"{_date(s.first_ts)} .. {_date(s.last_ts)}"
    rows = [
        ("users", f"{s.users:,}"),
        ("movies", f"{s.items:,} ({s.rated_items:,} rated)"),
        ("ratings", f"{s.ratings:,}"),
        ("tags", f"{s.tags:,}"),
        ("time range (UTC)", period),
        ("density", f"{s.density:.3%}"),
        ("mean rating", f"{s.mean_rating:.2f}"),
        (
            "ratings per user",
            f"mean {s.ratings_per_user_mean:,.1f}, median {s.ratings_per_user_median:,.1f}, "
            f"max {s.ratings_per_user_max:,}",
        ),
        ("ratings per rated movie", f"median {s.ratings_per_item_median:,.1f}"),
        ("movies without year", f"{s.items_without_year:,}"),
        ("movies without genres", f"{s.items_without_genres:,}"),
    ]
    for label, value in rows:
        table.add_row(label, value)
    return table


def _histogram(s: DatasetSummary) -> Table:
    table = Table(title="ratings", title_justify="left")
    for name in ("rating", "count", "share"):
        table.add_column(name, justify="right")
    table.add_column("")
    top = max(s.rating_histogram.values(), default=1)
    for rating, count in s.rating_histogram.items():
        bar = "█" * max(1, round(BAR_WIDTH * count / top))
        table.add_row(f"{rating:.1f}", f"{count:,}", f"{count / s.ratings:.1%}", bar)
    return table


def _genres(s: DatasetSummary) -> Table:
    table = Table(title="genres", title_justify="left")
    table.add_column("genre")
    table.add_column("movies", justify="right")
    table.add_column("share of movies", justify="right")
    for genre, count in s.genres.items():
        table.add_row(genre, f"{count:,}", f"{count / s.items:.1%}")
    return table


def _date(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).date().isoformat()
