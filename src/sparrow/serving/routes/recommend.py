"""Recommendations: similar movies, recommended for you, and one pair's score."""

import time
from itertools import pairwise
from typing import Annotated

import numpy as np
from fastapi import APIRouter, Query, Response

from sparrow.serving import rank, recall
from sparrow.serving.experiments import HEADER, header, ranking_model, recall_sizes
from sparrow.serving.observe import event
from sparrow.serving.rank import ALIASES, EMB
from sparrow.serving.routes.common import (
    ERRORS,
    ApiError,
    Id,
    ModelName,
    Svc,
    bad_param,
    not_found,
    recommendations,
    respond,
    size_param,
)
from sparrow.serving.schemas import Error, RecommendedMovie, Score
from sparrow.serving.vectors import Space

router = APIRouter(responses=ERRORS)


def _space(svc: Svc, model: str) -> Space | None:
    """The vectors `model` names: `emb` (the configured method) or an embedding method."""
    if model == EMB:
        return svc.space
    if model not in svc.spaces:
        choices = ", ".join([EMB, *svc.spaces])
        raise bad_param(f"unknown model {model!r} for similar movies; choose one of: {choices}")
    return svc.spaces[model]


def _model(svc: Svc, model: str) -> str:
    """A ranking model a request names (aliases resolved; a model that failed to load is
    known, and ranking falls back); 422 naming the choices."""
    name = svc.ranker.resolve(model)
    if name != EMB and name not in svc.ranker.models and name not in svc.model_errors:
        choices = ", ".join(model_choices(svc)["/getrecforyou"])
        raise bad_param(f"unknown or untrained model {model!r}; choose one of: {choices}")
    return name


def model_choices(svc: Svc) -> dict[str, list[str]]:
    """The `model` values each endpoint accepts in this deployment (for the OpenAPI schema)."""
    ranking = sorted({*svc.ranker.models, *svc.model_errors})
    aliases = [alias for alias, name in ALIASES.items() if name in ranking]
    return {
        "/getsimilarmovie": [EMB, *svc.spaces],
        "/getrecforyou": [EMB, *aliases, *ranking],
        "/getscore": [*aliases, *ranking],
    }


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
    space = _space(svc, model)
    movie = svc.store.movies([movieId])[0]
    if movie is None:
        raise not_found(f"no movie with id {movieId}")
    found = recall.similar(svc.store, space, movie)
    ranked = rank.similar(svc.store, space, svc.ranker, movieId, found.ids)
    return recommendations(svc, found, ranked, size, {})


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
            min_length=1, max_length=64,
            description="emb, neuralcf (or the original's nerualcf), or a trained model name;"
            " absent: the user's experiment variant, else the default model",
        ),
    ] = None,
) -> Response:  # fmt: skip
    """Multi-channel recall without the user's rated movies, ranked in one model batch."""
    clock = [time.perf_counter()]  # the start, then the end of each stage
    assignment = svc.experiments.assign(id)
    asked = _model(svc, model) if model is not None else None
    name = asked or svc.ranker.resolve(ranking_model(assignment) or svc.settings.default_model)
    space = svc.space
    user = recall.UserContext.load(svc.store, space, id)
    clock.append(time.perf_counter())
    found = recall.for_user(
        svc.store, space, user, svc.settings.candidates, recall_sizes(assignment)
    )
    svc.metrics.candidates.observe(len(found.channels))
    clock.append(time.perf_counter())
    ranked = svc.ranker.rank(name, svc.store, space, user, found.ids)
    clock.append(time.perf_counter())
    headers = {HEADER: header(assignment)} if assignment else {}
    answer = recommendations(svc, found, ranked, size, headers)
    clock.append(time.perf_counter())
    user_ms, recall_ms, rank_ms, answer_ms = [(b - a) * 1000 for a, b in pairwise(clock)]
    event(
        "recforyou", user=id, known=user.known, experiments=header(assignment) or "none",
        model=name, ranking=ranked.header, candidates=len(found.channels),
        ms=(clock[-1] - clock[0]) * 1000, user_ms=user_ms, recall_ms=recall_ms, rank_ms=rank_ms,
        answer_ms=answer_ms,
    )  # fmt: skip
    return answer


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
    name = _model(svc, model or svc.settings.default_model)
    if name == EMB:
        raise bad_param("/getscore scores with a ranking model, not emb")
    if name in svc.model_errors:
        raise ApiError(503, f"model {name} is not loaded: {svc.model_errors[name]}")
    if svc.store.movies([movieId])[0] is None:
        raise not_found(f"no movie with id {movieId}")
    user = recall.UserContext.load(svc.store, None, userId)
    score = svc.ranker.score(name, svc.store, user, np.array([movieId], np.int64))
    return respond(svc, Score(user_id=userId, movie_id=movieId, model=name, score=float(score[0])))
