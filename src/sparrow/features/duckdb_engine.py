"""The embedded engine: DuckDB sorts, numpy joins, `passes` computes every feature.

Two passes over the ratings, each sorted so that an entity's rows arrive together:
movies by (movieId, timestamp), then users by (userId, timestamp, movieId). One sentinel row
per movie and per user, stamped just after the build time, gets the features "as of now":
those rows become the online feature tables, so online and training features share one
definition. The sorts carry only narrow rows; movie attributes and statistics are joined back
by array lookups, which keeps 25M ratings within a few GB.
"""

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
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
        items = ds.items.take(pc.sort_indices(ds.items["item_id"]))
        movies = _MovieLookup(fd.item_features(items, vocab))
        self.con.register("items", movies.table)

        with progress.task("catalogue", total=1):
            is_test = split.is_test(
                ts, ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
            )
            write_small_tables(ds, spec.until, out / "catalog")
            pq.write_table(
                fd.catalog_ratings(ratings.drop_columns("rid"), is_test),
                out / "catalog" / "ratings.parquet",
            )
        (out / "features").mkdir()
        stats = self._movie_pass(ratings.num_rows, now, spec, progress)
        sentinel = stats["rid"].is_null()
        online = fd.online_movies(items, movies.table, stats.filter(sentinel))
        pq.write_table(online, out / "features" / "movies.parquet")
        per_rating = stats.filter(pc.invert(sentinel))
        per_rating = per_rating.take(pc.sort_indices(per_rating["rid"]))  # row i: rid i
        joined = _Joined(movies, per_rating.select(list(fd.MOVIE_STATS)))
        rows = self._user_pass(ratings.num_rows, now, vocab, joined, spec, split, out, progress)
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
                parts.append(passes.movie_chunk(chunk, spec))
                advance(_count_ratings(chunk))
        return pa.concat_tables(parts)

    def _user_pass(
        self, n: int, now: int, vocab: list[str], joined: "_Joined", spec: BuildSpec,
        split: fd.Split, out: Path, progress: Progress,
    ) -> dict[str, int]:  # fmt: skip
        """Samples to train/test, histories, and sentinel rows to online users."""
        rows = self.con.sql(
            "SELECT rid, user_id AS userId, item_id AS movieId, rating, ts AS timestamp FROM r"
            f" UNION ALL SELECT NULL, user_id, NULL, NULL, {now}"
            " FROM (SELECT DISTINCT user_id FROM r)"
            " ORDER BY userId, timestamp, movieId NULLS LAST, rid"
        )
        online = []
        with (
            progress.task("user features", total=n) as advance,
            _ParquetSink(out / "samples" / "train.parquet", fd.SAMPLE_SCHEMA) as train,
            _ParquetSink(out / "samples" / "test.parquet", fd.SAMPLE_SCHEMA) as test,
            _ParquetSink(out / "features" / "user_history.parquet", fd.HISTORY_SCHEMA) as history,
        ):
            for chunk in self._chunks(rows, "userId"):
                result = passes.user_chunk(joined.enrich(chunk), vocab, spec, split)
                train.write(result.train)
                test.write(result.test)
                history.write(result.histories)
                online.append(result.users)
                advance(_count_ratings(chunk))
        users = pa.concat_tables(online)
        pq.write_table(users, out / "features" / "users.parquet")
        return {"train_samples": train.rows, "test_samples": test.rows, "users": users.num_rows}

    @staticmethod
    def _chunks(rel: duckdb.DuckDBPyRelation, key: str) -> Iterator[pa.Table]:
        return whole_groups(rel.to_arrow_reader(BATCH_ROWS), key)


class _MovieLookup:
    """Static movie features (sorted by movieId), found by movieId with a binary search."""

    def __init__(self, table: pa.Table) -> None:
        self.table = table
        self.ids = self.table["movieId"].to_numpy()

    def rows(self, movie_ids: np.ndarray) -> pa.Array:
        """Row index of each movieId in `table`, null where the catalogue lacks it."""
        pos = np.minimum(np.searchsorted(self.ids, movie_ids), max(len(self.ids) - 1, 0))
        return pa.array(pos, mask=self.ids[pos] != movie_ids)


class _Joined:
    """Joins movie attributes and per-rating movie statistics (row i: rid i) onto user rows."""

    def __init__(self, movies: _MovieLookup, stats: pa.Table) -> None:
        self.movies, self.stats = movies, stats

    def enrich(self, chunk: pa.Table) -> pa.Table:
        movie = self.movies.table.take(
            self.movies.rows(chunk["movieId"].fill_null(-1).to_numpy())
        ).drop_columns("movieId")
        stats = self.stats.take(chunk["rid"])
        return pa.table({**_columns(chunk), **_columns(movie), **_columns(stats)})


def _columns(table: pa.Table) -> dict[str, pa.ChunkedArray]:
    return dict(zip(table.column_names, table.columns, strict=True))


class _ParquetSink:
    """Streams tables of one schema into a parquet file on a background thread.

    Encoding parquet releases the GIL, so writing overlaps with computing the next chunk; at
    most `MAX_PENDING` tables wait. The file is written even when no rows arrive.
    """

    MAX_PENDING = 2

    def __init__(self, path: Path, schema: pa.Schema) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.writer = pq.ParquetWriter(path, schema)
        self.thread = ThreadPoolExecutor(max_workers=1)
        self.pending: deque[Future[None]] = deque()
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        while len(self.pending) >= self.MAX_PENDING:
            self.pending.popleft().result()
        self.pending.append(self.thread.submit(self.writer.write_table, table))
        self.rows += table.num_rows

    def __enter__(self) -> "_ParquetSink":
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            while self.pending:
                self.pending.popleft().result()
        finally:
            self.thread.shutdown()
            self.writer.close()


def _count_ratings(chunk: pa.Table) -> int:
    """Real ratings in a chunk (sentinel rows have no rating)."""
    return int(chunk.num_rows - chunk["rating"].null_count)
