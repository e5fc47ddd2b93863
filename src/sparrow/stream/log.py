"""Event logs the stream processor consumes: a JSON-lines file or a Redis Stream.

Both deliver at least once: the runner reads a batch, applies it, writes the store, then
`commit`s (file: the byte offset, written atomically to a sidecar file; Redis: XACK). A crash
between the store write and the commit replays the batch, which the per-user event ids make a
no-op. A malformed entry (not JSON, not a valid event) goes to a dead letter (`<log>.dead`, a
JSON line per entry / the `<stream>:dead` stream) at commit and never stops the processor.
"""

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import redis

from sparrow.stream.updates import Event, parse_event

POLL_S = 0.05


@dataclass
class Batch:
    """Events read and not yet committed, in log order."""

    events: list[Event] = field(default_factory=list)
    dead: list[tuple[str, str, str]] = field(default_factory=list)  # (position, reason, raw)
    position: Any = None  # what `commit` needs: file end offset / stream entry ids

    def __len__(self) -> int:
        return len(self.events) + len(self.dead)


class EventLog(Protocol):
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


def decode(raw: bytes, position: str) -> Event:
    """The event of one log entry (ValueError when malformed)."""
    try:
        record = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from exc
    return parse_event(record, position)


class FileLog:
    """The append-only JSON-lines log of `POST /events` (`<build>/events/events.log`); the
    committed byte offset lives in `<path>.offset`, dead letters in `<path>.dead`. Not
    `durable`: read from the start and keep the offset in memory only, writing nothing (for a
    store that starts from the build each time: the memory store inside the service)."""

    def __init__(self, path: Path, durable: bool = True) -> None:
        self.path = Path(path)
        self.durable = durable
        self.offset_path = self.path.with_name(self.path.name + ".offset")
        self.dead_path = self.path.with_name(self.path.name + ".dead")
        self.committed = self._read_offset()
        self.cursor = self.committed

    def _read_offset(self) -> int:
        if not self.durable:
            return 0
        try:
            return int(self.offset_path.read_text(encoding="utf-8").strip() or 0)
        except FileNotFoundError:
            return 0

    def read(self, count: int, block_ms: int = 0) -> Batch:
        deadline = time.monotonic() + block_ms / 1000
        while True:
            batch = self._read(count)
            if len(batch) or time.monotonic() >= deadline:
                return batch
            time.sleep(POLL_S)

    def _read(self, count: int) -> Batch:
        batch = Batch(position=self.cursor)
        try:
            handle = self.path.open("rb")
        except FileNotFoundError:
            return batch
        with handle:
            handle.seek(self.cursor)
            offset = self.cursor
            while len(batch) < count:
                line = handle.readline()
                if not line.endswith(b"\n"):  # end of file or a line still being written
                    break
                where = f"{self.path.name}@{offset}"
                try:
                    batch.events.append(decode(line, where))
                except ValueError as exc:
                    batch.dead.append((where, str(exc), line.decode("utf-8", "replace")))
                offset += len(line)
        self.cursor = batch.position = offset
        return batch

    def commit(self, batch: Batch) -> None:
        if not self.durable:
            self.committed = int(batch.position)
            return
        if batch.dead:
            lines = "".join(json.dumps({"position": p, "reason": r, "line": raw.rstrip("\n")})
                            + "\n" for p, r, raw in batch.dead)  # fmt: skip
            with self.dead_path.open("a", encoding="utf-8") as out:
                out.write(lines)
        if batch.position == self.committed:
            return
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        with tmp.open("w", encoding="utf-8") as out:
            out.write(f"{batch.position}\n")
            out.flush()
            os.fsync(out.fileno())
        tmp.replace(self.offset_path)
        self.committed = int(batch.position)

    def lag(self) -> int:
        try:
            with self.path.open("rb") as handle:
                handle.seek(self.committed)
                return sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        pass


def add_events(client: "redis.Redis", stream_key: str, records: list[dict[str, Any]],
               maxlen: int | None = None) -> list[str]:  # fmt: skip
    """XADD each record (the `POST /events` line format) to the stream, one pipelined round
    trip; answers the entry ids. `maxlen` trims the stream approximately (XADD MAXLEN ~)."""
    pipe = client.pipeline(transaction=False)
    for record in records:
        data = json.dumps(record, separators=(",", ":"))
        pipe.xadd(stream_key, {"event": data}, maxlen=maxlen, approximate=True)
    return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]


class RedisLog:
    """A Redis Stream read through consumer group `group` (created at the stream's start when
    missing). On start, the consumer first re-reads its own pending entries, then claims
    (XAUTOCLAIM) those of other consumers idle for `claim_idle_ms` (a crashed processor's), then
    reads new ones. Entry: field `event` holding the `POST /events` JSON line."""

    def __init__(self, url: str, stream_key: str, group: str, consumer: str = "stream-1",
                 claim_idle_ms: int = 60_000) -> None:  # fmt: skip
        self.client = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)
        self.stream, self.group, self.consumer = stream_key, group, consumer
        self.dead_stream = f"{stream_key}:dead"
        self.claim_idle_ms = claim_idle_ms
        self.recovering = True
        try:
            self.client.xgroup_create(stream_key, group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def append(self, records: list[dict[str, Any]]) -> list[str]:
        return add_events(self.client, self.stream, records)

    def read(self, count: int, block_ms: int = 0) -> Batch:
        if self.recovering:
            batch = self._read("0", count, None)
            if not len(batch):
                self._claim()
                batch = self._read("0", count, None)
            if len(batch):
                return batch
            self.recovering = False
        return self._read(">", count, block_ms or None)

    def _claim(self) -> None:
        cursor: Any = "0-0"
        while True:
            reply: Any = self.client.xautoclaim(
                self.stream,
                self.group,
                self.consumer,
                self.claim_idle_ms,
                cursor,
                count=1000,
            )  # [cursor, entries, deleted] (justid=True loses the cursor in redis-py)
            cursor = reply[0]
            if cursor in (b"0-0", "0-0"):
                return

    def _read(self, start: str, count: int, block: int | None) -> Batch:
        reply: Any = self.client.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=count, block=block
        )
        batch = Batch(position=[])
        for entry_id, fields in reply[0][1] if reply else []:
            where = entry_id.decode()
            batch.position.append(where)
            raw = (fields or {}).get(b"event")
            try:
                if raw is None:
                    raise ValueError("no event field (or the entry was trimmed away)")
                batch.events.append(decode(raw, where))
            except ValueError as exc:
                text = (
                    raw.decode("utf-8", "replace")
                    if raw
                    else json.dumps(
                        {
                            k.decode(): v.decode("utf-8", "replace")
                            for k, v in (fields or {}).items()
                        }
                    )
                )
                batch.dead.append((where, str(exc), text))
        return batch

    def commit(self, batch: Batch) -> None:
        if not batch.position:
            return
        pipe = self.client.pipeline(transaction=True)
        for where, reason, raw in batch.dead:
            pipe.xadd(self.dead_stream, {"id": where, "reason": reason, "data": raw})
        pipe.xack(self.stream, self.group, *batch.position)
        pipe.execute()

    def lag(self) -> int:
        groups: list[dict[str, Any]] = self.client.xinfo_groups(self.stream)
        for info in groups:
            name = info["name"]
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return 0

    def close(self) -> None:
        self.client.close()
