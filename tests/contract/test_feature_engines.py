"""Every batch engine produces the same build, row for row, from the same definitions."""

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from tests.fixtures import write_dataset

from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build
from sparrow.plugins import BACKENDS

TABLES = {
    "samples/train.parquet": ["userId", "timestamp", "movieId"],
    "samples/test.parquet": ["userId", "timestamp", "movieId"],
    "features/movies.parquet": ["movieId"],
    "features/users.parquet": ["userId"],
    "features/user_history.parquet": ["userId"],
    "catalog/ratings.parquet": ["user_id", "item_id", "ts"],
}
SETTINGS = {
    "time split": ({}, None),
    "random split": ({"split": "random", "test_fraction": 0.3, "seed": 7, "sample": 0.8}, None),
    # ml-latest-small at 2015-01-01, the fixture at its 5th second
    "until": ({}, {"ml-latest-small": 1_420_070_400, "fixture": 250}),
}
ENGINES = [name for name in BACKENDS["engine"].types if name != "duckdb"]


def sorted_table(path: Path, keys: list[str]) -> pa.Table:
    table = pq.read_table(path).combine_chunks()
    return table.take(pc.sort_indices(table, [(k, "ascending") for k in keys]))


def assert_same_build(expected: Path, actual: Path) -> None:
    for name, keys in TABLES.items():
        want, got = sorted_table(expected / name, keys), sorted_table(actual / name, keys)
        assert got.schema.equals(want.schema), name
        assert got.num_rows == want.num_rows, name
        for column in want.column_names:
            a, b = want[column], got[column]
            if pa.types.is_floating(a.type):  # floats to 1e-9 (in practice bit-identical)
                assert pc.all(pc.equal(a.is_null(), b.is_null())).as_py(), (name, column)
                diff = pc.max(pc.abs(pc.subtract(a, b))).as_py()
                assert diff is None or diff <= 1e-9, (name, column, diff)
            else:
                assert a.equals(b), (name, column)


@pytest.fixture(scope="module", params=["fixture", "ml-latest-small"])
def dataset(
    request: pytest.FixtureRequest, ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    if request.param == "ml-latest-small":
        return request.param, ml_latest_small
    return request.param, write_dataset(tmp_path_factory.mktemp("fixture") / "data")


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("case", list(SETTINGS))
def test_engine_builds_what_the_embedded_engine_builds(
    engine: str, case: str, dataset: tuple[str, Path], tmp_path: Path
) -> None:
    name, data = dataset
    options, untils = SETTINGS[case]
    until = untils[name] if untils else None
    build(data, tmp_path / "duckdb", FeatureSettings(**options), until=until, progress=False)
    settings = FeatureSettings(engine=engine, spark_master="local[2]", **options)
    manifest = build(data, tmp_path / engine, settings, until=until, progress=False)
    assert_same_build(tmp_path / "duckdb", tmp_path / engine)
    assert manifest.parameters.engine == engine
