"""Event logs the stream processor consumes: the `EventLog` protocol (the `event_log` family of
`plugins.py`): a JSON-lines file (`file_log.py`) or a Redis Stream (`redis_log.py`).

Each log is written (`append`: what `POST /events` calls) and read where it is written. Both
deliver at least once: the runner reads a batch, applies it, writes the store, then `commit`s
(file: the byte offset, written atomically to a sidecar file; Redis: XACK). A crash between the
store write and the commit replays the batch, which the per-user event ids make a no-op. A
malformed entry (not JSON, not a valid event) goes to a dead letter (`<log>.dead`, a JSON line
per entry / the `<stream>:dead` stream) at commit and never stops the processor.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from sparrow.artifacts.events import Event, parse_event

if TYPE_CHECKING:  # pydantic is not in the Flink environment, which imports `decode`
    from sparrow.config import StoreSettings

GROUP = "sparrow"  # the consumer group of the services (and of `sparrow stream run`'s default)


@dataclass(frozen=True)
class Reader:
    """How a processor reads a log: as `consumer` of `group` (a Redis Stream); keeping its
    position on disk when `durable` (the file; not durable: from the start each time, writing
    nothing, for a store that starts from the build each time)."""

    group: str = GROUP
    consumer: str = "stream-1"
    durable: bool = True


@dataclass
class Batch:
    """Events read and not yet committed, in log order."""

    events: list[Event] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (position, reason, raw)
    position: Any = None  # what `commit` needs: file end offset / stream entry ids

    def __len__(self) -> int:
        return len(self.events) + len(self.dead)


class EventLog(Protocol):
    """An event log: appended to by the service, read by one stream processor (or a group)."""

    @classmethod
    def open(cls, build: Path, settings: StoreSettings, reader: Reader = Reader()) -> EventLog:
        """The log of `build` and the store settings, read as `reader` says."""
        ...

    def append(self, records: list[dict[str, Any]]) -> list[str]:
        """Record events (the line format of `artifacts.events`) durably; their positions.
        OSError when the log cannot be written."""
        ...

    def read(self, count: int, block_ms: int = 0) -> Batch:
        """Up to `count` entries after the last read; waits up to `block_ms` for one."""
        ...

    def commit(self, batch: Batch) -> None:
        """Mark `batch` (the last one read) processed; dead letters are written here."""
        ...

    def lag(self) -> int:
        """Entries not yet committed (for metrics)."""
        ...

    def close(self) -> None: ...


def encode(record: dict[str, Any]) -> str:
    """One event record as its compact JSON line (without the newline)."""
    return json.dumps(record, separators=(",", ":"))


def decode(raw: bytes, position: str) -> Event:
    """The event of one log entry (ValueError when malformed)."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    return parse_event(record, position)
