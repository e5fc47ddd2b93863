"""The one table of backends: {family: its protocol and {type: "module:Class"}}, imported only
when chosen.

A backend is chosen by a `type` string of the settings (`features.engine`, `store.type`, ...);
no other code branches on it. `load_backend` imports the class and checks that it has every
member of its family's protocol, so a backend added here fails at once, by name, when it does
not fit. Each family has a contract suite in `tests/contract/` run over every type of this table.
"""

import importlib
from dataclasses import dataclass, field
from typing import Any

from sparrow.errors import ConfigError


@dataclass(frozen=True)
class Family:
    """The backends of one role: the protocol they implement and where each type lives."""

    protocol: str  # "module:Name" of a typing.Protocol or an abstract base class
    types: dict[str, str]
    aliases: dict[str, str] = field(default_factory=dict)  # other spellings of a type


BACKENDS: dict[str, Family] = {
    "engine": Family(  # batch engine of the feature build
        "sparrow.features.spec:Engine",
        {
            "duckdb": "sparrow.features.duckdb_engine:DuckDBEngine",
            "spark": "sparrow.features.spark_engine:SparkEngine",
        },
        aliases={"embedded": "duckdb"},
    ),
    "corpus": Family(  # where embedding sequences, graphs and walks are made
        "sparrow.embedding.corpus:CorpusMaker",
        {
            "local": "sparrow.embedding.corpus:LocalCorpus",
            "spark": "sparrow.embedding.spark:SparkCorpus",
        },
    ),
    "trainer": Family(  # skip-gram trainer of the embeddings
        "sparrow.embedding.skipgram:Trainer",
        {
            "gensim": "sparrow.embedding.skipgram:GensimTrainer",
            "mllib": "sparrow.embedding.spark:MLlibTrainer",
        },
    ),
    "index": Family(  # nearest-neighbour index over item vectors
        "sparrow.index.base:ItemIndex",
        {
            "exact": "sparrow.index.exact:ExactIndex",
            "lsh": "sparrow.index.lsh:LSHIndex",
            "hnsw": "sparrow.index.hnsw:HNSWIndex",
        },
    ),
    "store": Family(  # the online store
        "sparrow.store.backend:StoreBackend",
        {
            "memory": "sparrow.store.memory_store:MemoryStore",
            "redis": "sparrow.store.redis_store:RedisStore",
        },
    ),
    "event_log": Family(  # where events wait for the stream processor
        "sparrow.stream.log:EventLog",
        {
            "file": "sparrow.stream.file_log:FileLog",
            "redis": "sparrow.stream.redis_log:RedisLog",
        },
    ),
    "stream_runner": Family(  # what runs the stream processor
        "sparrow.stream.runner:StreamRunner",
        {
            "embedded": "sparrow.stream.embedded:EmbeddedRunner",
            "flink": "sparrow.stream.flink_launch:FlinkRunner",
        },
    ),
}


def resolve(family: str, kind: str) -> str:
    """The type `kind` names in `family`, aliases resolved; ConfigError naming the choices (the
    settings validate every backend type with it, so each is refused with the same line)."""
    found = BACKENDS[family]
    name = found.aliases.get(kind, kind)
    if name not in found.types:
        choices = ", ".join([*found.types, *found.aliases])
        raise ConfigError(f"unknown {family.replace('_', ' ')} {kind!r}; choose one of: {choices}")
    return name


def load_backend(family: str, kind: str) -> Any:
    """The class implementing type `kind` of `family`, checked against the family's protocol."""
    found = BACKENDS[family]
    name = resolve(family, kind)
    cls = _import(found.types[name])
    protocol = _import(found.protocol)
    if getattr(protocol, "_is_protocol", False):
        missing = [m for m in members(protocol) if not hasattr(cls, m)]
        if missing:
            raise TypeError(f"{found.types[name]} lacks {', '.join(missing)} of {found.protocol}")
    elif not issubclass(cls, protocol):
        raise TypeError(f"{found.types[name]} is not a {found.protocol}")
    return cls


def members(protocol: type) -> list[str]:
    """The public methods and attributes a protocol asks for (its own and its protocol bases')."""
    names: dict[str, None] = {}
    for base in reversed(protocol.__mro__):
        if getattr(base, "_is_protocol", False) and base.__module__ != "typing":
            names |= dict.fromkeys(vars(base).get("__annotations__", {}))
            names |= dict.fromkeys(vars(base))
    return [n for n in names if not n.startswith("_")]


def _import(path: str) -> Any:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)
