"""Services for the tests: free ports, and Redis (the shared one at 6379, or a throw-away one)."""

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis

from sparrow.store import keys

SHARED_REDIS = os.environ.get("SPARROW_TEST_REDIS", "redis://127.0.0.1:6379/0")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False


@contextmanager
def redis_server(*args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """A throw-away redis-server on a free port (no persistence); yields its URL and process."""
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (Debian: apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [
            exe,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            *args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 20
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server on port {port} did not start")
            time.sleep(0.05)
        yield url, process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(10)


@contextmanager
def any_redis() -> Iterator[str]:
    """The shared Redis when it answers, else a private redis-server."""
    if answers(SHARED_REDIS):
        yield SHARED_REDIS
        return
    with redis_server() as (url, _):
        yield url


def delete_prefix(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url)
    found = list(client.scan_iter(match=keys.glob_escape(prefix) + ":*", count=1000))
    for i in range(0, len(found), 1000):
        client.unlink(*found[i : i + 1000])
