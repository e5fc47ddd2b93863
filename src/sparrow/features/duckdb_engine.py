"""The embedded engine: DuckDB joins and sorts, `definitions` computes every feature.

Two passes over the ratings, each sorted so that an entity's rows arrive together:
movies by (movieId, timestamp), then users by (userId, timestamp, movieId). One sentinel row
per movie and per user, stamped just after the build time, gets the features "as of now":
those rows become the online feature tables, so online and training features share one
definition.
"""

from collections.abc import Iterator
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow.data.schema import Dataset
from sparrow.features import definitions as fd
from sparrow.features.batches import whole_groups
from sparrow.features.spec import BuildResult, BuildSpec, Progress

BATCH_ROWS = 262_144
USER_COLUMNS = fd.SAMPLE_COLUMNS[fd.SAMPLE_COLUMNS.index("userRatedMovie1") :]


class DuckDBEngine:
    """Runs the feature build in-process on DuckDB and Arrow."""

    name = "duckdb"

    def __init__(self, threads: int | None = None) -> None:
        self.con = duckdb.connect()
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")

    def build(self, ds: Dataset, out: Path, spec: BuildSpec, progress: Progress) -> BuildResult:
        """Write the catalogue, samples and online features into `out`."""
        ratings, tags = ds.ratings, ds.tags
        if spec.until is not None:
            ratings = ratings.filter(pc.less_equal(ratings["ts"], spec.until))
            tags = tags.filter(pc.less_equal(tags["ts"], spec.until))
        if ratings.num_rows == 0:
            raise ValueError("no ratings at or before --until" if spec.until else "no ratings")
        now = (spec.until if spec.until is not None else pc.max(ratings["ts"]).as_py()) + 1
        vocab = fd.genre_vocabulary(ds.items)
        ts = ratings["ts"].to_numpy()
        cutoff = fd.time_cutoff(ts, spec.test_fraction) if spec.split == "time" else None
        if cutoff is not None:
            is_test = ts >= cutoff
        else:
            ids = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
            is_test = fd.unit_hash(*ids, spec.seed + 1) < spec.test_fraction
        ratings = ratings.append_column("rid", pa.array(np.arange(ratings.num_rows)))
        ratings = ratings.append_column("is_test", pa.array(is_test))
        self.con.register("r", ratings)
        self.con.register("items", fd.item_features(ds.items, vocab))
        self.con.register("catalog", ds.items)

        _write_catalog(ds, ratings, tags, out / "catalog")
        (out / "features").mkdir()
        self.con.register("m", self._movie_pass(ratings.num_rows, now, spec, progress))
        counts = self._user_pass(ratings.num_rows, now, vocab, spec, out, progress)
        counts["movies"] = self._write_sql(
            "SELECT i.movieId, c.title, i.releaseYear, i.movieGenre1, i.movieGenre2,"
            " i.movieGenre3, o.movieRatingCount, o.movieAvgRating, o.movieRatingStddev"
            " FROM online_movies o JOIN items i USING (movieId)"
            " JOIN catalog c ON c.item_id = o.movieId ORDER BY movieId",
            out / "features" / "movies.parquet",
        )
        self._write_sql(
            "SELECT user_id AS userId, list(item_id ORDER BY ts, item_id) AS movieIds,"
            " list(rating ORDER BY ts, item_id) AS ratings,"
            " list(ts ORDER BY ts, item_id) AS timestamps"
            " FROM r GROUP BY user_id ORDER BY user_id",
            out / "features" / "user_history.parquet",
        )
        counts |= {"ratings": ratings.num_rows, "items": ds.items.num_rows}
        return BuildResult(rows=counts, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _movie_pass(self, n: int, now: int, spec: BuildSpec, progress: Progress) -> pa.Table:
        """Movie statistics per rating (by rid); sentinel rows give every movie's online stats."""
        rows = self.con.sql(
            "SELECT rid, item_id AS movieId, ts AS timestamp, rating FROM r"
            f" UNION ALL SELECT NULL, movieId, {now}, NULL FROM items"
            " ORDER BY movieId, timestamp, rid NULLS LAST"
        )
        per_rating, online = [], []
        with progress.task("movie features", total=n) as advance:
            for chunk in self._chunks(rows, "movieId"):
                stats = fd.movie_window_features(chunk, spec.definitions)
                sentinel = chunk["rid"].is_null()
                keys = chunk.select(["rid", "movieId"])
                both = pa.Table.from_arrays(
                    [*keys.columns, *stats.columns], [*keys.column_names, *stats.column_names]
                )
                per_rating.append(both.filter(pc.invert(sentinel)).drop_columns(["movieId"]))
                online.append(both.filter(sentinel).drop_columns(["rid"]))
                advance(_count_false(sentinel))
        self.con.register("online_movies", pa.concat_tables(online))
        return pa.concat_tables(per_rating)

    def _user_pass(
        self, n: int, now: int, vocab: list[str], spec: BuildSpec, out: Path, progress: Progress
    ) -> dict[str, int]:
        """User features per rating: samples go to train/test, sentinel rows to online users."""
        rows = self.con.sql(
            "SELECT r.rid, r.user_id AS userId, r.item_id AS movieId, r.rating,"
            " r.ts AS timestamp, r.is_test, i.releaseYear, i.movieGenre1, i.movieGenre2,"
            " i.movieGenre3, m.movieRatingCount, m.movieAvgRating, m.movieRatingStddev,"
            " coalesce(i.genreMask, 0) AS genreMask"
            " FROM r JOIN m USING (rid) LEFT JOIN items i ON i.movieId = r.item_id"
            f" UNION ALL SELECT NULL, user_id, NULL, NULL, {now}, NULL, NULL, NULL, NULL,"
            " NULL, NULL, NULL, NULL, 0 FROM (SELECT DISTINCT user_id FROM r)"
            " ORDER BY userId, timestamp, movieId NULLS LAST, rid"
        )
        writers = {name: _ParquetSink(out / "samples" / f"{name}.parquet") for name in ("train", "test")}
        online = []
        with progress.task("user features", total=n) as advance:
            for chunk in self._chunks(rows, "userId"):
                feats = fd.user_window_features(chunk, vocab, spec.definitions)
                sentinel = chunk["rid"].is_null()
                online.append(
                    pa.Table.from_arrays(
                        [chunk["userId"], *feats.columns], ["userId", *feats.column_names]
                    ).filter(sentinel)
                )
                samples, is_test = fd.samples(chunk, feats, spec.definitions, spec.sample, spec.seed)
                writers["train"].write(samples.filter(pc.invert(is_test)))
                writers["test"].write(samples.filter(is_test))
                advance(_count_false(sentinel))
        users = pa.concat_tables(online)
        pq.write_table(users, out / "features" / "users.parquet")
        counts = {f"{name}_samples": w.close() for name, w in writers.items()}
        return {**counts, "users": users.num_rows}

    @staticmethod
    def _chunks(rel: duckdb.DuckDBPyRelation, key: str) -> Iterator[pa.Table]:
        return whole_groups(rel.to_arrow_reader(BATCH_ROWS), key)

    def _write_sql(self, query: str, path: Path) -> int:
        table = self.con.sql(query).to_arrow_table()
        pq.write_table(table, path)
        return int(table.num_rows)


class _ParquetSink:
    """Streams tables of one schema into a parquet file (written even when empty)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path, self.rows = path, 0
        self.writer: pq.ParquetWriter | None = None

    def write(self, table: pa.Table) -> None:
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema)
        self.writer.write_table(table)
        self.rows += table.num_rows

    def close(self) -> int:
        if self.writer is None:
            pq.write_table(fd.SAMPLE_SCHEMA.empty_table(), self.path)
        else:
            self.writer.close()
        return self.rows


def _write_catalog(ds: Dataset, ratings: pa.Table, tags: pa.Table, folder: Path) -> None:
    """The canonical tables of the build's time window; each rating tagged with its split."""
    folder.mkdir(parents=True)
    split = pc.if_else(ratings["is_test"], "test", "train")
    tables = {
        "ratings": ratings.drop_columns(["rid", "is_test"]).append_column("split", split),
        "items": ds.items,
        "links": ds.links,
        "tags": tags,
    }
    if ds.users is not None:
        tables["users"] = ds.users
    for name, table in tables.items():
        pq.write_table(table, folder / f"{name}.parquet")


def _count_false(mask: pa.ChunkedArray) -> int:
    return len(mask) - int(pc.sum(mask).as_py() or 0)
