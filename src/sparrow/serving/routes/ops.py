"""Operations: `/healthz` and Prometheus `/metrics`."""

from dataclasses import asdict

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from sparrow.serving.routes.common import Svc
from sparrow.serving.schemas import Health, StreamHealth

router = APIRouter()


@router.get("/healthz", response_model=Health, summary="Health and what is loaded")
def healthz(svc: Svc) -> Health:
    """Store kind and version, whether it answers, the models loaded, what is degraded."""
    version = svc.store.version()  # through the failover: a dead Redis shows up now
    ping = svc.store.ping()
    degraded = svc.degraded()
    if not ping and not degraded:
        degraded = [f"{svc.store_settings.type} store does not answer"]
    stream = svc.stream.status() if svc.stream is not None else None
    if stream is not None and stream.error:
        degraded.append(f"stream processor: {stream.error}")
    return Health(
        status="degraded" if degraded or not ping else "ok",
        store=svc.store_settings.type,
        store_version=version,
        ping=ping,
        models=sorted(svc.ranker.models),
        embeddings=sorted(svc.spaces),
        experiments=[layer.name for layer in svc.experiments.layers],
        degraded=degraded,
        stream=None if stream is None else StreamHealth(**asdict(stream)),
    )


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics")
def metrics(svc: Svc) -> PlainTextResponse:
    """Requests and latency per endpoint, ranking fallbacks by reason, store errors."""
    body = generate_latest(svc.metrics.registry)
    return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)
