"""Encoders fitted on the training samples and saved with each model; serving loads the same.

They turn rows with the sample columns (`features.definitions.SAMPLE_SCHEMA`, whether training
samples or rows assembled online from the feature store) into the model inputs of
`sparrow.models.spec`:

- ids (movies, users, genres) become vocabulary indices: 0 for a missing value (padding), 1 for a
  value not in the vocabulary (a new movie or user), 2.. for the values seen in training at least
  `min_count` times; the history (userRatedMovie1..5) uses the movie vocabulary;
- numeric columns are standardised with the training mean and standard deviation, counts after
  log1p (the original fed raw counts and years to the network); a missing value becomes the
  training mean, i.e. 0.

Pure numpy and pyarrow (no torch), so the serving process can use it.
"""

import json
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.errors import DataError
from sparrow.features.definitions import (
    MOVIE_GENRE_SLOTS,
    USER_GENRE_SLOTS,
    USER_MOVIE_SLOTS,
)
from sparrow.models.spec import NUMERIC, OOV, PAD, FeatureSpec

MOVIE_GENRES = tuple(f"movieGenre{k}" for k in range(1, MOVIE_GENRE_SLOTS + 1))
USER_GENRES = tuple(f"userGenre{k}" for k in range(1, USER_GENRE_SLOTS + 1))
HISTORY = tuple(f"userRatedMovie{k}" for k in range(1, USER_MOVIE_SLOTS + 1))
LOG_SCALED = ("movieRatingCount", "userRatingCount")
COLUMNS = ("movieId", "userId", *MOVIE_GENRES, *USER_GENRES, *HISTORY, *NUMERIC)
FILE = "encoders.json"


def _frequent(values: pa.Array, min_count: int) -> pa.Array:
    """The distinct non-null values seen at least `min_count` times, sorted."""
    counts = pc.value_counts(values.drop_null())
    keep = pc.greater_equal(counts.field("counts"), min_count)
    return counts.field("values").filter(keep).sort()


@dataclass(frozen=True)
class Encoders:
    """Vocabularies (index = position + 2) and numeric standardisation, as fitted."""

    movies: pa.Array  # int32 movieIds
    users: pa.Array  # int32 userIds
    genres: pa.Array  # string genre names
    mean: np.ndarray  # (len(NUMERIC),) after log1p of LOG_SCALED columns
    std: np.ndarray  # (len(NUMERIC),)

    @classmethod
    def fit(cls, train: pa.Table, min_count: int = 2) -> "Encoders":
        """Fit on training samples: ids seen `min_count` times, numeric mean and std."""
        missing = [c for c in COLUMNS if c not in train.column_names]
        if missing:
            raise DataError(f"samples lack the columns {', '.join(missing)}")
        movie_ids = pa.chunked_array(
            [c for name in ("movieId", *HISTORY) for c in train[name].cast(pa.int32()).chunks]
        )
        genres = pa.chunked_array(
            [c for name in (*MOVIE_GENRES, *USER_GENRES) for c in train[name].chunks]
        )
        numeric = _numeric(train)  # (N, F) with NaN for missing
        known = np.maximum((~np.isnan(numeric)).sum(0), 1)  # (F,) a column never known: mean 0
        mean = np.nansum(numeric, 0) / known
        std = np.sqrt(np.nansum((numeric - mean) ** 2, 0) / known)
        return cls(
            movies=_frequent(movie_ids.combine_chunks(), min_count),
            users=_frequent(train["userId"].cast(pa.int32()).combine_chunks(), min_count),
            genres=_frequent(genres.combine_chunks(), 1),
            mean=mean,
            std=np.where(std > 0, std, 1.0),
        )

    def spec(self) -> FeatureSpec:
        """The vocabulary sizes the models are built with."""
        return FeatureSpec(
            movies=len(self.movies) + 2, users=len(self.users) + 2, genres=len(self.genres) + 2
        )

    def encode(self, rows: pa.Table) -> dict[str, np.ndarray]:
        """Model inputs (named as in `sparrow.models.spec`) for rows with the sample columns."""
        names = set(rows.column_names)
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DataError(f"rows lack the columns {', '.join(missing)}")
        numeric = (_numeric(rows) - self.mean) / self.std
        movies, users = self._sorted_ids
        return {
            "movie_id": _lookup_id(rows["movieId"], movies),
            "user_id": _lookup_id(rows["userId"], users),
            "movie_genres": np.stack([_lookup(rows[c], self.genres) for c in MOVIE_GENRES], 1),
            "user_genres": np.stack([_lookup(rows[c], self.genres) for c in USER_GENRES], 1),
            "history": np.stack([_lookup_id(rows[c], movies) for c in HISTORY], 1),
            "numeric": np.nan_to_num(numeric).astype(np.float32),
        }

    @cached_property
    def _sorted_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """The movie and user vocabularies as int64 arrays (sorted, as fitted)."""
        return self.movies.to_numpy().astype(np.int64), self.users.to_numpy().astype(np.int64)

    def save(self, folder: Path) -> None:
        doc = {
            "movies": self.movies.to_pylist(),
            "users": self.users.to_pylist(),
            "genres": self.genres.to_pylist(),
            "numeric": list(NUMERIC),
            "log_scaled": list(LOG_SCALED),
            "mean": self.mean.tolist(),
            "std": self.std.tolist(),
        }
        (folder / FILE).write_text(json.dumps(doc) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> "Encoders":
        doc = json.loads((folder / FILE).read_text(encoding="utf-8"))
        if doc["numeric"] != list(NUMERIC) or doc["log_scaled"] != list(LOG_SCALED):
            raise DataError(f"{folder / FILE} was written for other numeric features")
        return cls(
            movies=pa.array(doc["movies"], pa.int32()),
            users=pa.array(doc["users"], pa.int32()),
            genres=pa.array(doc["genres"], pa.string()),
            mean=np.array(doc["mean"]),
            std=np.array(doc["std"]),
        )


def _lookup(column: pa.ChunkedArray | pa.Array, vocabulary: pa.Array) -> np.ndarray:
    """Vocabulary index of each value: PAD for null, OOV when unknown, else position + 2."""
    values = column.cast(vocabulary.type)
    found = pc.index_in(values, value_set=vocabulary)
    index = pc.add(found, 2).fill_null(OOV)
    index = pc.if_else(values.is_null(), PAD, index)
    return np.array(index.to_numpy(zero_copy_only=False), dtype=np.int64)  # writable, for torch


def _lookup_id(column: pa.ChunkedArray | pa.Array, vocabulary: np.ndarray) -> np.ndarray:
    """`_lookup` for ids in a sorted int64 vocabulary: a binary search, where `index_in` would
    hash the whole vocabulary on every call (most of the cost of encoding one user's row)."""
    values = pc.fill_null(column.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)
    found = np.minimum(np.searchsorted(vocabulary, values), max(len(vocabulary) - 1, 0))
    known = vocabulary[found] == values if len(vocabulary) else np.zeros(len(values), bool)
    index = np.where(known, found + 2, OOV)
    index[column.is_null().to_numpy(zero_copy_only=False)] = PAD
    return index.astype(np.int64)


def _numeric(rows: pa.Table) -> np.ndarray:
    """(N, len(NUMERIC)) float64 with NaN where missing; LOG_SCALED columns through log1p."""
    columns = []
    for name in NUMERIC:
        values = rows[name].cast(pa.float64()).to_numpy(zero_copy_only=False)
        columns.append(np.log1p(np.maximum(values, 0)) if name in LOG_SCALED else values)
    return np.stack(columns, 1)
