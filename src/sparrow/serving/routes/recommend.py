"""Recommendations: similar movies, recommended for you, and one pair's score (the work is
`serving.recommend`'s)."""

from typing import Annotated

from fastapi import APIRouter, Query, Response

from sparrow.serving import recommend
from sparrow.serving.rank import EMB
from sparrow.serving.routes.common import (
    ERRORS,
    Id,
    ModelName,
    Svc,
    respond,
    respond_json,
    size_param,
)
from sparrow.serving.schemas import Error, RecommendedMovie, Score

router = APIRouter(responses=ERRORS)


@router.get(
    "/getsimilarmovie", response_model=list[RecommendedMovie], summary="Movies like a movie"
)
def get_similar_movie(
    svc: Svc,
    movieId: Id,  # noqa: N803 - the original's parameter name
    size: int = size_param(16),
    model: Annotated[
        str, Query(min_length=1, max_length=64, description="emb, or an embedding method")
    ] = EMB,
) -> Response:
    """Embedding neighbours, same-genre and co-liked movies, ranked by embedding similarity."""
    answer = recommend.similar_to(svc, movieId, size, model)
    return respond_json(svc, answer.body, answer.headers)


@router.get(
    "/getrecforyou", response_model=list[RecommendedMovie], summary="Recommended for a user"
)
def get_rec_for_you(
    svc: Svc,
    id: Id,
    size: int = size_param(32),
    model: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=64,
            description="emb, neuralcf (or the original's nerualcf), or a trained model name;"
            " absent: the user's experiment variant, else the default model",
        ),
    ] = None,
) -> Response:
    """Multi-channel recall without the user's rated movies, ranked in one model batch."""
    answer = recommend.for_user(svc, id, size, model)
    return respond_json(svc, answer.body, answer.headers)


@router.get(
    "/getscore",
    response_model=Score,
    summary="A model's score of one pair",
    responses={503: {"model": Error, "description": "the model failed to load"}},
)
def get_score(
    svc: Svc,
    userId: Id,  # noqa: N803
    movieId: Id,  # noqa: N803
    model: ModelName = None,
) -> Response:
    """The ranking model's probability that the user likes the movie, from the online features
    (the offline/online consistency check; no budget, no fallback)."""
    name, score = recommend.score_pair(svc, userId, movieId, model)
    return respond(svc, Score(user_id=userId, movie_id=movieId, model=name, score=score))
