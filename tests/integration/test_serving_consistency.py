"""Offline/online consistency: the service's score of a (user, movie) pair equals the score
computed without the service, from the build's feature files and the saved model."""

from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.serving_fixtures import serving

from sparrow.artifacts.models import latest
from sparrow.artifacts.runtime import OnnxModel

PAIRS = 50


@pytest.fixture(scope="module")
def api(serving_build: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[httpx.Client]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(serving_build, log) as url, httpx.Client(base_url=url, timeout=30) as client:
        yield client


def sampled_pairs(build: Path) -> pa.Table:
    """PAIRS (userId, movieId) pairs of the test samples, seeded, in a fixed order."""
    test = pq.read_table(build / "samples" / "test.parquet", columns=["userId", "movieId"])
    rows = np.random.default_rng(7).choice(test.num_rows, PAIRS, replace=False)
    return test.take(np.sort(rows)).append_column("row", pa.array(np.arange(PAIRS)))


def offline_rows(build: Path, pairs: pa.Table) -> pa.Table:
    """The pairs joined to the build's online feature files: the sample columns, pair order."""
    movies = pq.read_table(build / "features" / "movies.parquet").drop_columns(["title"])
    users = pq.read_table(build / "features" / "users.parquet")
    joined = pairs.join(movies, "movieId").join(users, "userId")
    assert joined.num_rows == PAIRS  # every pair has a movie row and a user row
    return joined.take(pc.sort_indices(joined["row"]))


@pytest.mark.parametrize("model", ["deepfm", "neumf"])
def test_served_scores_equal_offline_scores(
    api: httpx.Client, serving_build: Path, model: str
) -> None:
    pairs = sampled_pairs(serving_build)
    offline = OnnxModel(latest(serving_build, model).path).score(offline_rows(serving_build, pairs))
    served = []
    for user_id, movie_id in zip(
        pairs["userId"].to_pylist(), pairs["movieId"].to_pylist(), strict=True
    ):
        response = api.get(
            "/getscore", params={"userId": user_id, "movieId": movie_id, "model": model}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["userId"], body["movieId"], body["model"]) == (user_id, movie_id, model)
        served.append(body["score"])
    np.testing.assert_allclose(np.array(served), offline, rtol=0, atol=1e-5)
    assert np.ptp(offline) > 0.01  # real, varied scores, not a constant
