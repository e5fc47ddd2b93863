"""`sparrow.data.movielens` on the real MovieLens files in ../shared/data."""

from pathlib import Path

import pyarrow.compute as pc

from sparrow.artifacts.schema import ITEMS, LINKS, RATINGS, TAGS
from sparrow.data.movielens import detect_layout, load, load_items, load_ratings


def test_ml_latest_small_loads_exactly(ml_latest_small: Path) -> None:
    data = load(ml_latest_small)
    assert (data.name, data.layout, data.users) == ("ml-latest-small", "csv", None)
    assert data.ratings.schema.equals(RATINGS)
    assert data.items.schema.equals(ITEMS)
    assert data.links.schema.equals(LINKS)
    assert data.tags.schema.equals(TAGS)
    assert data.ratings.num_rows == 100_836
    assert data.items.num_rows == 9_742
    assert data.links.num_rows == 9_742
    assert data.tags.num_rows == 3_683
    assert pc.count_distinct(data.ratings["user_id"]).as_py() == 610
    assert load_ratings(ml_latest_small).equals(data.ratings)


def test_ml_latest_small_known_rows(ml_latest_small: Path) -> None:
    data = load(ml_latest_small)
    items = {row["item_id"]: row for row in data.items.to_pylist()}
    assert items[1] == {
        "item_id": 1,
        "title": "Toy Story",
        "year": 1995,
        "genres": ["Adventure", "Animation", "Children", "Comedy", "Fantasy"],
    }
    assert items[11]["title"] == "American President, The"  # quoted, with a comma
    assert items[40697] == {
        "item_id": 40697,
        "title": "Babylon 5",
        "year": None,
        "genres": ["Sci-Fi"],
    }
    assert items[27008]["year"] == 1999  # "(1999) " with a trailing space
    links = {row["item_id"]: row for row in data.links.to_pylist()}
    assert links[1] == {"item_id": 1, "imdb_id": "0114709", "tmdb_id": 862}
    assert links[791] == {"item_id": 791, "imdb_id": "0113610", "tmdb_id": None}  # empty tmdbId
    assert data.ratings.slice(0, 1).to_pylist() == [
        {"user_id": 1, "item_id": 1, "rating": 4.0, "ts": 964982703}
    ]
    assert data.tags.slice(0, 1).to_pylist() == [
        {"user_id": 2, "item_id": 60756, "tag": "funny", "ts": 1445714994}
    ]


def test_ml_latest_small_years_and_genres(ml_latest_small: Path) -> None:
    items = load_items(ml_latest_small)
    years = items["year"]
    assert years.null_count == 13  # titles with no trailing "(YYYY)" (e.g. "Babylon 5")
    assert pc.min(years).as_py() >= 1874
    assert pc.max(years).as_py() <= 2030
    no_genres = pc.equal(pc.list_value_length(items["genres"]), 0)
    assert pc.sum(no_genres).as_py() == 34  # "(no genres listed)"
    genres = set(pc.list_flatten(items["genres"]).to_pylist())
    assert "(no genres listed)" not in genres
    assert {"Children", "Film-Noir", "IMAX", "Sci-Fi"} <= genres


def test_sparrow_sample_catalogue_parses_every_movie(shared_data: Path) -> None:
    folder = shared_data / "sparrow-sample"
    assert detect_layout(folder) == "csv"
    items = load_items(folder)
    assert items.schema.equals(ITEMS)
    assert items.num_rows == 982
    assert pc.count_distinct(items["item_id"]).as_py() == 982
    assert items["year"].null_count == 0
