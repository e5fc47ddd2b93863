"""`sparrow embed` on the real ml-latest-small build, as a user runs it."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sparrow.config import FeatureSettings
from sparrow.embedding.pipeline import similar
from sparrow.features.pipeline import build

SPARROW = str(Path(sys.executable).parent / "sparrow")


def sparrow(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    done = subprocess.run([SPARROW, *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def built(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("embed") / "build"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    sparrow("embed", "item2vec", "--build", str(out))
    for method in ("deepwalk", "node2vec"):
        sparrow("embed", method, "--build", str(out), "--walks", "3000", "--epochs", "5")
    return out


def test_every_method_saves_vectors_and_its_settings(built: Path) -> None:
    for method in ("item2vec", "deepwalk", "node2vec"):
        folder = built / "embeddings" / method
        vectors = pq.read_table(folder / "items.parquet")
        info = json.loads((folder / "config.json").read_text())
        assert vectors.num_rows == info["items"] > 1000
        assert vectors.schema.field("vector").type.list_size == info["skipgram"]["dim"] == 64


def test_toy_story_neighbours_look_like_family_animation(built: Path) -> None:
    neighbours = similar(built, 1, "item2vec", 10)
    assert len(neighbours) == 10 and all(n["movieId"] != 1 for n in neighbours)
    family = [n for n in neighbours if {"Animation", "Children"} & set(n["genres"])]
    assert len(family) >= 2, neighbours
    shown = sparrow("embed", "similar", "1", "--build", str(built), "-k", "5").stdout
    assert neighbours[0]["title"] in shown


def test_user_vectors_and_evaluation_report(built: Path) -> None:
    sparrow("embed", "users", "--build", str(built), "--half-life-days", "365")
    users = pq.read_table(built / "embeddings" / "item2vec" / "users.parquet")
    assert 400 < users.num_rows <= 610
    shown = sparrow("embed", "evaluate", "--build", str(built)).stdout
    assert "popularity" in shown and "HR@10" in shown
    report = json.loads((built / "reports" / "embeddings.json").read_text())
    for name, metrics in report["next_item"].items():
        assert 0.0 <= metrics["hr@10"] <= 1.0, name
        assert metrics["users"] == report["next_item"]["popularity"]["users"] > 0
    for method in ("item2vec", "deepwalk", "node2vec"):
        assert report["indexes"][method]["hnsw"]["recall@10"] >= 0.98


def test_missing_vectors_is_one_clear_error(built: Path, tmp_path: Path) -> None:
    done = subprocess.run(
        [SPARROW, "embed", "similar", "1", "--build", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 3
    assert done.stderr.startswith("error:") and "Traceback" not in done.stderr
