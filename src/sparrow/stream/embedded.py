"""The embedded runner: the stream processor in this process, as `sparrow stream run` runs it
(`EmbeddedRunner`, the `embedded` type of the `stream_runner` family), or inside the service
(`sparrow serve`, `serving.stream`) on a daemon thread (`Background`).

Inside the service, with the memory store it reads `<build>/events/events.log` from the start
(the store starts from the build at each start, so every event is applied again; event ids keep
that exact) and updates the service's own store. With Redis it reads the Redis Stream
`<prefix>:events` in a consumer group (each server worker is one consumer) and writes the
active version in Redis; several services (or `sparrow stream run`) share the work. Errors
(Redis down) are logged and retried; `status()` tells `/healthz` and `/metrics` the lag and the
last error.
"""

import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.schema import Definitions
from sparrow.config import StoreSettings, StreamSettings
from sparrow.features.online import MAX_EVENT_IDS
from sparrow.plugins import load_backend
from sparrow.store.base import UpdatableStore
from sparrow.stream.log import EventLog, Reader
from sparrow.stream.runner import STORE_TIMEOUT_S, catalogue, run

log = logging.getLogger("sparrow.stream")
RETRY_S = 1.0


def consumer_name() -> str:
    """This process's consumer name in the group (unique per host and process)."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True)
class Status:
    running: bool
    lag: int | None  # entries not yet applied (None: unknown now)
    error: str | None  # the last failure, until a batch succeeds again


class Background:
    """Runs `run(open_store(), open_log(), ...)` on a thread until `stop()`; reopens both and
    starts again one second after a failure."""

    def __init__(
        self,
        open_store: Callable[[], UpdatableStore],
        open_log: Callable[[], EventLog],
        definitions: Definitions,
        batch: int = MAX_EVENT_IDS,
    ) -> None:
        self.open_store, self.open_log = open_store, open_log
        self.definitions, self.batch = definitions, batch
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
                run(store, self.log, vectors, movies, self.definitions, self.batch, self._stop)
            except Exception as exc:  # a store or log outage: report, wait, reopen
                self.error = f"{type(exc).__name__}: {str(exc)[:200]}"
                log.warning("event=stream_failed error=%s", self.error)
                self._stop.wait(RETRY_S)
            finally:
                if self.log is not None:
                    self.log.close()


class EmbeddedRunner:
    """`run` in this process, batch by batch."""

    def __init__(self, settings: StreamSettings) -> None:
        self.settings = settings

    def run(
        self, build: Path, store: StoreSettings, once: bool, stop: threading.Event
    ) -> dict[str, Any]:
        settings = self.settings
        definitions = BuildDir(build).manifest().definitions
        writes = store.model_copy(update={"timeout_s": STORE_TIMEOUT_S})
        target = load_backend("store", store.type).open(build, writes)
        reader = Reader(settings.group, settings.consumer)
        events = load_backend("event_log", settings.log).open(build, store, reader)
        vectors, movies = catalogue(target)
        try:
            stats = run(target, events, vectors, movies, definitions, settings.batch, stop, once)
        finally:
            lag = events.lag()
            events.close()
        return {
            "events": stats.events,
            "dead": stats.dead,
            "users_written": stats.writes,
            "seconds": round(stats.seconds, 3),
            "events_per_s": round(stats.per_second),
            "lag": lag,
        }
