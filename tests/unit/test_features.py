"""Feature semantics on tiny hand-made data, expected values computed by hand."""

import itertools
import json
import math
import statistics
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from tests.fixtures import write_dataset

from sparrow.config import FeatureSettings
from sparrow.errors import BuildError, ConfigError
from sparrow.features import definitions
from sparrow.features.batches import whole_groups
from sparrow.features.pipeline import build

ORIGINAL_COLUMNS = (  # the original's sample columns, in its order
    "movieId", "userId", "rating", "timestamp", "label", "releaseYear",
    "movieGenre1", "movieGenre2", "movieGenre3",
    "movieRatingCount", "movieAvgRating", "movieRatingStddev",
    "userRatedMovie1", "userRatedMovie2", "userRatedMovie3", "userRatedMovie4", "userRatedMovie5",
    "userRatingCount", "userAvgReleaseYear", "userReleaseYearStddev",
    "userAvgRating", "userRatingStddev",
    "userGenre1", "userGenre2", "userGenre3", "userGenre4", "userGenre5",
)  # fmt: skip


def run(tmp_path: Path, **settings: object) -> dict[str, dict[tuple[int, int], dict[str, object]]]:
    """Build and return {table: {(userId, movieId): row}} for samples and online features."""
    data = tmp_path / "data" if (tmp_path / "data").exists() else write_dataset(tmp_path / "data")
    until = settings.pop("until", None)
    build(data, tmp_path / "build", FeatureSettings(**settings), until=until, progress=False)  # type: ignore[arg-type]
    samples = pa.concat_tables(
        pq.read_table(tmp_path / "build" / "samples" / f"{s}.parquet") for s in ("train", "test")
    ).to_pylist()
    users = pq.read_table(tmp_path / "build" / "features" / "users.parquet").to_pylist()
    movies = pq.read_table(tmp_path / "build" / "features" / "movies.parquet").to_pylist()
    return {
        "samples": {(r["userId"], r["movieId"]): r for r in samples},
        "users": {(r["userId"], 0): r for r in users},
        "movies": {(0, r["movieId"]): r for r in movies},
    }


def test_sample_columns_are_the_originals_27_in_order(tmp_path: Path) -> None:
    run(tmp_path)
    schema = pq.read_schema(tmp_path / "build" / "samples" / "train.parquet")
    assert tuple(schema.names) == ORIGINAL_COLUMNS
    assert len(schema.names) == 27
    assert schema.field("timestamp").type == pa.int64()


def test_first_rating_has_no_history(tmp_path: Path) -> None:
    row = run(tmp_path)["samples"][(1, 1)]
    assert row["userRatingCount"] == 0
    for name in (
        "userAvgRating",
        "userRatingStddev",
        "userAvgReleaseYear",
        "userRatedMovie1",
        "userGenre1",
        "movieAvgRating",
    ):
        assert row[name] is None, name
    assert row["movieRatingCount"] == 0
    assert row["label"] == 1
    assert (row["releaseYear"], row["movieGenre1"], row["movieGenre2"]) == (
        2000,
        "Action",
        "Comedy",
    )


def test_one_prior_rating_and_same_second_ratings_do_not_see_each_other(tmp_path: Path) -> None:
    samples = run(tmp_path)["samples"]
    for movie in (2, 3):  # both at ts 200: each sees only the rating at ts 100
        row = samples[(1, movie)]
        assert row["userRatingCount"] == 1
        assert row["userAvgRating"] == 4.0
        assert row["userRatingStddev"] is None  # a sample stddev needs two ratings
        assert row["userAvgReleaseYear"] == 2000.0
        assert row["userRatedMovie1"] == 1 and row["userRatedMovie2"] is None
        # Action and Comedy tie at one positive rating each: broken by name
        assert (row["userGenre1"], row["userGenre2"], row["userGenre3"]) == (
            "Action",
            "Comedy",
            None,
        )
    assert samples[(1, 2)]["label"] == 0
    assert samples[(1, 3)]["releaseYear"] is None  # no "(YYYY)": no made-up year
    assert samples[(1, 3)]["movieGenre1"] is None


def test_window_statistics_and_recent_positives(tmp_path: Path) -> None:
    row = run(tmp_path)["samples"][(1, 4)]
    assert row["userRatingCount"] == 3
    assert row["userAvgRating"] == 4.0
    assert row["userRatingStddev"] == pytest.approx(statistics.stdev([4.0, 3.0, 5.0]), abs=1e-12)
    # years 2000, 1990 and one unknown: mean and stddev over the known ones
    assert row["userAvgReleaseYear"] == 1995.0
    assert row["userReleaseYearStddev"] == pytest.approx(math.sqrt(50), abs=1e-12)
    # positives before ts 300: movie 1 (ts 100, 4.0) and movie 3 (ts 200, 5.0); 2 was a 3.0
    assert [row[f"userRatedMovie{k}"] for k in range(1, 4)] == [3, 1, None]
    assert (row["userGenre1"], row["userGenre2"]) == ("Action", "Comedy")
    assert row["movieId"] == 4


def test_movie_statistics_only_from_earlier_ratings(tmp_path: Path) -> None:
    samples = run(tmp_path)["samples"]
    assert samples[(2, 1)]["movieRatingCount"] == 1
    assert samples[(2, 1)]["movieAvgRating"] == 4.0
    assert samples[(2, 1)]["movieRatingStddev"] is None
    assert samples[(2, 4)]["movieRatingCount"] == 0  # ts 250, before user 1's ts 300
    assert samples[(1, 4)]["movieRatingCount"] == 1
    assert samples[(1, 4)]["movieAvgRating"] == 5.0


def test_online_features_are_as_of_the_build_time(tmp_path: Path) -> None:
    result = run(tmp_path)
    movie1 = result["movies"][(0, 1)]
    assert movie1["title"] == "Alpha, The"
    assert (movie1["movieRatingCount"], movie1["movieAvgRating"]) == (2, 3.0)
    assert movie1["movieRatingStddev"] == pytest.approx(math.sqrt(2), abs=1e-12)
    assert result["movies"][(0, 3)]["movieRatingCount"] == 1
    user1 = result["users"][(1, 0)]
    assert user1["userRatingCount"] == 4
    assert user1["userAvgRating"] == pytest.approx(statistics.mean([4.0, 3.0, 5.0, 4.5]))
    assert [user1[f"userRatedMovie{k}"] for k in range(1, 5)] == [4, 3, 1, None]
    # positives 1 (Action, Comedy), 3 (none), 4 (Comedy, Drama)
    assert [user1[f"userGenre{k}"] for k in range(1, 5)] == ["Comedy", "Action", "Drama", None]
    history = pq.read_table(tmp_path / "build" / "features" / "user_history.parquet").to_pylist()
    assert history[0] == {
        "userId": 1,
        "movieIds": [1, 2, 3, 4],
        "ratings": [4.0, 3.0, 5.0, 4.5],
        "timestamps": [100, 200, 200, 300],
    }


def test_history_limit(tmp_path: Path) -> None:
    row = run(tmp_path, history=2)["samples"][(1, 4)]
    assert row["userRatingCount"] == 2  # the ratings at ts 200 only
    assert row["userAvgRating"] == 4.0
    assert [row["userRatedMovie1"], row["userRatedMovie2"]] == [3, None]
    assert row["userGenre1"] is None  # movie 3 has no genres


def test_until_ignores_later_ratings_everywhere(tmp_path: Path) -> None:
    result = run(tmp_path, until=200)
    assert set(result["samples"]) == {(1, 1), (1, 2), (1, 3), (2, 1)}
    assert result["movies"][(0, 4)]["movieRatingCount"] == 0
    assert result["users"][(1, 0)]["userRatingCount"] == 3
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["as_of"] == 200
    ratings = pq.read_table(tmp_path / "build" / "catalog" / "ratings.parquet")
    assert ratings.num_rows == 4


def test_time_split_puts_the_latest_ratings_in_test(tmp_path: Path) -> None:
    run(tmp_path, test_fraction=0.34)
    test = pq.read_table(tmp_path / "build" / "samples" / "test.parquet").to_pylist()
    # 6 ratings: position floor(6 * 0.66) = 3 of the sorted timestamps is ts 200
    assert sorted(r["timestamp"] for r in test) == [200, 200, 250, 300]
    manifest = json.loads((tmp_path / "build" / "manifest.json").read_text())
    assert manifest["split"]["cutoff_ts"] == 200
    assert manifest["rows"]["train_samples"] == 2


def test_sparrow_compat_reproduces_the_leaky_definitions(tmp_path: Path) -> None:
    samples = run(tmp_path, sparrow_compat=True)["samples"]
    # each user's first two ratings are dropped, as in the original
    assert set(samples) == {(1, 3), (1, 4)}
    # movie statistics over all ratings, the sample's own included
    assert samples[(1, 4)]["movieRatingCount"] == 2
    assert samples[(1, 4)]["movieAvgRating"] == 4.75
    # the window is the previous rows, the same-second rating included
    assert samples[(1, 3)]["userRatingCount"] == 2


def test_sample_fraction_is_seeded(tmp_path: Path) -> None:
    lines = ["userId,movieId,rating,timestamp"] + [
        f"{u},{m},4.0,{1000 + 10 * m}" for u in range(1, 41) for m in range(1, 5)
    ]
    write_dataset(tmp_path / "data", "\n".join(lines) + "\n")
    first = set(run(tmp_path, sample=0.5, seed=3)["samples"])
    again = set(run(tmp_path, sample=0.5, seed=3)["samples"])
    other = set(run(tmp_path, sample=0.5, seed=4)["samples"])
    assert first == again != other
    assert 50 < len(first) < 110


def test_random_split_is_seeded_and_disjoint(tmp_path: Path) -> None:
    result = run(tmp_path, split="random", test_fraction=0.5, seed=1)
    train = pq.read_table(tmp_path / "build" / "samples" / "train.parquet").num_rows
    test = pq.read_table(tmp_path / "build" / "samples" / "test.parquet").num_rows
    assert train + test == len(result["samples"]) == 6


def test_failed_build_keeps_the_previous_build(tmp_path: Path) -> None:
    run(tmp_path)
    before = (tmp_path / "build" / "manifest.json").read_text()
    with pytest.raises(BuildError, match="no ratings"):
        run(tmp_path, until=50)
    assert (tmp_path / "build" / "manifest.json").read_text() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_refuses_to_replace_a_folder_that_is_not_a_build(tmp_path: Path) -> None:
    (tmp_path / "build").mkdir()
    (tmp_path / "build" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not a build"):
        run(tmp_path)
    assert (tmp_path / "build" / "notes.txt").read_text() == "mine"


def test_whole_groups_never_splits_a_key() -> None:
    keys = [1, 1, 2, 2, 2, 3, 4, 4]
    batches = [pa.record_batch({"k": keys[i : i + 3]}) for i in range(0, len(keys), 3)]
    chunks = [t["k"].to_pylist() for t in whole_groups(batches, "k")]
    assert [k for chunk in chunks for k in chunk] == keys
    for a, b in itertools.pairwise(chunks):
        assert a[-1] != b[0]


def test_time_cutoff_and_unit_hash() -> None:
    import numpy as np

    assert definitions.time_cutoff(np.array([5, 1, 3, 2, 4]), 0.2) == 5
    assert definitions.time_cutoff(np.array([5, 1, 3, 2, 4]), 0.6) == 3
    users, movies = np.arange(100_000), np.arange(100_000) % 7
    u = definitions.unit_hash(users, movies, 1)
    assert np.array_equal(u, definitions.unit_hash(users, movies, 1))
    assert u.min() >= 0.0
    assert u.max() < 1.0
    assert abs(float((u < 0.3).mean()) - 0.3) < 0.01
