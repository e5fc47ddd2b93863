"""Encoders, the validation carve, command-line model settings and the training loop."""

from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch
from tests.model_fixtures import SPEC, learnable

from sparrow.artifacts.encoders import Encoders
from sparrow.artifacts.inputs import NUMERIC, OOV, PAD, USER_NUMERIC
from sparrow.artifacts.schema import SAMPLE_SCHEMA
from sparrow.config import TrainingSettings
from sparrow.errors import ConfigError, DataError
from sparrow.models.registry import create
from sparrow.training.dataset import Samples, carve_validation
from sparrow.training.loop import _negatives, fit, predict
from sparrow.training.pipeline import parse_params


def samples(rows: list[dict[str, object]]) -> pa.Table:
    """Sample rows with every SAMPLE_SCHEMA column (unspecified ones null)."""
    return pa.Table.from_pylist(
        [{name: row.get(name) for name in SAMPLE_SCHEMA.names} for row in rows], SAMPLE_SCHEMA
    )


ROWS = [
    {"movieId": 10, "userId": 1, "label": 1, "timestamp": 100, "movieGenre1": "Drama",
     "userRatedMovie1": 20, "movieRatingCount": 0, "userRatingCount": 3, "releaseYear": 1990},
    {"movieId": 10, "userId": 2, "label": 0, "timestamp": 200, "movieGenre1": "Drama",
     "movieGenre2": "Comedy", "movieRatingCount": 1, "userRatingCount": 0, "releaseYear": 2000},
    {"movieId": 20, "userId": 1, "label": 1, "timestamp": 300, "userGenre1": "Drama",
     "userRatedMovie1": 10, "userRatedMovie2": 20, "movieRatingCount": 2, "userRatingCount": 4},
]  # fmt: skip


def test_encoders_map_ids_to_vocabulary_indices_with_padding_and_unknown() -> None:
    encoders = Encoders.fit(samples(ROWS), min_count=2)
    # movies seen twice or more (as candidates or in histories): 10 and 20; users: only 1
    assert encoders.movies.to_pylist() == [10, 20]
    assert encoders.users.to_pylist() == [1]
    assert encoders.spec().movies == 4 and encoders.spec().users == 3
    new = samples(
        [
            {
                "movieId": 99,
                "userId": 2,
                "userRatedMovie1": 20,
                "movieGenre1": "Western",
                "movieRatingCount": 1,
                "userRatingCount": 3,
            }
        ]
    )
    x = encoders.encode(new)
    assert x["movie_id"].tolist() == [OOV]  # never seen
    assert x["user_id"].tolist() == [OOV]  # seen once: below min_count
    assert x["history"].tolist() == [[3, PAD, PAD, PAD, PAD]]  # 20 is the second movie
    assert x["movie_genres"].tolist() == [[OOV, PAD, PAD]]
    assert x["numeric"].dtype == np.float32 and x["numeric"].shape == (1, len(NUMERIC))


def test_numeric_columns_are_standardised_on_training_data_counts_after_log1p() -> None:
    encoders = Encoders.fit(samples(ROWS))
    x = encoders.encode(samples(ROWS))["numeric"]
    count = NUMERIC.index("movieRatingCount")
    logs = np.log1p([0, 1, 2])
    assert x[:, count] == pytest.approx((logs - logs.mean()) / logs.std(), abs=1e-6)
    year = NUMERIC.index("releaseYear")
    # the third row has no release year: it becomes the mean, 0 after standardising
    assert x[:, year] == pytest.approx([-1.0, 1.0, 0.0])
    stddev = NUMERIC.index("movieRatingStddev")  # never known: all zeros, no NaN
    assert np.all(x[:, stddev] == 0)


def test_encoders_survive_a_save_and_load(tmp_path: Path) -> None:
    encoders = Encoders.fit(samples(ROWS), min_count=1)
    encoders.save(tmp_path)
    again = Encoders.load(tmp_path)
    a, b = encoders.encode(samples(ROWS)), again.encode(samples(ROWS))
    for name in a:
        assert np.array_equal(a[name], b[name]), name


def test_one_users_encoding_is_the_user_side_of_the_rows_encoding() -> None:
    encoders = Encoders.fit(samples(ROWS), min_count=1)
    rows = samples(
        [
            *ROWS,
            {
                "userId": 7,
                "userRatedMovie1": 99,
                "userGenre2": "Western",
                "userRatingCount": 12,
                "userAvgRating": 3.5,
            },
        ]
    )
    whole = encoders.encode(rows)
    for i, row in enumerate(rows.to_pylist()):
        one = encoders.encode_user(row)
        for name in ("user_id", "user_genres", "history"):
            assert np.array_equal(one[name], whole[name][i : i + 1]), name
        assert np.array_equal(
            one["numeric"][:, USER_NUMERIC], whole["numeric"][i : i + 1, USER_NUMERIC]
        )


def test_rows_without_the_sample_columns_are_refused() -> None:
    with pytest.raises(DataError, match="userRatedMovie1"):
        Encoders.fit(samples(ROWS).drop_columns(["userRatedMovie1"]))


def test_validation_is_the_end_of_the_training_period() -> None:
    table = samples([{**ROWS[0], "timestamp": t} for t in range(100, 200)])
    fit_rows, valid = carve_validation(table, 0.1)
    assert valid.num_rows == 10
    assert max(fit_rows["timestamp"].to_pylist()) < min(valid["timestamp"].to_pylist())
    with pytest.raises(DataError):
        carve_validation(samples([ROWS[0], ROWS[0]]), 0.1)  # one distinct time


def test_model_settings_from_the_command_line() -> None:
    assert parse_params(["dim=32", "hidden=[64,32]", "product=outer", "dropout=0.5"]) == {
        "dim": 32,
        "hidden": [64, 32],
        "product": "outer",
        "dropout": 0.5,
    }
    with pytest.raises(ConfigError):
        parse_params(["dim"])


def test_negatives_never_repeat_the_history_movie() -> None:
    rng = np.random.default_rng(0)
    history = torch.from_numpy(rng.integers(2, 6, (500, 5)))
    movies = np.array([2, 3, 4, 5])  # so small that clashes are frequent
    negatives = _negatives(history, movies, rng)
    assert negatives.shape == history.shape
    assert not torch.any(negatives == history)


def _samples(seed: int, n: int) -> Samples:
    inputs, labels = learnable(n=n, seed=seed)
    return Samples(inputs, labels, inputs["user_id"], np.arange(n))


def test_training_keeps_the_best_epoch_and_is_seeded() -> None:
    settings = TrainingSettings(
        epochs=8, batch_size=64, lr=1e-2, patience=2, threads=1, id_dropout=0.0
    )
    train, valid = _samples(0, 4096), _samples(1, 512)
    scores = []
    for _ in range(2):
        torch.manual_seed(settings.seed)
        model = create("emb_mlp", SPEC)
        result = fit(model, train, valid, settings, progress=False)
        scores.append(predict(model, valid))
    assert np.array_equal(scores[0], scores[1])
    aucs = [e["val_auc"] for e in result.epochs]
    assert result.best_epoch == int(np.argmax(aucs)) + 1
    assert max(aucs) > 0.95
    assert len(result.epochs) == settings.epochs or result.best_epoch == len(aucs) - 2
