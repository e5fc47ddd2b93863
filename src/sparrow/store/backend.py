"""What a store type of `plugins.py` (the `store` family) provides besides the store itself:
how to open it from the settings, where its service's events go, whether it lives outside the
service, and the profile cache a service keeps for it."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Protocol

from sparrow.config import StoreSettings
from sparrow.store.base import UpdatableStore
from sparrow.store.profile_cache import ProfileCache


class StoreBackend(UpdatableStore, Protocol):
    """A store type of `plugins.py`: opened from the settings, and what comes with it."""

    remote: ClassVar[bool]  # outside the service: kept after a restart, and the service keeps
    # a memory copy of the build to answer from while it is down
    event_log: ClassVar[str]  # the event log (`plugins.py`) a service with this store writes

    @classmethod
    def open(
        cls, build: Path, settings: StoreSettings, cache: ProfileCache | None = None
    ) -> StoreBackend:
        """The store of `build` (memory) or of the settings' Redis (DataError when nothing is
        there to serve); `cache` keeps users' profiles."""
        ...

    @classmethod
    def profile_cache(cls, settings: StoreSettings) -> ProfileCache | None:
        """The cache of users' profiles the service should keep for this store, if any."""
        ...
