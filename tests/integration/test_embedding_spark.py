"""Embeddings with --engine spark: the same sequences, graph and (gensim) vectors as locally."""

import itertools
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sparrow.artifacts.vectors import load_items
from sparrow.config import EmbeddingSettings, FeatureSettings
from sparrow.embedding import spark as on_spark
from sparrow.embedding.graph import TransitionGraph
from sparrow.embedding.sequences import item_sequences, positive_history
from sparrow.features.pipeline import build
from sparrow.features.spark_engine import DEFAULT_CONF, spark_session

SPARROW = str(Path(sys.executable).parent / "sparrow")


@pytest.fixture(scope="module")
def built(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("embed-spark") / "build"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    return out


def test_sequences_graph_and_walks_on_spark_match_the_local_ones(built: Path) -> None:
    local = item_sequences(positive_history(built, min_count=5))
    expected = TransitionGraph.from_sequences(local)
    session = spark_session("local[2]", DEFAULT_CONF)
    try:
        frame = on_spark.sequences(session, built, min_count=5)
        assert [s.tolist() for s in on_spark.collect(frame, "items")] == [s.tolist() for s in local]
        graph = on_spark.graph(frame)
        for name in ("nodes", "indptr", "indices", "weights"):
            assert np.array_equal(getattr(graph, name), getattr(expected, name)), name
        settings = EmbeddingSettings(walks=500, walk_length=6, p=0.5, q=2.0)
        walks = on_spark.collect(on_spark.walks(session, graph, "node2vec", settings), "walk")
    finally:
        session.stop()
    assert len(walks) == 500
    edges = set(
        zip(
            np.repeat(graph.nodes, np.diff(graph.indptr)).tolist(),
            graph.nodes[graph.indices].tolist(),
            strict=True,
        )
    )
    steps = {(int(a), int(b)) for w in walks for a, b in itertools.pairwise(w)}
    assert steps <= edges and len(steps) > 100


def test_spark_engine_gives_the_local_vectors_and_mllib_trains_too(built: Path) -> None:
    env = os.environ | {"COLUMNS": "200"}
    common = ["--build", str(built), "--epochs", "5"]
    spark = ["--engine", "spark", "--spark-master", "local[2]"]
    for args in ([], spark, [*spark, "--trainer", "mllib"]):
        done = subprocess.run(
            [SPARROW, "embed", "item2vec", *common, *args],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        if not args:
            local = load_items(built, "item2vec")
    on_spark_vectors = load_items(built, "item2vec")
    assert np.array_equal(on_spark_vectors.ids, local.ids)
    assert np.array_equal(on_spark_vectors.vectors, local.vectors)
    mllib = load_items(built, "item2vec-mllib")
    assert mllib.vectors.shape[1] == 64 and len(mllib.ids) > 1000
    done = subprocess.run(
        [SPARROW, "embed", "evaluate", "--build", str(built)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "item2vec-mllib (last item)" in done.stdout and "mllib on spark" in done.stdout
