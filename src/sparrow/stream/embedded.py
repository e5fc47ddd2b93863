"""The stream processor inside the service (`sparrow serve`, `serving.stream`): a daemon thread.

With the memory store it reads `<build>/events/events.log` from the start (the store starts
from the build at each start, so every event is applied again; event ids keep that exact) and
updates the service's own store. With Redis it reads the Redis Stream `<prefix>:events` in a
consumer group (each server worker is one consumer) and writes the active version in Redis;
several services (or `sparrow stream run`) share the work. Errors (Redis down) are logged and
retried; `status()` tells `/healthz` and `/metrics` the lag and the last error.
"""

import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sparrow.errors import DataError
from sparrow.stream.log import EventLog, FileLog
from sparrow.stream.runner import Store, catalogue, run
from sparrow.stream.updates import MAX_EVENT_IDS

log = logging.getLogger("sparrow.stream")
RETRY_S = 1.0
GROUP = "sparrow"  # the consumer group of the services and of `sparrow stream run`


def events_stream(prefix: str) -> str:
    """The Redis Stream of events under a key prefix."""
    return f"{prefix}:events"


def consumer_name() -> str:
    """This process's consumer name in the group (unique per host and process)."""
    return f"{socket.gethostname()}-{os.getpid()}"


def threshold_of(build: Path) -> float:
    """The build's positive threshold (manifest.json)."""
    try:
        manifest = json.loads((build / "manifest.json").read_text(encoding="utf-8"))
        return float(manifest["parameters"]["definitions"]["positive_threshold"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{build} is not a build directory (manifest.json: {exc!r})") from exc


def file_log(build: Path, durable: bool = True) -> FileLog:
    """The build's event log file (see `FileLog` for `durable`)."""
    return FileLog(build / "events" / "events.log", durable)


@dataclass(frozen=True)
class Status:
    running: bool
    lag: int | None  # entries not yet applied (None: unknown now)
    error: str | None  # the last failure, until a batch succeeds again


class Background:
    """Runs `run(open_store(), open_log(), ...)` on a thread until `stop()`; reopens both and
    starts again one second after a failure."""

    def __init__(self, open_store: Callable[[], Store], open_log: Callable[[], EventLog],
                 threshold: float, batch: int = MAX_EVENT_IDS) -> None:  # fmt: skip
        self.open_store, self.open_log = open_store, open_log
        self.threshold, self.batch = threshold, batch
        self.log: EventLog | None = None
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="sparrow-stream", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def status(self) -> Status:
        lag = None
        current = self.log
        if current is not None:
            try:
                lag = current.lag()
            except Exception as exc:  # Redis down: the lag is unknown, the error says why
                self.error = self.error or f"{type(exc).__name__}: {exc}"
        return Status(self._thread.is_alive() and not self._stop.is_set(), lag, self.error)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                store = self.open_store()
                self.log = self.open_log()
                vectors, movies = catalogue(store)
                self.error = None
                run(store, self.log, vectors, movies, self.threshold, self.batch, self._stop)
            except Exception as exc:  # a store or log outage: report, wait, reopen
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("event=stream_failed error=%s", self.error)
                self._stop.wait(RETRY_S)
            finally:
                if self.log is not None:
                    self.log.close()
