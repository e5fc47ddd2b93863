"""Everything the service loads once at start-up: store, neighbour indexes, models, experiments."""

import time
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import numpy as np

from sparrow.config import ServingSettings
from sparrow.errors import SparrowError
from sparrow.models.runtime import OnnxModel
from sparrow.plugins import load_backend
from sparrow.serving.cards import Cards
from sparrow.serving.experiments import Experiments
from sparrow.serving.failover import FailoverStore
from sparrow.serving.observe import Metrics, describe, event, failure
from sparrow.serving.rank import Ranker
from sparrow.serving.recall import UserContext
from sparrow.serving.vectors import Space
from sparrow.store.base import OnlineStore
from sparrow.store.profile_cache import ProfileCache
from sparrow.store.redis_store import TIMEOUT_S
from sparrow.stream.embedded import (
    GROUP,
    Background,
    consumer_name,
    events_stream,
    file_log,
    threshold_of,
)
from sparrow.stream.log import RedisLog
from sparrow.stream.runner import Store
from sparrow.training.artifacts import latest, saved

WARM_UP_CANDIDATES = 800  # candidates scored once per model at start-up


@dataclass
class Services:
    """What every request reads; built by `load`, closed by `close`."""

    settings: ServingSettings
    store: OnlineStore
    failover: FailoverStore | None  # the store when it is Redis with a memory copy
    spaces: dict[str, Space]  # embedding method -> vectors and neighbour index
    ranker: Ranker
    model_errors: dict[str, str]  # trained models that could not be loaded, and why
    experiments: Experiments
    metrics: Metrics
    cards: Cards
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
        self.ranker.close()


def profile_cache(settings: ServingSettings, metrics: Metrics) -> ProfileCache | None:
    """The Redis store's profile cache (None when `redis_cache_users` is 0), counted in
    `/metrics`."""
    if settings.store != "redis" or settings.redis_cache_users == 0:
        return None
    cache = ProfileCache(settings.redis_url, settings.redis_cache_users, TIMEOUT_S)
    metrics.count_profiles(lambda: {"hit": cache.hits, "miss": cache.misses})
    return cache


def open_store(
    build: Path, settings: ServingSettings, metrics: Metrics, profiles: ProfileCache | None
) -> tuple[OnlineStore, FailoverStore | None]:
    """The configured store; Redis comes with a memory copy of the build to fail over to."""
    memory = load_backend("store", "memory")
    if settings.store == "memory":
        return memory.from_build(build), None
    redis = load_backend("store", settings.store)

    def connect() -> OnlineStore:
        return cast(OnlineStore, redis(settings.redis_url, settings.redis_prefix, cache=profiles))

    failover = FailoverStore(connect, memory.from_build(build), metrics)
    try:
        failover.primary = connect()
    except SparrowError:  # nothing pushed under the prefix: a mistake, not an outage
        raise
    except Exception:  # Redis down: start on the memory copy, connect when it is back
        failover.version()
    return failover, failover


def load_models(build: Path, threads: int) -> tuple[dict[str, OnnxModel], dict[str, str]]:
    """The latest version of every trained model, and the ones that failed to load."""
    models: dict[str, OnnxModel] = {}
    errors: dict[str, str] = {}
    for name in sorted({m.name for m in saved(build)}):
        version = latest(build, name)
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


def start_stream(build: Path, settings: ServingSettings, store: OnlineStore,
                 metrics: Metrics) -> Background:  # fmt: skip
    """The stream processor on a thread: into `store` itself from the build's event file (memory),
    or into Redis from the events stream (a consumer of the services' group)."""
    if settings.store == "memory":
        stream = Background(lambda: cast(Store, store), lambda: file_log(build, durable=False),
                            threshold_of(build))  # fmt: skip
    else:
        backend = load_backend("store", settings.store)
        url, prefix = settings.redis_url, settings.redis_prefix
        stream = Background(
            lambda: cast(Store, backend(url, prefix)),
            lambda: RedisLog(url, events_stream(prefix), GROUP, consumer_name()),
            threshold_of(build),
        )
    metrics.stream_lag.set_function(lambda: stream.status().lag or 0)
    stream.start()
    return stream


def load(build: Path, settings: ServingSettings, metrics: Metrics) -> Services:
    """Load the store, indexes, models and experiments of `build` (once, at start-up)."""
    started = time.perf_counter()
    profiles = profile_cache(settings, metrics)
    store, failover = open_store(build, settings, metrics, profiles)
    models, errors = load_models(build, settings.threads)
    services = Services(
        settings=settings,
        store=store,
        failover=failover,
        spaces=load_spaces(store),
        ranker=Ranker(models, metrics, settings.budget_ms),
        model_errors=errors,
        experiments=Experiments.load(settings.experiments),
        metrics=metrics,
        cards=Cards(store),
        profiles=profiles,
    )
    if settings.stream:
        services.stream = start_stream(build, settings, store, metrics)
    warm = np.asarray(store.top_movies(None, "popularity", WARM_UP_CANDIDATES), np.int64)
    errors |= services.ranker.warm_up(store, UserContext.load(store, None, 0), warm)
    event(
        "started", build=build, store=settings.store, version=store.version(),
        models=",".join(models) or "none", embeddings=",".join(services.spaces) or "none",
        layers=",".join(layer.name for layer in services.experiments.layers) or "none",
        seconds=time.perf_counter() - started,
    )  # fmt: skip
    return services
