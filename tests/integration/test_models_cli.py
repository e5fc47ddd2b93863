"""`sparrow train`, `sparrow models list` and `sparrow evaluate` on the real ml-latest-small."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pytest

from sparrow.artifacts.inputs import OOV
from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.models import latest
from sparrow.artifacts.runtime import OnnxModel
from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build

SPARROW = str(Path(sys.executable).parent / "sparrow")


def sparrow(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    done = subprocess.run([SPARROW, *args], capture_output=True, text=True, env=env, check=False)
    assert done.returncode == code, done.stderr
    return done


@pytest.fixture(scope="module")
def trained(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("models") / "build"
    build(ml_latest_small, out, FeatureSettings(), progress=False)
    sparrow("train", "deepfm", "--build", str(out), "--epochs", "2")
    sparrow("train", "two_tower", "--build", str(out), "--epochs", "1")
    sparrow("train", "logistic", "--build", str(out), "--epochs", "2")
    sparrow("train", "deepfm", "--build", str(out), "--epochs", "1", "--param", "dim=8")
    return out


def test_a_trained_model_folder_holds_everything_serving_needs(trained: Path) -> None:
    model = latest(trained, "deepfm")
    assert model.version == 2  # trained twice: versions count up
    for name in ("model.onnx", "encoders.json", "config.json", "metrics.json", "curves.png"):
        assert (model.path / name).is_file(), name
    config = model.config()
    assert config["params"] == {"dim": 8} and config["model"]["dim"] == 8
    assert config["build"]["dataset"] == "ml-latest-small"
    metrics = model.metrics()
    assert metrics["onnx_parity_max_abs"] <= 1e-5
    assert 0.7 < metrics["test"]["auc"] < 1.0
    assert metrics["training"]["validation_rows"] > 0
    session = ort.InferenceSession(str(model.path / "model.onnx"))
    assert session.get_inputs()[0].shape[0] == "batch"  # dynamic batch dimension


def test_two_tower_exports_each_tower(trained: Path) -> None:
    folder = latest(trained, "two_tower").path
    users = ort.InferenceSession(str(folder / "user_tower.onnx"))
    items = ort.InferenceSession(str(folder / "item_tower.onnx"))
    assert {i.name for i in items.get_inputs()} <= {"movie_id", "movie_genres", "numeric"}
    assert "movie_id" not in {i.name for i in users.get_inputs()}


def test_served_scores_give_the_metrics_recorded_at_training(trained: Path) -> None:
    sparrow("evaluate", "--build", str(trained))
    report = json.loads((trained / "reports" / "report.json").read_text())
    rows = {row["model"]: row for row in report["test"]}
    assert set(rows) == {"deepfm", "two_tower", "logistic"}
    for name, row in rows.items():
        recorded = latest(trained, name).metrics()["test"]
        assert row["auc"] == pytest.approx(recorded["auc"], abs=1e-5), name
        assert row["gauc"] == pytest.approx(recorded["gauc"], abs=1e-5), name
    html = (trained / "reports" / "report.html").read_text()
    assert "deepfm" in html and "data:image/png;base64," in html


def test_models_list_shows_every_version(trained: Path) -> None:
    shown = sparrow("models", "list", "--build", str(trained)).stdout
    assert shown.count("deepfm") == 2 and "two_tower" in shown


def test_onnx_model_scores_unknown_users_and_movies(trained: Path) -> None:
    rows = BuildDir(trained).read_samples("test").slice(0, 50)
    stranger = pa.array(np.full(50, 10**6), pa.int32())
    rows = rows.set_column(rows.schema.get_field_index("userId"), "userId", stranger)
    model = OnnxModel(latest(trained, "deepfm").path)
    assert model.encoders.encode(rows)["user_id"].tolist() == [OOV] * 50
    scores = model.score(rows)
    assert scores.shape == (50,) and np.all((scores > 0) & (scores < 1))


def test_bad_input_is_one_clear_line(trained: Path, tmp_path: Path) -> None:
    for args, code, words in [
        (["train", "nosuch", "--build", str(trained)], 2, "unknown model"),
        (["train", "deepfm", "--build", str(tmp_path)], 3, "no train samples"),
        (["train", "deepfm", "--build", str(trained), "--param", "size"], 2, "key=value"),
        (["train", "deepfm", "--build", str(trained), "--param", "depth=3"], 2, "depth"),
        (["evaluate", "--build", str(tmp_path)], 3, "no trained models"),
    ]:
        done = sparrow(*args, code=code)
        assert done.stderr.startswith("error:") and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    assert latest(trained, "deepfm").version == 2  # nothing half-written
