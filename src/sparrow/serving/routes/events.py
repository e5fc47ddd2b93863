"""`POST /events`: rating, click and view events, appended to the event log (ingestion).

An accepted event is appended to the store's event log (`plugins.py`), then acknowledged 202
`{"id": ..., "status": "accepted"}`: with the memory store one JSON line in
`<build>/events/events.log` (append-only, fsynced), with Redis an entry of the stream
`<prefix>:events`. The stream processor consumes the log. Bad input is refused with a JSON 4xx
and nothing is written; each outcome is counted (`sparrow_events` in `/metrics`).
"""

import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from sparrow.errors import MediaTypeError, RequestError, TooLargeError, UnavailableError
from sparrow.serving.routes.common import Svc
from sparrow.serving.schemas import Accepted, Event

MAX_BODY = 16_384

router = APIRouter(tags=["events"])


def _message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid event"


async def _event(request: Request, svc: Svc) -> Event:
    """The request's event (a JSON body of at most MAX_BODY bytes, a known movie)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/json":  # also: a cross-site form cannot post without CORS
        raise MediaTypeError("send the event as application/json")
    body = b""
    async for chunk in request.stream():  # read no more than the limit
        body += chunk
        if len(body) > MAX_BODY:
            raise TooLargeError(f"an event is at most {MAX_BODY} bytes")
    try:
        return Event.model_validate_json(body or b"null", context={"titles": svc.titles})
    except ValidationError as exc:
        raise RequestError(_message(exc)) from exc


@router.post(
    "/events",
    status_code=202,
    response_model=Accepted,
    summary="Record a rating, click or view",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": Event.model_json_schema(by_alias=True)}},
        }
    },
    responses={
        413: {"description": "a body over 16 KiB"},
        415: {"description": "not application/json"},
        422: {"description": 'an invalid event: {"error": ...}'},
        503: {"description": "the event log cannot be written"},
    },
)
async def post_event(request: Request, svc: Svc) -> JSONResponse:
    """Validate the event (known movie, rating 0.5..5 in half stars, timestamp not in the
    future), append it to the event log and answer its id (202)."""
    count = svc.metrics.events.labels
    try:
        event = await _event(request, svc)
    except RequestError as exc:
        count("invalid" if type(exc) is RequestError else "refused").inc()
        raise
    received = time.time()
    record = {
        "id": uuid.uuid4().hex,
        "type": event.type,
        "userId": event.user_id,
        "movieId": event.movie_id,
        "rating": event.rating,
        "timestamp": event.timestamp if event.timestamp is not None else int(received),
        "receivedAt": round(received, 3),
    }
    try:
        await run_in_threadpool(svc.events.append, [record])  # fsync: off the event loop
    except OSError as exc:
        count("unavailable").inc()
        raise UnavailableError(f"the event could not be recorded: {exc.strerror or exc}") from exc
    count("accepted").inc()
    return JSONResponse(Accepted(id=str(record["id"])).model_dump(), status_code=202)
