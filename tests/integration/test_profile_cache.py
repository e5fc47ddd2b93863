"""The profile cache against a real redis-server of its own: kept until Redis reports a change
of the user, never kept across a change, nothing answered while the listener is away."""

import time
from collections.abc import Callable, Iterator

import numpy as np
import pyarrow as pa
import pytest
import redis
from tests.services import redis_server

from sparrow.store import keys as redis_keys
from sparrow.store.base import Profile
from sparrow.store.profile_cache import CLIENT_NAME, ProfileCache

PREFIXES = ["v1:rated:", "v1:emb:item2vec:user:"]
VARIANT = ("item2vec", 5)
WAIT_S = 10.0


def profile(user_id: int) -> Profile:
    return Profile(
        np.array([1, 2], np.int64),
        np.array([2], np.int64),
        pa.table({"userId": [user_id]}),
        np.ones(4, np.float32),
    )


def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "not within the wait"
        time.sleep(0.01)


def kept(cache: ProfileCache, user_id: int) -> bool:
    """Read-through as the store does: whether the user's profile is (now) kept."""
    found, epoch = cache.lookup(user_id, VARIANT)
    if found is None:
        cache.keep(user_id, VARIANT, profile(user_id), epoch)
    return found is not None


@pytest.fixture
def server() -> Iterator[tuple[str, redis.Redis]]:
    with redis_server() as (url, _):
        yield url, redis.Redis.from_url(url)


@pytest.fixture
def cache(server: tuple[str, redis.Redis]) -> Iterator[ProfileCache]:
    found = ProfileCache(server[0], 3, 0.3)
    found.track(PREFIXES)
    until(lambda: kept(found, 1))  # the listener is tracking
    yield found
    found.close()


def test_a_profile_is_kept_until_its_user_changes(
    cache: ProfileCache, server: tuple[str, redis.Redis]
) -> None:
    client = server[1]
    assert kept(cache, 7) is False and kept(cache, 7) is True
    assert kept(cache, 8) is False and kept(cache, 8) is True
    hit = cache.lookup(7, VARIANT)[0]
    assert hit is not None and not hit.rated.flags.writeable  # shared: read-only
    assert cache.lookup(7, (None, 5))[0] is None  # another variant of the user
    client.set("v1:movie:7", b"x")  # not a tracked key
    client.set("v1:emb:item2vec:user:8", b"x")
    until(lambda: cache.lookup(8, VARIANT)[0] is None)
    assert cache.lookup(7, VARIANT)[0] is not None
    client.set("v1:rated:7", b"x")
    until(lambda: cache.lookup(7, VARIANT)[0] is None)
    assert cache.hits >= 3 and cache.misses >= 4


def test_the_least_recently_used_users_go_first(cache: ProfileCache) -> None:
    for user_id in (1, 2, 3):
        kept(cache, user_id)
    assert kept(cache, 1) and kept(cache, 2) and kept(cache, 3)
    kept(cache, 4)  # size 3: drops 1
    assert [cache.lookup(u, VARIANT)[0] is not None for u in (1, 2, 3, 4)] == [
        False,
        True,
        True,
        True,
    ]


def test_a_read_overlapping_a_change_is_not_kept(
    cache: ProfileCache, server: tuple[str, redis.Redis]
) -> None:
    found, epoch = cache.lookup(9, VARIANT)
    assert found is None
    server[1].set("v1:rated:10", b"x")  # any change, even of another user
    until(lambda: cache.lookup(11, VARIANT)[1] != epoch)
    cache.keep(9, VARIANT, profile(9), epoch)  # read before it arrived: may predate it
    assert cache.lookup(9, VARIANT)[0] is None


def test_nothing_is_answered_while_the_listener_is_away(
    cache: ProfileCache, server: tuple[str, redis.Redis]
) -> None:
    client = server[1]
    kept(cache, 5)
    listeners = [c["id"] for c in client.client_list() if c["name"] == CLIENT_NAME]
    assert len(listeners) == 1
    client.client_kill_filter(_id=listeners[0])
    until(lambda: cache.lookup(5, VARIANT)[0] is None)
    until(lambda: kept(cache, 5))  # reconnected: keeps again
    client.flushdb()  # every key changed
    until(lambda: cache.lookup(5, VARIANT)[0] is None)


def test_close_stops_the_listener(server: tuple[str, redis.Redis]) -> None:
    cache = ProfileCache(server[0], 3, 0.3)
    cache.track(PREFIXES)
    until(lambda: kept(cache, 1))
    started = time.monotonic()
    cache.close()
    assert time.monotonic() - started < 2.0
    assert cache.lookup(1, VARIANT)[0] is None and not kept(cache, 1)
    until(lambda: not any(c["name"] == CLIENT_NAME for c in server[1].client_list()))


def test_the_tracked_prefixes_cover_every_key_a_profile_reads() -> None:
    names = redis_keys.Keys("sparrow", "v7")
    prefixes = names.profile_prefixes(["item2vec", "deepwalk"])
    read = [
        names.rated(123),
        names.liked(123),
        names.user_features(123),
        names.user_vector("item2vec", 123),
        names.user_vector("deepwalk", 123),
    ]
    assert sorted(p + "123" for p in prefixes) == sorted(read)
    assert not any(a != b and a.startswith(b) for a in prefixes for b in prefixes)  # BCAST rule
