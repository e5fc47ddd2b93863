"""The online user features' update rule: hand-computed states, idempotency, offline
equivalence for any build's definitions."""

import json
import math
import random

import numpy as np
import pyarrow as pa
import pytest

from sparrow.artifacts.events import Event, parse_event
from sparrow.artifacts.schema import USER_FEATURE_COLUMNS, Definitions
from sparrow.features.definitions import user_window_features
from sparrow.features.online import (
    MAX_EVENT_IDS,
    MovieInfo,
    UserState,
    Window,
    apply,
    apply_many,
    features,
    fingerprint,
    initial_state,
    user_vector,
)

D = Definitions(positive_threshold=3.5)  # the default window: 100 ratings
HISTORY = D.history
NO_VECTORS: dict[str, np.ndarray] = {}
MOVIES = {1: MovieInfo(("A", "B"), 2000), 2: MovieInfo(("B",), 1990), 3: MovieInfo(("C",), None)}
VECTORS = {1: {"m": np.array([1.0, 0.0], np.float32)}, 2: {"m": np.array([0.0, 1.0], np.float32)}}


def ev(i: int, movie: int, rating: float | None, ts: int, kind: str = "rating") -> Event:
    return Event(f"e{i}", kind, 7, movie, rating, ts)


def run(events: list[Event], state: UserState | None = None) -> UserState:
    for e in events:
        state = apply(state, e, MOVIES.get(e.movie_id), VECTORS.get(e.movie_id, {}), D)
    assert state is not None
    return state


def test_a_hand_computed_sequence() -> None:
    s = run([ev(1, 1, 4.0, 10), ev(2, 2, 3.0, 20), ev(3, 3, None, 30, "click"), ev(4, 3, 5.0, 25)])
    w = s.window
    assert (w.ts, w.movie, w.half) == ([10, 20, 25], [1, 2, 3], [8, 6, 10])
    assert (w.liked, w.year) == ([True, False, True], [2000, 1990, None])
    assert [{g for i, g in enumerate(w.vocab) if m >> i & 1} for m in w.genres] == [
        {"A", "B"},
        {"B"},
        {"C"},
    ]
    assert (w.totals, dict(zip(w.vocab, w.tally, strict=True))) == (
        [24, 200, 2, 3990, 2000**2 + 1990**2],
        {"A": 1, "B": 1, "C": 1},
    )
    assert (s.rated, s.liked, s.latest_movie, s.latest_ts, s.events) == (
        [1, 2, 3],
        [3, 1],
        3,
        25,
        4,
    )
    assert s.event_ids == b"".join(fingerprint(f"e{i}") for i in range(1, 5))
    row = features(s)
    assert list(row) == list(USER_FEATURE_COLUMNS)
    assert row == {
        "userId": 7,
        "userRatedMovie1": 3,
        "userRatedMovie2": 1,
        "userRatedMovie3": None,
        "userRatedMovie4": None,
        "userRatedMovie5": None,
        "userRatingCount": 3,
        "userAvgReleaseYear": 1995.0,
        "userReleaseYearStddev": math.sqrt(50.0),
        "userAvgRating": 4.0,
        "userRatingStddev": 1.0,
        "userGenre1": "A",
        "userGenre2": "B",
        "userGenre3": "C",
        "userGenre4": None,
        "userGenre5": None,
    }
    vector = user_vector(s, "m")
    assert vector is not None and vector.dtype == np.float32 and vector.tolist() == [1.0, 0.0]
    assert user_vector(s, "other") is None


def test_click_and_view_only_move_the_latest_movie() -> None:
    s = run([ev(1, 2, None, 5, "view"), ev(2, 1, None, 6, "click")])
    assert (s.latest_movie, s.latest_ts, s.window, s.rated, s.liked) == (1, 6, Window(), [], [])
    assert features(s)["userRatingCount"] == 0 and features(s)["userAvgRating"] is None


def test_replayed_event_ids_change_nothing() -> None:
    events = [ev(1, 1, 4.0, 10), ev(2, 2, 4.5, 20)]
    s = run(events)
    assert run(events, s) is s
    assert (
        apply_many(
            s, 7, [(e, MOVIES[e.movie_id], VECTORS[e.movie_id]) for e in events], D
        ).to_dict()
        == s.to_dict()
    )
    both = apply_many(
        None, 7, [(e, MOVIES[e.movie_id], VECTORS[e.movie_id]) for e in events * 2], D
    )
    assert both.to_dict() == s.to_dict() and both.events == 2
    assert user_vector(s, "m").tolist() == [0.5, 0.5]  # type: ignore[union-attr]


def test_apply_does_not_mutate_its_input() -> None:
    s = run([ev(1, 1, 4.0, 10)])
    before = s.to_dict()
    run([ev(2, 2, 5.0, 20)], s)
    assert s.to_dict() == before


def test_a_re_rating_replaces_the_earlier_one() -> None:
    s = run([ev(1, 1, 4.0, 10), ev(2, 2, 4.0, 20), ev(3, 1, 2.0, 30)])
    assert (s.window.ts, s.window.movie, s.window.half) == ([20, 30], [2, 1], [8, 4])
    assert (s.rated, s.liked, s.counts) == ([1, 2], [2], {"m": 1})
    assert user_vector(s, "m").tolist() == [0.0, 1.0]  # type: ignore[union-attr]
    s = run([ev(4, 2, 1.0, 40)], s)
    assert s.liked == [] and user_vector(s, "m") is None
    s = run([ev(5, 2, 5.0, 50)], s)
    assert s.liked == [2] and user_vector(s, "m").tolist() == [0.0, 1.0]  # type: ignore[union-attr]


def test_the_window_keeps_the_last_100_ratings_in_time_order() -> None:
    events = [ev(i, 1000 + i, 4.0, 100 + i) for i in range(HISTORY + 5)]
    s = run(events[::-1])  # arriving newest first: the window is still by time
    assert s.window.movie == [1000 + i for i in range(5, HISTORY + 5)]
    assert features(s)["userRatingCount"] == HISTORY
    late = run([ev(999, 5, 5.0, 1)], s)  # older than the whole full window
    assert late.window == s.window and late.rated[-1] == 5 and late.liked[0] == 5


@pytest.mark.parametrize("seed", range(4))
def test_kept_sums_equal_a_recount(seed: int) -> None:
    rng = random.Random(seed)
    events = [
        ev(i, rng.randint(1, 150), rng.randint(1, 10) / 2, rng.randint(1, 400)) for i in range(600)
    ]
    state = None
    for e in events:
        info = MovieInfo(tuple(rng.sample("ABCDEFG", e.movie_id % 4)), 1900 + e.movie_id)
        state = apply(state, e, None if e.movie_id % 7 == 0 else info, {}, D)
        assert state is not None
        recounted = state.window.copy().recount()
        assert (state.window.totals, state.window.tally) == (recounted.totals, recounted.tally)
    assert state is not None and len(state.window.ts) == HISTORY


def test_event_ids_are_bounded() -> None:
    s = run([ev(i, 1, None, i, "view") for i in range(MAX_EVENT_IDS + 10)])
    assert s.event_ids == b"".join(fingerprint(f"e{i}") for i in range(10, MAX_EVENT_IDS + 10))


@pytest.mark.parametrize("n", [0, 1, 3, HISTORY + 20])
def test_bytes_round_trips(n: int) -> None:
    events = [ev(i, 1 + i % 3, 0.5 + i % 10 / 2, 10 + i) for i in range(n)]
    s = run([ev(-1, 2, None, 5, "view"), *events])
    assert json.loads(json.dumps(s.to_dict())) == s.to_dict()
    back = UserState.from_bytes(s.to_bytes(), s.rated, s.liked)
    assert back.to_dict() == s.to_dict() and features(back) == features(s)
    assert [a.tobytes() for a in back.sums.values()] == [a.tobytes() for a in s.sums.values()]


def test_any_event_id_is_recognised_after_a_round_trip() -> None:
    ids = ["a b", "a", "b", " ", "é\n\x00", "\ud800", "x" * 300]
    s = apply_many(None, 7, [(Event(i, "view", 7, 1, None, 5), None, {}) for i in ids], D)
    back = UserState.from_bytes(s.to_bytes(), s.rated, s.liked)
    assert back.events == len(ids) and len(back.event_ids) == len(ids) * 8
    again = apply_many(back, 7, [(Event(i, "view", 7, 2, None, 6), None, {}) for i in ids], D)
    assert again.to_dict() == back.to_dict()


def test_parse_event() -> None:
    good = {
        "id": "x",
        "type": "rating",
        "userId": 1,
        "movieId": 2,
        "rating": 4.5,
        "timestamp": 9,
        "receivedAt": 9.5,
    }
    assert parse_event(good, "f@0") == Event("x", "rating", 1, 2, 4.5, 9)
    assert parse_event(good | {"id": None} | {"type": "view", "rating": None}, "f@0").id == "f@0"
    for bad in (
        [],
        {**good, "rating": 4.2},
        {**good, "rating": None},
        {**good, "type": "buy"},
        {**good, "userId": "1"},
        {**good, "movieId": 0},
        {**good, "timestamp": True},
        {**good, "type": "click"},
        {**good, "rating": 6},
    ):
        with pytest.raises(ValueError):
            parse_event(bad, "f@0")


def _offline_row(
    history: list[tuple[int, float, int]], info: dict[int, MovieInfo], definitions: Definitions
) -> dict:
    """definitions.user_window_features at a sentinel row after `history` (the build's
    online user features)."""
    vocab = sorted({g for m in info.values() for g in m.genres})
    rows = [*sorted(history, key=lambda r: (r[2], r[0])), (None, None, 10**9)]
    masks = [sum(1 << vocab.index(g) for g in set(info[m].genres)) if m else 0 for m, _, _ in rows]
    table = pa.table(
        {
            "userId": [7] * len(rows),
            "movieId": [m for m, _, _ in rows],
            "timestamp": [t for _, _, t in rows],
            "rating": [r for _, r, _ in rows],
            "releaseYear": pa.array(
                [info[m].release_year if m else None for m, _, _ in rows], pa.int32()
            ),
            "genreMask": pa.array(masks, pa.int64()),
        }
    )
    out = user_window_features(table, vocab, definitions)
    return {"userId": 7, **{c: out[c][-1].as_py() for c in out.column_names}}


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize(
    "definitions",
    [D, Definitions(positive_threshold=4.0, history=7), Definitions(history=1)],
    ids=["default", "history-7", "history-1"],
)
def test_features_equal_the_offline_definitions(seed: int, definitions: Definitions) -> None:
    rng = random.Random(seed)
    genres = ["Action", "Comedy", "Drama", "Horror", "Sci-Fi", "War", "Zeta"]
    info = {
        m: MovieInfo(
            tuple(rng.sample(genres, rng.randint(0, 3))),
            None if rng.random() < 0.1 else rng.randint(1920, 2020),
        )
        for m in range(1, 400)
    }
    n = rng.choice([1, 2, 7, 60, 100, 101, 180])
    movies = rng.sample(sorted(info), n)
    history = [(m, rng.randint(1, 10) / 2, rng.randint(1, 40)) for m in movies]  # ties in time
    catalogue = sorted(history, key=lambda r: (r[2], r[0]))
    state = initial_state(7, catalogue, info.get, lambda m: {}, definitions)
    assert features(state) == _offline_row(history, info, definitions)
    assert features(state)["userRatingCount"] == min(n, definitions.history)
    # the same ratings as stream events, arriving in any order, give the same features
    # (in batches, each state stored as bytes and read back)
    shuffled = rng.sample(history, len(history))
    streamed = None
    for start in range(0, len(shuffled), 17):
        items = [
            (Event(f"e{i}", "rating", 7, m, r, t), info[m], NO_VECTORS)
            for i, (m, r, t) in enumerate(shuffled[start : start + 17], start)
        ]
        streamed = apply_many(streamed, 7, items, definitions)
        streamed = UserState.from_bytes(streamed.to_bytes(), streamed.rated, streamed.liked)
    assert streamed is not None and features(streamed) == features(state)
    assert sorted(streamed.rated) == sorted(state.rated)
