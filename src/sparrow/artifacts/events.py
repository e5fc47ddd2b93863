"""User events: the line format of the event log (`POST /events` writes it, the stream reads it).

One JSON object per line (or Redis Stream entry): `{"id", "type", "userId", "movieId", "rating",
"timestamp", "receivedAt"}`; `type` is rating, click or view, and only a rating has a `rating`
(0.5..5 in half stars). Stdlib only: imported by the light Flink environment.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sparrow.artifacts.schema import MAX_ID

EVENT_TYPES = ("rating", "click", "view")
MAX_TIMESTAMP = 2**62


@dataclass(frozen=True)
class Event:
    """A validated event of the log."""

    id: str
    type: str  # rating | click | view
    user_id: int
    movie_id: int
    rating: float | None
    timestamp: int


def _positive(record: Mapping[str, Any], name: str, limit: int) -> int:
    value = record.get(name)
    if type(value) is not int or not 0 < value <= limit:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    return value


def parse_event(record: Any, fallback_id: str) -> Event:
    """An `Event` of a decoded log record (ValueError when malformed). `fallback_id` (the log
    position) names an event without an "id"."""
    if not isinstance(record, dict):
        raise ValueError(f"an event is a JSON object, not {type(record).__name__}")
    kind = record.get("type")
    if kind not in EVENT_TYPES:
        raise ValueError(f"type must be one of {EVENT_TYPES}, not {kind!r}")
    rating = record.get("rating")
    if kind == "rating":
        if (
            not isinstance(rating, int | float)
            or isinstance(rating, bool)
            or not (0.5 <= rating <= 5.0 and rating * 2 % 1 == 0)
        ):
            raise ValueError(f"rating must be 0.5..5 in half stars, not {rating!r}")
    elif rating is not None:
        raise ValueError(f"a {kind} event has no rating")
    event_id = fallback_id if record.get("id") is None else record["id"]
    if not isinstance(event_id, str) or not event_id:
        raise ValueError(f"id must be a non-empty string, not {event_id!r}")
    user, movie = _positive(record, "userId", MAX_ID), _positive(record, "movieId", MAX_ID)
    ts = _positive(record, "timestamp", MAX_TIMESTAMP)
    return Event(event_id, kind, user, movie, None if rating is None else float(rating), ts)
