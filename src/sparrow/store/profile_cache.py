"""The service's copy of recently read user profiles, kept exact by Redis itself.

Server-assisted client-side caching (`CLIENT TRACKING ... BCAST`, Redis 6 and later): a
listener thread holds one RESP3 connection on which Redis pushes the name of every changed key
under the active version's per-user prefixes (rated, liked, user features, user vectors),
whoever changes it: the stream processor in this process or in another one, a push, a
`redis-cli`. The listener drops that user's profiles, so a profile is answered from memory until
its user changes, then read from Redis again.

What keeps the copy exact:
- a read during which any invalidation arrived is not kept (it may predate the change);
- nothing is kept or answered while the listener is not connected, and every (re)connection
  starts empty (pushes may have been missed while it was away);
- an idle listener pings Redis every `POLL_S`, so a dead connection is noticed.
What remains is the push's own delay: a read that follows a write by less than the time its
invalidation takes to reach the listener (well under a millisecond on loopback) may still get
the profile of before the write.
"""

import contextlib
import logging
import threading
from collections import OrderedDict
from typing import Any

import redis

from sparrow.store.base import Profile

log = logging.getLogger("sparrow.store")

POLL_S = 1.0  # the listener pings Redis after this long without a push
RETRY_S = 1.0  # and reconnects this long after a failure
CLIENT_NAME = "sparrow-profile-cache"  # the listener in `CLIENT LIST`

Variant = tuple[str | None, int]  # what a profile read asks for besides the user: method, recent


class ProfileCache:
    """At most `size` users' profiles (least recently used dropped first), exact while the
    listener follows the prefixes given to `track`."""

    def __init__(self, url: str, size: int, timeout: float) -> None:
        self.url, self.size, self.timeout = url, size, timeout
        self.hits = self.misses = 0
        self._profiles: OrderedDict[int, dict[Variant, Profile]] = OrderedDict()
        self._lock = threading.Lock()
        self._epoch = 0  # +1 on every invalidation, connection and disconnection
        self._live = False  # the listener is connected and tracking
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def track(self, prefixes: list[str]) -> None:
        """Follow the keys under `prefixes` (each ends just before the user id): starts the
        listener, or restarts it on a new version's prefixes."""
        self.close()
        self._stop = threading.Event()
        self._listener = threading.Thread(
            target=self._listen,
            args=(prefixes, self._stop),
            name="sparrow-profile-cache",
            daemon=True,
        )
        self._listener.start()

    def lookup(self, user_id: int, variant: Variant) -> tuple[Profile | None, int]:
        """The kept profile, or None and the epoch to give `keep` with what is then read."""
        with self._lock:
            found = self._profiles.get(user_id, {}).get(variant) if self._live else None
            if found is None:
                self.misses += 1
                return None, self._epoch
            self.hits += 1
            self._profiles.move_to_end(user_id)
            return found, self._epoch

    def keep(self, user_id: int, variant: Variant, profile: Profile, epoch: int) -> None:
        """Keep a profile read after `lookup` gave `epoch`, unless anything was invalidated
        since (or the listener is away)."""
        for array in (profile.rated, profile.recent_liked, profile.vector):
            if array is not None:
                array.flags.writeable = False  # shared by every later request of the user
        with self._lock:
            if not self._live or epoch != self._epoch:
                return
            self._profiles.setdefault(user_id, {})[variant] = profile
            self._profiles.move_to_end(user_id)
            while len(self._profiles) > self.size:
                self._profiles.popitem(last=False)

    def close(self) -> None:
        """Stop the listener (and forget every profile)."""
        self._stop.set()
        if self._listener is not None:
            self._listener.join(timeout=POLL_S + 2 * self.timeout)
        self._reset(None)

    def _reset(self, live_until: threading.Event | None) -> None:
        """Forget every profile; keep new ones until `live_until` is set (None: from now on
        keep nothing). Checked under the lock: a listener being stopped cannot go live."""
        with self._lock:
            self._epoch += 1
            self._live = live_until is not None and not live_until.is_set()
            self._profiles.clear()

    def _invalidated(self, push: list[object]) -> None:
        """An `invalidate` push: its keys (None when the database was flushed)."""
        keys = push[1]
        with self._lock:
            self._epoch += 1
            if not isinstance(keys, list):
                self._profiles.clear()
                return
            for key in keys:
                user = bytes(key).rpartition(b":")[2]
                if user.isdigit():
                    self._profiles.pop(int(user), None)
                else:  # not a user's key (none is tracked): to be safe, forget everything
                    self._profiles.clear()

    def _listen(self, prefixes: list[str], stop: threading.Event) -> None:
        """Until `stop`: connect, track `prefixes`, apply pushes, ping when idle; retry."""
        tracking = ["CLIENT", "TRACKING", "ON", "BCAST"]
        tracking += [part for prefix in prefixes for part in ("PREFIX", prefix)]
        tell = True  # log the first failure and the first after each success
        while not stop.is_set():
            client = redis.Redis.from_url(
                self.url,
                protocol=3,
                socket_timeout=self.timeout,
                socket_connect_timeout=self.timeout,
                client_name=CLIENT_NAME,
            )
            try:
                connection: Any = client.connection_pool.get_connection()  # untyped methods
                # redis-py's own hook for these pushes (its client-side cache needs Redis 7.4)
                connection._parser.set_invalidation_push_handler(self._invalidated)
                connection.send_command(*tracking)
                connection.read_response()
                self._reset(stop)
                tell = True
                log.info("event=profile_cache_tracking prefixes=%d", len(prefixes))
                while not stop.is_set():
                    if connection.can_read(timeout=POLL_S):
                        connection.read_response(push_request=True)
                    else:
                        connection.send_command("PING")
                        connection.read_response()  # applies any push that came first
            except (redis.RedisError, OSError) as exc:
                if stop.is_set():  # closed meanwhile: the state is close()'s, or a new listener's
                    break
                if tell:
                    log.warning(
                        "event=profile_cache_off error=%s detail=%r",
                        type(exc).__name__,
                        str(exc)[:200],
                    )
                    tell = False
                self._reset(None)
                stop.wait(RETRY_S)
            finally:
                with contextlib.suppress(redis.RedisError, OSError):
                    client.close()
                    client.connection_pool.disconnect()
