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

from sparrow.config import FeatureSettings
from sparrow.data.movielens import load
from sparrow.features import definitions as fd
from sparrow.features import passes
from sparrow.features.batches import whole_groups
from sparrow.features.catalog import write_small_tables
from sparrow.features.sinks import ParquetSink
from sparrow.features.spec import BuildResult, BuildSpec, Progress

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
        cutoff = fd.time_cutoff(ts, spec.test_fraction) if spec.split == "time" else None
        split = fd.Split(spec.test_fraction, spec.seed, cutoff)
        ratings = ratings.append_column("rid", pa.array(np.arange(ratings.num_rows)))
        self.con.register("r", ratings)
        vocab = fd.genre_vocabulary(ds.items)
        static = fd.item_features(ds.items, vocab)
        self.con.register("items", static.select(["movieId"]))

        write_small_tables(ds, spec.until, out / "catalog")
        stats = self._movie_pass(ratings.num_rows, now, spec, progress)
        sentinel = stats["rating"].is_null()
        online = fd.online_movies(ds.items, static, stats.filter(sentinel))
        (out / "features").mkdir()
        pq.write_table(online, out / "features" / "movies.parquet")
        per_rating = stats.filter(pc.invert(sentinel))
        per_rating = per_rating.take(pc.sort_indices(per_rating["rid"]))  # row i: rid i
        by_rid = per_rating.select(list(fd.MOVIE_STATS))
        movies = passes.MovieAttributes(static)
        rows = self._user_pass(
            ratings.num_rows, now, vocab, movies, by_rid, spec, split, out, progress
        )
        rows |= {"ratings": ratings.num_rows, "items": ds.items.num_rows, "movies": online.num_rows}
        return BuildResult(ds.name, ds.layout, rows, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _movie_pass(self, n: int, now: int, spec: BuildSpec, progress: Progress) -> pa.Table:
        """Movie statistics of every rating (by rid) and, on sentinel rows, of every movie now."""
        rows = self.con.sql(
            "SELECT rid, item_id AS movieId, ts AS timestamp, rating FROM r"
            f" UNION ALL SELECT NULL, movieId, {now}, NULL FROM items"
            " ORDER BY movieId, timestamp, rid NULLS LAST"
        )
        parts = []
        with progress.task("movie features", total=n) as advance:
            for chunk in self._chunks(rows, "movieId"):
                stats = passes.movie_chunk(chunk, spec)
                parts.append(stats.select(["rid", "movieId", "rating", *fd.MOVIE_STATS]))
                advance(_count_ratings(chunk))
        return pa.concat_tables(parts)

    def _user_pass(
        self, n: int, now: int, vocab: list[str], movies: passes.MovieAttributes,
        stats: pa.Table, spec: BuildSpec, split: fd.Split, out: Path, progress: Progress,
    ) -> dict[str, int]:  # fmt: skip
        """Samples, histories, split ratings, and from sentinel rows the online users."""
        rows = self.con.sql(
            "SELECT rid, user_id AS userId, item_id AS movieId, rating, ts AS timestamp FROM r"
            f" UNION ALL SELECT NULL, user_id, NULL, NULL, {now}"
            " FROM (SELECT DISTINCT user_id FROM r)"
            " ORDER BY userId, timestamp, movieId NULLS LAST, rating"
        )
        online = []
        with (
            progress.task("user features", total=n) as advance,
            ParquetSink(out / "samples" / "train.parquet", fd.SAMPLE_SCHEMA) as train,
            ParquetSink(out / "samples" / "test.parquet", fd.SAMPLE_SCHEMA) as test,
            ParquetSink(out / "features" / "user_history.parquet", fd.HISTORY_SCHEMA) as history,
            ParquetSink(out / "catalog" / "ratings.parquet", fd.CATALOG_RATINGS_SCHEMA) as ratings,
        ):
            for chunk in self._chunks(rows, "userId"):
                with_stats = pa.Table.from_arrays(
                    [*chunk.columns, *stats.take(chunk["rid"]).columns],
                    [*chunk.column_names, *stats.column_names],
                )
                result = passes.user_chunk(with_stats, movies, vocab, spec, split)
                train.write(result.train)
                test.write(result.test)
                history.write(result.histories)
                ratings.write(result.ratings)
                online.append(result.users)
                advance(_count_ratings(chunk))
        users = pa.concat_tables(online)
        pq.write_table(users, out / "features" / "users.parquet")
        return {"train_samples": train.rows, "test_samples": test.rows, "users": users.num_rows}

    @staticmethod
    def _chunks(rel: duckdb.DuckDBPyRelation, key: str) -> Iterator[pa.Table]:
        return whole_groups(rel.to_arrow_reader(BATCH_ROWS), key)


def _count_ratings(chunk: pa.Table) -> int:
    """Real ratings in a chunk (sentinel rows have no rating)."""
    return int(chunk.num_rows - chunk["rating"].null_count)
