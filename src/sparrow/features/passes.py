"""The per-chunk steps of the two feature passes, shared by every engine.

An engine sorts rows so that each entity's rows arrive together and feeds whole entities
(`batches.whole_groups`) to these functions; what it does around them is loading, joining and
writing. Sentinel rows (null rating) stand for "now": their features are the online features.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.features import definitions as fd
from sparrow.features.spec import BuildSpec

MOVIE_PASS_SCHEMA = pa.schema(
    [
        ("rid", pa.int64()),  # null on sentinel rows
        ("movieId", pa.int32()),
        ("movieRatingCount", pa.int64()),
        ("movieAvgRating", pa.float64()),
        ("movieRatingStddev", pa.float64()),
    ]
)
USER_SCHEMA = pa.schema(
    [fd.SAMPLE_SCHEMA.field("userId")]
    + [f for f in fd.SAMPLE_SCHEMA if f.name.startswith("user") and f.name != "userId"]
)


def movie_chunk(rows: pa.Table, spec: BuildSpec) -> pa.Table:
    """Movie statistics of every row: rid, movieId, movieRatingCount/AvgRating/RatingStddev.

    `rows`: rid, movieId, timestamp, rating; whole movies sorted by (movieId, timestamp).
    """
    stats = fd.movie_window_features(rows, spec.definitions)
    keys = rows.select(["rid", "movieId"])
    return pa.Table.from_arrays(
        [*keys.columns, *stats.columns], [*keys.column_names, *stats.column_names]
    ).cast(MOVIE_PASS_SCHEMA)


@dataclass(frozen=True)
class UserChunk:
    """What the user pass makes of a chunk: samples by split, online users, histories."""

    train: pa.Table
    test: pa.Table
    users: pa.Table
    histories: pa.Table


def user_chunk(rows: pa.Table, vocab: list[str], spec: BuildSpec, split: fd.Split) -> UserChunk:
    """Samples, online user features and histories of whole users.

    `rows`: userId, movieId, rating, timestamp (sorted by userId, timestamp, movieId), the
    movie's releaseYear, movieGenre1..3, genreMask and its movie-pass statistics.
    """
    feats = fd.user_window_features(rows, vocab, spec.definitions)
    sentinel = rows["rating"].is_null()
    users = pa.Table.from_arrays(
        [rows["userId"], *feats.columns], ["userId", *feats.column_names]
    ).filter(sentinel)
    samples, kept = fd.samples(rows, feats, spec.definitions, spec.sample, spec.seed)
    ids = [np.asarray(rows[c].fill_null(0).to_numpy()) for c in ("timestamp", "userId", "movieId")]
    is_test = pa.array(split.is_test(*ids)[kept])
    return UserChunk(
        train=samples.filter(pc.invert(is_test)),
        test=samples.filter(is_test),
        users=users.cast(USER_SCHEMA),
        histories=fd.histories(rows.filter(pc.invert(sentinel))),
    )
