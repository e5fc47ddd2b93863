"""The `sparrow` console script as a user runs it: real subprocesses, real data."""

import json
import os
import subprocess
import sys
from pathlib import Path

SPARROW = str(Path(sys.executable).parent / "sparrow")
REPO = Path(__file__).resolve().parents[2]


def sparrow(*args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"}
    return subprocess.run([SPARROW, *args], capture_output=True, text=True, env=env, check=False)


def test_help_teaches_every_group() -> None:
    top = sparrow("--help")
    assert top.returncode == 0
    assert "data" in top.stdout and "features" in top.stdout
    build = sparrow("features", "build", "--help")
    assert "--until" in build.stdout and "--sparrow-compat" in build.stdout


def test_features_build_prints_a_summary(ml_latest_small: Path, tmp_path: Path) -> None:
    done = sparrow(
        "features", "build", "--data", str(ml_latest_small), "--out", str(tmp_path / "b")
    )
    assert done.returncode == 0, done.stderr
    assert "train samples" in done.stdout and "80,668" in done.stdout
    manifest = json.loads((tmp_path / "b" / "manifest.json").read_text())
    assert manifest["dataset"]["name"] == "ml-latest-small"
    assert manifest["parameters"]["split"] == "time"


def test_bad_input_is_one_line_and_a_nonzero_exit(tmp_path: Path) -> None:
    build = ["features", "build", "--out", str(tmp_path / "b"), "--data"]
    cases = [
        ([*build, str(tmp_path / "missing")], 3),
        ([*build, ".", "--test-fraction", "2"], 2),
        ([*build, ".", "--split", "sideways"], 2),
        (["data", "info", str(tmp_path)], 3),
    ]
    for args, code in cases:
        done = sparrow(*args)
        assert done.returncode == code, (args, done.stderr)
        assert "Traceback" not in done.stderr
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith("error:")
    assert not (tmp_path / "b").exists()


def test_data_info_summarises_the_real_dataset(ml_latest_small: Path) -> None:
    done = sparrow("data", "info", str(ml_latest_small))
    assert done.returncode == 0, done.stderr
    assert "100,836" in done.stdout and "610" in done.stdout


def test_feature_benchmark_runs_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "features.json"
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "features.py"),
            "--sizes",
            "small",
            "--repeat",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    small = json.loads(out.read_text())["results"]["small"]
    assert small["ratings"] == 100_836
    assert small["wall_s_median"] > 0 and small["peak_rss_mb_median"] > 0
