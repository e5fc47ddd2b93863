"""What the endpoints share: parameter types, errors, the services, response assembly."""

from collections.abc import Sequence
from typing import Annotated, Any, cast

import pydantic_core
from fastapi import Depends, Query, Request, Response
from pydantic import BaseModel

from sparrow.serving.cards import json_list, with_fields
from sparrow.serving.rank import Ranked
from sparrow.serving.recall import Candidates
from sparrow.serving.schemas import Error
from sparrow.serving.state import Services

MAX_ID = 2**31 - 1  # ids are int32 in every table
MAX_SIZE = 1000
DEGRADED_HEADER = "X-Sparrow-Degraded"
RANKING_HEADER = "X-Sparrow-Ranking"

Id = Annotated[int, Query(gt=0, le=MAX_ID)]
ModelName = Annotated[str | None, Query(min_length=1, max_length=64)]


def size_param(default: int) -> Any:
    """`size`: how many movies, 1..1000."""
    return Query(default, ge=1, le=MAX_SIZE, description=f"how many movies (default {default})")


class ApiError(Exception):
    """A client error answered as `{"error": message}` with `status`."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def not_found(message: str) -> ApiError:
    return ApiError(404, message)


def bad_param(message: str) -> ApiError:
    return ApiError(422, message)


ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Error, "description": "unknown movie, user or genre"},
    422: {"model": Error, "description": "missing or invalid parameter"},
}


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


def recommendations(
    svc: Services, found: Candidates, ranked: Ranked, size: int, headers: dict[str, str]
) -> Response:
    """The top `size` ranked candidates (their cards with channels, score and ranker); the
    ranking header."""
    top = ranked.top(size)
    cards = svc.cards.get([movie_id for movie_id, _ in top])
    items = [
        with_fields(
            card, recallChannels=found.channels[movie_id], score=score, rankedBy=ranked.ranked_by
        )
        for (movie_id, score), card in zip(top, cards, strict=True)
        if card is not None
    ]
    return respond_json(svc, json_list(items), headers | {RANKING_HEADER: ranked.header})
