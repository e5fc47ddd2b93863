"""What the serving tests share: a quick build and a `sparrow serve` process."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from tests.services import free_port

START_TIMEOUT_S = 90
SPARROW = str(Path(sys.executable).parent / "sparrow")


def make_serving_build(data: Path, out: Path) -> Path:
    """Features, item2vec (3 epochs) and one-epoch deepfm and neumf models of `data`."""
    from sparrow.config import EmbeddingSettings, FeatureSettings, TrainingSettings
    from sparrow.embedding.pipeline import embed_items
    from sparrow.features.pipeline import build
    from sparrow.training.pipeline import train_model  # torch: only when a build is made

    build(data, out, FeatureSettings(), progress=False)
    embed_items(out, "item2vec", EmbeddingSettings(epochs=3))
    for name in ("deepfm", "neumf"):
        train_model(out, name, TrainingSettings(epochs=1), progress=False)
    return out


def _wait(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited ({process.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"the server did not answer /healthz in {START_TIMEOUT_S} s:\n{log.read_text()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=20)


@contextmanager
def serving(
    build_dir: Path, log: Path, *args: str, env: dict[str, str] | None = None
) -> Iterator[str]:
    """Run `sparrow serve` (the console script) on a free port; yield its base URL once
    /healthz answers; stop it (SIGTERM) afterwards."""
    port = free_port()
    command = [
        SPARROW,
        "serve",
        "--build",
        str(build_dir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        *args,
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, env=os.environ | (env or {})
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait(url, process, log)
        yield url
    finally:
        _stop(process)
