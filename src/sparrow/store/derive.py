"""Derived lists of a snapshot, vectorised with numpy: rankings and co-occurrence."""

from typing import get_args

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from sparrow.store.base import SortBy

MIN_RATINGS = 5  # by rating, movies with fewer ratings rank after the others
COOC_WINDOW = 5  # positions either side in a liked sequence
COOC_SIZE = 50  # co-occurring movies kept per movie
ALL = "*"  # the "genre" of the rankings of all movies
SORT_BYS: tuple[SortBy, ...] = get_args(SortBy)


def sort_order(*keys: np.ndarray) -> np.ndarray:
    """The stable order sorting rows by integer `keys` (primary first; negate one to sort it
    descending): `np.lexsort(keys[::-1])`, several times faster. Keys are packed into as few
    uint64 words as their value ranges allow, then sorted least significant word first."""
    words: list[np.ndarray] = []
    word, used = None, 0
    for key in keys:
        low = int(key.min()) if len(key) else 0
        bits = max((int(key.max()) - low).bit_length() if len(key) else 0, 1)
        if bits > 64:
            return np.asarray(np.lexsort(keys[::-1]))
        if word is not None and used + bits > 64:
            words.append(word)
            word, used = None, 0
        part = (key.astype(np.int64) - low).astype(np.uint64)
        word = part if word is None else (word << np.uint64(bits)) | part
        used += bits
    if word is not None:
        words.append(word)
    order = np.arange(len(keys[0]) if keys else 0)
    for w in reversed(words):
        order = order[np.argsort(w[order], kind="stable")]
    return order


def reverse_groups(keys: np.ndarray) -> np.ndarray:
    """The permutation reversing each run of equal (sorted) `keys` in place."""
    if not len(keys):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    ends = np.r_[starts[1:], len(keys)]
    order: np.ndarray = np.repeat(ends - 1, ends - starts) - rank_in_groups(keys)
    return order


def rank_in_groups(keys: np.ndarray) -> np.ndarray:
    """Each row's position within its run of equal (sorted) `keys`: 0, 1, ... per run."""
    if not len(keys):
        return np.zeros(0, np.int64)
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.arange(len(keys)) - np.repeat(starts, np.diff(np.r_[starts, len(keys)]))


def co_occurrence(
    users: np.ndarray, items: np.ndarray, window: int = COOC_WINDOW, size: int = COOC_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For liked sequences (rows sorted by user, then time), each movie's `size` movies liked
    by the most users within `window` positions of it: (movie, other, count) rows sorted by
    movie, then count desc, then other's id."""
    idx, dense = np.unique(items, return_inverse=True)
    n, codes = max(len(idx), 1), []
    for d in range(1, window + 1):
        same = users[d:] == users[:-d]
        a, b = dense[:-d][same], dense[d:][same]
        lo, hi = np.minimum(a, b).astype(np.int64), np.maximum(a, b)
        codes.append((lo * n + hi)[lo != hi])
    pairs, counts = np.unique(np.concatenate(codes or [np.zeros(0, np.int64)]), return_counts=True)
    src, dst = np.r_[pairs // n, pairs % n], np.r_[pairs % n, pairs // n]
    cnt = np.r_[counts, counts]
    order = sort_order(src, -cnt, dst)  # dense codes sort as ids do
    order = order[rank_in_groups(src[order]) < size]
    return idx[src[order]], idx[dst[order]], cnt[order]


def rankings(
    ids: np.ndarray,
    year: pa.ChunkedArray,
    genres: pa.ChunkedArray,
    count: np.ndarray,
    avg: np.ndarray,
) -> dict[tuple[str, str], np.ndarray]:
    """(genre or ALL, sortBy) -> movie ids, best first (rules in the module docstring)."""
    no_year = pc.is_null(year).to_numpy(zero_copy_only=False)
    years = pc.fill_null(year, 0).to_numpy().astype(np.int64)
    orders = {
        "rating": np.lexsort((ids, -count, -avg, count < MIN_RATINGS)),
        "releaseYear": sort_order(no_year, -years, -count, ids),
        "popularity": np.lexsort((ids, -avg, -count)),
    }
    names = np.asarray(pc.list_flatten(genres).to_pylist(), dtype=object)
    rows = pc.list_parent_indices(genres.combine_chunks()).to_numpy()
    vocab, code = np.unique(names, return_inverse=True) if len(names) else (names, rows)
    out: dict[tuple[str, str], np.ndarray] = {}
    for sort_by in SORT_BYS:
        order = orders[sort_by]
        out[ALL, sort_by] = ids[order]
        rank = np.empty(len(ids), np.int64)
        rank[order] = np.arange(len(ids))
        by_genre = np.lexsort((rank[rows], code))
        cuts = np.searchsorted(code[by_genre], np.arange(len(vocab) + 1))
        for g, genre in enumerate(vocab.tolist()):
            out[genre, sort_by] = ids[rows[by_genre[cuts[g] : cuts[g + 1]]]]
    return out
