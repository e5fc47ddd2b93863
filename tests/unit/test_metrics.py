"""sparrow.evaluation.metrics: hand-worked answers, and agreement with scikit-learn on tied data."""

import math

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    log_loss,
    ndcg_score,
    roc_auc_score,
)

from sparrow.evaluation.metrics import (
    accuracy,
    average_precision,
    coverage,
    gauc,
    hit_rate,
    logloss,
    mrr,
    ndcg,
    pr_auc,
    recall,
    roc_auc,
)

SEEDS = [0, 1, 2, 3, 4, 5]
L2, L3, L5 = math.log2(2), math.log2(3), math.log2(5)


def _tied(seed: int, n: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Labels and scores rounded to 1 decimal in [0.1, 0.9]: many ties, no clipping needed."""
    rng = np.random.default_rng(seed)
    s = np.round(rng.uniform(0.05, 0.95, n), 1)
    y = (rng.uniform(size=n) < 0.2 + 0.6 * s).astype(np.int64)  # informative, not perfect
    return y, s


# --- classification: hand-worked -------------------------------------------------------------


def test_logloss_hand() -> None:
    # -(ln 0.8 + ln(1 - 0.4)) / 2 = (0.22314 + 0.51083) / 2 = 0.36698
    assert logloss([1, 0], [0.8, 0.4]) == pytest.approx((-math.log(0.8) - math.log(0.6)) / 2)
    # p = 0 for a positive is clipped to eps: -ln(1e-7) = 16.118
    assert logloss([1], [0.0]) == pytest.approx(-math.log(1e-7))
    assert logloss([0], [1.0], eps=1e-3) == pytest.approx(-math.log(1e-3))


def test_roc_auc_hand() -> None:
    # pairs (pos, neg): (.35,.1) win, (.35,.4) loss, (.8,.1) win, (.8,.4) win -> 3/4
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # tie: pos .5 vs neg .5 counts 1/2; (.5,.2) (.9,.5) (.9,.2) win -> 3.5/4
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == pytest.approx(0.875)
    # all scores tied -> 0.5; perfectly inverted -> 0
    assert roc_auc([0, 1, 1, 0], [0.3, 0.3, 0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0], [0.1, 0.2, 0.9]) == pytest.approx(0.0)


def test_pr_auc_hand() -> None:
    # descending: .8(+) P=1 R=.5 | .4(-) | .35(+) P=2/3 R=1 -> .5*1 + .5*2/3 = 0.8333
    assert pr_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    # ties grouped: .9(-) P=0 R=0 | {.5+, .5-} P=1/3 R=.5 | .1(+) P=2/4 R=1
    # -> .5 * 1/3 + .5 * 1/2 = 0.41667 (ranking the tied positive first would give 0.5)
    assert pr_auc([0, 1, 0, 1], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(5 / 12)
    # only positives: precision 1 everywhere
    assert pr_auc([1, 1], [0.2, 0.7]) == pytest.approx(1.0)


def test_accuracy_hand() -> None:
    # p >= .5 -> [1, 0, 0, 1] vs [1, 0, 1, 0]: 2 of 4 right (0.5 itself predicts 1)
    assert accuracy([1, 0, 1, 0], [0.5, 0.49, 0.2, 0.7]) == pytest.approx(0.5)
    # p >= .3 -> [1, 1, 0, 1]: only the first is right
    assert accuracy([1, 0, 1, 0], [0.5, 0.49, 0.2, 0.7], threshold=0.3) == pytest.approx(0.25)


def test_gauc_hand() -> None:
    # user a (3 rows): pos .6 vs negs .6 (tie, 1/2) and .95 (loss) -> AUC 0.25
    # user b (2 rows): pos .6 vs neg .1 -> AUC 1.0   (b's .6 must not tie with a's .6)
    # user c (2 rows): positives only -> skipped
    # GAUC = (3 * 0.25 + 2 * 1.0) / 5 = 0.55
    users = ["a", "b", "c", "a", "b", "a", "c"]
    y = [1, 0, 1, 0, 1, 0, 1]
    s = [0.6, 0.1, 0.3, 0.6, 0.6, 0.95, 0.2]
    assert gauc(users, y, s) == pytest.approx(0.55)
    assert gauc([3, 7, 9, 3, 7, 3, 9], y, s) == pytest.approx(0.55)  # integer ids, same groups


# --- classification: against scikit-learn ----------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
def test_roc_auc_matches_sklearn(seed: int) -> None:
    y, s = _tied(seed)
    assert roc_auc(y, s) == pytest.approx(roc_auc_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_pr_auc_matches_sklearn(seed: int) -> None:
    y, s = _tied(seed)
    assert pr_auc(y, s) == pytest.approx(average_precision_score(y, s), abs=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_logloss_and_accuracy_match_sklearn(seed: int) -> None:
    y, p = _tied(seed)
    assert logloss(y, p) == pytest.approx(log_loss(y, p), rel=1e-12)
    assert accuracy(y, p) == pytest.approx(accuracy_score(y, (p >= 0.5).astype(np.int64)))
    assert accuracy(y, p, 0.7) == pytest.approx(accuracy_score(y, (p >= 0.7).astype(np.int64)))


def _gauc_loop(users: np.ndarray, y: np.ndarray, s: np.ndarray) -> float:
    """The plain definition: a Python loop over users with sklearn's AUC."""
    total = weight = 0.0
    for u in np.unique(users):
        mask = users == u
        if len(np.unique(y[mask])) == 2:
            total += mask.sum() * roc_auc_score(y[mask], s[mask])
            weight += mask.sum()
    return total / weight


@pytest.mark.parametrize("seed", SEEDS)
def test_gauc_matches_per_user_loop(seed: int) -> None:
    y, s = _tied(seed, n=600)
    users = np.random.default_rng(seed + 100).integers(0, 40, size=y.size)
    users[:12] = 999  # one user with positives only
    y[:12] = 1
    assert gauc(users, y, s) == pytest.approx(_gauc_loop(users, y, s), abs=1e-12)


def test_gauc_skips_single_class_users() -> None:
    y, s = _tied(7, n=300)
    users = np.random.default_rng(7).integers(0, 10, size=y.size)
    base = gauc(users, y, s)
    # add a user of negatives only and one of positives only, both scored adversarially
    users2 = np.concatenate([users, [50] * 30, [51] * 30])
    y2 = np.concatenate([y, np.zeros(30, np.int64), np.ones(30, np.int64)])
    s2 = np.concatenate([s, np.full(30, 0.99), np.full(30, 0.01)])
    assert gauc(users2, y2, s2) == pytest.approx(base, abs=1e-12)
    # a single qualifying user: GAUC is that user's AUC
    assert gauc([1, 1, 2, 2], [1, 0, 0, 0], [0.9, 0.1, 0.3, 0.4]) == pytest.approx(1.0)


# --- classification: errors ------------------------------------------------------------------


def test_classification_errors() -> None:
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([1, 1, 1], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="both classes"):
        roc_auc([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="positive"):
        pr_auc([0, 0], [0.1, 0.2])
    with pytest.raises(ValueError, match="both a positive and a negative"):
        gauc([1, 1, 2, 2], [1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="equal length"):
        logloss([0, 1], [0.5])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
    with pytest.raises(ValueError, match="0 or 1"):
        roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ValueError, match="same length"):
        gauc([1], [0, 1], [0.1, 0.2])


# --- top-N: hand-worked ----------------------------------------------------------------------

RANKED = np.array([[1, 2, 3, 4], [5, 6, 7, -1], [8, 9, 10, 11], [12, 13, 14, 15]], np.int64)
RELEVANT = [np.array([2, 4]), np.array([7]), np.array([99]), np.array([], np.int64)]
# user 3 has no relevant item and is left out of every average: 3 users count


def test_top_n_hand_k3() -> None:
    # top 3: u0 hit at rank 2 (|rel| 2), u1 hit at rank 3 (|rel| 1), u2 no hit (|rel| 1)
    assert hit_rate(RANKED, RELEVANT, 3) == pytest.approx(2 / 3)
    assert recall(RANKED, RELEVANT, 3) == pytest.approx((1 / 2 + 1 + 0) / 3)  # 0.5
    # u0: (1/log2 3) / (1 + 1/log2 3) = 0.38685; u1: (1/log2 4) / 1 = 0.5 -> 0.29562
    u0 = (1 / L3) / (1 + 1 / L3)
    assert ndcg(RANKED, RELEVANT, 3) == pytest.approx((u0 + 0.5 + 0) / 3)
    # u0: P@2 = 1/2 over min(2, 3) = 2 -> 0.25; u1: P@3 = 1/3 over 1 -> 1/3 => 0.19444
    assert average_precision(RANKED, RELEVANT, 3) == pytest.approx((0.25 + 1 / 3) / 3)
    assert mrr(RANKED, RELEVANT, 3) == pytest.approx((1 / 2 + 1 / 3 + 0) / 3)  # 0.27778


def test_top_n_hand_k4() -> None:
    # top 4: u0 hits at ranks 2 and 4, u1 at rank 3 (rank 4 is padding), u2 none
    assert hit_rate(RANKED, RELEVANT, 4) == pytest.approx(2 / 3)
    assert recall(RANKED, RELEVANT, 4) == pytest.approx((1 + 1 + 0) / 3)
    # u0: (1/log2 3 + 1/log2 5) / (1 + 1/log2 3) = 0.65093 -> (0.65093 + 0.5) / 3 = 0.38364
    u0 = (1 / L3 + 1 / L5) / (1 / L2 + 1 / L3)
    assert ndcg(RANKED, RELEVANT, 4) == pytest.approx((u0 + 0.5) / 3)
    # u0: (P@2 + P@4) / 2 = (1/2 + 2/4) / 2 = 0.5; u1: 1/3 -> 0.27778
    assert average_precision(RANKED, RELEVANT, 4) == pytest.approx((0.5 + 1 / 3) / 3)
    assert mrr(RANKED, RELEVANT, 4) == pytest.approx((1 / 2 + 1 / 3) / 3)


def test_top_n_perfect_and_recall_below_one() -> None:
    ranked = np.array([[3, 1, 2]])
    rel = [np.array([1, 2, 3, 4, 5])]  # 5 relevant, k = 3: all 3 slots hit
    assert ndcg(ranked, rel, 3) == pytest.approx(1.0)  # ideal has min(3, 5) = 3 hits
    assert average_precision(ranked, rel, 3) == pytest.approx(1.0)  # 3 / min(5, 3)
    assert recall(ranked, rel, 3) == pytest.approx(3 / 5)  # hits / |relevant|, not / k
    assert mrr(ranked, rel, 3) == pytest.approx(1.0)


def test_top_n_padding_duplicates_and_short_lists() -> None:
    # -1 padding never matches (and negative relevant ids are rejected, see the errors test)
    assert hit_rate(np.array([[-1, -1]]), [np.array([0])], 2) == 0.0
    # a list shorter than k: missing slots are empty; hit at rank 2, |rel| 2
    ranked = np.array([[1, 2]])
    rel = [np.array([2, 3])]
    assert ndcg(ranked, rel, 4) == pytest.approx((1 / L3) / (1 + 1 / L3))
    assert recall(ranked, rel, 4) == pytest.approx(0.5)
    # an item repeated in the ranked list counts once; a repeated relevant id is one item
    assert recall(np.array([[2, 2, 3]]), [np.array([2, 2])], 3) == pytest.approx(1.0)
    assert average_precision(np.array([[2, 2, 3]]), [np.array([2])], 3) == pytest.approx(1.0)
    assert ndcg(np.array([[2, 2, 3]]), [np.array([2])], 3) == pytest.approx(1.0)
    # large ids do not overflow the (user, item) keys
    big = np.array([[2**62, 5], [7, 2**62]], np.int64)
    assert mrr(big, [np.array([2**62]), np.array([2**62])], 2) == pytest.approx((1 + 1 / 2) / 2)


def test_coverage_hand() -> None:
    # ids 1..15 appear (the -1 does not count): 15 / 20
    assert coverage(RANKED, 20) == pytest.approx(0.75)
    assert coverage(np.array([[-1, -1]]), 5) == 0.0


def test_top_n_errors() -> None:
    with pytest.raises(ValueError, match="no user has a relevant item"):
        hit_rate(RANKED, [np.array([], np.int64)] * 4, 3)
    with pytest.raises(ValueError, match="k must be"):
        ndcg(RANKED, RELEVANT, 0)
    with pytest.raises(ValueError, match="users"):
        recall(RANKED, RELEVANT[:2], 3)
    with pytest.raises(ValueError, match="2-D"):
        mrr(np.array([1, 2, 3]), [np.array([1])], 3)
    with pytest.raises(ValueError, match="non-negative"):
        average_precision(RANKED, [np.array([-1])] * 4, 3)
    with pytest.raises(ValueError, match="catalog_size"):
        coverage(RANKED, 0)


# --- top-N: against sklearn's NDCG and a plain per-user loop ---------------------------------


def _random_top_n(
    seed: int, users: int = 50, items: int = 30, width: int = 12
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Continuous scores (no ties), their top `width` ids, and a relevance mask per user."""
    rng = np.random.default_rng(seed)
    scores = rng.uniform(size=(users, items))  # continuous: no ties
    ranked = np.argsort(-scores, axis=1)[:, :width].astype(np.int64)
    truth = rng.uniform(size=(users, items)) < 0.15
    truth[np.arange(users), rng.integers(0, items, users)] = True  # >= 1 relevant each
    return scores, ranked, truth


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 5, 10])
def test_ndcg_matches_sklearn(seed: int, k: int) -> None:
    scores, ranked, truth = _random_top_n(seed)
    relevant = [np.flatnonzero(row) for row in truth]
    expected = ndcg_score(truth.astype(np.float64), scores, k=k)
    assert ndcg(ranked, relevant, k) == pytest.approx(expected, abs=1e-12)


def _loop_metrics(ranked: np.ndarray, relevant: list[np.ndarray], k: int) -> dict[str, float]:
    """Each top-N metric by the textbook, one user at a time."""
    out: dict[str, list[float]] = {"hr": [], "recall": [], "map": [], "mrr": [], "ndcg": []}
    for row, rel_arr in zip(ranked, relevant, strict=True):
        rel = {int(x) for x in rel_arr}
        if not rel:
            continue
        seen: set[int] = set()
        hits = []
        for item in row[:k].tolist():
            hits.append(item >= 0 and item in rel and item not in seen)
            seen.add(item)
        hits += [False] * (k - len(hits))
        n_hit = sum(hits)
        out["hr"].append(float(n_hit > 0))
        out["recall"].append(n_hit / len(rel))
        prec = [sum(hits[: i + 1]) / (i + 1) for i in range(k)]
        out["map"].append(sum(p for p, h in zip(prec, hits, strict=True) if h) / min(len(rel), k))
        out["mrr"].append(next((1 / (i + 1) for i, h in enumerate(hits) if h), 0.0))
        dcg = sum(1 / math.log2(i + 2) for i, h in enumerate(hits) if h)
        idcg = sum(1 / math.log2(i + 2) for i in range(min(len(rel), k)))
        out["ndcg"].append(dcg / idcg)
    return {name: float(np.mean(vals)) for name, vals in out.items()}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("k", [1, 3, 8, 15])
def test_top_n_match_loop(seed: int, k: int) -> None:
    rng = np.random.default_rng(seed)
    _, ranked, truth = _random_top_n(seed, width=10)
    ranked[rng.uniform(size=ranked.shape) < 0.1] = -1  # scattered padding
    relevant = [np.flatnonzero(row) for row in truth]
    relevant[0] = np.array([], np.int64)  # a user with nothing relevant: excluded
    relevant[1] = np.concatenate([relevant[1], relevant[1]])  # duplicates: a set
    want = _loop_metrics(ranked, relevant, k)
    assert hit_rate(ranked, relevant, k) == pytest.approx(want["hr"], abs=1e-12)
    assert recall(ranked, relevant, k) == pytest.approx(want["recall"], abs=1e-12)
    assert average_precision(ranked, relevant, k) == pytest.approx(want["map"], abs=1e-12)
    assert mrr(ranked, relevant, k) == pytest.approx(want["mrr"], abs=1e-12)
    assert ndcg(ranked, relevant, k) == pytest.approx(want["ndcg"], abs=1e-12)
