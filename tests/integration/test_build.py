"""`sparrow build` on the real ml-latest-small: every stage, caching, reruns, `--until`, errors."""

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

SPARROW = str(Path(sys.executable).parent / "sparrow")
STAGES = ("features", "embeddings", "models", "evaluation")
QUICK = ("--models", "deepfm,popularity", "--embeddings", "item2vec")
UNTIL = 1_200_000_000  # 2008-01-10: about half of ml-latest-small's ratings are before it


def build(*args: str, code: int = 0) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    done = subprocess.run(
        [SPARROW, "build", *args], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == code, done.stdout[-3000:] + done.stderr
    return done


def statuses(stdout: str) -> dict[str, str]:
    """{stage: built | cached | skipped} from the one line each stage prints."""
    found = {}
    for line in stdout.splitlines():
        stage, sep, rest = line.partition(": ")
        if sep and stage in STAGES and rest.split():
            found[stage] = rest.split()[0]
    return found


def config(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return str(path)


@dataclass(frozen=True)
class Runs:
    out: Path
    cold: str
    cached: str
    retrained: str
    item_vectors_mtime: tuple[int, int]  # after the cold run, after the retraining run


@pytest.fixture(scope="module")
def runs(ml_latest_small: Path, tmp_path_factory: pytest.TempPathFactory) -> Runs:
    """A quick build, the same again, then again with one training setting changed."""
    folder = tmp_path_factory.mktemp("build")
    out = folder / "build"
    quick = config(folder, "quick.toml", "[training]\nepochs = 1\n[embedding]\nepochs = 2\n")
    changed = config(
        folder, "lr.toml", "[training]\nepochs = 1\nlr = 0.002\n[embedding]\nepochs = 2\n"
    )
    data = ("--data", str(ml_latest_small), "--out", str(out), *QUICK)
    cold = build(*data, "--config", quick).stdout
    vectors = out / "embeddings" / "item2vec" / "items.parquet"
    before = vectors.stat().st_mtime_ns
    cached = build(*data, "--config", quick).stdout
    retrained = build(*data, "--config", changed).stdout
    return Runs(out, cold, cached, retrained, (before, vectors.stat().st_mtime_ns))


def test_a_cold_build_runs_every_stage_and_writes_everything(runs: Runs) -> None:
    assert statuses(runs.cold) == dict.fromkeys(STAGES, "built")
    for path in (
        "manifest.json",
        "stages.json",
        "embeddings/item2vec/items.parquet",
        "embeddings/item2vec/users.parquet",
        "models/deepfm/1/model.onnx",
        "models/popularity/1/model.onnx",
        "reports/report.json",
        "reports/report.html",
        "reports/embeddings.json",
    ):
        assert (runs.out / path).is_file(), path
    units = json.loads((runs.out / "stages.json").read_text())["units"]
    assert set(units) == {
        "features",
        "embeddings/item2vec",
        "models/deepfm",
        "models/popularity",
        "evaluation",
    }
    report = json.loads((runs.out / "reports" / "report.json").read_text())
    assert {row["model"] for row in report["test"]} == {"deepfm", "popularity"}
    assert "stage" in runs.cold and "total" in runs.cold  # the summary table


def test_a_second_run_reuses_every_stage(runs: Runs) -> None:
    assert statuses(runs.cached) == dict.fromkeys(STAGES, "cached")


def test_a_changed_training_setting_reruns_only_models_and_evaluation(runs: Runs) -> None:
    assert statuses(runs.retrained) == {
        "features": "cached",
        "embeddings": "cached",
        "models": "built",
        "evaluation": "built",
    }
    before, after = runs.item_vectors_mtime
    assert before == after  # the vectors were not trained again
    for name in ("deepfm", "popularity"):
        config = json.loads((runs.out / "models" / name / "2" / "config.json").read_text())
        assert config["training"]["lr"] == 0.002
    report = json.loads((runs.out / "reports" / "report.json").read_text())
    assert {row["version"] for row in report["test"]} == {2}


def test_a_build_until_a_time_sees_nothing_after_it_and_can_be_served(
    ml_latest_small: Path, tmp_path: Path
) -> None:
    from fastapi.testclient import TestClient

    from sparrow.config import Settings
    from sparrow.serving.app import create_app

    out = tmp_path / "until"
    quick = config(tmp_path, "quick.toml", "[training]\nepochs = 1\n[embedding]\nepochs = 2\n")
    build(
        "--data",
        str(ml_latest_small),
        "--out",
        str(out),
        "--until",
        str(UNTIL),
        "--models",
        "popularity",
        "--embeddings",
        "item2vec",
        "--config",
        quick,
    )
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["parameters"]["until"] == UNTIL and manifest["as_of"] <= UNTIL
    for split in ("train", "test"):
        stamps = pq.read_table(out / "samples" / f"{split}.parquet", columns=["timestamp"])
        assert len(stamps) and pc.max(stamps["timestamp"]).as_py() <= UNTIL, split
    with TestClient(create_app(out, Settings())) as client:
        movies = client.get("/getrecforyou", params={"id": 1, "size": 10})
        assert movies.status_code == 200 and len(movies.json()) == 10


def test_a_bad_data_path_is_one_line_and_leaves_no_build(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    for data in (tmp_path / "missing", empty):
        out = tmp_path / "out"
        done = build("--data", str(data), "--out", str(out), code=3)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error:") and str(data) in lines[0]
        assert not out.exists()


def test_a_folder_that_is_not_a_build_is_never_replaced(
    ml_latest_small: Path, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("keep me")
    done = build("--data", str(ml_latest_small), "--out", str(tmp_path), *QUICK, code=2)
    assert "refusing to replace" in done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
