"""Synthetic MovieLens-like data at any scale, written in the ml-latest layout.

Items have a Zipf-like popularity, a quality, 1-3 genres and a release year; users have a
lognormal activity, genre tastes, a rating bias and an active period. Each rating slot gets a
session timestamp first, then an item the user has not rated yet: with probability `EXPLORE` any
popular item, else a popular item of a genre drawn from the user's taste, released by then. Its
rating is base + user bias + item quality + genre affinity + noise, rounded to (half) stars.
Users are generated in chunks, so memory stays flat; the same seed gives byte-identical files.
"""

from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress

from sparrow.atomic import atomic_dir
from sparrow.errors import ConfigError

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]

GENRES = ("Action", "Adventure", "Animation", "Children", "Comedy", "Crime", "Documentary",
          "Drama", "Fantasy", "Film-Noir", "Horror", "IMAX", "Musical", "Mystery", "Romance",
          "Sci-Fi", "Thriller", "War", "Western")  # fmt: skip
# share of ml-latest-small movies in each genre
PREVALENCE = np.array([0.19, 0.13, 0.063, 0.068, 0.39, 0.12, 0.045, 0.45, 0.08, 0.009, 0.10,
                       0.016, 0.034, 0.059, 0.16, 0.10, 0.19, 0.039, 0.017])  # fmt: skip
TAGS = ("explosions", "car chase", "epic", "quest", "pixar", "stop motion", "family", "kids",
        "funny", "satire", "heist", "gangster", "true story", "politics", "moving", "slow",
        "magic", "dragons", "dark, moody", "black & white", "gore", "jump scares", "3D", "IMAX",
        "songs", "Broadway", "twist ending", "whodunit", "love story", "chick flick", "space",
        "dystopia", "suspense", "psychological", "WWII", "anti-war", "cowboys", "gunfight",
        "classic", 'must see "again"')  # fmt: skip  # two per genre, two for any movie
START, END = 820_454_400, 1_697_068_800  # 1996-01-01 .. 2023-10-12, Unix seconds
HALF_STARS_FROM = 1_045_526_400  # 2003-02-18: MovieLens allows half stars from here on
YEAR_S = 31_556_952  # mean Gregorian year in seconds
CHUNK = 1_000_000  # ratings generated per batch of users
EXPLORE = 0.35  # share of draws from overall popularity rather than from a favourite genre
ROUNDS = 6  # rounds of redrawing duplicates (2**r candidates per open slot) before `_fill`
TAG_RATE = 0.02  # share of ratings that also get a tag
STARS = pa.array([f"{k / 2:.1f}" for k in range(11)])  # rating text, indexed by 2 * rating
WRITE = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class _Catalog:
    """Item latents, plus items sorted by (segment, year) for drawing by popularity.

    Segment g < len(GENRES) holds the items of genre g, segment len(GENRES) every item.
    """

    pop: F64  # (I,) popularity weight
    quality: F64  # (I,) rating offset
    year: I64  # (I,) release year
    genres: I64  # (I, 3) genre indices in alphabetical order, -1 padded
    seg_items: I64  # (P,) item of each (segment, item) pair
    seg_keys: I64  # (P,) segment * 10_000 + release year, ascending
    cum: F64  # (P + 1,) cumulative popularity along seg_items
    seg_lo: I64  # (G + 1,) first pair of each segment
    seg_hi: I64  # (G + 1,) one past its last pair


@dataclass(frozen=True)
class _Users:
    counts: I64  # (U,) ratings per user
    taste: F64  # (U, G) cumulative genre taste, last column exactly 1
    affinity: F64  # (U, G) rating offset per genre
    bias: F64  # (U,) rating offset
    half: F64  # (U,) probability of using half stars (after HALF_STARS_FROM)
    start: I64  # (U,) first second of the active period
    span: I64  # (U,) its length in seconds


def generate(
    out: Path, *, users: int, items: int, ratings: int, seed: int = 42, progress: bool = True
) -> Path:
    """Write ratings.csv, movies.csv, links.csv, tags.csv (ml-latest layout) into the new `out`."""
    _check(users, items, ratings, seed)
    rng = np.random.default_rng(seed)
    cat = _catalog(rng, items)
    people = _users(rng, _counts(rng, users, items, ratings), cat)
    starts = np.cumsum(people.counts) - people.counts
    bounds = [*np.flatnonzero(np.diff(starts // CHUNK)) + 1, users]  # chunk ends, in users
    tags: list[pa.Table] = []
    columns = (*Progress.get_default_columns(), MofNCompleteColumn())
    bar = Progress(*columns, console=Console(stderr=True), disable=not progress)
    with atomic_dir(out) as tmp, bar:
        task = bar.add_task("synthesising ratings", total=ratings)
        with (tmp / "ratings.csv").open("wb") as f:
            f.write(b"userId,movieId,rating,timestamp\n")
            lo = 0
            for hi in bounds:
                table = _chunk(rng, cat, people, lo, int(hi))
                pacsv.write_csv(table, f, WRITE)
                tags.append(_tags(rng, table, cat))
                bar.advance(task, table.num_rows)
                lo = int(hi)
        _copy(_movies(cat), tmp / "movies.csv")
        _copy(_links(items), tmp / "links.csv")
        _copy(pa.concat_tables(tags), tmp / "tags.csv")
        (tmp / "README.txt").write_text(
            f"Synthetic MovieLens-like data from Sparrow RecSys: users={users} items={items} "
            f"ratings={ratings} seed={seed}. Not real ratings.\n"
        )
    return out


def _check(users: int, items: int, ratings: int, seed: int) -> None:
    if users < 1 or items < 1:
        raise ConfigError(f"need at least one user and one item (got users={users}, items={items})")
    if ratings < users:
        raise ConfigError(f"ratings ({ratings}) must be at least users ({users}): one per user")
    if ratings > users * items:
        raise ConfigError(f"ratings ({ratings}) exceed users x items ({users * items})")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0 (got {seed})")


def _catalog(rng: np.random.Generator, n: int) -> _Catalog:
    g = len(GENRES)
    pop = (rng.permutation(n) + 8.0).astype(np.float64) ** -1.05  # Zipf-like, ids shuffled
    log_pop = np.log(pop)
    quality = rng.normal(0.0, 0.35, n) + 0.15 * (log_pop - log_pop.mean()) / (log_pop.std() + 1e-9)
    quality -= quality @ pop / pop.sum()  # centred as rated, so the mean rating is scale-free
    year = np.minimum(1920 + (104 * rng.beta(4.0, 1.6, n)).astype(np.int64), 2023)
    keys = np.log(PREVALENCE) + rng.gumbel(size=(n, g))  # Gumbel top-k: weighted, no repeats
    top = np.argsort(-keys, axis=1)[:, :3]
    many = rng.choice(3, size=n, p=[0.4, 0.35, 0.25])[:, None] + 1
    keep = (np.arange(3) < many) & (np.arange(1, n + 1) % 97 != 0)[:, None]  # a few: no genres
    genres = np.sort(np.where(keep, top, g), axis=1)
    genres[genres == g] = -1
    ids = np.arange(n)
    has = genres >= 0
    pair_seg = np.concatenate([genres[has], np.full(n, g)])
    pair_item = np.concatenate([np.broadcast_to(ids[:, None], genres.shape)[has], ids])
    order = np.lexsort((pair_item, year[pair_item], pair_seg))
    seg, seg_items = pair_seg[order], pair_item[order]
    return _Catalog(
        pop,
        quality,
        year,
        genres,
        seg_items,
        seg * 10_000 + year[seg_items],
        np.concatenate([[0.0], np.cumsum(pop[seg_items])]),
        np.searchsorted(seg, np.arange(g + 1)),
        np.searchsorted(seg, np.arange(g + 1), "right"),
    )


def _counts(rng: np.random.Generator, users: int, items: int, ratings: int) -> I64:
    """Lognormal activity, at least min(20, mean / 4) ratings each, at most `items` each."""
    weight = rng.lognormal(0.0, 1.3, users)
    counts = np.full(users, max(1, min(20, ratings // (4 * users))), np.int64)
    while (left := ratings - int(counts.sum())) > 0:
        room = items - counts
        share = np.where(room > 0, weight, 0.0)
        add = np.minimum((share / share.sum() * left).astype(np.int64), room)
        if add.sum() == 0:  # under one rating each: one more for the `left` heaviest with room
            add[np.argsort(-share, kind="stable")[:left]] = 1
        counts += add
    return counts


def _users(rng: np.random.Generator, counts: I64, cat: _Catalog) -> _Users:
    n, g = len(counts), len(GENRES)
    filled = (cat.seg_hi > cat.seg_lo)[:g]  # genres with at least one item
    taste = (rng.dirichlet(3.0 * PREVALENCE / PREVALENCE.sum(), n) + 1e-6) * filled
    taste /= taste.sum(axis=1, keepdims=True)
    log_taste = np.log(taste + 1e-3)
    affinity = 0.15 * (log_taste - log_taste.mean(axis=1, keepdims=True))
    cum = np.cumsum(taste, axis=1)
    cum[:, -1] = 1.0
    start = rng.integers(START, END, n)
    span = np.minimum(rng.lognormal(np.log(3 * 86_400), 2.5, n).astype(np.int64), END - start)
    return _Users(
        counts,
        cum,
        affinity + rng.normal(0.0, 0.2, (n, g)),
        rng.normal(0.0, 0.4, n),
        rng.beta(2.0, 0.5, n),
        start,
        span,
    )


def _chunk(rng: np.random.Generator, cat: _Catalog, people: _Users, lo: int, hi: int) -> pa.Table:
    """The ratings of users lo..hi-1 (0-based), sorted by (userId, movieId)."""
    counts = people.counts[lo:hi]
    user = np.repeat(np.arange(hi - lo), counts)  # (n,) local user of each slot
    ts = _slot_times(rng, user, counts, people.start[lo:hi], people.span[lo:hi])
    item = _pick(rng, cat, people.taste[lo:hi], user, 1970 + ts // YEAR_S)
    genres = cat.genres[item]  # (n, 3)
    has = genres >= 0
    affinity = np.where(has, people.affinity[lo:hi][user[:, None], genres], 0.0).sum(axis=1)
    x = 3.42 + people.bias[lo + user] + cat.quality[item] + affinity / np.maximum(has.sum(1), 1)
    x += 1.35 - rng.gamma(3.0, 0.45, len(user))  # noise: mean 0, skewed towards low ratings
    half = (rng.random(len(user)) < people.half[lo + user]) & (ts >= HALF_STARS_FROM)
    stars = np.where(half, np.clip(np.rint(2 * x), 1, 10), 2 * np.clip(np.rint(x), 1, 5))
    order = np.lexsort((item, user))
    return pa.table(
        {
            "userId": pa.array(user[order] + lo + 1, pa.int32()),
            "movieId": pa.array(item[order] + 1, pa.int32()),
            "rating": STARS.take(stars[order].astype(np.int64)),
            "timestamp": ts[order],
        }
    )


def _slot_times(rng: np.random.Generator, user: I64, counts: I64, start: I64, span: I64) -> I64:
    """(n,) rating times: sessions within each user's active span, ratings seconds apart in each."""
    sessions = np.minimum(1 + rng.poisson(np.sqrt(counts)), counts)
    first = np.cumsum(sessions) - sessions
    sess_start = np.repeat(start, sessions) + (
        rng.random(int(sessions.sum())) * np.repeat(span, sessions)
    ).astype(np.int64)
    sess = first[user] + (rng.random(len(user)) * sessions[user]).astype(np.int64)
    gap = np.where(rng.random(len(user)) < 0.15, 0, 1 + rng.exponential(40.0, len(user)))
    order = np.argsort(sess, kind="stable")
    run = np.cumsum(gap[order].astype(np.int64))
    by_sess = sess[order]
    ts = np.empty(len(user), np.int64)
    ts[order] = sess_start[by_sess] + run - run[np.searchsorted(by_sess, by_sess)]
    return np.minimum(ts, END)


def _draw(rng: np.random.Generator, cat: _Catalog, taste: F64, user: I64, year: I64) -> I64:
    """One item per (user, year): popular within a genre of the user's taste, released by year."""
    g, n = len(GENRES), len(user)
    flat = (taste + np.arange(len(taste))[:, None]).ravel()  # row r spans (r, r + 1]
    seg = np.minimum(np.searchsorted(flat, user + rng.random(n), "right") - user * g, g - 1)
    seg = np.where(rng.random(n) < EXPLORE, g, seg)
    seg = np.where(cat.seg_hi[seg] > cat.seg_lo[seg], seg, g)
    lo = cat.seg_lo[seg]
    hi = np.searchsorted(cat.seg_keys, seg * 10_000 + year, "right")
    hi = np.where(hi > lo, hi, cat.seg_hi[seg])  # nothing released yet: ignore the year
    target = cat.cum[lo] + rng.random(n) * (cat.cum[hi] - cat.cum[lo])
    return cat.seg_items[np.clip(np.searchsorted(cat.cum, target, "right") - 1, lo, hi - 1)]


def _pick(rng: np.random.Generator, cat: _Catalog, taste: F64, user: I64, year: I64) -> I64:
    """(n,) items for the slots of `user` (sorted), no (user, item) twice."""
    n_items = len(cat.pop)
    item = np.full(len(user), -1, np.int64)
    open_ = np.flatnonzero(np.bincount(user)[user] * 4 <= n_items)  # heavy users: `_fill` only
    for r in range(ROUNDS):
        slot = np.repeat(open_, 2**r)
        cand = _draw(rng, cat, taste, user[slot], year[slot])
        key = user[slot] * n_items + cand
        done = np.flatnonzero(item >= 0)
        pool = np.concatenate([user[done] * n_items + item[done], key])  # taken first
        ok = np.zeros(len(pool), bool)
        ok[np.unique(pool, return_index=True)[1]] = True  # first occurrence of each (user, item)
        valid = np.flatnonzero(ok[len(done) :])  # new draws of an item the user lacks
        won, first = np.unique(slot[valid], return_index=True)  # first valid draw of each slot
        item[won] = cand[valid[first]]
        open_ = open_[item[open_] < 0]
    _fill(rng, cat, user, item)
    return item


def _fill(rng: np.random.Generator, cat: _Catalog, user: I64, item: I64) -> None:
    """Give each slot still at -1 an item its user lacks, by popularity (exact, O(items) a user)."""
    todo = np.flatnonzero(item < 0)
    if todo.size == 0:
        return
    n_items = len(cat.pop)
    who, need = np.unique(user[todo], return_counts=True)
    block = max(1, 2**22 // n_items)  # users per (block, items) key matrix
    for b in range(0, len(who), block):
        us, nd = who[b : b + block], need[b : b + block]
        keys = np.log(cat.pop) + rng.gumbel(size=(len(us), n_items))
        lo, hi = np.searchsorted(user, [us[0], us[-1] + 1])
        row = np.searchsorted(us, user[lo:hi])
        mine = (row < len(us)) & (us[np.minimum(row, len(us) - 1)] == user[lo:hi])
        taken = mine & (item[lo:hi] >= 0)
        keys[row[taken], item[lo:hi][taken]] = -np.inf
        top = np.argsort(-keys, axis=1)[:, : nd.max()]
        item[lo + np.flatnonzero(mine & (item[lo:hi] < 0))] = top[np.arange(nd.max()) < nd[:, None]]


def _tags(rng: np.random.Generator, ratings: pa.Table, cat: _Catalog) -> pa.Table:
    """Tags for a random TAG_RATE of the ratings: two per genre of the movie, or two generic."""
    rows = np.flatnonzero(rng.random(ratings.num_rows) < TAG_RATE)
    item = ratings["movieId"].to_numpy()[rows] - 1
    genre = np.where(cat.genres[item, 0] >= 0, cat.genres[item, 0], len(GENRES))
    ts = ratings["timestamp"].to_numpy()[rows]
    return pa.table(
        {
            "userId": ratings["userId"].take(rows),
            "movieId": ratings["movieId"].take(rows),
            "tag": pa.array(TAGS).take(2 * genre + rng.integers(0, 2, len(rows))),
            "timestamp": np.minimum(ts + rng.integers(0, 600, len(rows)), END),
        }
    )


def _movies(cat: _Catalog) -> pa.Table:
    titles, genres = [], []
    for i, (year, row) in enumerate(zip(cat.year.tolist(), cat.genres.tolist(), strict=True), 1):
        name = f'Synthetic "Movie" {i}' if i % 11 == 0 else f"Synthetic Movie {i}"
        name += ", The" if i % 7 == 0 else ""
        name += f" (Film synthétique {i})" if i % 13 == 0 else ""
        titles.append(name if i % 53 == 0 else f"{name} ({year})")
        genres.append("|".join(GENRES[k] for k in row if k >= 0) or "(no genres listed)")
    ids = pa.array(np.arange(1, len(titles) + 1), pa.int32())
    return pa.table({"movieId": ids, "title": titles, "genres": genres})


def _links(n: int) -> pa.Table:
    ids = np.arange(1, n + 1)
    imdb = pa.array((ids * 7919) % 9_000_000 + 10_000).cast(pa.string())  # distinct for n < 9M
    tmdb = pa.array(ids * 3 + 1000, pa.int32(), mask=ids % 89 == 0)  # a few unknown
    return pa.table(
        {"movieId": pa.array(ids, pa.int32()), "imdbId": pc.utf8_lpad(imdb, 7, "0"), "tmdbId": tmdb}
    )


def _copy(table: pa.Table, path: Path) -> None:
    """Write `table` as CSV with a header, quoting only fields that need it (like GroupLens)."""
    con = duckdb.connect()
    con.register("t", table)
    quoted = str(path).replace("'", "''")
    con.execute(f"COPY t TO '{quoted}' (HEADER, DELIMITER ',')")
    con.close()
