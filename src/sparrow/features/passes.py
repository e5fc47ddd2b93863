"""The per-chunk steps of the two feature passes, shared by every engine.

An engine sorts rows so that each entity's rows arrive together and feeds whole entities
(`batches.whole_groups`) to these functions; what it does around them is loading, shuffling
and writing. Sentinel rows (null rating) stand for "now": their features are the online
features.
"""

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.layout import BuildSpec
from sparrow.artifacts.schema import MOVIE_STATS_SCHEMA, USER_FEATURE_SCHEMA
from sparrow.features import definitions


def movie_chunk(rows: pa.Table, spec: BuildSpec) -> pa.Table:
    """`rows` with the movie statistics of each row appended (movieRatingCount, ...).

    `rows`: movieId, timestamp, rating and any other columns (passed through); whole movies
    sorted by (movieId, timestamp).
    """
    stats = definitions.movie_window_features(rows, spec.definitions).cast(MOVIE_STATS_SCHEMA)
    return pa.Table.from_arrays(
        [*rows.columns, *stats.columns], [*rows.column_names, *stats.column_names]
    )


class MovieAttributes:
    """Static movie features (`definitions.item_features`), joined onto rows by movieId."""

    def __init__(self, static: pa.Table) -> None:
        self.table = static.take(pc.sort_indices(static["movieId"]))
        self.ids = self.table["movieId"].to_numpy()

    def join(self, rows: pa.Table) -> pa.Table:
        """`rows` with releaseYear, movieGenre1..3 and genreMask (nulls for unknown movies)."""
        movie_ids = rows["movieId"].fill_null(-1).to_numpy()
        pos = np.minimum(np.searchsorted(self.ids, movie_ids), max(len(self.ids) - 1, 0))
        found = self.table.drop_columns("movieId").take(
            pa.array(pos, mask=self.ids[pos] != movie_ids)
        )
        return pa.Table.from_arrays(
            [*rows.columns, *found.columns], [*rows.column_names, *found.column_names]
        )


@dataclass(frozen=True)
class UserChunk:
    """What the user pass makes of a chunk of whole users."""

    train: pa.Table  # samples (SAMPLE_SCHEMA) in the train split
    test: pa.Table
    users: pa.Table  # online user features (USER_FEATURE_SCHEMA), one row per user
    histories: pa.Table  # HISTORY_SCHEMA
    ratings: pa.Table  # the catalogue's ratings with their split (CATALOG_RATINGS_SCHEMA)


def with_sentinels(rows: pa.Table, key: str, now: int) -> pa.Table:
    """`rows`, sorted by `key`, with a sentinel row closing each `key` group.

    A sentinel has the group's key, timestamp `now` and nulls elsewhere: its features are the
    entity's features as of `now`.
    """
    keys = pc.unique(rows[key])
    columns = {f.name: pa.nulls(len(keys), f.type) for f in rows.schema}
    columns[key] = keys
    columns["timestamp"] = pa.array(np.full(len(keys), now), pa.int64())
    both = pa.concat_tables([rows, pa.table(columns).cast(rows.schema)])
    is_sentinel = np.r_[np.zeros(rows.num_rows, bool), np.ones(len(keys), bool)]
    order = np.lexsort((is_sentinel, both[key].to_numpy()))  # stable: rows keep their order
    return both.take(order)


def user_chunk(
    rows: pa.Table,
    movies: MovieAttributes,
    vocab: list[str],
    spec: BuildSpec,
    split: definitions.Split,
    now: int,
) -> UserChunk:
    """Samples, online user features (as of `now`), histories and split ratings of whole users.

    `rows`: userId, movieId, rating, timestamp and the movie statistics of `movie_chunk`,
    sorted by (userId, timestamp, movieId, rating).
    """
    rows = movies.join(with_sentinels(rows, "userId", now))
    feats = definitions.user_window_features(rows, vocab, spec.definitions)
    sentinel = rows["rating"].is_null()
    users = pa.Table.from_arrays([rows["userId"], *feats.columns], ["userId", *feats.column_names])
    real = rows.filter(pc.invert(sentinel))
    ids = [np.asarray(real[c].to_numpy()) for c in ("timestamp", "userId", "movieId")]
    is_test = split.is_test(*ids)
    samples, kept = definitions.samples(rows, feats, spec.definitions, spec.sample, spec.seed)
    in_test = pa.array(is_test[kept[~sentinel.to_numpy(zero_copy_only=False)]])
    canonical = real.select(["userId", "movieId", "rating", "timestamp"])
    canonical = canonical.rename_columns(["user_id", "item_id", "rating", "ts"])
    return UserChunk(
        train=samples.filter(pc.invert(in_test)),
        test=samples.filter(in_test),
        users=users.filter(sentinel).cast(USER_FEATURE_SCHEMA),
        histories=definitions.histories(real),
        ratings=definitions.catalog_ratings(canonical, is_test),
    )
