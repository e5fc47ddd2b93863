"""The versioned Redis key schema and value encodings: the one place that names a Redis key.

Every key of a pushed snapshot lives under `{prefix}:{version}:`; `{prefix}:active` names the
version the service reads. `docs/redis.md` documents each key. Encodings are chosen to be fast
to decode: compact JSON for records, little-endian int32 ids and float32 vectors as raw bytes
(a prefix of an id list is read with GETRANGE).
"""

import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from sparrow.store.base import Movie, User, make_ratings, make_user

ID = np.dtype("<i4")  # movie ids in lists (the catalogue's item_id is int32)
VECTOR = np.dtype("<f4")


def active_key(prefix: str) -> str:
    """String: the version the service reads."""
    return f"{prefix}:active"


def versions_key(prefix: str) -> str:
    """Set: every version written or being written (so a push can delete the stale ones)."""
    return f"{prefix}:versions"


def lock_key(prefix: str) -> str:
    """String with a TTL: held while a push runs (one push per prefix at a time)."""
    return f"{prefix}:lock"


def glob_escape(text: str) -> str:
    """`text` with the glob characters of SCAN MATCH escaped."""
    return "".join("\\" + c if c in "*?[]\\" else c for c in text)


@dataclass(frozen=True)
class Keys:
    """The key names of one version."""

    prefix: str
    version: str

    @property
    def base(self) -> str:
        return f"{self.prefix}:{self.version}"

    @property
    def pattern(self) -> str:
        """SCAN MATCH pattern of every key of this version."""
        return glob_escape(self.base) + ":*"

    @property
    def meta(self) -> str:
        return f"{self.base}:meta"

    def movie(self, movie_id: int) -> str:
        return f"{self.base}:movie:{movie_id}"

    def user(self, user_id: int) -> str:
        return f"{self.base}:user:{user_id}"

    def top(self, genre: str, sort_by: str) -> str:
        return f"{self.base}:top:{genre}:{sort_by}"

    def movie_features(self, movie_id: int) -> str:
        return f"{self.base}:mf:{movie_id}"

    def user_features(self, user_id: int) -> str:
        return f"{self.base}:uf:{user_id}"

    def rated(self, user_id: int) -> str:
        return f"{self.base}:rated:{user_id}"

    def liked(self, user_id: int) -> str:
        return f"{self.base}:liked:{user_id}"

    def cooc(self, movie_id: int) -> str:
        return f"{self.base}:cooc:{movie_id}"

    def items(self, method: str) -> str:
        return f"{self.base}:emb:{method}:items"

    def user_vector(self, method: str, user_id: int) -> str:
        return f"{self.base}:emb:{method}:user:{user_id}"

    def profile_prefixes(self, methods: list[str]) -> list[str]:
        """The prefixes of every key a profile reads (`rated`, `liked`, `user_features`,
        `user_vector`), each ending just before the user id: what the service's profile
        cache tracks."""
        return [
            f"{self.base}:rated:",
            f"{self.base}:liked:",
            f"{self.base}:uf:",
            *(f"{self.base}:emb:{method}:user:" for method in methods),
        ]

    def state(self, user_id: int) -> str:
        """The stream processor's `UserState.to_bytes()` of the user (written by the stream
        only)."""
        return f"{self.base}:state:{user_id}"


def encode_ids(ids: np.ndarray) -> bytes:
    return np.asarray(ids).astype(ID).tobytes()


def decode_ids(raw: bytes | None) -> np.ndarray:
    """int64 ids of an encoded list (empty for a missing key)."""
    return np.frombuffer(raw or b"", ID).astype(np.int64)


def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector).astype(VECTOR).tobytes()


def decode_vector(raw: bytes | None) -> np.ndarray | None:
    return None if raw is None else np.frombuffer(raw, VECTOR).copy()


def encode_items(ids: np.ndarray, vectors: np.ndarray) -> dict[str, bytes]:
    """Hash fields of an item-vector blob: ids (int64), vectors (float32, row-major), dim."""
    return {
        "ids": ids.astype("<i8").tobytes(),
        "vectors": encode_vector(vectors),
        "dim": str(vectors.shape[1] if vectors.ndim == 2 else 0).encode(),
    }


def decode_items(fields: dict[bytes, bytes]) -> tuple[np.ndarray, np.ndarray]:
    ids = np.frombuffer(fields[b"ids"], "<i8").astype(np.int64)
    vectors = np.frombuffer(fields[b"vectors"], VECTOR).copy()
    return ids, vectors.reshape(len(ids), int(fields[b"dim"]))


def _json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def encode_movie(m: Movie) -> bytes:
    """[id, title, year, imdb, tmdb, genres, count, average, [[user, score, ts], ...]]."""
    top = [[r.user_id, r.score, r.timestamp] for r in m.top_ratings]
    return _json(
        [
            m.movie_id,
            m.title,
            m.release_year,
            m.imdb_id,
            m.tmdb_id,
            m.genres,
            m.rating_number,
            m.average_rating,
            top,
        ]
    )


def decode_movie(raw: bytes) -> Movie:
    movie_id, title, year, imdb, tmdb, genres, count, average, top = json.loads(raw)
    columns = list(zip(*top, strict=True)) if top else []
    ratings = make_ratings(movie_id, *columns) if columns else []
    return Movie(movie_id, title, year, imdb, tmdb, genres, count, average, ratings)


def encode_user(user_id: int, movies: np.ndarray, scores: np.ndarray, ts: np.ndarray) -> bytes:
    """{"u": id, "m": [movieIds], "s": [scores], "t": [timestamps]}, oldest first."""
    return _json({"u": user_id, "m": movies.tolist(), "s": scores.tolist(), "t": ts.tolist()})


def decode_user(raw: bytes) -> User:
    record = json.loads(raw)
    return make_user(record["u"], record["m"], record["s"], record["t"])


def encode_rows(table: pa.Table) -> list[bytes]:
    """One compact JSON array per row of a feature table, values in column order."""
    columns = [column.to_pylist() for column in table.columns]
    return [_json(list(row)) for row in zip(*columns, strict=True)]


def decode_rows(schema: pa.Schema, ids: list[int], rows: list[bytes | None]) -> pa.Table:
    """The feature table of `ids` from encoded rows; a missing row is nulls but its id."""
    nulls = [None] * (len(schema) - 1)
    values = [json.loads(raw) if raw else [key, *nulls] for key, raw in zip(ids, rows, strict=True)]
    columns = list(zip(*values, strict=True)) if values else [() for _ in schema]
    arrays = [pa.array(c, f.type) for c, f in zip(columns, schema, strict=True)]
    return pa.Table.from_arrays(arrays, schema=schema)


def encode_row(schema: pa.Schema, row: dict[str, Any]) -> bytes:
    """A feature row (column -> value) encoded as `encode_rows` does, in `schema` order."""
    return _json([row[name] for name in schema.names])


def encode_schema(schema: pa.Schema) -> bytes:
    return bytes(schema.serialize().to_pybytes())


def decode_schema(raw: bytes) -> pa.Schema:
    return pa.ipc.read_schema(pa.py_buffer(raw))


@dataclass(frozen=True)
class Meta:
    """The `meta` hash of a version: what the store reads once at start-up."""

    version: str
    config_digest: str
    created: str
    build: str
    methods: list[str]
    genres: list[str]
    counts: dict[str, int]
    movie_schema: pa.Schema
    user_schema: pa.Schema

    def fields(self) -> dict[str, bytes]:
        return {
            "version": self.version.encode(),
            "config_digest": self.config_digest.encode(),
            "created": self.created.encode(),
            "build": self.build.encode(),
            "methods": _json(self.methods),
            "genres": _json(self.genres),
            "counts": _json(self.counts),
            "movie_schema": encode_schema(self.movie_schema),
            "user_schema": encode_schema(self.user_schema),
        }

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> "Meta":
        text = {k.decode(): v for k, v in fields.items()}
        return cls(
            text["version"].decode(),
            text["config_digest"].decode(),
            text["created"].decode(),
            text["build"].decode(),
            json.loads(text["methods"]),
            json.loads(text["genres"]),
            json.loads(text["counts"]),
            decode_schema(text["movie_schema"]),
            decode_schema(text["user_schema"]),
        )
