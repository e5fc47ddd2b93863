"""Snapshot semantics on a tiny hand-made dataset, expected answers worked out by hand."""

from pathlib import Path

import numpy as np
import pytest
from tests.fixtures import write_dataset

from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build
from sparrow.store.derive import co_occurrence, rank_in_groups, reverse_groups, sort_order
from sparrow.store.snapshot import Snapshot, load

MOVIES = """movieId,title,genres
1,One (2001),Action
2,Two (2002),Action|Drama
3,Three (2003),Action
4,Four (2004),Drama
5,Five (2005),Drama
6,Six (2006),Action
7,Seven (2007),Drama
8,Eight (2008),Action
9,Nine,Comedy
10,Ten (2010),Comedy
11,Eleven (2011),Comedy
12,Twelve (2012),(no genres listed)
"""
LINKS = "movieId,imdbId,tmdbId\n1,114709,862\n2,0113497,\n"
# movie 10: (user, score, ts); the 10 best keep the older of the equal 3.0s (u20 is cut)
MOVIE_10 = [(10, 5.0, 100), (11, 5.0, 106), (12, 4.0, 102), (13, 4.0, 103), (14, 4.0, 105),
            (15, 3.0, 101), (16, 3.0, 100), (17, 3.0, 100), (18, 3.0, 109), (19, 3.0, 110),
            (20, 3.0, 111), (21, 1.0, 99)]  # fmt: skip


def _ratings() -> str:
    rows = [(1, m, 4.0, 10 * m) for m in range(1, 9)] + [(1, 9, 1.0, 45)]  # 1..8 liked in order
    rows += [(2, 2, 5.0, 10), (2, 1, 4.0, 20)]  # a second user liking 1 next to 2
    rows += [(u, 10, s, t) for u, s, t in MOVIE_10] + [(30, 11, 5.0, 200)]
    rows += [(40, m, 5.0, 1000 + i) for i, m in enumerate([1, 8, 4, 5, 6, 7])]  # the test split
    lines = [f"{u},{m},{s},{t}" for u, m, s, t in rows]
    return "userId,movieId,rating,timestamp\n" + "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    root = tmp_path_factory.mktemp("snapshot")
    data = write_dataset(root / "data", _ratings())
    (data / "movies.csv").write_text(MOVIES)
    (data / "links.csv").write_text(LINKS)
    build(data, root / "build", FeatureSettings(), progress=False)
    return load(root / "build")


def test_top_ratings_are_the_10_best_ascending_ties_newest_first(snapshot: Snapshot) -> None:
    movie = snapshot.movie(10)
    assert movie is not None and movie.rating_number == 12
    assert movie.average_rating == pytest.approx(41 / 12)
    shown = [(r.user_id, r.score, r.timestamp) for r in movie.top_ratings]
    assert shown == [
        (19, 3.0, 110),
        (18, 3.0, 109),
        (15, 3.0, 101),
        (17, 3.0, 100),
        (16, 3.0, 100),
        (14, 4.0, 105),
        (13, 4.0, 103),
        (12, 4.0, 102),
        (11, 5.0, 106),
        (10, 5.0, 100),
    ]
    assert all(r.movie_id == 10 for r in movie.top_ratings)


def test_movie_record(snapshot: Snapshot) -> None:
    one, two, nine, twelve = (snapshot.movie(i) for i in (1, 2, 9, 12))
    assert one is not None and two is not None and nine is not None and twelve is not None
    assert (one.title, one.release_year, one.imdb_id, one.tmdb_id) == (
        "One",
        2001,
        "0114709",
        "862",
    )
    assert (two.genres, two.imdb_id, two.tmdb_id) == (["Action", "Drama"], "0113497", None)
    assert (one.rating_number, one.average_rating) == (3, pytest.approx(13 / 3))  # every split
    assert (nine.release_year, nine.imdb_id) == (None, None)
    assert (twelve.genres, twelve.rating_number, twelve.average_rating) == ([], 0, 0.0)
    assert twelve.top_ratings == []
    assert snapshot.movie(13) is None


def test_user_record_and_liked(snapshot: Snapshot) -> None:
    user = snapshot.user(1)
    assert user is not None
    assert [r.movie_id for r in user.ratings] == [1, 2, 3, 4, 9, 5, 6, 7, 8]  # oldest first
    assert (user.rating_count, user.highest_rating, user.lowest_rating) == (9, 4.0, 1.0)
    assert user.average_rating == pytest.approx(33 / 9)
    assert snapshot.liked.get(1, "movie").tolist() == [8, 7, 6, 5, 4, 3, 2, 1]
    assert snapshot.liked.get(40, "movie").tolist() == [7, 6, 5, 4, 8, 1]  # test split too
    assert snapshot.user(99) is None


def test_co_occurrence_counts_within_the_window_of_the_training_period(
    snapshot: Snapshot,
) -> None:
    # user 1 liked 1..8 in that order (disliked 9 in between does not count); user 2 liked 2, 1;
    # user 40's likes are all in the test period and do not count
    assert snapshot.cooc.get(1, "movie").tolist() == [2, 3, 4, 5, 6]
    assert snapshot.cooc.get(1, "count").tolist() == [2, 1, 1, 1, 1]
    assert snapshot.cooc.get(2, "movie").tolist() == [1, 3, 4, 5, 6, 7]
    assert snapshot.cooc.get(8, "movie").tolist() == [3, 4, 5, 6, 7]
    assert snapshot.cooc.get(9, "movie").tolist() == []


def test_co_occurrence_keeps_the_top_n_by_count_then_id() -> None:
    users = np.array([1, 1, 1, 2, 2, 3, 3])
    items = np.array([5, 7, 6, 5, 6, 6, 5])
    src, dst, count = co_occurrence(users, items, window=1, size=1)
    got = {int(s): (int(d), int(c)) for s, d, c in zip(src, dst, count, strict=True)}
    assert got == {5: (6, 2), 6: (5, 2), 7: (5, 1)}  # 7 ties 5 and 6 at 1: lower id wins


def test_genre_ranking_puts_movies_with_few_ratings_last(snapshot: Snapshot) -> None:
    assert snapshot.top["Comedy", "rating"].tolist() == [10, 11, 9]  # 11: one 5.0 rating
    assert snapshot.top["Comedy", "popularity"].tolist() == [10, 11, 9]
    assert snapshot.top["Comedy", "releaseYear"].tolist() == [11, 10, 9]  # no year last
    assert snapshot.top["*", "rating"].tolist()[:1] == [10]
    assert len(snapshot.top["*", "popularity"]) == 12
    assert snapshot.genres == ["Action", "Comedy", "Drama"]


def test_rank_and_reverse_in_groups() -> None:
    keys = np.array([3, 3, 3, 5, 7, 7])
    assert rank_in_groups(keys).tolist() == [0, 1, 2, 0, 0, 1]
    assert reverse_groups(keys).tolist() == [2, 1, 0, 3, 5, 4]
    assert rank_in_groups(np.array([], np.int64)).tolist() == []


def test_sort_order_is_lexsort() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.integers(-3, 3, 5000), rng.integers(0, 1 << 40, 5000)
    c, d = rng.integers(0, 1 << 30, 5000), rng.integers(-(1 << 62), 1 << 62, 5000)
    for keys in [(a,), (a, -b), (a, b, c), (c, -a, b, a), (a, d), (b, b, b)]:
        assert sort_order(*keys).tolist() == np.lexsort(keys[::-1]).tolist()


def test_a_folder_that_is_not_a_build_is_a_clear_error(tmp_path: Path) -> None:
    from sparrow.errors import DataError

    with pytest.raises(DataError, match=r"no manifest\.json"):
        load(tmp_path)
