"""What the service tells its operators: Prometheus metrics and one key=value log line per event.

Each app has its own metrics registry (several apps in one process do not collide). With
several server workers each worker counts its own requests; `/metrics` shows the worker that
answered.
"""

import logging
import time
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger("sparrow.serving")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


def _value(value: object) -> str:
    text = f"{value:.2f}" if isinstance(value, float) else str(value)
    return f'"{text}"' if not text or any(c in text for c in ' ="') else text


def event(name: str, level: int = logging.INFO, **fields: object) -> None:
    """Log one structured line: `event=name key=value ...` (values with spaces quoted)."""
    if log.isEnabledFor(level):
        pairs = " ".join(f"{k}={_value(v)}" for k, v in fields.items())
        log.log(level, "event=%s %s", name, pairs)


def describe(exc: BaseException) -> str:
    """`ErrorClass: message` (shortened), for logs and `/healthz`."""
    return f"{type(exc).__name__}: {str(exc)[:200]}"


def failure(name: str, exc: BaseException, level: int = logging.WARNING, **fields: object) -> None:
    """Log a failure event with the exception's class and (shortened) message."""
    event(name, level, **fields, error=type(exc).__name__, detail=str(exc)[:200])


class Metrics:
    """The service's counters and histograms, in their own registry."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "sparrow_requests", "HTTP requests", ["endpoint", "status"], registry=r
        )
        self.latency = Histogram(
            "sparrow_request_seconds",
            "request latency",
            ["endpoint"],
            buckets=_LATENCY_BUCKETS,
            registry=r,
        )
        self.fallbacks = Counter(
            "sparrow_ranking_fallbacks", "rankings that fell back", ["reason", "to"], registry=r
        )
        self.store_errors = Counter(
            "sparrow_store_errors", "failed store calls (served from the copy)", ["op"], registry=r
        )
        self.store_degraded = Gauge(
            "sparrow_store_degraded", "1 while the store backend is down", registry=r
        )
        self.stream_lag = Gauge(
            "sparrow_stream_lag", "events not yet applied by the in-service stream", registry=r
        )
        self.events = Counter("sparrow_events", "POST /events outcomes", ["outcome"], registry=r)
        self.candidates = Histogram(
            "sparrow_recall_candidates",
            "candidates ranked per request",
            buckets=(0, 10, 50, 100, 200, 400, 800, 1600),
            registry=r,
        )

    def count_profiles(self, counts: Callable[[], dict[str, int]]) -> None:
        """Export `sparrow_profile_cache_total{result}` from `counts` (a Redis service's)."""
        self.registry.register(
            _Counts(
                "sparrow_profile_cache",
                "user profiles answered by the service's copy (hit) or read from Redis (miss)",
                "result",
                counts,
            )
        )


class _Counts(Collector):
    """A counter whose values another object keeps: {label value: count}."""

    def __init__(
        self, name: str, doc: str, label: str, counts: Callable[[], dict[str, int]]
    ) -> None:
        self.name, self.doc, self.label, self.counts = name, doc, label, counts

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(self.name, self.doc, labels=[self.label])
        for value, count in self.counts().items():
            family.add_metric([value], count)
        yield family


class MetricsMiddleware:
    """Counts every HTTP request and its latency per route (unknown paths as "other")."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 500
        start = time.perf_counter()

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            path = getattr(scope.get("route"), "path", "other")  # set by the router
            self.metrics.latency.labels(path).observe(time.perf_counter() - start)
            self.metrics.requests.labels(path, str(status)).inc()
