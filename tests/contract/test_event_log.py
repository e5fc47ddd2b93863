"""The event-log contract: every type of the `event_log` family in `plugins.py` (the build's file,
a Redis Stream) is written and read the same way: events come back in order, a commit is kept
by the next reader, an uncommitted batch is read again (at least once), a malformed entry becomes
a dead letter, the lag counts what is not committed, and a log that cannot be written says so.

Redis: the shared one at 6379 or a private redis-server, under a unique prefix deleted after.
"""

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.services import any_redis, delete_prefix, free_port

from sparrow.config import StoreSettings
from sparrow.plugins import BACKENDS, load_backend
from sparrow.stream.log import EventLog, Reader
from sparrow.stream.redis_log import events_stream

TYPES = list(BACKENDS["event_log"].types)


@dataclass
class Log:
    """One log under test: how to open a reader or writer of it, and how to put a raw entry."""

    open: Callable[..., EventLog]
    raw: Callable[[bytes], None]  # append an entry as it is, valid or not


def record(i: int, user: int = 7, **extra: Any) -> dict[str, Any]:
    base = {
        "id": f"e{i}",
        "type": "rating",
        "userId": user,
        "movieId": 100 + i,
        "rating": 4.0,
        "timestamp": 1_700_000_000 + i,
        "receivedAt": 1_700_000_000.5 + i,
    }
    return base | extra


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    with any_redis() as url:
        yield url


def file_log(tmp_path: Path, _: str) -> Iterator[Log]:
    settings = StoreSettings()
    kind = load_backend("event_log", "file")

    def raw(line: bytes) -> None:
        path = tmp_path / "events" / "events.log"
        path.parent.mkdir(exist_ok=True)
        with path.open("ab") as out:
            out.write(line + b"\n")

    yield Log(lambda *reader: kind.open(tmp_path, settings, *reader), raw)


def redis_log(tmp_path: Path, url: str) -> Iterator[Log]:
    settings = StoreSettings(redis_url=url, prefix=f"sparrow-test-{uuid.uuid4().hex[:12]}")
    kind = load_backend("event_log", "redis")
    client = redis.Redis.from_url(url)

    def raw(entry: bytes) -> None:
        client.xadd(events_stream(settings), {"event": entry})

    yield Log(lambda *reader: kind.open(tmp_path, settings, *reader), raw)
    delete_prefix(url, settings.prefix)


FACTORIES = {"file": file_log, "redis": redis_log}


def test_every_type_is_enrolled() -> None:
    assert sorted(FACTORIES) == sorted(TYPES)


@pytest.fixture(params=TYPES)
def log(request: pytest.FixtureRequest, tmp_path: Path, redis_url: str) -> Iterator[Log]:
    yield from FACTORIES[request.param](tmp_path, redis_url)


def test_appended_events_are_read_in_order_and_committed_once(log: Log) -> None:
    writer = log.open(Reader(durable=False))
    positions = writer.append([record(i) for i in range(5)])
    assert len(positions) == len(set(positions)) == 5
    reader = log.open()
    first = reader.read(3)
    assert [e.id for e in first.events] == ["e0", "e1", "e2"] and not first.dead
    assert first.events[0].rating == 4.0 and first.events[0].movie_id == 100
    reader.commit(first)
    rest = reader.read(10)
    assert [e.id for e in rest.events] == ["e3", "e4"]
    reader.commit(rest)
    assert reader.lag() == 0 and not len(reader.read(10))
    reader.close()
    again = log.open()  # a restarted reader resumes after the commit
    assert not len(again.read(10)) and again.lag() == 0
    again.close()
    writer.close()


def test_an_uncommitted_batch_is_read_again(log: Log) -> None:
    log.open().append([record(i) for i in range(3)])
    crashed = log.open()
    assert len(crashed.read(10)) == 3  # applied, then the process died before the commit
    crashed.close()
    restarted = log.open()
    assert restarted.lag() == 3
    replay = restarted.read(10)
    assert [e.id for e in replay.events] == ["e0", "e1", "e2"]
    restarted.commit(replay)
    assert restarted.lag() == 0
    restarted.close()


def test_malformed_entries_become_dead_letters(log: Log) -> None:
    log.raw(b"{not json")
    log.raw(b'{"type": "rating", "userId": 1, "movieId": 2}')  # no rating, no timestamp
    log.open().append([record(9, id=None)])  # no id: its position names it
    reader = log.open()
    batch = reader.read(10)
    assert len(batch.dead) == 2 and batch.dead[0][1][:8] == "not JSON"
    assert len(batch.events) == 1 and batch.events[0].id != "e9" and batch.events[0].id
    reader.commit(batch)
    assert reader.lag() == 0 and not len(log.open().read(10))


def test_a_blocking_read_of_an_empty_log_comes_back_empty(log: Log) -> None:
    reader = log.open()
    assert not len(reader.read(10, block_ms=100)) and reader.lag() == 0


def test_an_unwritable_log_raises_os_error(tmp_path: Path) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the events folder should be")
    file_writer = load_backend("event_log", "file").open(
        blocked, StoreSettings(), Reader(durable=False)
    )
    dead_redis = StoreSettings(redis_url=f"redis://127.0.0.1:{free_port()}/0")
    redis_writer = load_backend("event_log", "redis").open(tmp_path, dead_redis)
    for writer in (file_writer, redis_writer):
        with pytest.raises(OSError):
            writer.append([record(1)])
