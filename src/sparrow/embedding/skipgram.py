"""Skip-gram with negative sampling (gensim Word2Vec), shared by Item2vec and graph walks; and
the `trainer` family's protocol (gensim here, Spark MLlib in `spark.py`)."""

import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import ClassVar, Protocol

import numpy as np

from sparrow.artifacts.vectors import Vectors
from sparrow.embedding.corpus import Corpus


@dataclass(frozen=True)
class SkipGramConfig:
    """Word2Vec hyper-parameters. The original used dim 10, window 5, epochs 10, min_count 5.

    Down-sampling frequent items harder than gensim's default (1e-4, not 1e-3) lifts Item2vec's
    next-movie HR@10 on ml-latest-small from 0.036 to 0.058: popular movies stop dominating
    every context (docs/embeddings.md).
    """

    dim: int = 64
    window: int = 10
    epochs: int = 20
    negative: int = 10
    min_count: int = 5
    sample: float = 1e-4  # down-sampling of very frequent items
    seed: int = 42
    workers: int = 1  # more workers train faster but not reproducibly

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _stable_hash(text: str) -> int:
    """gensim seeds each vector from hash(seed + word); Python's str hash changes per process."""
    return zlib.crc32(text.encode())


def train(sentences: Sequence[np.ndarray], config: SkipGramConfig) -> Vectors:
    """Item vectors from sequences of movieIds (items seen fewer than min_count times: none)."""
    from gensim.models import Word2Vec

    corpus = [[str(item) for item in sentence] for sentence in sentences if len(sentence) > 1]
    model = Word2Vec(
        vector_size=config.dim,
        window=config.window,
        epochs=config.epochs,
        negative=config.negative,
        min_count=config.min_count,
        sample=config.sample,
        sg=1,
        hs=0,
        seed=config.seed,
        workers=config.workers,
        hashfxn=_stable_hash,
    )
    model.build_vocab(corpus)
    keys = model.wv.index_to_key
    if not keys:  # nothing occurs min_count times
        return Vectors(np.zeros(0, np.int64), np.zeros((0, config.dim), np.float32))
    model.train(corpus, total_examples=model.corpus_count, epochs=config.epochs)
    return Vectors(np.array([int(k) for k in keys], np.int64), model.wv.vectors.astype(np.float32))


class Trainer(Protocol):
    """Item vectors from a corpus (a type of the `trainer` family of `plugins.py`)."""

    corpus: ClassVar[str | None]  # the corpus maker it needs (its DataFrame), None: any
    suffix: ClassVar[str]  # added to the method's name: where its vectors are saved

    def train(self, corpus: Corpus, config: SkipGramConfig) -> Vectors: ...


class GensimTrainer:
    """gensim's Word2Vec in this process, on the corpus's sentences."""

    corpus: ClassVar[str | None] = None
    suffix: ClassVar[str] = ""

    def train(self, corpus: Corpus, config: SkipGramConfig) -> Vectors:
        return train(corpus.sentences, config)
