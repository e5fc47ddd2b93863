"""What the skip-gram trainer reads: the sentences of an embedding method, made locally or on
Spark (the `corpus` family of `plugins.py`).

Item2vec's sentences are each user's liked training movies in time order; DeepWalk's and
Node2vec's are random walks on the transition graph of those sequences.
"""

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from sparrow.config import EmbeddingSettings, SparkSettings
from sparrow.embedding.sequences import item_sequences, positive_history

METHODS = ("item2vec", "deepwalk", "node2vec")


@dataclass(frozen=True)
class Corpus:
    """Sentences of movieIds; on Spark also the DataFrame holding them (column `column`), for a
    trainer that runs there."""

    sentences: list[np.ndarray]
    frame: Any = None
    column: str = ""


class CorpusMaker(Protocol):
    """Makes the corpus of a method from a build (a type of the `corpus` family)."""

    def __init__(self, spark: SparkSettings) -> None: ...

    def corpus(
        self, build: Path, method: str, settings: EmbeddingSettings
    ) -> AbstractContextManager[Corpus]:
        """The sentences `method` trains on, from the build's training period; what holds them
        (a Spark session) lives until the context ends, so a trainer on Spark can read them."""
        ...


def walks(method: str, sequences: list[np.ndarray], s: EmbeddingSettings) -> list[np.ndarray]:
    """What the skip-gram trainer reads: the sequences themselves, or walks on their graph."""
    if method == "item2vec":
        return sequences
    from sparrow.embedding.graph import TransitionGraph, deepwalk, node2vec

    graph = TransitionGraph.from_sequences(sequences)
    if method == "deepwalk":
        return deepwalk(graph, walks=s.walks, length=s.walk_length, seed=s.seed)
    return node2vec(graph, walks=s.walks, length=s.walk_length, p=s.p, q=s.q, seed=s.seed)


class LocalCorpus:
    """Sequences, graph and walks in this process (numpy)."""

    def __init__(self, spark: SparkSettings) -> None:
        pass

    @contextmanager
    def corpus(self, build: Path, method: str, settings: EmbeddingSettings) -> Iterator[Corpus]:
        sequences = item_sequences(positive_history(build, settings.min_count))
        yield Corpus(walks(method, sequences, settings))
