"""The file event log: the build's append-only JSON-lines `events/events.log`."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sparrow.artifacts.layout import BuildDir
from sparrow.stream.log import Batch, Reader, decode, encode

if TYPE_CHECKING:
    from sparrow.config import StoreSettings

POLL_S = 0.05


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
        self._append_lock = threading.Lock()

    @classmethod
    def open(cls, build: Path, settings: StoreSettings, reader: Reader = Reader()) -> FileLog:
        """The build's log (one reader: no group, no consumer)."""
        return cls(BuildDir(build).events_log, reader.durable)

    def append(self, records: list[dict[str, Any]]) -> list[str]:
        """Write the records' lines in one `write` on the file opened with O_APPEND (concurrent
        writers, in this process or another, never interleave lines), fsynced; answers each
        line's position (`events.log@<byte offset>`)."""
        lines = [(encode(record) + "\n").encode() for record in records]
        data = b"".join(lines)
        with self._append_lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                written = os.write(handle, data)
                if written != len(data):
                    raise OSError(f"short write to {self.path} ({written} of {len(data)} bytes)")
                os.fsync(handle)
                offset = os.lseek(handle, 0, os.SEEK_CUR) - len(data)
            finally:
                os.close(handle)
        positions = []
        for line in lines:
            positions.append(f"{self.path.name}@{offset}")
            offset += len(line)
        return positions

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
            lines = "".join(
                json.dumps({"position": p, "reason": r, "line": raw.rstrip("\n")}) + "\n"
                for p, r, raw in batch.dead
            )
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
