"""Offline metrics in pure numpy: binary classification (CTR) and top-N ranking.

Classification metrics take labels `y` in {0, 1} and scores or probabilities `s` / `p`, 1-D
arrays of equal length. Top-N metrics take `ranked`, a (U, K) array of recommended item ids per
user, best first (-1 pads a short list and never matches), and `relevant`, one 1-D array of
relevant item ids per user (treated as a set); they score the first `k` columns and average over
the users with at least one relevant item.
"""

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

__all__ = [
    "accuracy",
    "average_precision",
    "coverage",
    "gauc",
    "hit_rate",
    "logloss",
    "mrr",
    "ndcg",
    "pr_auc",
    "recall",
    "roc_auc",
]


# --- classification -------------------------------------------------------------------------


def _binary(y: npt.ArrayLike, s: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Labels and scores as float64 1-D arrays of one non-zero length; labels must be 0 or 1."""
    ya = np.asarray(y, dtype=np.float64)
    sa = np.asarray(s, dtype=np.float64)
    if ya.ndim != 1 or sa.ndim != 1 or ya.shape != sa.shape:
        raise ValueError(f"y and scores must be 1-D of equal length, got {ya.shape}, {sa.shape}")
    if ya.size == 0:
        raise ValueError("y and scores are empty")
    if not np.isin(ya, (0.0, 1.0)).all():
        raise ValueError("labels y must be 0 or 1")
    if np.isnan(sa).any():
        raise ValueError("scores contain NaN")
    return ya, sa


def _tie_groups(sorted_keys: Sequence[npt.NDArray[Any]]) -> tuple[IntArray, IntArray]:
    """Start index and size of each run of equal keys in lexicographically sorted arrays."""
    n = len(sorted_keys[0])
    change = np.zeros(n, dtype=np.bool_)
    change[0] = True
    for key in sorted_keys:
        change[1:] |= key[1:] != key[:-1]
    starts = np.flatnonzero(change)
    sizes = np.diff(np.append(starts, n))
    return starts.astype(np.int64), sizes.astype(np.int64)


def _average_positions(starts: IntArray, sizes: IntArray) -> FloatArray:
    """Per sorted row, the mean 0-based position of its tie group (ties share one rank)."""
    mean_pos = starts + (sizes - 1) / 2.0
    return np.repeat(mean_pos, sizes)


def logloss(y: npt.ArrayLike, p: npt.ArrayLike, eps: float = 1e-7) -> float:
    """Mean binary cross-entropy, -mean(y log p + (1 - y) log(1 - p)), p clipped to [eps, 1-eps]."""
    ya, pa = _binary(y, p)
    pc = np.clip(pa, eps, 1.0 - eps)
    return float(-np.mean(ya * np.log(pc) + (1.0 - ya) * np.log1p(-pc)))


def roc_auc(y: npt.ArrayLike, s: npt.ArrayLike) -> float:
    """ROC AUC by Mann-Whitney U: P(score of a positive > a negative's), ties counting 1/2."""
    ya, sa = _binary(y, s)
    n_pos = float(ya.sum())
    n_neg = float(ya.size - n_pos)
    if n_pos == 0 or n_neg == 0:
        raise ValueError("roc_auc needs both classes in y, only one is present")
    order = np.argsort(sa, kind="stable")
    ranks = _average_positions(*_tie_groups([sa[order]])) + 1.0  # 1-based, ties averaged
    rank_sum = float(ranks @ ya[order])
    return (rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)


def pr_auc(y: npt.ArrayLike, s: npt.ArrayLike) -> float:
    """Average precision: sum over distinct thresholds of (R_n - R_{n-1}) * P_n (step-wise)."""
    ya, sa = _binary(y, s)
    n_pos = float(ya.sum())
    if n_pos == 0:
        raise ValueError("pr_auc needs at least one positive label in y")
    order = np.argsort(-sa, kind="stable")
    tps_all = np.cumsum(ya[order])
    starts, sizes = _tie_groups([sa[order]])
    last = starts + sizes - 1  # each threshold takes its whole tie group
    tps = tps_all[last]
    precision = tps / (last + 1.0)
    recall_steps = np.diff(tps, prepend=0.0) / n_pos
    return float(recall_steps @ precision)


def accuracy(y: npt.ArrayLike, p: npt.ArrayLike, threshold: float = 0.5) -> float:
    """Fraction of rows whose prediction (1 when p >= threshold, else 0) equals the label."""
    ya, pa = _binary(y, p)
    return float(np.mean((pa >= threshold) == (ya == 1.0)))


def gauc(users: npt.ArrayLike, y: npt.ArrayLike, s: npt.ArrayLike) -> float:
    """Group AUC: per-user ROC AUC averaged with weights = the user's row count.

    Users whose rows hold a single class are skipped; ValueError when no user has both.
    """
    ya, sa = _binary(y, s)
    ua = np.asarray(users)
    if ua.shape != ya.shape:
        raise ValueError(f"users must be 1-D of the same length as y, got {ua.shape}")
    _, codes = np.unique(ua, return_inverse=True)
    codes = codes.reshape(-1).astype(np.int64)
    order = np.lexsort((sa, codes))  # by user, then by score
    c, ss, ys = codes[order], sa[order], ya[order]
    user_starts, user_sizes = _tie_groups([c])
    pos = _average_positions(*_tie_groups([c, ss]))  # ties grouped within a user only
    ranks = pos - np.repeat(user_starts, user_sizes) + 1.0  # 1-based rank within the user
    n_pos = np.add.reduceat(ys, user_starts)
    rank_sum = np.add.reduceat(ranks * ys, user_starts)
    n = user_sizes.astype(np.float64)
    n_neg = n - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        raise ValueError("gauc needs a user with both a positive and a negative, none has")
    auc = (rank_sum[ok] - n_pos[ok] * (n_pos[ok] + 1.0) / 2.0) / (n_pos[ok] * n_neg[ok])
    return float(np.average(auc, weights=n[ok]))


# --- top-N ----------------------------------------------------------------------------------


def _hits(
    ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int
) -> tuple[BoolArray, IntArray]:
    """The (U', k) hit matrix and |relevant| for the U' users with a relevant item.

    A hit is a non-negative id of the user's relevant set, counted at its first position only;
    columns past the end of `ranked` count as padding (no item).
    """
    top = np.asarray(ranked)
    if top.ndim != 2:
        raise ValueError(f"ranked must be 2-D (users, K), got shape {top.shape}")
    if not np.issubdtype(top.dtype, np.integer):
        raise ValueError(f"ranked must hold integer item ids, got {top.dtype}")
    n_users = top.shape[0]
    if len(relevant) != n_users:
        raise ValueError(f"relevant has {len(relevant)} users, ranked has {n_users}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    top = top[:, :k].astype(np.int64)
    if top.shape[1] < k:  # a list shorter than k: the missing slots hold no item
        top = np.pad(top, ((0, 0), (0, k - top.shape[1])), constant_values=-1)
    rel_arrays = [np.asarray(r, dtype=np.int64).reshape(-1) for r in relevant]
    rel_items = np.concatenate([np.empty(0, np.int64), *rel_arrays])
    if (rel_items < 0).any():
        raise ValueError("relevant item ids must be non-negative")
    rel_users = np.repeat(np.arange(n_users), [len(r) for r in rel_arrays])
    # compact item codes, so that (user, item) pairs become int64 keys without overflow
    uniq, inv = np.unique(np.concatenate([top.reshape(-1), rel_items]), return_inverse=True)
    m = max(len(uniq), 1)
    inv = inv.reshape(-1).astype(np.int64)
    top_keys = np.arange(n_users, dtype=np.int64)[:, None] * m + inv[: top.size].reshape(top.shape)
    rel_keys = np.unique(rel_users * m + inv[top.size :])  # a set per user: duplicates drop
    n_rel = np.bincount(rel_keys // m, minlength=n_users).astype(np.int64)
    first = np.zeros(top.size, dtype=np.bool_)
    first[np.unique(top_keys.reshape(-1), return_index=True)[1]] = True
    hits = np.isin(top_keys, rel_keys) & (top >= 0) & first.reshape(top.shape)
    keep = n_rel > 0
    if not keep.any():
        raise ValueError("no user has a relevant item")
    return hits[keep], n_rel[keep]


def hit_rate(ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int) -> float:
    """HR@k: fraction of users with at least one relevant item in their top k."""
    hits, _ = _hits(ranked, relevant, k)
    return float(hits.any(axis=1).mean())


def ndcg(ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int) -> float:
    """NDCG@k, binary gains: sum of 1/log2(rank + 1) over hits (rank from 1), divided by the
    ideal DCG of min(k, |relevant|) hits at the top; averaged over users."""
    hits, n_rel = _hits(ranked, relevant, k)
    discounts = 1.0 / np.log2(np.arange(2, k + 2, dtype=np.float64))
    dcg = hits @ discounts
    ideal = np.cumsum(discounts)[np.minimum(n_rel, k) - 1]
    return float(np.mean(dcg / ideal))


def recall(ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int) -> float:
    """Recall@k: hits in the top k / |relevant| (the standard definition, so it can stay below 1
    when |relevant| > k); averaged over users."""
    hits, n_rel = _hits(ranked, relevant, k)
    return float(np.mean(hits.sum(axis=1) / n_rel))


def average_precision(ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int) -> float:
    """MAP@k: per user, the sum of precision@i over hit positions i <= k, divided by
    min(|relevant|, k); averaged over users."""
    hits, n_rel = _hits(ranked, relevant, k)
    precision_at = np.cumsum(hits, axis=1) / np.arange(1, k + 1, dtype=np.float64)
    ap = (precision_at * hits).sum(axis=1) / np.minimum(n_rel, k)
    return float(np.mean(ap))


def mrr(ranked: npt.ArrayLike, relevant: Sequence[npt.ArrayLike], k: int) -> float:
    """MRR@k: 1 / rank of the first relevant item in the top k, 0 when none; user average."""
    hits, _ = _hits(ranked, relevant, k)
    first = np.argmax(hits, axis=1)
    rr = np.where(hits.any(axis=1), 1.0 / (first + 1.0), 0.0)
    return float(np.mean(rr))


def coverage(ranked: npt.ArrayLike, catalog_size: int) -> float:
    """Catalogue coverage: distinct non-negative item ids in `ranked` / catalog_size."""
    if catalog_size < 1:
        raise ValueError(f"catalog_size must be >= 1, got {catalog_size}")
    items = np.asarray(ranked).reshape(-1)
    return float(np.unique(items[items >= 0]).size / catalog_size)
