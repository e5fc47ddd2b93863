"""The JSON the web pages need beyond the original's five endpoints (all under `/api/`).

`/api/search`, `/api/movies` (batched cards), `/api/methods` (embeddings and models to choose
from), `/api/dashboard` (+ `/api/curves.png`); `/api/posters` comes with the posters (`web`).
"""

import json
from pathlib import Path
from typing import Annotated, Any

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Query
from fastapi.responses import FileResponse

from sparrow.artifacts.layout import BuildDir
from sparrow.artifacts.models import latest_versions
from sparrow.artifacts.schema import MAX_ID
from sparrow.artifacts.vectors import embedding_methods, items_path
from sparrow.errors import NotFoundError, RequestError
from sparrow.serving.routes.common import Svc
from sparrow.serving.schemas import (
    Dashboard,
    EmbeddingInfo,
    EventLogInfo,
    LayerInfo,
    Methods,
    ModelInfo,
    MovieCard,
    MovieCards,
    SearchResults,
    ServiceInfo,
    VariantInfo,
)
from sparrow.serving.state import Services

MAX_BATCH = 1000  # ids per /api/movies call
MANIFEST_KEYS = {
    "created_at",
    "dataset",
    "config_digest",
    "as_of",
    "parameters",
    "split",
    "rows",
    "positive_rate",
    "timings_s",
    "versions",
}
MODEL_METRICS = ("auc", "gauc", "pr_auc", "logloss", "accuracy")

router = APIRouter(prefix="/api", tags=["web"])


def cards(svc: Services, ids: list[int]) -> list[MovieCard | None]:
    """Movie cards (the `/getmovie` fields but `topRatings`) in the order asked; None: unknown."""
    return [None if m is None else MovieCard.model_validate(m) for m in svc.store.movies(ids)]


def parse_ids(text: str) -> list[int]:
    """Comma-separated positive ids, de-duplicated in order (RequestError when malformed)."""
    ids: dict[int, None] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 < int(part) <= MAX_ID:
            raise RequestError(f"ids: {part[:20]!r} is not a movie id")
        ids[int(part)] = None
    if not ids:
        raise RequestError("ids: give at least one movie id")
    if len(ids) > MAX_BATCH:
        raise RequestError(f"ids: at most {MAX_BATCH} movies per call, got {len(ids)}")
    return list(ids)


def _vector_dim(path: Path) -> int | None:
    kind = pq.read_schema(path).field("vector").type
    return int(kind.list_size) if pa.types.is_fixed_size_list(kind) else None


def methods(svc: Services) -> Methods:
    """Embedding methods (of the build, and of the store) and trained models: name, size,
    latest version and test metrics, and whether the service has them loaded."""
    embeddings = []
    for name in embedding_methods(svc.build):
        path = items_path(svc.build, name)
        embeddings.append(
            EmbeddingInfo(
                name=name,
                items=pq.read_metadata(path).num_rows,
                dim=_vector_dim(path),
                served=name in svc.spaces,
            )
        )
    known = {e.name for e in embeddings}
    embeddings += [
        EmbeddingInfo(name=name, items=None, dim=None, served=True)
        for name in sorted(set(svc.spaces) - known)
    ]  # e.g. only in Redis
    models = []
    for name, model in sorted(latest_versions(svc.build).items()):
        test = model.metrics().get("test", {})
        models.append(
            ModelInfo(
                name=name,
                version=model.version,
                metrics={k: test[k] for k in MODEL_METRICS if isinstance(test.get(k), int | float)},
                served=name in svc.ranker.models,
                error=svc.model_errors.get(name),
            )
        )
    return Methods(
        embeddings=embeddings,
        models=models,
        similar_method=svc.settings.similar_method,
        default_model=svc.settings.default_model,
    )


def _manifest(build: BuildDir) -> dict[str, Any] | None:
    """The manifest without the server's paths and file sizes, genres counted."""
    if not build.is_build():
        return None
    manifest = build.manifest()
    doc = manifest.model_dump(mode="json", include=MANIFEST_KEYS)
    doc["dataset"] = {k: v for k, v in doc["dataset"].items() if k not in ("path", "files")}
    return doc | {"genres": len(manifest.genres)}


def _report(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8"))) if path.is_file() else None
    except (OSError, ValueError):
        return None


def _service(svc: Services) -> ServiceInfo:
    layers = [
        LayerInfo(
            name=layer.name,
            hashing=layer.hashing,
            variants=[
                VariantInfo(name=v.name, weight=w, model=v.model, recall=dict(v.recall))
                for v, w in layer.variants
            ],
        )
        for layer in svc.experiments.layers
    ]
    return ServiceInfo(
        store=svc.store_settings.type,
        store_version=svc.store.version(),
        models=sorted(svc.ranker.models),
        embeddings=sorted(svc.spaces),
        default_model=svc.settings.default_model,
        similar_method=svc.settings.similar_method,
        degraded=svc.degraded(),
        experiments=layers,
    )


@router.get("/search", response_model=SearchResults, summary="Find movies by title")
def search(
    svc: Svc,
    q: Annotated[str, Query(min_length=1, max_length=200, description="words of a title")],
    size: Annotated[int, Query(ge=1, le=100, description="how many results")] = 10,
) -> SearchResults:
    """Title matches, best first: exact title, title prefix, the phrase, every word, some
    words; ties: most rated first. Case, accents and punctuation are ignored."""
    ids, total = svc.titles.search(q, size)
    found = [c for c in cards(svc, ids) if c is not None]
    return SearchResults(query=q, total=total, results=found)


@router.get("/movies", response_model=MovieCards, summary="Movie cards by id, in one call")
def movies(
    svc: Svc,
    ids: Annotated[str, Query(max_length=12 * MAX_BATCH, description="1,2,3 (at most 1000)")],
) -> MovieCards:
    """The cards of many movies (the `/getmovie` fields but `topRatings`), in the order asked;
    unknown ids are listed in `missing`."""
    asked = parse_ids(ids)
    found = cards(svc, asked)
    return MovieCards(
        movies=[c for c in found if c is not None],
        missing=[i for i, c in zip(asked, found, strict=True) if c is None],
    )


@router.get("/methods", response_model=Methods, summary="Embedding methods and ranking models")
def get_methods(svc: Svc) -> Methods:
    """What the similar-movies and recommended-for-you selectors offer."""
    return methods(svc)


@router.get("/dashboard", response_model=Dashboard, summary="Build, models, experiments")
def dashboard(svc: Svc) -> Dashboard:
    """The manifest summary, the evaluation report, the models and embeddings, the
    experiment layers and what the service has loaded."""
    build = BuildDir(svc.build)
    found = methods(svc)
    events = build.events_log
    return Dashboard(
        build=build.root.name,
        manifest=_manifest(build),
        report=_report(build.report("report.json")),
        curves="/api/curves.png" if build.report("curves.png").is_file() else None,
        models=found.models,
        embeddings=found.embeddings,
        service=_service(svc),
        events=EventLogInfo(bytes=events.stat().st_size if events.is_file() else 0),
    )


@router.get(
    "/curves.png",
    summary="ROC and PR curves of the evaluation report",
    response_class=FileResponse,
    responses={200: {"content": {"image/png": {}}}, 404: {"description": "no report yet"}},
)
def get_curves(svc: Svc) -> FileResponse:
    curves = BuildDir(svc.build).report("curves.png")
    if not curves.is_file():
        raise NotFoundError("no evaluation curves in this build (run sparrow evaluate)")
    return FileResponse(curves, media_type="image/png")
