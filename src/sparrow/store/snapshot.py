"""Everything the online store serves, computed once from a build directory (numpy, vectorised).

Both backends serve a `Snapshot`: the memory store holds one, `sparrow store push` writes one to
Redis. Semantics (every catalogue rating counts, all splits: the service serves "now"):

- Movie: rating count and mean over all its ratings (0 and 0.0 when unrated); `top_ratings` the
  10 highest ratings, shown ascending by score, ties newest first (ties in time: by user id). At
  the cut, older ratings win, as in the original, whose insertion kept the first 10 it saw.
- User: every rating, oldest first (ties by movie id); mean, highest, lowest, count.
- Rankings (`top`): per genre and for all movies ("*"). "rating": movies with at least
  `MIN_RATINGS` ratings first, then the rest (a 5.0 from one user does not top the list); each
  part by average desc, rating count desc, id. "releaseYear": year desc (unknown years last), then
  count desc, id. "popularity": rating count desc, then average desc, id.
- Liked: ratings >= the build's positive threshold, most recent first (ties: higher id first).
- Co-occurrence: per movie, the movies liked by the most users within `COOC_WINDOW` positions of
  it in the user's time-ordered liked sequence of the training split; top `COOC_SIZE`, count desc,
  then id.
- Embeddings: the item vectors of each `embeddings/<method>/items.parquet` and user vectors = the
  mean of the item vectors of the movies the user liked (all splits).
"""

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.schema import MOVIE_FEATURE_COLUMNS, USER_FEATURE_COLUMNS, Definitions
from sparrow.artifacts.vectors import Vectors, embedding_methods, load_items, user_vectors
from sparrow.errors import DataError
from sparrow.store.base import Movie, User, make_ratings, make_user
from sparrow.store.derive import (
    co_occurrence,
    rank_in_groups,
    rankings,
    reverse_groups,
    sort_order,
)

TOP_RATINGS = 10


@dataclass(frozen=True)
class Groups:
    """Rows grouped by an id: group i (id `ids[i]`) is rows `offsets[i]:offsets[i+1]`."""

    ids: np.ndarray  # (G,) int64, ascending
    offsets: np.ndarray  # (G + 1,) int64
    columns: dict[str, np.ndarray]

    @classmethod
    def of(cls, keys: np.ndarray, **columns: np.ndarray) -> "Groups":
        """Group rows already sorted by `keys`."""
        starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]]) if len(keys) else keys[:0]
        ids = keys[starts].astype(np.int64)
        return cls(ids, np.r_[starts, len(keys)].astype(np.int64), columns)

    @cached_property
    def index(self) -> dict[int, int]:
        """id -> group position."""
        return dict(zip(self.ids.tolist(), range(len(self.ids)), strict=True))

    def at(self, i: int, column: str) -> np.ndarray:
        return self.columns[column][self.offsets[i] : self.offsets[i + 1]]

    def get(self, key: int, column: str) -> np.ndarray:
        """The group's column (empty for an unknown id)."""
        i = self.index.get(key)
        return self.columns[column][:0] if i is None else self.at(i, column)


@dataclass(frozen=True)
class Snapshot:
    """The store's content; `load` computes it from a build directory."""

    version: str
    config_digest: str
    created: str
    definitions: Definitions
    movie_ids: np.ndarray  # (M,) int64 ascending
    movie_info: list[tuple[str, int | None, str | None, str | None, list[str]]]  # title..genres
    rating_count: np.ndarray  # (M,) int64
    rating_avg: np.ndarray  # (M,) float64
    top_ratings: Groups  # by movie: user, score, ts in display order
    ratings: Groups  # by user: movie, score, ts, oldest first
    liked: Groups  # by user: movie, most recent first
    cooc: Groups  # by movie: movie, count, most first
    top: dict[tuple[str, str], np.ndarray]  # (genre or ALL, sortBy) -> ids, best first
    genres: list[str]
    movie_features: pa.Table
    user_features: pa.Table
    items: dict[str, Vectors]
    users: dict[str, Vectors]

    @cached_property
    def movie_row(self) -> dict[int, int]:
        return dict(zip(self.movie_ids.tolist(), range(len(self.movie_ids)), strict=True))

    def movie(self, movie_id: int) -> Movie | None:
        row = self.movie_row.get(movie_id)
        if row is None:
            return None
        title, year, imdb, tmdb, genres = self.movie_info[row]
        i = self.top_ratings.index.get(movie_id)
        top = [] if i is None else [self.top_ratings.at(i, c) for c in ("user", "score", "ts")]
        ratings = make_ratings(movie_id, *top) if top else []
        count, avg = int(self.rating_count[row]), float(self.rating_avg[row])
        return Movie(movie_id, title, year, imdb, tmdb, list(genres), count, avg, ratings)

    def user(self, user_id: int) -> User | None:
        i = self.ratings.index.get(user_id)
        if i is None:
            return None
        return make_user(user_id, *(self.ratings.at(i, c) for c in ("movie", "score", "ts")))

    def warm(self) -> None:
        """Build the id indexes now rather than on the first request."""
        for groups in (self.top_ratings, self.ratings, self.liked, self.cooc):
            _ = groups.index
        _ = self.movie_row

    def counts(self) -> dict[str, int]:
        """How many of each record the snapshot holds."""
        counts = {
            "movies": len(self.movie_ids),
            "users": len(self.ratings.ids),
            "ratings": len(self.ratings.columns["movie"]),
            "genres": len(self.genres),
            "movie_features": self.movie_features.num_rows,
            "user_features": self.user_features.num_rows,
            "liked_users": len(self.liked.ids),
            "cooc_movies": len(self.cooc.ids),
            "top_lists": len(self.top),
        }
        for method, items in self.items.items():
            counts[f"{method}_items"] = len(items.ids)
            counts[f"{method}_users"] = len(self.users[method].ids)
        return counts


def load(build: Path) -> Snapshot:
    """Compute the snapshot of `build` (DataError naming what is missing or unreadable)."""
    layout = BuildDir(build)
    manifest = layout.manifest()
    definitions = manifest.definitions
    items = layout.read(layout.catalog("items")).sort_by("item_id").combine_chunks()
    links = layout.read(layout.catalog("links")).sort_by("item_id")
    table = layout.read(layout.catalog("ratings"))
    ids = items["item_id"].to_numpy().astype(np.int64)
    user, item = (table[c].to_numpy().astype(np.int64) for c in ("user_id", "item_id"))
    score, ts = table["rating"].to_numpy(), table["ts"].to_numpy().astype(np.int64)
    train = pc.equal(table["split"], "train").to_numpy(zero_copy_only=False)
    row = np.searchsorted(ids, item).clip(max=max(len(ids) - 1, 0))
    known = ids[row] == item if len(ids) else np.zeros(len(item), bool)
    count = np.bincount(row[known], minlength=len(ids)).astype(np.int64)
    avg = np.bincount(row[known], score[known].astype(np.float64), len(ids)) / np.maximum(count, 1)

    # by user: oldest first, ties by movie id (its dense rank: a catalogue row or past the end)
    by_user = sort_order(user, ts, np.searchsorted(np.union1d(ids, item[~known]), item))
    rater, movie, stars, when = user[by_user], item[by_user], score[by_user], ts[by_user]
    # a movie's 10 best ratings: score desc, older first, then user (by_user is in user order)
    best = by_user[known[by_user]]
    score_rank = np.searchsorted(np.unique(score), score)
    best = best[sort_order(row[best], -score_rank[best], ts[best])]
    best = best[rank_in_groups(row[best]) < TOP_RATINGS]
    best = best[reverse_groups(row[best])]  # shown ascending, ties newest first
    like = stars >= definitions.positive_threshold
    liked = np.flatnonzero(like)
    recent = liked[reverse_groups(rater[liked])]  # most recent first, ties: higher id first
    history = pa.table({"user_id": rater[like], "item_id": movie[like], "ts": when[like]})
    methods = {method: load_items(build, method) for method in embedding_methods(build)}
    created = datetime.now(UTC)
    liked_train = like & train[by_user]
    return Snapshot(
        version=f"{manifest.config_digest}-{created.strftime('%Y%m%dT%H%M%S.%f')[:-3]}Z",
        config_digest=manifest.config_digest,
        created=created.isoformat(),
        definitions=definitions,
        movie_ids=ids,
        movie_info=_movie_info(items, links),
        rating_count=count,
        rating_avg=avg,
        top_ratings=Groups.of(
            item[best], user=user[best].astype(np.int32), score=score[best], ts=ts[best]
        ),
        ratings=Groups.of(rater, movie=movie.astype(np.int32), score=stars, ts=when),
        liked=Groups.of(rater[recent], movie=movie[recent].astype(np.int32)),
        cooc=_groups(co_occurrence(rater[liked_train], movie[liked_train])),
        top=rankings(ids, items["year"], items["genres"], count, avg),
        genres=sorted(set(pc.list_flatten(items["genres"]).to_pylist())),
        movie_features=_columns(layout, layout.features("movies"), MOVIE_FEATURE_COLUMNS),
        user_features=_columns(layout, layout.features("users"), USER_FEATURE_COLUMNS),
        items=methods,
        users={name: _user_vectors(history, v) for name, v in methods.items()},
    )


def _user_vectors(history: pa.Table, items: Vectors, chunk: int = 1 << 20) -> Vectors:
    """`user_vectors` over chunks of about `chunk` rows cut between users: bounded memory."""
    users = history["user_id"].to_numpy()
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]]) if len(users) else users[:0]
    cuts = np.unique(np.r_[starts[np.searchsorted(starts, np.arange(0, len(users), chunk))], 0])
    parts = [
        user_vectors(history.slice(a, b - a), items)
        for a, b in zip(cuts, np.r_[cuts[1:], len(users)], strict=True)
    ]
    if len(parts) == 1:
        return parts[0]
    return Vectors(
        np.concatenate([p.ids for p in parts]), np.concatenate([p.vectors for p in parts])
    )


def _groups(cooc: tuple[np.ndarray, np.ndarray, np.ndarray]) -> Groups:
    return Groups.of(cooc[0], movie=cooc[1].astype(np.int32), count=cooc[2])


def _movie_info(
    items: pa.Table, links: pa.Table
) -> list[tuple[str, int | None, str | None, str | None, list[str]]]:
    link_ids = links["item_id"].to_numpy()
    ids = items["item_id"].to_numpy()
    at = np.searchsorted(link_ids, ids).clip(max=max(len(link_ids) - 1, 0))
    has = link_ids[at] == ids if len(link_ids) else np.zeros(len(ids), bool)
    imdb, tmdb = links["imdb_id"].to_pylist(), links["tmdb_id"].to_pylist()
    out: list[tuple[str, int | None, str | None, str | None, list[str]]] = []
    for title, year, genres, i, ok in zip(
        items["title"].to_pylist(),
        items["year"].to_pylist(),
        items["genres"].to_pylist(),
        at.tolist(),
        has.tolist(),
        strict=True,
    ):
        im = imdb[i] if ok else None
        tm = tmdb[i] if ok else None
        out.append(
            (
                title,
                year,
                None if im is None else str(im).zfill(7),
                None if tm is None else str(tm),
                genres,
            )
        )
    return out


def _columns(build: BuildDir, path: Path, columns: tuple[str, ...]) -> pa.Table:
    table = build.read(path)
    missing = [c for c in columns if c not in table.column_names]
    if missing:
        raise DataError(f"{path} lacks columns {missing}; rebuild the features")
    return table.select(list(columns)).combine_chunks()
