"""The embedded engine: DuckDB sorts, numpy joins, `passes` computes every feature.

Two passes over the ratings, each sorted so that an entity's rows arrive together:
movies by (movieId, timestamp), then users by (userId, timestamp, movieId, rating). One
sentinel row per movie and per user, stamped just after the build time, gets the features
"as of now": those rows become the online feature tables, so online and training features
share one definition. The sorts carry only narrow rows; movie statistics are joined back by
row id and movie attributes by array lookups, which keeps 25M ratings within a few GB.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow.artifacts.layout import BuildDir, BuildSpec
from sparrow.artifacts.schema import (
    CATALOG_RATINGS_SCHEMA,
    HISTORY_SCHEMA,
    MOVIE_STATS,
    SAMPLE_SCHEMA,
)
from sparrow.config import FeatureSettings
from sparrow.data.movielens import load
from sparrow.features import definitions, passes
from sparrow.features.batches import whole_groups
from sparrow.features.catalog import write_small_tables
from sparrow.features.sinks import ParquetSink
from sparrow.features.spec import BuildResult, Progress

BATCH_ROWS = 262_144


class DuckDBEngine:
    """Runs the feature build in-process on DuckDB and Arrow."""

    def __init__(self, settings: FeatureSettings) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")

    def build(self, data: Path, out: Path, spec: BuildSpec, progress: Progress) -> BuildResult:
        """Read the dataset folder `data`; write catalogue, samples and online features to `out`."""
        with progress.task("load data", total=1):
            ds = load(data)
        ratings = ds.ratings
        if spec.until is not None:
            ratings = ratings.filter(pc.less_equal(ratings["ts"], spec.until))
        if ratings.num_rows == 0:
            raise ValueError("no ratings at or before --until" if spec.until else "no ratings")
        now = (spec.until if spec.until is not None else pc.max(ratings["ts"]).as_py()) + 1
        ts = ratings["ts"].to_numpy()
        cutoff = definitions.time_cutoff(ts, spec.test_fraction) if spec.split == "time" else None
        split = definitions.Split(spec.test_fraction, spec.seed, cutoff)
        ratings = ratings.append_column("rid", pa.array(np.arange(ratings.num_rows)))
        self.con.register("r", ratings)
        vocab = definitions.genre_vocabulary(ds.items)
        static = definitions.item_features(ds.items, vocab)
        self.con.register("items", static.select(["movieId"]))

        build = BuildDir(out)
        write_small_tables(ds, spec.until, build)
        by_rid = _StatsByRid(ratings.num_rows)
        now_stats = self._movie_pass(now, spec, by_rid, progress)
        online = definitions.online_movies(ds.items, static, now_stats)
        build.features_dir.mkdir()
        pq.write_table(online, build.features("movies"))
        movies = passes.MovieAttributes(static)
        rows = self._user_pass(
            ratings.num_rows, now, vocab, movies, by_rid, spec, split, build, progress
        )
        rows |= {"ratings": ratings.num_rows, "items": ds.items.num_rows, "movies": online.num_rows}
        return BuildResult(ds.name, ds.layout, rows, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _movie_pass(
        self, now: int, spec: BuildSpec, by_rid: "_StatsByRid", progress: Progress
    ) -> pa.Table:
        """Movie statistics of every rating into `by_rid`; returns every movie's stats now."""
        rows = self.con.sql(
            "SELECT rid, item_id AS movieId, ts AS timestamp, rating FROM r"
            f" UNION ALL SELECT NULL, movieId, {now}, NULL FROM items"
            " ORDER BY movieId, timestamp, rid NULLS LAST"
        )
        online = []
        with progress.task("movie features", total=len(by_rid.count)) as advance:
            for chunk in self._chunks(rows, "movieId"):
                stats = passes.movie_chunk(chunk, spec)
                sentinel = stats["rating"].is_null()
                by_rid.put(stats.filter(pc.invert(sentinel)))
                online.append(stats.filter(sentinel).select(["movieId", *MOVIE_STATS]))
                advance(_count_ratings(chunk))
        return pa.concat_tables(online)

    def _user_pass(
        self,
        n: int,
        now: int,
        vocab: list[str],
        movies: passes.MovieAttributes,
        stats: "_StatsByRid",
        spec: BuildSpec,
        split: definitions.Split,
        build: BuildDir,
        progress: Progress,
    ) -> dict[str, int]:
        """Samples, histories, split ratings and online users, chunk by chunk of users."""
        rows = self.con.sql(
            "SELECT rid, user_id AS userId, item_id AS movieId, rating, ts AS timestamp FROM r"
            " ORDER BY userId, timestamp, movieId, rating"
        )
        online = []
        with (
            progress.task("user features", total=n) as advance,
            ParquetSink(build.samples("train"), SAMPLE_SCHEMA) as train,
            ParquetSink(build.samples("test"), SAMPLE_SCHEMA) as test,
            ParquetSink(build.features("user_history"), HISTORY_SCHEMA) as history,
            ParquetSink(build.catalog("ratings"), CATALOG_RATINGS_SCHEMA) as ratings,
        ):
            for chunk in self._chunks(rows, "userId"):
                found = stats.take(chunk["rid"])
                with_stats = pa.Table.from_arrays(
                    [*chunk.columns, *found.columns], [*chunk.column_names, *found.column_names]
                )
                result = passes.user_chunk(with_stats, movies, vocab, spec, split, now)
                train.write(result.train)
                test.write(result.test)
                history.write(result.histories)
                ratings.write(result.ratings)
                online.append(result.users)
                advance(chunk.num_rows)
        users = pa.concat_tables(online)
        pq.write_table(users, build.features("users"))
        return {"train_samples": train.rows, "test_samples": test.rows, "users": users.num_rows}

    @staticmethod
    def _chunks(rel: duckdb.DuckDBPyRelation, key: str) -> Iterator[pa.Table]:
        return whole_groups(rel.to_arrow_reader(BATCH_ROWS), key)


class _StatsByRid:
    """The movie statistics of every rating in numpy arrays indexed by row id (NaN: null)."""

    def __init__(self, n: int) -> None:
        self.count = np.zeros(n, dtype=np.int64)
        self.mean = np.full(n, np.nan)
        self.std = np.full(n, np.nan)

    def put(self, stats: pa.Table) -> None:
        """Store rows of `movie_chunk` output (rid and statistics)."""
        rid = stats["rid"].to_numpy()
        self.count[rid] = stats["movieRatingCount"].to_numpy()
        self.mean[rid] = stats["movieAvgRating"].to_numpy()
        self.std[rid] = stats["movieRatingStddev"].to_numpy()

    def take(self, rid: pa.ChunkedArray) -> pa.Table:
        """The statistics of these row ids; null rows where `rid` is null (sentinels)."""
        missing = rid.is_null().to_numpy(zero_copy_only=False)
        at = rid.fill_null(0).to_numpy()
        mean, std = self.mean[at], self.std[at]
        return pa.table(
            {
                "movieRatingCount": pa.array(self.count[at], mask=missing),
                "movieAvgRating": pa.array(mean, mask=missing | np.isnan(mean)),
                "movieRatingStddev": pa.array(std, mask=missing | np.isnan(std)),
            }
        )


def _count_ratings(chunk: pa.Table) -> int:
    """Real ratings in a chunk (sentinel rows have no rating)."""
    return int(chunk.num_rows - chunk["rating"].null_count)
