"""Request and response bodies, with the original Sparrow RecSys field names (its web pages read
them).

Fields are snake_case in Python and camelCase on the wire (`movieId`, `releaseYear`,
`topRatings`...), and rating lists keep the original's `{"rating": ...}` wrapper. Recommended
movies add `recallChannels`, `score` and `rankedBy`. Which experiment variants served a request
and whether ranking fell back travel in response headers (`X-Sparrow-Experiments`,
`X-Sparrow-Ranking`), so the list endpoints still return the original's plain JSON arrays.
"""

import time
from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from sparrow.artifacts.schema import MAX_ID

FUTURE_SLACK_S = 300  # clocks differ: an event's timestamp up to 5 minutes ahead is accepted
StrictInt = Annotated[int, Strict()]


class Body(BaseModel):
    """camelCase on the wire, built from snake_case names or store dataclasses."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        serialize_by_alias=True,
        from_attributes=True,
    )


class Rating(Body):
    movie_id: int
    user_id: int
    score: float
    timestamp: int = Field(description="Unix seconds")


class RatingItem(Body):
    """The original's wrapper of each rating in a list."""

    rating: Rating


def _wrap(ratings: Any) -> Any:
    """Store ratings -> `{"rating": ...}` items (items already wrapped pass through)."""
    if not isinstance(ratings, list):
        return ratings
    return [r if isinstance(r, dict | RatingItem) else {"rating": r} for r in ratings]


class MovieCard(Body):
    """A movie's details and rating statistics (the web pages' lists)."""

    movie_id: int
    title: str = Field(description="without the year")
    release_year: int | None = Field(description="null when the title has no year")
    imdb_id: str | None = Field(description='zero-padded, e.g. "0114709"')
    tmdb_id: str | None
    genres: list[str]
    rating_number: int = Field(description="how many ratings the movie has")
    average_rating: float


class Movie(MovieCard):
    """A movie as `/getmovie` returns it."""

    top_ratings: list[RatingItem] = Field(description="up to 10 ratings, ascending by score")

    _wrap_top = field_validator("top_ratings", mode="before")(_wrap)


class RecommendedMovie(Movie):
    """A movie in a recommendation list, with where it came from and how it was ranked."""

    recall_channels: list[str] = Field(
        description="the recall channels that found it, e.g. embedding, genre, popularity"
    )
    score: float = Field(description="the ranking score (model probability or cosine)")
    ranked_by: str = Field(description="what ranked it, e.g. deepfm, item2vec, popularity")


class User(Body):
    """A user as `/getuser` returns it: every rating, oldest first."""

    user_id: int
    average_rating: float
    highest_rating: float
    lowest_rating: float
    rating_count: int
    ratings: list[RatingItem]

    _wrap_ratings = field_validator("ratings", mode="before")(_wrap)


class Score(Body):
    """`/getscore`: one ranking model's score of one (user, movie) pair."""

    user_id: int
    movie_id: int
    model: str
    score: float


class StreamHealth(Body):
    """The stream processor running inside the service."""

    running: bool
    lag: int | None = Field(description="events in the log not yet applied (null: unknown)")
    error: str | None = Field(description="its last failure, until it recovers")


class Health(Body):
    """`/healthz`: what the service loaded and whether it is degraded."""

    status: str = Field(description='"ok" or "degraded"')
    store: str = Field(description="store backend: memory or redis")
    store_version: str
    ping: bool = Field(description="whether the store backend answers now")
    models: list[str] = Field(description="ranking models loaded (latest versions)")
    embeddings: list[str] = Field(description="embedding methods with a neighbour index")
    experiments: list[str] = Field(description="experiment layers")
    degraded: list[str] = Field(description='e.g. "redis down: serving the memory copy"')
    stream: StreamHealth | None = Field(description="the in-service stream processor, if any")


class Error(BaseModel):
    """Every error body."""

    error: str


# the web pages' `/api/*`


class SearchResults(Body):
    """`/api/search`: title matches, best first."""

    query: str
    total: int = Field(description="how many titles match")
    results: list[MovieCard]


class MovieCards(Body):
    """`/api/movies`: the cards of the ids asked for, in order; the unknown ids."""

    movies: list[MovieCard]
    missing: list[int]


class EmbeddingInfo(Body):
    """An embedding method of the build or the store."""

    name: str
    items: int | None = Field(description="movie vectors in the build (null: only in the store)")
    dim: int | None
    served: bool = Field(description="whether the service has a neighbour index of it")


class ModelInfo(Body):
    """A trained model's latest version."""

    name: str
    version: int
    metrics: dict[str, float] = Field(description="test metrics (auc, gauc, pr_auc, ...)")
    served: bool = Field(description="whether the service has it loaded")
    error: str | None = Field(description="why it is not loaded")


class Methods(Body):
    """`/api/methods`: what the similar-movies and recommended-for-you selectors offer."""

    embeddings: list[EmbeddingInfo]
    models: list[ModelInfo]
    similar_method: str
    default_model: str


class VariantInfo(Body):
    name: str
    weight: int = Field(description="percent of users")
    model: str | None
    recall: dict[str, int]


class LayerInfo(Body):
    name: str
    hashing: str
    variants: list[VariantInfo]


class ServiceInfo(Body):
    """What the service has loaded."""

    store: str
    store_version: str
    models: list[str]
    embeddings: list[str]
    default_model: str
    similar_method: str
    degraded: list[str]
    experiments: list[LayerInfo]


class EventLogInfo(Body):
    bytes: int = Field(description="size of the build's event file")


class Dashboard(Body):
    """`/api/dashboard`: the build, its reports, models and embeddings, and the service."""

    build: str
    manifest: dict[str, Any] | None = Field(description="the build's manifest, summarised")
    report: dict[str, Any] | None = Field(description="reports/report.json")
    curves: str | None = Field(description="where the evaluation curves are (PNG)")
    models: list[ModelInfo]
    embeddings: list[EmbeddingInfo]
    service: ServiceInfo
    events: EventLogInfo


# `POST /events`


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
        titles = info.context.get("titles") if isinstance(info.context, dict) else None
        if titles is not None and movie_id not in titles:
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
