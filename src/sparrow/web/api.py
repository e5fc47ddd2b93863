"""The JSON the web pages need beyond the original's five endpoints (all under `/api/`).

`/api/search`, `/api/movies` (batched cards), `/api/methods` (embeddings and models to choose
from), `/api/dashboard` (+ `/api/curves.png`) and `/api/posters` (which posters exist, so the
pages never request a missing one). Movie cards come from the service's online store when the
app has one (`app.state.services`), else from the build's catalogue.
"""

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import pyarrow as pa
import pyarrow.parquet as pq
from fastapi import APIRouter, Query, Request
from fastapi.responses import FileResponse, JSONResponse

from sparrow.training.artifacts import saved
from sparrow.web.catalog import Catalog

if TYPE_CHECKING:
    from sparrow.serving.state import Services

MAX_BATCH = 1000  # ids per /api/movies call
MANIFEST_KEYS = ("created_at", "dataset", "config_digest", "as_of", "parameters", "split", "rows",
                 "positive_rate", "timings_s", "versions")  # fmt: skip
MODEL_METRICS = ("auc", "gauc", "pr_auc", "logloss", "accuracy")


def services(request: Request) -> "Services | None":
    """The service's loaded state when the app is the recommender service (after start-up)."""
    return cast("Services | None", getattr(request.app.state, "services", None))


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None


def cards(request: Request, catalog: Catalog, ids: list[int]) -> list[dict[str, Any] | None]:
    """Movie cards (the `/getmovie` fields but `topRatings`) in the order asked; None: unknown."""
    svc = services(request)
    if svc is None:
        return [catalog.card(i) for i in ids]
    from sparrow.serving.schemas import Movie

    return [
        None if m is None else Movie.model_validate(m).model_dump(
            mode="json", by_alias=True, exclude={"top_ratings"}
        )
        for m in svc.store.movies(ids)
    ]  # fmt: skip


def _parse_ids(text: str) -> list[int] | str:
    """Comma-separated positive ids, de-duplicated in order; or what is wrong with them."""
    ids: dict[int, None] = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if not part.isdigit() or not 0 < int(part) < 2**31:
            return f"ids: {part[:20]!r} is not a movie id"
        ids[int(part)] = None
    if not ids:
        return "ids: give at least one movie id"
    if len(ids) > MAX_BATCH:
        return f"ids: at most {MAX_BATCH} movies per call, got {len(ids)}"
    return list(ids)


def _vector_dim(path: Path) -> int | None:
    schema = pq.read_schema(path)
    if "vector" not in schema.names:
        return None
    kind = schema.field("vector").type
    return int(kind.list_size) if pa.types.is_fixed_size_list(kind) else None


def methods(build: Path, svc: "Services | None") -> dict[str, Any]:
    """Embedding methods (`embeddings/*/items.parquet`) and trained models (`models/*/`): name,
    size, latest version and test metrics, and whether the running service has them loaded."""
    embeddings = []
    for path in sorted(build.glob("embeddings/*/items.parquet")):
        name = path.parent.name
        embeddings.append({
            "name": name, "items": pq.read_metadata(path).num_rows, "dim": _vector_dim(path),
            "served": None if svc is None else name in svc.spaces,
        })  # fmt: skip
    known = {e["name"] for e in embeddings}
    for name in sorted(set(svc.spaces) - known) if svc is not None else []:  # e.g. only in Redis
        embeddings.append({"name": name, "items": None, "dim": None, "served": True})
    latest = {m.name: m for m in saved(build)}  # sorted by version: the last one wins
    models = []
    for name, model in sorted(latest.items()):
        test = (_read_json(model.path / "metrics.json") or {}).get("test", {})
        models.append({
            "name": name, "version": model.version,
            "metrics": {k: test[k] for k in MODEL_METRICS if isinstance(test.get(k), int | float)},
            "served": None if svc is None else name in svc.ranker.models,
            "error": None if svc is None else svc.model_errors.get(name),
        })  # fmt: skip
    return {
        "embeddings": embeddings,
        "models": models,
        "similarMethod": svc.settings.similar_method if svc is not None else None,
        "defaultModel": svc.settings.default_model if svc is not None else None,
    }


def _manifest(build: Path) -> dict[str, Any] | None:
    doc = _read_json(build / "manifest.json")
    if not isinstance(doc, dict):
        return None
    summary = {k: doc[k] for k in MANIFEST_KEYS if k in doc}
    if isinstance(summary.get("dataset"), dict):  # not the server's paths and file sizes
        summary["dataset"] = {k: v for k, v in doc["dataset"].items() if k not in ("path", "files")}
    summary["genres"] = len(doc.get("genres", []))
    return summary


def _service(svc: "Services") -> dict[str, Any]:
    layers = [
        {
            "name": layer.name, "hashing": layer.hashing,
            "variants": [
                {"name": v.name, "weight": w, "model": v.model, "recall": dict(v.recall)}
                for v, w in layer.variants
            ],
        }
        for layer in svc.experiments.layers
    ]  # fmt: skip
    return {
        "store": svc.settings.store, "storeVersion": svc.store.version(),
        "models": sorted(svc.ranker.models), "embeddings": sorted(svc.spaces),
        "defaultModel": svc.settings.default_model, "similarMethod": svc.settings.similar_method,
        "degraded": svc.degraded(), "experiments": layers,
    }  # fmt: skip


def router(build: Path, catalog: Catalog, poster_ids: list[int]) -> APIRouter:
    """The `/api/*` endpoints of the pages, for `build`."""
    api = APIRouter(prefix="/api", tags=["web"])
    curves = build / "reports" / "curves.png"

    @api.get("/search", summary="Find movies by title")
    def search(
        request: Request,
        q: Annotated[str, Query(min_length=1, max_length=200, description="words of a title")],
        size: Annotated[int, Query(ge=1, le=100, description="how many results")] = 10,
    ) -> JSONResponse:
        """Title matches, best first: exact title, title prefix, the phrase, every word, some
        words; ties: most rated first. Case, accents and punctuation are ignored."""
        ids, total = catalog.search(q, size)
        found = [c for c in cards(request, catalog, ids) if c is not None]
        return JSONResponse({"query": q, "total": total, "results": found})

    @api.get("/movies", summary="Movie cards by id, in one call")
    def movies(
        request: Request,
        ids: Annotated[str, Query(max_length=12 * MAX_BATCH, description="1,2,3 (at most 1000)")],
    ) -> JSONResponse:
        """The cards of many movies (the `/getmovie` fields but `topRatings`), in the order
        asked; unknown ids are listed in `missing`."""
        parsed = _parse_ids(ids)
        if isinstance(parsed, str):
            return _error(422, parsed)
        found = cards(request, catalog, parsed)
        return JSONResponse({
            "movies": [c for c in found if c is not None],
            "missing": [i for i, c in zip(parsed, found, strict=True) if c is None],
        })  # fmt: skip

    @api.get("/methods", summary="Embedding methods and ranking models")
    def get_methods(request: Request) -> JSONResponse:
        """What the similar-movies and recommended-for-you selectors offer."""
        return JSONResponse(methods(build, services(request)))

    @api.get("/dashboard", summary="Build, models, experiments")
    def dashboard(request: Request) -> JSONResponse:
        """The manifest summary, the evaluation report, the models and embeddings, the
        experiment layers and what the service has loaded."""
        svc = services(request)
        found = methods(build, svc)
        events = build / "events" / "events.log"
        return JSONResponse({
            "build": build.name, "manifest": _manifest(build),
            "report": _read_json(build / "reports" / "report.json"),
            "curves": "/api/curves.png" if curves.is_file() else None,
            "models": found["models"], "embeddings": found["embeddings"],
            "service": _service(svc) if svc is not None else None,
            "events": {"bytes": events.stat().st_size if events.is_file() else 0},
        })  # fmt: skip

    @api.get(
        "/curves.png",
        summary="ROC and PR curves of the evaluation report",
        response_model=None,
        responses={200: {"content": {"image/png": {}}}, 404: {"description": "no report yet"}},
    )
    def get_curves() -> FileResponse | JSONResponse:
        if not curves.is_file():
            return _error(404, "no evaluation curves in this build (run sparrow evaluate)")
        return FileResponse(curves, media_type="image/png")

    @api.get("/posters", summary="Movies that have a poster")
    def posters() -> JSONResponse:
        """The ids with a poster file; the pages show a title card for the others."""
        return JSONResponse({"ids": poster_ids}, headers={"Cache-Control": "max-age=300"})

    return api
