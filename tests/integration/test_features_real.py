"""The whole feature build on the real ml-latest-small, checked against direct computations."""

import random
import statistics
from pathlib import Path

import duckdb
import pytest

from sparrow.artifacts.layout import BuildDir
from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build


@pytest.fixture(scope="module")
def built(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "ml-latest-small"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    return out


@pytest.fixture(scope="module")
def con(built: Path, ml_latest_small: Path) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW samples AS SELECT * FROM read_parquet(['{built}/samples/train.parquet',"
        f" '{built}/samples/test.parquet'])"
    )
    con.execute(f"CREATE VIEW ratings AS SELECT * FROM read_csv('{ml_latest_small}/ratings.csv')")
    return con


def test_row_counts(built: Path, con: duckdb.DuckDBPyConnection) -> None:
    manifest = BuildDir(built).manifest()
    assert manifest.rows["ratings"] == 100_836
    assert manifest.rows["train_samples"] + manifest.rows["test_samples"] == 100_836
    assert manifest.rows["users"] == 610
    assert manifest.rows["movies"] == 9_742
    test_share = manifest.rows["test_samples"] / 100_836
    assert 0.19 < test_share < 0.21
    cutoff = manifest.split.cutoff_ts
    [(late_train,)] = con.sql(
        f"SELECT count(*) FROM read_parquet('{built}/samples/train.parquet')"
        f" WHERE timestamp >= {cutoff}"
    ).fetchall()
    assert late_train == 0


def test_no_rated_movie_from_the_sample_time_or_later(con: duckdb.DuckDBPyConnection) -> None:
    for k in range(1, 6):
        [(checked, leaks)] = con.sql(
            f"SELECT count(*), count(*) FILTER (WHERE r.timestamp >= s.timestamp OR r.rating < 3.5)"
            f" FROM samples s JOIN ratings r"
            f" ON r.userId = s.userId AND r.movieId = s.userRatedMovie{k}"
        ).fetchall()
        assert checked > 10_000
        assert leaks == 0


def test_movie_statistics_match_a_direct_window(con: duckdb.DuckDBPyConnection) -> None:
    [(rows, mismatches)] = con.sql(
        """
        WITH direct AS (
          SELECT userId, movieId,
            count(*) OVER w AS n, avg(rating) OVER w AS mean, stddev_samp(rating) OVER w AS sd
          FROM ratings
          WINDOW w AS (PARTITION BY movieId ORDER BY timestamp
                       RANGE BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
        SELECT count(*), count(*) FILTER (WHERE s.movieRatingCount != d.n
            OR abs(coalesce(s.movieAvgRating, -1) - coalesce(d.mean, -1)) > 1e-9
            OR abs(coalesce(s.movieRatingStddev, -1) - coalesce(d.sd, -1)) > 1e-9)
        FROM samples s JOIN direct d USING (userId, movieId)
        """
    ).fetchall()
    assert rows == 100_836
    assert mismatches == 0


def test_user_features_match_a_brute_force_recomputation(con: duckdb.DuckDBPyConnection) -> None:
    ratings = con.sql("SELECT userId, movieId, rating, timestamp FROM ratings").fetchall()
    by_user: dict[int, list[tuple[int, int, float, int]]] = {}
    for row in ratings:
        by_user.setdefault(row[0], []).append(row)
    samples = con.sql(
        "SELECT userId, timestamp, userRatingCount, userAvgRating, userRatingStddev,"
        " userRatedMovie1, userRatedMovie5 FROM samples USING SAMPLE 400 ROWS (reservoir, 7)"
    ).fetchall()
    rng = random.Random(7)
    rng.shuffle(samples)
    for user, ts, count, avg, sd, first, fifth in samples:
        past = sorted((r for r in by_user[user] if r[3] < ts), key=lambda r: (r[3], r[1]))[-100:]
        assert count == len(past)
        stars = [r[2] for r in past]
        assert avg == (pytest.approx(statistics.mean(stars), abs=1e-12) if stars else None)
        expected_sd = statistics.stdev(stars) if len(stars) > 1 else None
        assert sd == (pytest.approx(expected_sd, abs=1e-12) if expected_sd is not None else None)
        liked = [r[1] for r in reversed(past) if r[2] >= 3.5]
        assert first == (liked[0] if liked else None)
        assert fifth == (liked[4] if len(liked) > 4 else None)
