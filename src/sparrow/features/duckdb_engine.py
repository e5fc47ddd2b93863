"""The embedded engine: DuckDB sorts, numpy joins, `definitions` computes every feature.

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

from sparrow.data.movielens import load
from sparrow.data.schema import Dataset
from sparrow.features import definitions as fd
from sparrow.features.batches import whole_groups
from sparrow.features.spec import BuildResult, BuildSpec, Progress

BATCH_ROWS = 262_144
MOVIE_STATS = ("movieRatingCount", "movieAvgRating", "movieRatingStddev")


class DuckDBEngine:
    """Runs the feature build in-process on DuckDB and Arrow."""

    name = "duckdb"

    def __init__(self) -> None:
        self.con = duckdb.connect()
        self.con.execute("SET enable_progress_bar = false")

    def build(self, data: Path, out: Path, spec: BuildSpec, progress: Progress) -> BuildResult:
        """Read the dataset folder `data`; write catalogue, samples and online features to `out`."""
        with progress.task("load data", total=1):
            ds = load(data)
        ratings, tags = ds.ratings, ds.tags
        if spec.until is not None:
            ratings = ratings.filter(pc.less_equal(ratings["ts"], spec.until))
            tags = tags.filter(pc.less_equal(tags["ts"], spec.until))
        if ratings.num_rows == 0:
            raise ValueError("no ratings at or before --until" if spec.until else "no ratings")
        now = (spec.until if spec.until is not None else pc.max(ratings["ts"]).as_py()) + 1
        ts = ratings["ts"].to_numpy()
        cutoff = fd.time_cutoff(ts, spec.test_fraction) if spec.split == "time" else None
        if cutoff is not None:
            is_test = ts >= cutoff
        else:
            ids = ratings["user_id"].to_numpy(), ratings["item_id"].to_numpy()
            is_test = fd.unit_hash(*ids, spec.seed + 1) < spec.test_fraction
        ratings = ratings.append_column("rid", pa.array(np.arange(ratings.num_rows)))
        self.con.register("r", ratings)
        vocab = fd.genre_vocabulary(ds.items)
        items = ds.items.take(pc.sort_indices(ds.items["item_id"]))
        movies = _MovieLookup(fd.item_features(items, vocab))
        self.con.register("items", movies.table)

        with progress.task("catalogue", total=1):
            _write_catalog(ds, ratings.drop_columns("rid"), is_test, tags, out / "catalog")
        (out / "features").mkdir()
        stats, stats_now = self._movie_pass(ratings.num_rows, now, spec, progress)
        # sentinel rows come out of the movie pass in movieId order, as `items`
        static = movies.table.drop_columns(["movieId", "genreMask"])
        online = pa.table(
            {"movieId": items["item_id"], "title": items["title"], **_columns(static),
             **_columns(stats_now.drop_columns("movieId"))}
        )  # fmt: skip
        pq.write_table(online, out / "features" / "movies.parquet")
        joined = _Joined(movies, stats, is_test)
        rows = self._user_pass(ratings.num_rows, now, vocab, joined, spec, out, progress)
        rows |= {"ratings": ratings.num_rows, "items": ds.items.num_rows, "movies": online.num_rows}
        return BuildResult(ds.name, ds.layout, rows, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _movie_pass(
        self, n: int, now: int, spec: BuildSpec, progress: Progress
    ) -> tuple[pa.Table, pa.Table]:
        """Movie statistics per rating (row i = rid i) and, from sentinel rows, per movie now."""
        rows = self.con.sql(
            "SELECT rid, item_id AS movieId, ts AS timestamp, rating FROM r"
            f" UNION ALL SELECT NULL, movieId, {now}, NULL FROM items"
            " ORDER BY movieId, timestamp, rid NULLS LAST"
        )
        per_rating, online = [], []
        with progress.task("movie features", total=n) as advance:
            for chunk in self._chunks(rows, "movieId"):
                stats = fd.movie_window_features(chunk, spec.definitions)
                stats = stats.append_column("rid", chunk["rid"]).append_column(
                    "movieId", chunk["movieId"]
                )
                sentinel = chunk["rid"].is_null()
                per_rating.append(stats.filter(pc.invert(sentinel)).drop_columns("movieId"))
                online.append(stats.filter(sentinel).drop_columns("rid"))
                advance(_count_false(sentinel))
            by_rid = pa.concat_tables(per_rating)
            by_rid = by_rid.take(pc.sort_indices(by_rid["rid"])).drop_columns("rid")
        return by_rid, pa.concat_tables(online)

    def _user_pass(
        self, n: int, now: int, vocab: list[str], joined: "_Joined", spec: BuildSpec, out: Path,
        progress: Progress,
    ) -> dict[str, int]:  # fmt: skip
        """User features per rating: samples go to train/test, sentinel rows to online users."""
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
                chunk = joined.enrich(chunk)
                feats = fd.user_window_features(chunk, vocab, spec.definitions)
                sentinel = chunk["rid"].is_null()
                online.append(
                    pa.Table.from_arrays(
                        [chunk["userId"], *feats.columns], ["userId", *feats.column_names]
                    ).filter(sentinel)
                )
                history.write(fd.histories(chunk.filter(pc.invert(sentinel))))
                samples, is_test = fd.samples(
                    chunk, feats, spec.definitions, spec.sample, spec.seed
                )
                train.write(samples.filter(pc.invert(is_test)))
                test.write(samples.filter(is_test))
                advance(_count_false(sentinel))
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
    """Joins movie attributes, per-rating movie statistics and the split onto user-pass rows."""

    def __init__(self, movies: _MovieLookup, stats: pa.Table, is_test: np.ndarray) -> None:
        self.movies, self.stats, self.is_test = movies, stats, pa.array(is_test)

    def enrich(self, chunk: pa.Table) -> pa.Table:
        rid = chunk["rid"]
        movie = self.movies.table.take(
            self.movies.rows(chunk["movieId"].fill_null(-1).to_numpy())
        ).drop_columns("movieId")
        stats = self.stats.take(rid)
        split = self.is_test.take(rid)
        columns = {**_columns(chunk), **_columns(movie), **_columns(stats), "is_test": split}
        columns["genreMask"] = pc.fill_null(columns["genreMask"], 0)
        return pa.table(columns)


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


def _write_catalog(
    ds: Dataset, ratings: pa.Table, is_test: np.ndarray, tags: pa.Table, folder: Path
) -> None:
    """The canonical tables of the build's time window; each rating tagged with its split."""
    folder.mkdir(parents=True)
    split = pa.DictionaryArray.from_arrays(pa.array(is_test.astype(np.int8)), ["train", "test"])
    tables = {
        "ratings": ratings.append_column("split", split),
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
