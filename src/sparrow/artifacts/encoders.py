"""Encoders fitted on the training samples and saved with each model; serving loads the same.

They turn rows with the sample columns (`artifacts.schema.SAMPLE_SCHEMA`, whether training
samples or rows assembled online from the feature store) into the model inputs of
`artifacts.inputs`:

- ids (movies, users, genres) become vocabulary indices: 0 for a missing value (padding), 1 for a
  value not in the vocabulary (a new movie or user), 2.. for the values seen in training at least
  `min_count` times; the history (userRatedMovie1..5) uses the movie vocabulary;
- numeric columns are standardised with the training mean and standard deviation, counts after
  log1p (the original fed raw counts and years to the network); a missing value becomes the
  training mean, i.e. 0.

Pure numpy and pyarrow (no torch), so the serving process can use it.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.inputs import NUMERIC, OOV, PAD, FeatureSpec
from sparrow.artifacts.schema import MOVIE_GENRE_COLUMNS, USER_GENRE_COLUMNS, USER_MOVIE_COLUMNS
from sparrow.errors import DataError

LOG_SCALED = ("movieRatingCount", "userRatingCount")
COLUMNS = (
    "movieId",
    "userId",
    *MOVIE_GENRE_COLUMNS,
    *USER_GENRE_COLUMNS,
    *USER_MOVIE_COLUMNS,
    *NUMERIC,
)
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
            [
                c
                for name in ("movieId", *USER_MOVIE_COLUMNS)
                for c in train[name].cast(pa.int32()).chunks
            ]
        )
        genres = pa.chunked_array(
            [c for name in (*MOVIE_GENRE_COLUMNS, *USER_GENRE_COLUMNS) for c in train[name].chunks]
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
        """Model inputs (named as in `artifacts.inputs`) for rows with the sample columns."""
        names = set(rows.column_names)
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise DataError(f"rows lack the columns {', '.join(missing)}")
        return {
            "movie_id": _lookup(rows["movieId"], self.movies),
            "user_id": _lookup(rows["userId"], self.users),
            "movie_genres": np.stack(
                [_lookup(rows[c], self.genres) for c in MOVIE_GENRE_COLUMNS], 1
            ),
            "user_genres": np.stack([_lookup(rows[c], self.genres) for c in USER_GENRE_COLUMNS], 1),
            "history": np.stack([_lookup(rows[c], self.movies) for c in USER_MOVIE_COLUMNS], 1),
            "numeric": self._standardise(_numeric(rows)),
        }

    def encode_user(self, row: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """The user's side of `encode` for one row of user features (a dict): `user_id`,
        `user_genres`, `history` and `numeric` (its movie columns 0), each with one row. A
        request encodes its user with it, without pyarrow's per-call overhead (about 1.5 ms for
        one row); the candidates' side is encoded once, in advance."""
        movies, users, genres = self._indexes

        def index(value: Any, vocabulary: dict[Any, int]) -> int:
            return PAD if value is None else vocabulary.get(value, OOV)

        raw = [np.nan if row.get(n) is None else float(row[n]) for n in NUMERIC]
        return {
            "user_id": np.array([index(row["userId"], users)], np.int64),
            "user_genres": np.array(
                [[index(row[c], genres) for c in USER_GENRE_COLUMNS]], np.int64
            ),
            "history": np.array([[index(row[c], movies) for c in USER_MOVIE_COLUMNS]], np.int64),
            "numeric": self._standardise(_log_scaled(np.array([raw]))),
        }

    def _standardise(self, numeric: np.ndarray) -> np.ndarray:
        """(N, F) log-scaled values -> the network's float32 inputs (missing: 0, the mean)."""
        out: np.ndarray = np.nan_to_num((numeric - self.mean) / self.std).astype(np.float32)
        return out

    @cached_property
    def _indexes(self) -> tuple[dict[int, int], dict[int, int], dict[str, int]]:
        """Value -> index of the movie, user and genre vocabularies."""
        movies, users, genres = (
            {value: i + 2 for i, value in enumerate(vocabulary.to_pylist())}
            for vocabulary in (self.movies, self.users, self.genres)
        )
        return movies, users, genres

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


def _numeric(rows: pa.Table) -> np.ndarray:
    """(N, len(NUMERIC)) float64 with NaN where missing; LOG_SCALED columns through log1p."""
    values = [rows[n].cast(pa.float64()).to_numpy(zero_copy_only=False) for n in NUMERIC]
    return _log_scaled(np.stack(values, 1))


def _log_scaled(numeric: np.ndarray) -> np.ndarray:
    """(N, len(NUMERIC)) raw values with the LOG_SCALED columns through log1p (counts)."""
    out = numeric.copy()
    for i, name in enumerate(NUMERIC):
        if name in LOG_SCALED:
            out[:, i] = np.log1p(np.maximum(numeric[:, i], 0))
    return out
