"""The FastAPI application: `create_app(build, settings)`, and `factory()` for server workers.

The lifespan loads everything once (store, neighbour indexes, models, experiments, event log;
see `state.load`). Errors are JSON `{"error": ...}` with the status of their `SparrowError`: 422
for a missing or invalid parameter, 404 for an unknown movie, user or genre; a valid request is
never answered with a 5xx because a model or Redis failed (ranking falls back, the store fails
over to its memory copy).
"""

import gc
import json
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

import sparrow
from sparrow.config import Settings
from sparrow.errors import SparrowError
from sparrow.serving import state
from sparrow.serving.experiments import HEADER as EXPERIMENTS_HEADER
from sparrow.serving.observe import Metrics, MetricsMiddleware, event, failure
from sparrow.serving.recommend import RANKING_HEADER, model_choices
from sparrow.serving.routes import router
from sparrow.serving.routes.common import DEGRADED_HEADER, error_response
from sparrow.web import mount_web

DESCRIPTION = f"""The original Sparrow RecSys API (same paths, parameters and JSON field names;
list endpoints return JSON arrays), plus `/getscore`, `/healthz` and `/metrics`.

- Recommended movies carry `recallChannels` (the recall channels that found them), `score` and
  `rankedBy` (the model or embedding method that ranked them).
- Response headers: `{EXPERIMENTS_HEADER}: layer=variant,...` (the user's experiment variants,
  `/getrecforyou`); `{RANKING_HEADER}`: the ranker, or `fallback=<ranker>; reason=<why>` when
  the model was late (`budget`), failed (`error`), not loaded (`unavailable`), the ranking
  threads were full (`overloaded`) or a vector was missing (`no-vector`);
  `{DEGRADED_HEADER}`: what is degraded, e.g. `redis down: serving the memory copy`.
- Errors are `{{"error": "..."}}`: 422 for a missing or invalid parameter, 404 for an unknown
  movie, user or genre (the original answered both with an empty 200).
"""
BUILD_ENV = "SPARROW_SERVE_BUILD"  # what `factory` reads: the build directory
SETTINGS_ENV = "SPARROW_SERVE_SETTINGS"  # and the Settings as JSON


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"] if p not in ("query", "path"))
        parts.append(f"{where}: {err['msg']}" if where else str(err["msg"]))
    return "; ".join(parts) or "invalid request"


def _add_error_handlers(app: FastAPI) -> None:
    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(422, _validation_message(exc))

    async def http_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    async def sparrow_error(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SparrowError)
        return error_response(exc.http_status, str(exc))

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        failure("error", exc, logging.ERROR, path=request.url.path)
        return error_response(500, "internal error")

    app.add_exception_handler(RequestValidationError, invalid)
    app.add_exception_handler(HTTPException, http_error)
    app.add_exception_handler(SparrowError, sparrow_error)
    app.add_exception_handler(Exception, unexpected)


def _document_models(app: FastAPI) -> None:
    """Once the services are loaded, the schema lists the `model` values this deployment
    accepts (its embedding methods and trained models) as enums."""
    generic = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        schema = generic()  # cached by FastAPI; patched in place below
        services = getattr(app.state, "services", None)
        if services is None:  # not started: the generic schema, not cached
            app.openapi_schema = None
            return schema
        for path, choices in model_choices(services).items():
            for param in schema["paths"][path]["get"]["parameters"]:
                if param["name"] == "model":
                    default = param["schema"].get("default")
                    param["schema"] = {"type": "string", "enum": choices}
                    if default is not None:
                        param["schema"]["default"] = default
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(build: Path, settings: Settings) -> FastAPI:
    """The service of `build` (settings: its `serving` and `store` sections); everything is
    loaded when the app starts (its lifespan)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        services = state.load(Path(build), settings, metrics)
        app.state.services = services
        gc.collect()
        gc.freeze()  # what was loaded never changes: the collector stops rescanning it (p99)
        try:
            yield
        finally:
            services.close()
            event("stopped")

    metrics = Metrics()
    app = FastAPI(
        title="Sparrow RecSys",
        version=sparrow.__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.include_router(router)
    _add_error_handlers(app)
    mount_web(app)  # the site, last: its static files are the catch-all
    _document_models(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=[EXPERIMENTS_HEADER, RANKING_HEADER, DEGRADED_HEADER],
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


def factory() -> FastAPI:
    """The app a server worker runs: build and settings from `SPARROW_SERVE_BUILD` and
    `SPARROW_SERVE_SETTINGS` (set by `sparrow serve`)."""
    build = os.environ.get(BUILD_ENV)
    if not build:
        raise SparrowError(f"{BUILD_ENV} is not set; start the service with `sparrow serve`")
    settings = Settings.model_validate(json.loads(os.environ.get(SETTINGS_ENV, "{}")))
    return create_app(Path(build), settings)
