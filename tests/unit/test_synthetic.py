"""sparrow.data.synthetic: layout, constraints, realistic skew, learnable labels, determinism."""

import csv
import subprocess
import sys
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from sparrow.data.synthetic import END, GENRES, START, generate
from sparrow.errors import ConfigError

USERS, ITEMS, RATINGS = 200, 1000, 5000
HEADERS = {
    "ratings.csv": ["userId", "movieId", "rating", "timestamp"],
    "movies.csv": ["movieId", "title", "genres"],
    "links.csv": ["movieId", "imdbId", "tmdbId"],
    "tags.csv": ["userId", "movieId", "tag", "timestamp"],
}
STARS = {f"{k / 2:.1f}" for k in range(1, 11)}


def _rows(path: Path) -> list[list[str]]:
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("synth") / "ml-synth"
    assert generate(out, users=USERS, items=ITEMS, ratings=RATINGS, seed=7, progress=False) == out
    return out


@pytest.fixture(scope="module")
def ratings(folder: Path) -> dict[str, npt.NDArray[np.float64]]:
    """Columns of ratings.csv as arrays (the rating text is checked separately)."""
    body = np.array(_rows(folder / "ratings.csv")[1:], dtype=np.float64)
    return {"user": body[:, 0], "item": body[:, 1], "rating": body[:, 2], "ts": body[:, 3]}


def test_writes_the_ml_latest_layout(folder: Path) -> None:
    assert sorted(p.name for p in folder.iterdir()) == ["README.txt", *sorted(HEADERS)]
    for name, header in HEADERS.items():
        assert _rows(folder / name)[0] == header
    assert not list(folder.parent.glob(".*")), "no temporary folder left behind"


def test_ratings_are_valid(folder: Path, ratings: dict[str, npt.NDArray[np.float64]]) -> None:
    rows = _rows(folder / "ratings.csv")[1:]
    assert len(rows) == RATINGS
    assert {r[2] for r in rows} <= STARS  # written like GroupLens: "4.0", "0.5"
    user, item = ratings["user"].astype(int), ratings["item"].astype(int)
    assert len(np.unique(user * (ITEMS + 1) + item)) == RATINGS, "a (user, movie) pair twice"
    assert set(user) == set(range(1, USERS + 1)), "every user rates"
    assert item.min() >= 1 and item.max() <= ITEMS
    assert ratings["ts"].min() >= START and ratings["ts"].max() <= END
    assert np.all(np.diff(user) >= 0), "sorted by user, like GroupLens"


def test_popularity_and_activity_are_skewed(ratings: dict[str, npt.NDArray[np.float64]]) -> None:
    per_item = np.sort(np.bincount(ratings["item"].astype(int), minlength=ITEMS + 1)[1:])[::-1]
    per_user = np.sort(np.bincount(ratings["user"].astype(int))[1:])[::-1]
    assert per_item[: ITEMS // 10].sum() > 0.3 * RATINGS  # uniform would give 10%
    assert per_user[: USERS // 10].sum() > 0.25 * RATINGS
    assert per_user.max() > 5 * np.median(per_user)


def test_rating_distribution_looks_like_movielens(
    ratings: dict[str, npt.NDArray[np.float64]],
) -> None:
    values, counts = np.unique(ratings["rating"], return_counts=True)
    assert values[np.argmax(counts)] == 4.0
    assert 3.2 < ratings["rating"].mean() < 3.8
    assert 0.5 in values and 5.0 in values and 3.5 in values


def test_ratings_are_learnable(ratings: dict[str, npt.NDArray[np.float64]]) -> None:
    """Item quality and user bias are latent: halves of the data agree on them."""
    user, item, rating = ratings["user"].astype(int), ratings["item"].astype(int), ratings["rating"]

    def split_half(group: npt.NDArray[np.int64], split: npt.NDArray[np.bool_]) -> float:
        sums = [
            np.bincount(group[m], rating[m], minlength=group.max() + 1) for m in (split, ~split)
        ]
        counts = [np.bincount(group[m], minlength=group.max() + 1) for m in (split, ~split)]
        ok = (counts[0] >= 5) & (counts[1] >= 5)
        return float(np.corrcoef(sums[0][ok] / counts[0][ok], sums[1][ok] / counts[1][ok])[0, 1])

    assert split_half(item, user % 2 == 0) > 0.4  # items' means from disjoint users
    assert split_half(user, item % 2 == 0) > 0.4  # users' means on disjoint movies


def test_users_prefer_the_genres_they_watch(
    folder: Path, ratings: dict[str, npt.NDArray[np.float64]]
) -> None:
    """Per (user, genre): the more of a user's ratings fall in a genre, the higher they are."""
    genres = {int(r[0]): r[2].split("|") for r in _rows(folder / "movies.csv")[1:]}
    user, item, rating = ratings["user"].astype(int), ratings["item"].astype(int), ratings["rating"]
    per_user = np.bincount(user)
    user_mean = np.bincount(user, rating) / np.maximum(per_user, 1)
    pairs: dict[tuple[int, str], list[float]] = {}
    for u, i, r in zip(user.tolist(), item.tolist(), rating.tolist(), strict=True):
        for g in genres[i]:
            pairs.setdefault((u, g), []).append(r - user_mean[u])
    share = [len(v) / per_user[u] for (u, _), v in pairs.items() if len(v) >= 3]
    lift = [float(np.mean(v)) for v in pairs.values() if len(v) >= 3]
    assert np.corrcoef(share, lift)[0, 1] > 0.1


def test_movies_links_tags_round_trip_through_csv(folder: Path) -> None:
    movies = _rows(folder / "movies.csv")[1:]
    assert [int(m[0]) for m in movies] == list(range(1, ITEMS + 1))
    titles = {int(m[0]): m[1] for m in movies}
    assert titles[7].startswith("Synthetic Movie 7, The (")  # comma: quoted in the file
    assert titles[11].startswith('Synthetic "Movie" 11 (')  # quotes: doubled in the file
    assert titles[53] == "Synthetic Movie 53"  # no year, like a few real titles
    years = [int(t[-5:-1]) for t in titles.values() if t.endswith(")") and t[-6] == "("]
    assert len(years) == ITEMS - ITEMS // 53 and min(years) >= 1920 and max(years) <= 2023
    genre_lists = [m[2].split("|") for m in movies]
    assert sum(g == ["(no genres listed)"] for g in genre_lists) == ITEMS // 97
    assert all(set(g) <= set(GENRES) and 1 <= len(g) <= 3 for g in genre_lists if g[0] in GENRES)
    links = _rows(folder / "links.csv")[1:]
    assert len({row[1] for row in links}) == ITEMS and all(len(row[1]) == 7 for row in links)
    assert any(row[2] == "" for row in links)  # a few unknown tmdbIds, as in GroupLens files
    rated = {(int(r[0]), int(r[1])) for r in _rows(folder / "ratings.csv")[1:]}
    tags = _rows(folder / "tags.csv")[1:]
    assert tags and all(len(t) == 4 and (int(t[0]), int(t[1])) in rated for t in tags)


def test_times_have_sessions_and_follow_releases(
    folder: Path, ratings: dict[str, npt.NDArray[np.float64]]
) -> None:
    user, ts = ratings["user"].astype(np.int64), ratings["ts"].astype(np.int64)
    assert len(np.unique(user * 2**32 + ts)) < RATINGS, "some ratings share a second"
    titles = {int(m[0]): m[1] for m in _rows(folder / "movies.csv")[1:]}
    year = np.array([int(titles[i][-5:-1]) if i % 53 else 0 for i in ratings["item"].astype(int)])
    rated_year = 1970 + ts // 31_556_952
    assert np.mean(rated_year >= year) > 0.95, "movies are mostly rated after their release"


def test_same_seed_same_bytes_other_seed_other_data(folder: Path, tmp_path: Path) -> None:
    again, other = tmp_path / "again", tmp_path / "other"
    generate(again, users=USERS, items=ITEMS, ratings=RATINGS, seed=7, progress=False)
    generate(other, users=USERS, items=ITEMS, ratings=RATINGS, seed=8, progress=False)
    for name in HEADERS:
        assert (again / name).read_bytes() == (folder / name).read_bytes(), name
    assert (other / "ratings.csv").read_bytes() != (folder / "ratings.csv").read_bytes()


@pytest.mark.parametrize(
    ("users", "items", "ratings", "seed", "message"),
    [
        (0, 10, 10, 1, "at least one user"),
        (10, 0, 10, 1, "at least one user and one item"),
        (10, 10, 9, 1, "at least users"),
        (10, 10, 101, 1, "exceed users x items"),
        (10, 10, 20, -1, "seed"),
    ],
)
def test_bad_arguments_are_config_errors(
    tmp_path: Path, users: int, items: int, ratings: int, seed: int, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        generate(tmp_path / "out", users=users, items=items, ratings=ratings, seed=seed)
    assert not (tmp_path / "out").exists()


def test_existing_folder_is_left_alone(tmp_path: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    with pytest.raises(ConfigError, match="already exists"):
        generate(tmp_path / "out", users=3, items=5, ratings=10, progress=False)
    assert [p.name for p in (tmp_path / "out").iterdir()] == ["keep.txt"]


def test_full_matrix_and_progress_bar(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every user rates every movie: the exact fill path; the bar goes to stderr only."""
    generate(tmp_path / "full", users=30, items=40, ratings=1200, seed=3, progress=True)
    rows = _rows(tmp_path / "full" / "ratings.csv")[1:]
    assert len({(r[0], r[1]) for r in rows}) == 1200
    assert capsys.readouterr().out == ""


def test_cli_synth_then_info(tmp_path: Path) -> None:
    """The console script end to end: `sparrow data synth`, then `sparrow data info`."""
    sparrow = str(Path(sys.executable).parent / "sparrow")
    out = tmp_path / "ml-synth"
    synth = [sparrow, "data", "synth", "--out", str(out), "--users", "50", "--items", "80"]
    done = subprocess.run(
        [*synth, "--ratings", "1234", "--seed", "1"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    info = subprocess.run(
        [sparrow, "data", "info", str(out)], capture_output=True, text=True, check=False
    )
    assert info.returncode == 0, info.stderr
    assert "1,234" in info.stdout and "ml-synth" in info.stdout
    bad = subprocess.run([*synth, "--ratings", "10"], capture_output=True, text=True, check=False)
    assert bad.returncode == 2 and "at least users" in bad.stderr
