"""sparrow.data.summary: exact figures on a hand-made dataset, and what `data info` prints."""

from collections.abc import Sequence

import pyarrow as pa
import pytest
from rich.console import Console

from sparrow.artifacts.schema import ITEMS, LINKS, RATINGS, TAGS
from sparrow.data.schema import Dataset
from sparrow.data.summary import DatasetSummary, render, summarize

YEAR = 365 * 86_400
ITEM_ROWS = [  # 40 is never rated, 20 has no year, 30 no genres
    (10, "Alpha", 1995, ["Comedy", "Drama"]),
    (20, "Beta, The", None, ["Drama"]),
    (30, "Gamma", 2001, []),
    (40, "Delta", 1990, ["Action", "Drama"]),
]
RATING_ROWS = [  # 3 users: 3, 2 and 1 ratings; movies 10, 20, 30: 3, 2 and 1 ratings
    (1, 10, 4.0, 1_000),
    (1, 20, 3.5, 2_000),
    (1, 30, 5.0, 3_000),
    (2, 10, 4.0, 1_500),
    (2, 20, 1.0, YEAR),
    (3, 10, 0.5, 500),
]
TAG_ROWS = [(1, 10, "funny", 1_001), (2, 20, "dark, moody", 1_501)]


def _table(rows: Sequence[tuple[object, ...]], schema: pa.Schema) -> pa.Table:
    return pa.Table.from_pylist([dict(zip(schema.names, r, strict=True)) for r in rows], schema)


def _dataset(ratings: Sequence[tuple[object, ...]]) -> Dataset:
    return Dataset(
        name="hand-made",
        layout="csv",
        ratings=_table(ratings, RATINGS),
        items=_table(ITEM_ROWS, ITEMS),
        links=LINKS.empty_table(),
        tags=_table(TAG_ROWS, TAGS),
    )


@pytest.fixture
def summary() -> DatasetSummary:
    return summarize(_dataset(RATING_ROWS))


def test_exact_figures(summary: DatasetSummary) -> None:
    assert summary == DatasetSummary(
        name="hand-made",
        layout="csv",
        users=3,
        items=4,
        rated_items=3,
        ratings=6,
        tags=2,
        first_ts=500,
        last_ts=YEAR,
        density=6 / 9,
        mean_rating=3.0,
        rating_histogram={0.5: 1, 1.0: 1, 3.5: 1, 4.0: 2, 5.0: 1},
        genres={"Drama": 3, "Action": 1, "Comedy": 1},
        items_without_year=1,
        items_without_genres=1,
        ratings_per_user_mean=2.0,
        ratings_per_user_median=2.0,
        ratings_per_user_max=3,
        ratings_per_item_median=2.0,
    )
    assert list(summary.genres) == ["Drama", "Action", "Comedy"]  # by count, ties by name


def test_render_shows_the_key_figures(summary: DatasetSummary) -> None:
    console = Console(record=True, width=120)
    console.print(render(summary))
    text = console.export_text()
    for expected in (
        "hand-made",
        "users",
        "ratings",
        "66.667%",
        "1970-01-01 .. 1971-01-01",
        "mean 2.0, median 2.0, max 3",
        "33.3%",
        "Drama",
        "75.0%",
    ):
        assert expected in text, expected
    bars = [line for line in text.splitlines() if "█" in line]
    assert len(bars) == 5  # one per rating value present
    assert max(bars, key=lambda line: line.count("█")).startswith("│    4.0 │")  # longest: 4.0


def test_empty_ratings() -> None:
    summary = summarize(_dataset([]))
    assert (summary.users, summary.ratings, summary.rated_items) == (0, 0, 0)
    assert (summary.first_ts, summary.last_ts, summary.density) == (None, None, 0.0)
    assert summary.rating_histogram == {} and summary.genres["Drama"] == 3
    console = Console(record=True, width=120)
    console.print(render(summary))
    assert "time range" in console.export_text()
