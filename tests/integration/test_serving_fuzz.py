"""Fuzzing the HTTP API from its OpenAPI schema (schemathesis): whatever the parameters, no
5xx, and every response conforms to the schema (status code, content type, body).

Schemathesis's pytest plugin loads a schema from a fixture with `from_fixture`, which fails on
pytest 9 (it reads `Function._nodeid`), so each operation's hypothesis strategy is run here
directly; `max_examples` keeps the run bounded.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.specs.openapi.schemas import OpenApiSchema
from tests.serving_fixtures import serving

PATHS = ("/getmovie", "/getuser", "/getsimilarmovie", "/getrecommendation", "/getrecforyou",
         "/getscore", "/healthz", "/metrics")  # fmt: skip
WITHOUT_PARAMETERS = {"/healthz", "/metrics"}  # nothing to make invalid


@pytest.fixture(scope="module")
def api_schema(
    serving_build: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[OpenApiSchema]:
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    with serving(serving_build, log) as url:
        yield schemathesis.openapi.from_url(f"{url}/openapi.json")


def test_every_operation_is_fuzzed(api_schema: OpenApiSchema) -> None:
    operations = {result.ok().path for result in api_schema.get_all_operations()}
    assert set(PATHS) <= operations


@pytest.mark.parametrize(
    ("path", "mode"),
    [
        (path, mode)
        for path in PATHS
        for mode in GenerationMode
        if mode == GenerationMode.POSITIVE or path not in WITHOUT_PARAMETERS
    ],
)
def test_the_api_conforms_to_its_schema(
    api_schema: OpenApiSchema, path: str, mode: GenerationMode
) -> None:
    operation = api_schema[path]["GET"]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=30,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def fuzz(case: Case) -> None:
        case.call_and_validate()

    fuzz()
