"""The HTTP service over real HTTP (`sparrow serve` on granian) against a real ml-latest-small
build: the original's endpoints and JSON shapes, errors, recall and ranking, degradation."""

import http.client
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest
from tests.services import redis_server
from tests.serving_fixtures import serving

from sparrow.config import ServingSettings
from sparrow.serving.experiments import Experiments
from sparrow.serving.observe import Metrics
from sparrow.serving.rank import Ranker, model_rows
from sparrow.serving.recall import UserContext, for_user
from sparrow.serving.state import load_models, load_spaces
from sparrow.serving.vectors import Space
from sparrow.store.memory_store import MemoryStore
from sparrow.store.push import push

MOVIE_FIELDS = {"movieId", "title", "releaseYear", "imdbId", "tmdbId", "genres", "ratingNumber",
                "averageRating", "topRatings"}  # fmt: skip
USER_FIELDS = {"userId", "averageRating", "highestRating", "lowestRating", "ratingCount", "ratings"}
RATING_FIELDS = {"movieId", "userId", "score", "timestamp"}
EXTRA_FIELDS = frozenset({"recallChannels", "score", "rankedBy"})
FOR_YOU_CHANNELS = {"user_vector", "recent_liked", "genre", "popularity", "top_rated"}
SIMILAR_CHANNELS = {"embedding", "genre", "cooccurrence"}


EXPERIMENTS = """
[[layer]]
name = "ranking"
variant = [{name = "control", weight = 50}, {name = "ncf", model = "nerualcf", weight = 50}]

[[layer]]
name = "recall"
variant = [{name = "base", weight = 50},
           {name = "no_popularity", weight = 50, recall = {popularity = 0}}]
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The main service's experiments file and log."""
    folder = tmp_path_factory.mktemp("serve")
    (folder / "experiments.toml").write_text(EXPERIMENTS)
    return folder


@pytest.fixture(scope="module")
def experiments(folder: Path) -> Experiments:
    return Experiments.load(folder / "experiments.toml")


@pytest.fixture(scope="module")
def api(serving_build: Path, folder: Path) -> Iterator[httpx.Client]:
    """A client of `sparrow serve` on the memory store, with two experiment layers (and a
    budget no busy test machine spends: the tests check what is served, not how fast)."""
    args = ("--experiments", str(folder / "experiments.toml"))
    env = {"SPARROW_SERVING__BUDGET_MS": "10000"}
    with (
        serving(serving_build, folder / "serve.log", *args, env=env) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def degraded(
    serving_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[httpx.Client]:
    """A service whose neumf file is corrupt and whose ranking budget (1 microsecond) is
    always spent: every model ranking falls back."""
    folder = tmp_path_factory.mktemp("degraded")
    copy = folder / "build"
    shutil.copytree(serving_build, copy)
    (copy / "models" / "neumf" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    env = {"SPARROW_SERVING__BUDGET_MS": "0.001"}
    with serving(copy, folder / "serve.log", env=env) as url, httpx.Client(base_url=url) as client:
        yield client


def get(client: httpx.Client, path: str, status: int = 200, **params: Any) -> Any:
    response = client.get(path, params=params or None)  # None keeps a query in `path`
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    return response.json()


def check_movie(movie: dict[str, Any], extra: frozenset[str] = frozenset()) -> None:
    assert set(movie) == MOVIE_FIELDS | extra
    assert len(movie["topRatings"]) <= 10
    scores = [item["rating"]["score"] for item in movie["topRatings"]]
    assert scores == sorted(scores)  # ascending, as the original
    for item in movie["topRatings"]:
        assert set(item) == {"rating"} and set(item["rating"]) == RATING_FIELDS
        assert item["rating"]["movieId"] == movie["movieId"]


def check_recommended(items: list[dict[str, Any]], channels: set[str]) -> None:
    assert items
    for movie in items:
        check_movie(movie, EXTRA_FIELDS)
        assert movie["recallChannels"] and set(movie["recallChannels"]) <= channels
    ranked_by = {movie["rankedBy"] for movie in items}
    assert len(ranked_by) == 1
    scores = [movie["score"] for movie in items]
    assert scores == sorted(scores, reverse=True)


def test_getmovie_has_the_original_shape(api: httpx.Client) -> None:
    movie = get(api, "/getmovie", id=1)
    check_movie(movie)
    assert movie["title"] == "Toy Story" and movie["releaseYear"] == 1995
    assert movie["imdbId"] == "0114709" and movie["tmdbId"] == "862"
    assert movie["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    assert movie["ratingNumber"] == 215 and movie["averageRating"] == pytest.approx(
        3.9209, abs=1e-4
    )
    assert len(movie["topRatings"]) == 10
    comma = get(api, "/getmovie", id=11)  # the original dropped titles with a comma
    assert comma["title"] == "American President, The"


def test_every_catalogue_movie_is_served(api: httpx.Client, serving_build: Path) -> None:
    ids = pq.read_table(serving_build / "catalog" / "items.parquet")["item_id"].to_pylist()
    assert len(ids) == 9742
    # http.client: the lightest client, so the 9,742 requests take seconds, not tens
    connection = http.client.HTTPConnection(api.base_url.host, api.base_url.port, timeout=30)
    try:
        for movie_id in ids:
            connection.request("GET", f"/getmovie?id={movie_id}")
            response = connection.getresponse()
            body = response.read()
            assert response.status == 200, movie_id
            assert json.loads(body)["movieId"] == movie_id
    finally:
        connection.close()


def test_getuser_has_the_original_shape(api: httpx.Client) -> None:
    user = get(api, "/getuser", id=1)
    assert set(user) == USER_FIELDS
    assert user["userId"] == 1 and user["ratingCount"] == len(user["ratings"]) == 232
    assert user["lowestRating"] <= user["averageRating"] <= user["highestRating"]
    for item in user["ratings"]:
        assert set(item) == {"rating"} and set(item["rating"]) == RATING_FIELDS
    times = [item["rating"]["timestamp"] for item in user["ratings"]]
    assert times == sorted(times)  # oldest first


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/getmovie", 422),
        ("/getmovie?id=abc", 422),
        ("/getmovie?id=0", 422),
        ("/getmovie?id=-3", 422),
        ("/getmovie?id=2147483648", 422),
        ("/getmovie?id=99999999", 404),
        ("/getuser", 422),
        ("/getuser?id=1.5", 422),
        ("/getuser?id=99999", 404),
        ("/getsimilarmovie", 422),
        ("/getsimilarmovie?movieId=1&size=0", 422),
        ("/getsimilarmovie?movieId=1&size=1001", 422),
        ("/getsimilarmovie?movieId=1&model=x", 422),
        ("/getsimilarmovie?movieId=99999999", 404),
        ("/getrecommendation?genre=Nope", 404),
        ("/getrecommendation?sortby=title", 422),
        ("/getrecommendation?size=-1", 422),
        ("/getrecforyou", 422),
        ("/getrecforyou?id=1&model=nope", 422),
        ("/getrecforyou?id=1&size=x", 422),
        ("/getscore?userId=1", 422),
        ("/getscore?userId=1&movieId=99999999", 404),
        ("/getscore?userId=1&movieId=1&model=emb", 422),
        ("/nowhere", 404),
    ],
)
def test_errors_are_json_with_a_status(api: httpx.Client, path: str, status: int) -> None:
    body = get(api, path, status)
    assert set(body) == {"error"} and body["error"]


def test_getrecommendation_defaults_and_sorts(api: httpx.Client) -> None:
    movies = get(api, "/getrecommendation")  # no genre: all movies, 8, by rating
    assert len(movies) == 8
    for movie in movies:
        check_movie(movie)
    action = get(api, "/getrecommendation", genre="Action", size=20)
    assert len(action) == 20 and all("Action" in m["genres"] for m in action)
    ratings = [m["averageRating"] for m in action]
    assert ratings == sorted(ratings, reverse=True)
    years = [
        m["releaseYear"] for m in get(api, "/getrecommendation", size=30, sortby="releaseYear")
    ]
    assert years == sorted(years, reverse=True)
    counts = [
        m["ratingNumber"] for m in get(api, "/getrecommendation", size=30, sortby="popularity")
    ]
    assert counts == sorted(counts, reverse=True) and counts[0] == 329  # Forrest Gump


def test_getsimilarmovie(api: httpx.Client) -> None:
    response = api.get("/getsimilarmovie", params={"movieId": 1})
    assert response.status_code == 200 and response.headers["x-sparrow-ranking"] == "item2vec"
    similar = response.json()
    assert len(similar) == 16  # default size
    check_recommended(similar, SIMILAR_CHANNELS)
    assert 1 not in {m["movieId"] for m in similar}
    assert {m["rankedBy"] for m in similar} == {"item2vec"}
    same = get(api, "/getsimilarmovie", movieId=1, size=5, model="item2vec")
    assert [m["movieId"] for m in same] == [m["movieId"] for m in similar[:5]]


def test_similar_movies_of_a_movie_without_a_vector(api: httpx.Client, serving_build: Path) -> None:
    with_vectors = set(
        pq.read_table(serving_build / "embeddings" / "item2vec" / "items.parquet")[
            "movieId"
        ].to_pylist()
    )
    popular = [m["movieId"] for m in get(api, "/getrecommendation", size=1000, sortby="popularity")]
    movie_id = next(i for i in reversed(popular) if i not in with_vectors)
    response = api.get("/getsimilarmovie", params={"movieId": movie_id, "size": 8})
    assert response.status_code == 200
    assert response.headers["x-sparrow-ranking"] == "fallback=popularity; reason=no-vector"
    check_recommended(response.json(), {"genre", "cooccurrence"})


@pytest.mark.parametrize(
    ("model", "ranked_by"),
    [
        ("deepfm", "deepfm"),
        ("emb", "item2vec"),
        ("nerualcf", "neumf"),
        ("neuralcf", "neumf"),
        ("neumf", "neumf"),
    ],
)
def test_getrecforyou_never_recommends_rated_movies(
    api: httpx.Client, model: str, ranked_by: str
) -> None:
    rated = {item["rating"]["movieId"] for item in get(api, "/getuser", id=1)["ratings"]}
    response = api.get("/getrecforyou", params={"id": 1, "model": model})
    assert response.status_code == 200
    assert response.headers["x-sparrow-ranking"] == ranked_by
    items = response.json()
    assert len(items) == 32  # default size
    check_recommended(items, FOR_YOU_CHANNELS)
    assert {m["rankedBy"] for m in items} == {ranked_by}
    assert not rated & {m["movieId"] for m in items}


def test_experiments_choose_the_model_and_recall(
    api: httpx.Client, experiments: Experiments, folder: Path
) -> None:
    seen = set()
    for user_id in range(1, 41):
        assignment = experiments.assign(user_id)
        variants = {layer: variant.name for layer, variant in assignment.items()}
        seen.add(tuple(variants.values()))
        response = api.get("/getrecforyou", params={"id": user_id, "size": 1000})  # all
        assert response.status_code == 200
        assert response.headers["x-sparrow-experiments"] == Experiments.header(assignment)
        expected = "neumf" if variants["ranking"] == "ncf" else "deepfm"  # else: the default
        assert response.headers["x-sparrow-ranking"] == expected
        channels = {c for movie in response.json() for c in movie["recallChannels"]}
        assert ("popularity" in channels) == (variants["recall"] == "base")
        explicit = api.get("/getrecforyou", params={"id": user_id, "model": "emb"})
        assert explicit.headers["x-sparrow-ranking"] == "item2vec"  # a parameter wins
    assert len(seen) == 4  # every combination of the two layers' variants was served
    first = Experiments.header(experiments.assign(1))
    logged = f'event=recforyou user=1 known=True experiments="{first}" '
    assert logged in (folder / "serve.log").read_text()  # logfmt: "=" in a value is quoted
    assert get(api, "/healthz")["experiments"] == ["ranking", "recall"]


def test_an_unknown_user_gets_popular_movies(api: httpx.Client) -> None:
    items = get(api, "/getrecforyou", id=999_999, size=10)
    check_recommended(items, {"popularity", "top_rated"})
    tops = {
        m["movieId"]
        for by in ("popularity", "rating")
        for m in get(api, "/getrecommendation", size=100, sortby=by)
    }
    assert {m["movieId"] for m in items} <= tops


def test_getscore(api: httpx.Client) -> None:
    body = get(api, "/getscore", userId=1, movieId=1)
    assert body["model"] == "deepfm" and 0 < body["score"] < 1
    assert get(api, "/getscore", userId=1, movieId=1, model="nerualcf")["model"] == "neumf"


def test_cors_docs_health_and_metrics(api: httpx.Client) -> None:
    response = api.get("/getmovie", params={"id": 1}, headers={"Origin": "http://example.com"})
    assert response.headers["access-control-allow-origin"] == "*"
    assert "X-Sparrow-Ranking" in response.headers["access-control-expose-headers"]
    assert api.get("/docs").status_code == 200
    paths = get(api, "/openapi.json")["paths"]
    models = {p["name"]: p["schema"] for p in paths["/getrecforyou"]["get"]["parameters"]}
    assert models["model"]["enum"] == ["emb", "neuralcf", "nerualcf", "deepfm", "neumf"]
    assert {
        "/getmovie",
        "/getuser",
        "/getsimilarmovie",
        "/getrecommendation",
        "/getrecforyou",
        "/getscore",
        "/healthz",
        "/metrics",
    } <= set(paths)
    health = get(api, "/healthz")
    assert health["status"] == "ok" and health["ping"] and health["store"] == "memory"
    assert health["models"] == ["deepfm", "neumf"] and health["embeddings"] == ["item2vec"]
    assert health["degraded"] == [] and health["storeVersion"]
    metrics = api.get("/metrics").text
    assert 'sparrow_requests_total{endpoint="/getmovie",status="200"}' in metrics
    assert (
        "sparrow_request_seconds_bucket" in metrics and "sparrow_ranking_fallbacks_total" in metrics
    )


def metric(client: httpx.Client, line_start: str) -> float:
    lines = [x for x in client.get("/metrics").text.splitlines() if x.startswith(line_start)]
    return sum(float(x.rsplit(" ", 1)[1]) for x in lines)


def test_a_late_or_broken_model_falls_back(degraded: httpx.Client) -> None:
    for model, reason in (("deepfm", "budget"), ("neumf", "unavailable")):
        response = degraded.get("/getrecforyou", params={"id": 1, "model": model})
        assert response.status_code == 200
        assert response.headers["x-sparrow-ranking"] == f"fallback=item2vec; reason={reason}"
        check_recommended(response.json(), FOR_YOU_CHANNELS)
        assert {m["rankedBy"] for m in response.json()} == {"item2vec"}
    unknown = degraded.get("/getrecforyou", params={"id": 999_999})  # no vector: popularity
    assert unknown.headers["x-sparrow-ranking"] == "fallback=popularity; reason=budget"
    assert unknown.status_code == 200 and unknown.json()
    assert metric(degraded, 'sparrow_ranking_fallbacks_total{reason="budget",to="item2vec"}') >= 1
    assert metric(degraded, 'sparrow_ranking_fallbacks_total{reason="unavailable"') >= 1
    health = get(degraded, "/healthz")
    assert health["status"] == "degraded" and health["models"] == ["deepfm"]
    assert any("neumf not loaded" in note for note in health["degraded"])
    assert get(degraded, "/getscore", 503, userId=1, movieId=1, model="neumf")["error"]


def test_a_model_error_falls_back(serving_build: Path) -> None:
    """A model raising while it scores (in process: nothing over HTTP can make it raise)."""

    class Broken:
        def score(self, rows: Any) -> np.ndarray:
            raise RuntimeError("boom")

    store = MemoryStore.from_build(serving_build)
    space = load_spaces(store)["item2vec"]
    metrics = Metrics()
    ranker = Ranker({"deepfm": Broken()}, metrics, ServingSettings().budget_ms)  # type: ignore[dict-item]
    try:
        user = UserContext.load(store, space, 1)
        found = for_user(store, space, user, 800)
        ranked = ranker.rank("deepfm", store, space, user, found.ids)
    finally:
        ranker.close()
    assert ranked.header == "fallback=item2vec; reason=error"
    assert sorted(ranked.ids.tolist()) == sorted(found.ids.tolist())
    assert metrics.fallbacks.labels("error", "item2vec")._value.get() == 1


def test_ranking_encodes_the_movies_once_with_the_same_scores(serving_build: Path) -> None:
    """The ranker's scores (movies encoded at start-up, one user row per request) equal the
    scores of the whole rows encoded per request."""
    store = MemoryStore.from_build(serving_build)
    space = load_spaces(store)["item2vec"]
    models, _ = load_models(serving_build, 1)
    ranker = Ranker(models, Metrics(), ServingSettings().budget_ms)
    try:
        for user_id in (1, 414, 999_999):
            user = UserContext.load(store, space, user_id)
            ids = for_user(store, space, user, 800).ids
            rows = model_rows(store.movie_features(ids.tolist()), user)
            for name, model in models.items():
                expected = model.score(rows).astype(np.float64)
                assert np.array_equal(ranker.score(name, store, user, ids), expected), name
    finally:
        ranker.close()


def test_redis_outage_serves_the_memory_copy(serving_build: Path, tmp_path: Path) -> None:
    with redis_server() as (redis_url, redis_process):
        push(serving_build, redis_url, "servingtest", progress=False)
        env = {"SPARROW_STORE__PREFIX": "servingtest"}
        args = ("--store", "redis", "--redis-url", redis_url)
        with (
            serving(serving_build, tmp_path / "serve.log", *args, env=env) as url,
            httpx.Client(base_url=url) as client,
        ):
            health = get(client, "/healthz")
            assert health["store"] == "redis" and health["ping"] and health["status"] == "ok"
            before = get(client, "/getmovie", id=1)
            assert get(client, "/getrecforyou", id=1, size=5)
            redis_process.kill()
            redis_process.wait(timeout=10)
            requests = [
                ("/getmovie", {"id": 1}),
                ("/getuser", {"id": 1}),
                ("/getrecommendation", {"genre": "Comedy"}),
                ("/getsimilarmovie", {"movieId": 1}),
                ("/getrecforyou", {"id": 1}),
                ("/getrecforyou", {"id": 999_999}),
                ("/getscore", {"userId": 1, "movieId": 2}),
            ]
            for path, params in requests:
                response = client.get(path, params=params)
                assert response.status_code == 200, (path, response.text)
                assert response.json()
            assert get(client, "/getmovie", id=1) == before
            assert (
                "redis down"
                in client.get("/getmovie", params={"id": 1}).headers["x-sparrow-degraded"]
            )
            health = get(client, "/healthz")
            assert health["status"] == "degraded" and not health["ping"]
            assert any("redis down: serving the memory copy" in n for n in health["degraded"])
            assert metric(client, "sparrow_store_errors_total") >= 1
            assert metric(client, "sparrow_store_degraded") == 1


def test_neighbours_drop_the_padding() -> None:
    """Fewer items than asked for: each query's neighbours are the other items, best first."""
    space = Space.build("test", np.array([30, 10, 20]), np.array([[1, 0], [1, 0.1], [0, 1]]))
    found = space.neighbours(space.unit, 5, exclude=space.ids)
    assert [row.tolist() for row in found] == [[30, 20], [10, 30], [10, 20]]
