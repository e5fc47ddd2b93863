"""`POST /events`: rating, click and view events from the pages, appended to the event log.

An accepted event is appended to the log, then acknowledged 202 `{"id": ..., "status":
"accepted"}`: with the memory store one JSON line in `<build>/events/events.log` (append-only;
one `write` per line on a file opened with O_APPEND, so concurrent workers never interleave
lines, fsynced), with Redis an entry of the stream `<prefix>:events`. The stream processor
consumes the log. Bad input is refused with 422 `{"error": ...}` and nothing is written; each
outcome is counted (`sparrow_events` in `/metrics`).
"""

import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Literal, Protocol, Self

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from starlette.concurrency import run_in_threadpool

from sparrow.stream.log import add_events
from sparrow.web.catalog import Catalog

MAX_ID = 2**31 - 1  # ids are int32 in every table
FUTURE_SLACK_S = 300  # clocks differ: a timestamp up to 5 minutes ahead is accepted
MAX_BODY = 16_384
EVENTS_DIR = "events"
EVENTS_LOG = "events.log"

StrictInt = Annotated[int, Strict()]


class Event(BaseModel):
    """A user event: a rating (with `rating`), a click or a view (without)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["rating", "click", "view"]
    user_id: StrictInt = Field(alias="userId", gt=0, le=MAX_ID)
    movie_id: StrictInt = Field(alias="movieId", gt=0, le=MAX_ID)
    rating: float | None = Field(None, ge=0.5, le=5.0, description="0.5..5 in steps of 0.5")
    timestamp: StrictInt | None = Field(
        None, gt=0, description="Unix seconds; absent: when the event is received"
    )

    @field_validator("movie_id")
    @classmethod
    def _known(cls, movie_id: int, info: ValidationInfo) -> int:
        catalog = info.context.get("catalog") if isinstance(info.context, dict) else None
        if catalog is not None and movie_id not in catalog:
            raise ValueError(f"unknown movie {movie_id}")
        return movie_id

    @field_validator("rating")
    @classmethod
    def _half_stars(cls, rating: float | None) -> float | None:
        if rating is not None and rating * 2 != round(rating * 2):
            raise ValueError("a rating is a multiple of 0.5")
        return rating

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.type == "rating" and self.rating is None:
            raise ValueError("a rating event needs a rating")
        if self.type != "rating" and self.rating is not None:
            raise ValueError(f"a {self.type} event has no rating")
        if self.timestamp is not None and self.timestamp > time.time() + FUTURE_SLACK_S:
            raise ValueError("timestamp is in the future (Unix seconds expected)")
        return self


class Accepted(BaseModel):
    id: str
    status: Literal["accepted"] = "accepted"


def _message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        parts.append(f"{where}: {msg}" if where else msg)
    return "; ".join(parts) or "invalid event"


class EventSink(Protocol):
    def append(self, record: dict[str, Any]) -> None:
        """Record one event durably (OSError when it cannot)."""
        ...


class FileSink:
    """The append-only JSON-lines log of accepted events."""

    def __init__(self, build: Path) -> None:
        self.path = Path(build) / EVENTS_DIR / EVENTS_LOG
        self._lock = threading.Lock()

    def append(self, record: dict[str, Any]) -> None:
        """Write one line, whole (one write on an O_APPEND file), and flush it to disk."""
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(f"short write to {self.path} ({written} of {len(line)} bytes)")
                os.fsync(fd)
            finally:
                os.close(fd)


class RedisSink:
    """The Redis Stream of events (`XADD`); the stream processor reads it in a group."""

    def __init__(self, url: str, stream_key: str) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
        self.stream = stream_key

    def append(self, record: dict[str, Any]) -> None:
        try:
            add_events(self.client, self.stream, [record])
        except redis.RedisError as exc:
            raise OSError(f"redis: {exc}") from exc


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def router(catalog: Catalog, log: EventSink, count: Callable[[str], None]) -> APIRouter:
    """`POST /events` for the movies of `catalog`, recorded in `log`; `count(outcome)` for each
    request: accepted, invalid (422), refused (413/415) or unavailable (503)."""
    api = APIRouter(tags=["web"])
    schema = Event.model_json_schema(by_alias=True)

    @api.post(
        "/events",
        status_code=202,
        response_model=Accepted,
        summary="Record a rating, click or view",
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        },
        responses={
            413: {"description": "a body over 16 KiB"},
            415: {"description": "not application/json"},
            422: {"description": 'an invalid event: {"error": ...}'},
            503: {"description": "the event log cannot be written"},
        },
    )
    async def post_event(request: Request) -> JSONResponse:
        """Validate the event (known movie, rating 0.5..5 in half stars, timestamp not in the
        future), append it to the event log and answer its id (202)."""
        kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind != "application/json":  # also: a cross-site form cannot post without CORS
            count("refused")
            return _error(415, "send the event as application/json")
        body = b""
        async for chunk in request.stream():  # read no more than the limit
            body += chunk
            if len(body) > MAX_BODY:
                count("refused")
                return _error(413, f"an event is at most {MAX_BODY} bytes")
        try:
            event = Event.model_validate_json(body or b"null", context={"catalog": catalog})
        except ValidationError as exc:
            count("invalid")
            return _error(422, _message(exc))
        received = time.time()
        record = {
            "id": uuid.uuid4().hex, "type": event.type, "userId": event.user_id,
            "movieId": event.movie_id, "rating": event.rating,
            "timestamp": event.timestamp if event.timestamp is not None else int(received),
            "receivedAt": round(received, 3),
        }  # fmt: skip
        try:
            await run_in_threadpool(log.append, record)  # fsync: off the event loop
        except OSError as exc:
            count("unavailable")
            return _error(503, f"the event could not be recorded: {exc.strerror or exc}")
        count("accepted")
        return JSONResponse(Accepted(id=str(record["id"])).model_dump(), status_code=202)

    return api
