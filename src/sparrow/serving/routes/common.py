"""What the endpoints share: parameter types, the error responses, the services, JSON answers."""

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, cast

import pydantic_core
from fastapi import Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from sparrow.artifacts.schema import MAX_ID
from sparrow.serving.schemas import Error
from sparrow.serving.state import Services

MAX_SIZE = 1000
DEGRADED_HEADER = "X-Sparrow-Degraded"

Id = Annotated[int, Query(gt=0, le=MAX_ID)]
ModelName = Annotated[str | None, Query(min_length=1, max_length=64)]


def size_param(default: int) -> Any:
    """`size`: how many movies, 1..1000."""
    return Query(default, ge=1, le=MAX_SIZE, description=f"how many movies (default {default})")


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Error, "description": "unknown movie, user or genre"},
    422: {"model": Error, "description": "missing or invalid parameter"},
}


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None
) -> JSONResponse:
    """Every error the service answers: `{"error": message}` with its status."""
    return JSONResponse({"error": message}, status_code=status, headers=headers)


async def get_services(request: Request) -> Services:
    """The loaded services (async: FastAPI would run a plain function on a thread)."""
    return cast(Services, request.app.state.services)


Svc = Annotated[Services, Depends(get_services)]


def respond(
    svc: Services, body: BaseModel | Sequence[BaseModel], headers: dict[str, str] | None = None
) -> Response:
    """The JSON response, serialised once (FastAPI would validate a returned model again)."""
    return respond_json(svc, pydantic_core.to_json(body, by_alias=True), headers)


def respond_json(svc: Services, content: bytes, headers: dict[str, str] | None = None) -> Response:
    """A serialised JSON answer; says in a header when it comes from a degraded service (e.g.
    Redis down)."""
    headers = dict(headers or {})
    notes = svc.degraded()
    if notes:
        headers[DEGRADED_HEADER] = "; ".join(notes)[:500]
    return Response(content, media_type="application/json", headers=headers)
