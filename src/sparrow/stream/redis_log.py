"""The Redis event log: a Redis Stream (default `{prefix}:events`) read in a consumer group."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import redis

from sparrow.stream.log import Batch, Reader, decode, encode

if TYPE_CHECKING:
    from sparrow.config import StoreSettings

TIMEOUT_S = 2.0  # longer than a blocking read's wait (`runner.BLOCK_MS`)


def events_stream(settings: StoreSettings) -> str:
    """The Redis Stream of events of the store settings."""
    return settings.events_stream or f"{settings.prefix}:events"


def add_events(
    client: redis.Redis, stream_key: str, records: list[dict[str, Any]], maxlen: int | None = None
) -> list[str]:
    """XADD each record (the `POST /events` line format) to the stream, one pipelined round
    trip; answers the entry ids. `maxlen` trims the stream approximately (XADD MAXLEN ~)."""
    pipe = client.pipeline(transaction=False)
    for record in records:
        pipe.xadd(stream_key, {"event": encode(record)}, maxlen=maxlen, approximate=True)
    return [i.decode() if isinstance(i, bytes) else str(i) for i in pipe.execute()]


class RedisLog:
    """A Redis Stream read through consumer group `group` (created at the stream's start when
    missing, on the first read). On start, the consumer first re-reads its own pending entries,
    then claims (XAUTOCLAIM) those of other consumers idle for `claim_idle_ms` (a crashed
    processor's), then reads new ones. Entry: field `event` holding the `POST /events` JSON
    line. Nothing is sent to Redis before the first call, so a service starts while it is down.
    """

    def __init__(
        self,
        url: str,
        stream_key: str,
        group: str,
        consumer: str = "stream-1",
        claim_idle_ms: int = 60_000,
    ) -> None:
        self.client = redis.Redis.from_url(
            url, socket_timeout=TIMEOUT_S, socket_connect_timeout=TIMEOUT_S
        )
        self.stream, self.group, self.consumer = stream_key, group, consumer
        self.dead_stream = f"{stream_key}:dead"
        self.claim_idle_ms = claim_idle_ms
        self.recovering = True
        self.grouped = False

    @classmethod
    def open(cls, build: Path, settings: StoreSettings, reader: Reader = Reader()) -> RedisLog:
        """The settings' events stream (the build is not read; Redis keeps the position)."""
        return cls(settings.redis_url, events_stream(settings), reader.group, reader.consumer)

    def append(self, records: list[dict[str, Any]]) -> list[str]:
        """XADD the records (OSError when Redis cannot take them)."""
        try:
            return add_events(self.client, self.stream, records)
        except redis.RedisError as exc:
            raise OSError(f"redis: {exc}") from exc

    def _join(self) -> None:
        """Create the consumer group at the stream's start unless it exists."""
        if self.grouped:
            return
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.grouped = True

    def read(self, count: int, block_ms: int = 0) -> Batch:
        self._join()
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
        self._join()
        groups: list[dict[str, Any]] = self.client.xinfo_groups(self.stream)
        for info in groups:
            name = info["name"]
            if (name.decode() if isinstance(name, bytes) else name) == self.group:
                return int(info.get("lag") or 0) + int(info.get("pending") or 0)
        return 0

    def close(self) -> None:
        self.client.close()
