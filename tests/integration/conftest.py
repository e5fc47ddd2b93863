"""Fixtures shared by the integration tests: one serving build of ml-latest-small per session."""

from pathlib import Path

import pytest
from tests.serving_fixtures import make_serving_build


@pytest.fixture(scope="session")
def serving_build(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Features, item2vec vectors and quick deepfm and neumf models (about 15 s, once)."""
    return make_serving_build(ml_latest_small, tmp_path_factory.mktemp("serving") / "build")
