"""Everything the service loads once at start-up: store, neighbour indexes, models, experiments,
the event log it appends to, the title search."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.models import latest_versions
from sparrow.artifacts.runtime import OnnxModel
from sparrow.config import ServingSettings, Settings, StoreSettings
from sparrow.errors import SparrowError
from sparrow.plugins import load_backend
from sparrow.serving.cards import Cards
from sparrow.serving.experiments import Experiments
from sparrow.serving.failover import FailoverStore
from sparrow.serving.observe import Metrics, describe, event, failure
from sparrow.serving.rank import Ranker
from sparrow.serving.recall import UserContext
from sparrow.serving.search import TitleSearch
from sparrow.serving.vectors import Space
from sparrow.store.base import OnlineStore, UpdatableStore
from sparrow.store.memory_store import MemoryStore
from sparrow.store.profile_cache import ProfileCache
from sparrow.stream.embedded import Background, consumer_name
from sparrow.stream.log import EventLog, Reader

WARM_UP_CANDIDATES = 800  # candidates scored once per model at start-up


@dataclass
class Services:
    """What every request reads; built by `load`, closed by `close`."""

    build: Path
    settings: ServingSettings
    store_settings: StoreSettings
    store: OnlineStore
    failover: FailoverStore | None  # the store when it is remote, with a memory copy
    spaces: dict[str, Space]  # embedding method -> vectors and neighbour index
    ranker: Ranker
    model_errors: dict[str, str]  # trained models that could not be loaded, and why
    experiments: Experiments
    metrics: Metrics
    cards: Cards
    titles: TitleSearch
    events: EventLog  # where `POST /events` appends
    profiles: ProfileCache | None = None  # the Redis store's copy of recent users' profiles
    stream: Background | None = None  # the stream processor, when it runs in the service

    @property
    def space(self) -> Space | None:
        """The vectors behind `model=emb` and user recall (`similar_method`), else any."""
        found = self.spaces.get(self.settings.similar_method)
        return found or next(iter(self.spaces.values()), None)

    def degraded(self) -> list[str]:
        """What is degraded now, for `/healthz` and the `X-Sparrow-Degraded` header."""
        notes = [f"model {name} not loaded: {why}" for name, why in self.model_errors.items()]
        outage = self.failover.degraded() if self.failover is not None else None
        return [outage, *notes] if outage else notes

    def close(self) -> None:
        if self.stream is not None:
            self.stream.stop()
        if self.profiles is not None:
            self.profiles.close()
        self.events.close()
        self.ranker.close()


def open_store(
    build: Path, settings: StoreSettings, metrics: Metrics, profiles: ProfileCache | None
) -> tuple[OnlineStore, FailoverStore | None]:
    """The configured store; a remote one comes with a memory copy of the build to fail over
    to while it is down."""
    backend = load_backend("store", settings.type)
    if not backend.remote:
        return backend.open(build, settings), None
    memory = MemoryStore.from_build(build)

    def connect() -> OnlineStore:
        store: OnlineStore = backend.open(build, settings, cache=profiles)
        return store

    failover = FailoverStore(connect, memory, metrics)
    try:
        failover.primary = connect()
    except SparrowError:  # nothing pushed under the prefix: a mistake, not an outage
        raise
    except Exception:  # down: start on the memory copy, connect when it is back
        failover.version()
    return failover, failover


def load_models(build: Path, threads: int) -> tuple[dict[str, OnnxModel], dict[str, str]]:
    """The latest version of every trained model, and the ones that failed to load."""
    models: dict[str, OnnxModel] = {}
    errors: dict[str, str] = {}
    for name, version in sorted(latest_versions(build).items()):
        try:
            models[name] = OnnxModel(version.path, threads)
        except Exception as exc:  # a corrupt or incompatible file: serve without this model
            errors[name] = describe(exc)
            failure("model_failed", exc, model=name, version=version.version)
        else:
            event("model_loaded", model=name, version=version.version)
    return models, errors


def load_spaces(store: OnlineStore) -> dict[str, Space]:
    """A neighbour index per embedding method in the store."""
    spaces = {}
    for method in store.embedding_methods():
        ids, vectors = store.item_vectors(method)
        if len(ids):
            spaces[method] = Space.build(method, ids, vectors)
            event("index_built", method=method, items=len(ids), kind=spaces[method].index.kind)
    return spaces


def start_stream(
    build: Path, settings: StoreSettings, store: OnlineStore, metrics: Metrics
) -> Background:
    """The stream processor on a thread, reading the store's event log as a consumer of the
    services' group: into a remote store through its own connection, else into `store` itself
    (which starts from the build each time, so its log is read from the start)."""
    backend = load_backend("store", settings.type)
    log_type = load_backend("event_log", backend.event_log)
    definitions = BuildDir(build).manifest().definitions
    reader = Reader(consumer=consumer_name(), durable=backend.remote)

    def target() -> UpdatableStore:
        if backend.remote:
            opened: UpdatableStore = backend.open(build, settings)
            return opened
        return cast(UpdatableStore, store)  # the service's own memory store

    stream = Background(
        target,
        lambda: log_type.open(build, settings, reader),
        definitions,
    )
    metrics.stream_lag.set_function(lambda: stream.status().lag or 0)
    stream.start()
    return stream


def load(build: Path, settings: Settings, metrics: Metrics) -> Services:
    """Load the store, indexes, models and experiments of `build` (once, at start-up)."""
    started = time.perf_counter()
    serving, store_settings = settings.serving, settings.store
    backend = load_backend("store", store_settings.type)
    profiles = backend.profile_cache(store_settings)
    if profiles is not None:
        metrics.count_profiles(lambda: {"hit": profiles.hits, "miss": profiles.misses})
    store, failover = open_store(build, store_settings, metrics, profiles)
    models, errors = load_models(build, serving.threads)
    log_type = load_backend("event_log", backend.event_log)
    services = Services(
        build=build,
        settings=serving,
        store_settings=store_settings,
        store=store,
        failover=failover,
        spaces=load_spaces(store),
        ranker=Ranker(models, metrics, serving.budget_ms),
        model_errors=errors,
        experiments=Experiments.load(serving.experiments),
        metrics=metrics,
        cards=Cards(store),
        titles=TitleSearch.of(store),
        events=log_type.open(build, store_settings),
        profiles=profiles,
    )
    if serving.stream:
        services.stream = start_stream(build, store_settings, store, metrics)
    warm = np.asarray(store.top_movies(None, "popularity", WARM_UP_CANDIDATES), np.int64)
    errors |= services.ranker.warm_up(store, UserContext.load(store, None, 0), warm)
    event(
        "started",
        build=build,
        store=store_settings.type,
        version=store.version(),
        models=",".join(models) or "none",
        embeddings=",".join(services.spaces) or "none",
        layers=",".join(layer.name for layer in services.experiments.layers) or "none",
        seconds=time.perf_counter() - started,
    )
    return services
