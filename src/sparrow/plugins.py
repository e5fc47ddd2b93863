"""The one table of backends: {family: {type: "module:Class"}}, imported only when chosen."""

import importlib
from typing import Any

from sparrow.errors import ConfigError

BACKENDS: dict[str, dict[str, str]] = {
    "engine": {
        "duckdb": "sparrow.features.duckdb_engine:DuckDBEngine",
        "spark": "sparrow.features.spark_engine:SparkEngine",
    },
    "index": {
        "exact": "sparrow.embedding.index:ExactIndex",
        "lsh": "sparrow.embedding.lsh:LSHIndex",
        "hnsw": "sparrow.embedding.hnsw:HNSWIndex",
    },
    "store": {
        "memory": "sparrow.store.memory_store:MemoryStore",
        "redis": "sparrow.store.redis_store:RedisStore",
    },
}


def load_backend(family: str, kind: str) -> Any:
    """The class implementing backend `kind` of `family` (ConfigError naming the choices)."""
    choices = BACKENDS[family]
    if kind not in choices:
        raise ConfigError(f"unknown {family} {kind!r}; choose one of: {', '.join(choices)}")
    module, _, name = choices[kind].partition(":")
    return getattr(importlib.import_module(module), name)
