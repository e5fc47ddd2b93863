"""Response bodies with the original Sparrow RecSys field names (its web pages read them).

Fields are snake_case in Python and camelCase on the wire (`movieId`, `releaseYear`,
`topRatings`...), and rating lists keep the original's `{"rating": ...}` wrapper. Recommended
movies add `recallChannels`, `score` and `rankedBy`. Which experiment variants served a request
and whether ranking fell back travel in response headers (`X-Sparrow-Experiments`,
`X-Sparrow-Ranking`), so the list endpoints still return the original's plain JSON arrays.
"""

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel


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


class Movie(Body):
    """A movie as `/getmovie` returns it."""

    movie_id: int
    title: str = Field(description="without the year")
    release_year: int | None = Field(description="null when the title has no year")
    imdb_id: str | None = Field(description='zero-padded, e.g. "0114709"')
    tmdb_id: str | None
    genres: list[str]
    rating_number: int = Field(description="how many ratings the movie has")
    average_rating: float
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
