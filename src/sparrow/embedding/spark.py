"""Embeddings for large data on Spark: sequences, the transition graph and walks on executors.

The same definitions as the local path: sequences are each user's liked training movies in
(ts, movieId) order; the graph counts consecutive pairs; the walks run `graph.deepwalk` /
`graph.node2vec` in the executors' Python workers, each partition with its own share of the
walks and its own seed. Training is gensim in the driver on the sentences Spark produced, or
Spark MLlib's Word2Vec (the original's trainer) on the executors.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pyarrow as pa

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.vectors import Vectors
from sparrow.config import EmbeddingSettings, SparkSettings
from sparrow.embedding.corpus import Corpus
from sparrow.embedding.graph import TransitionGraph
from sparrow.embedding.sequences import positive_threshold
from sparrow.embedding.skipgram import SkipGramConfig
from sparrow.errors import ConfigError

WALK_SCHEMA = pa.schema([("walk", pa.list_(pa.int64()))])


def sequences(spark: Any, build: Path, min_count: int) -> Any:
    """DataFrame (user_id, items array<long>) of each user's liked training movies, in order.

    Movies liked fewer than `min_count` times are left out. Rows are ordered by user_id, as the
    local sequences, so gensim sees the same corpus.
    """
    from pyspark.sql import functions as F  # noqa: N812

    ratings = spark.read.parquet(str(BuildDir(build).catalog("ratings")))
    liked = ratings.where(
        (F.col("split") == "train") & (F.col("rating") >= positive_threshold(build))
    )
    frequent = liked.groupBy("item_id").count().where(F.col("count") >= min_count)
    liked = liked.join(frequent.select("item_id"), "item_id", "left_semi")
    ordered = F.sort_array(F.collect_list(F.struct("ts", "item_id")))
    items = ordered.getField("item_id").cast("array<long>").alias("items")
    return liked.groupBy("user_id").agg(items).orderBy("user_id")


def graph(seqs: Any) -> TransitionGraph:
    """The weighted transition graph of consecutive pairs, counted on the executors."""
    from pyspark.sql import functions as F  # noqa: N812

    pairs = seqs.select(
        F.explode(
            F.arrays_zip(
                F.slice("items", 1, F.size("items") - 1).alias("src"),
                F.slice("items", 2, F.size("items")).alias("dst"),
            )
        ).alias("p")
    ).select("p.src", "p.dst")
    edges = pairs.groupBy("src", "dst").count().toArrow()
    nodes = seqs.select(F.explode("items").alias("item")).distinct().toArrow()["item"].to_numpy()
    return TransitionGraph.from_edges(
        nodes, edges["src"].to_numpy(), edges["dst"].to_numpy(), edges["count"].to_numpy()
    )


def walks(spark: Any, g: TransitionGraph, method: str, s: EmbeddingSettings) -> Any:
    """DataFrame (walk array<long>): `s.walks` walks shared out over the executors."""
    from pyspark.sql.pandas.types import from_arrow_schema

    parts = max(1, spark.sparkContext.defaultParallelism)

    def run(batches: Any) -> Any:
        from sparrow.embedding.graph import deepwalk, node2vec

        for batch in batches:
            for part in batch.column("id").to_pylist():
                count = s.walks // parts + (1 if part < s.walks % parts else 0)
                seed = s.seed * 1_000_003 + part
                if method == "deepwalk":
                    found = deepwalk(g, walks=count, length=s.walk_length, seed=seed)
                else:
                    found = node2vec(g, walks=count, length=s.walk_length, p=s.p, q=s.q, seed=seed)
                yield pa.record_batch(
                    [pa.array([w.tolist() for w in found], WALK_SCHEMA[0].type)], schema=WALK_SCHEMA
                )

    return spark.range(parts, numPartitions=parts).mapInArrow(run, from_arrow_schema(WALK_SCHEMA))


def collect(sentences: Any, column: str) -> list[np.ndarray]:
    """Sentences brought to the driver for gensim."""
    lists = sentences.select(column).toArrow()[column]
    return [np.asarray(x, np.int64) for x in lists.to_pylist()]


def mllib_word2vec(sentences: Any, column: str, config: SkipGramConfig) -> Vectors:
    """Spark MLlib Word2Vec (skip-gram, hierarchical softmax) trained on the executors."""
    from pyspark.ml.feature import Word2Vec
    from pyspark.sql import functions as F  # noqa: N812

    tokens = sentences.select(F.col(column).cast("array<string>").alias("tokens"))
    model = Word2Vec(
        vectorSize=config.dim,
        windowSize=config.window,
        maxIter=config.epochs,
        minCount=config.min_count,
        seed=config.seed,
        inputCol="tokens",
        outputCol="v",
    ).fit(tokens)
    from pyspark.ml.functions import vector_to_array

    table = model.getVectors().select("word", vector_to_array(F.col("vector")).alias("v")).toArrow()
    ids = np.array([int(w) for w in table["word"].to_pylist()], np.int64)
    flat = table["v"].combine_chunks().flatten().to_numpy()
    return Vectors(ids, flat.reshape(len(ids), config.dim).astype(np.float32))


class SparkCorpus:
    """Sequences, graph and walks made on Spark (`features.spark_master` and its settings);
    the sentences are also brought to the driver, for gensim."""

    def __init__(self, spark: SparkSettings) -> None:
        self.settings = spark

    @contextmanager
    def corpus(self, build: Path, method: str, settings: EmbeddingSettings) -> Iterator[Corpus]:
        from sparrow.features.spark_engine import DEFAULT_CONF, spark_session

        session = spark_session(self.settings.master, DEFAULT_CONF | self.settings.conf)
        try:
            frame, column = sequences(session, build, settings.min_count), "items"
            if method != "item2vec":
                frame = walks(session, graph(frame), method, settings)
                column = "walk"
            frame = frame.persist()
            yield Corpus(collect(frame, column), frame, column)
        finally:
            session.stop()


class MLlibTrainer:
    """Spark MLlib's Word2Vec (the original's trainer), on the executors."""

    corpus: ClassVar[str | None] = "spark"
    suffix: ClassVar[str] = "-mllib"  # saved beside gensim's vectors

    def train(self, corpus: Corpus, config: SkipGramConfig) -> Vectors:
        if corpus.frame is None:
            raise ConfigError("the mllib trainer runs on Spark: add --engine spark")
        return mllib_word2vec(corpus.frame, corpus.column, config)
