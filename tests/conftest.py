"""Shared fixtures: where the real MovieLens data lives (../shared/data, or $SPARROW_TEST_DATA)."""

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SPARROW_TEST_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The folder of real MovieLens datasets; fails (never skips) when it is missing."""
    if not (SHARED_DATA / "ml-latest-small" / "ratings.csv").is_file():
        pytest.fail(f"real MovieLens data not found at {SHARED_DATA} (set SPARROW_TEST_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def ml_latest_small(shared_data: Path) -> Path:
    """../shared/data/ml-latest-small."""
    return shared_data / "ml-latest-small"
