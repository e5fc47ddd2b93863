"""The service tier: a request's recall -> rank -> answer, whatever the HTTP layer around it.

`for_user` is `/getrecforyou`: the user's experiment variants, the user's profile, multi-channel
recall without the user's rated movies, one ranking batch (with its fallbacks), the top movies'
cards with their channels, score and ranker. `similar_to` is `/getsimilarmovie`, `score_pair`
is `/getscore`. Bad input raises `RequestError` / `NotFoundError` (answered as JSON 4xx).
"""

import time
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from sparrow.errors import NotFoundError, RequestError, UnavailableError
from sparrow.serving import rank, recall
from sparrow.serving.cards import json_list, with_fields
from sparrow.serving.experiments import HEADER, header, ranking_model, recall_sizes
from sparrow.serving.observe import event
from sparrow.serving.rank import ALIASES, EMB, Ranked
from sparrow.serving.recall import Candidates
from sparrow.serving.state import Services
from sparrow.serving.vectors import Space

RANKING_HEADER = "X-Sparrow-Ranking"


@dataclass(frozen=True)
class Answer:
    """A list of recommended movies as JSON, and the headers that say how it was made."""

    body: bytes
    headers: dict[str, str]


def model_choices(svc: Services) -> dict[str, list[str]]:
    """The `model` values each endpoint accepts in this deployment (for the OpenAPI schema)."""
    ranking = sorted({*svc.ranker.models, *svc.model_errors})
    aliases = [alias for alias, name in ALIASES.items() if name in ranking]
    return {
        "/getsimilarmovie": [EMB, *svc.spaces],
        "/getrecforyou": [EMB, *aliases, *ranking],
        "/getscore": [*aliases, *ranking],
    }


def resolve_model(svc: Services, model: str) -> str:
    """A ranking model a request names (aliases resolved; a model that failed to load is
    known, and ranking falls back); RequestError naming the choices."""
    name = svc.ranker.resolve(model)
    if name != EMB and name not in svc.ranker.models and name not in svc.model_errors:
        choices = ", ".join(model_choices(svc)["/getrecforyou"])
        raise RequestError(f"unknown or untrained model {model!r}; choose one of: {choices}")
    return name


def _space(svc: Services, model: str) -> Space | None:
    """The vectors `model` names: `emb` (the configured method) or an embedding method."""
    if model == EMB:
        return svc.space
    if model not in svc.spaces:
        choices = ", ".join([EMB, *svc.spaces])
        raise RequestError(f"unknown model {model!r} for similar movies; choose one of: {choices}")
    return svc.spaces[model]


def _answer(
    svc: Services, found: Candidates, ranked: Ranked, size: int, headers: dict[str, str]
) -> Answer:
    """The top `size` ranked candidates' cards with channels, score and ranker."""
    top = ranked.top(size)
    cards = svc.cards.get([movie_id for movie_id, _ in top])
    items = [
        with_fields(
            card, recallChannels=found.channels[movie_id], score=score, rankedBy=ranked.ranked_by
        )
        for (movie_id, score), card in zip(top, cards, strict=True)
        if card is not None
    ]
    return Answer(json_list(items), headers | {RANKING_HEADER: ranked.header})


def similar_to(svc: Services, movie_id: int, size: int, model: str) -> Answer:
    """Embedding neighbours, same-genre and co-liked movies, ranked by embedding similarity."""
    space = _space(svc, model)
    movie = svc.store.movies([movie_id])[0]
    if movie is None:
        raise NotFoundError(f"no movie with id {movie_id}")
    found = recall.similar(svc.store, space, movie)
    ranked = rank.similar(svc.store, space, svc.ranker, movie_id, found.ids)
    return _answer(svc, found, ranked, size, {})


def for_user(svc: Services, user_id: int, size: int, model: str | None) -> Answer:
    """Multi-channel recall without the user's rated movies, ranked in one model batch by
    `model` (absent: the user's experiment variant, else the default model); one log line
    with the time of each stage."""
    clock = [time.perf_counter()]  # the start, then the end of each stage
    assignment = svc.experiments.assign(user_id)
    asked = resolve_model(svc, model) if model is not None else None
    name = asked or svc.ranker.resolve(ranking_model(assignment) or svc.settings.default_model)
    space = svc.space
    user = recall.UserContext.load(svc.store, space, user_id)
    clock.append(time.perf_counter())
    found = recall.for_user(
        svc.store, space, user, svc.settings.candidates, recall_sizes(assignment)
    )
    svc.metrics.candidates.observe(len(found.channels))
    clock.append(time.perf_counter())
    ranked = svc.ranker.rank(name, svc.store, space, user, found.ids)
    clock.append(time.perf_counter())
    answer = _answer(svc, found, ranked, size, {HEADER: header(assignment)} if assignment else {})
    clock.append(time.perf_counter())
    user_ms, recall_ms, rank_ms, answer_ms = [(b - a) * 1000 for a, b in pairwise(clock)]
    event(
        "recforyou",
        user=user_id,
        known=user.known,
        experiments=header(assignment) or "none",
        model=name,
        ranking=ranked.header,
        candidates=len(found.channels),
        ms=(clock[-1] - clock[0]) * 1000,
        user_ms=user_ms,
        recall_ms=recall_ms,
        rank_ms=rank_ms,
        answer_ms=answer_ms,
    )
    return answer


def score_pair(svc: Services, user_id: int, movie_id: int, model: str | None) -> tuple[str, float]:
    """The ranking model's probability that the user likes the movie, from the online features
    (the offline/online consistency check; no budget, no fallback): the model and the score."""
    name = resolve_model(svc, model or svc.settings.default_model)
    if name == EMB:
        raise RequestError("/getscore scores with a ranking model, not emb")
    if name in svc.model_errors:
        raise UnavailableError(f"model {name} is not loaded: {svc.model_errors[name]}")
    if svc.store.movies([movie_id])[0] is None:
        raise NotFoundError(f"no movie with id {movie_id}")
    user = recall.UserContext.load(svc.store, None, user_id)
    scores = svc.ranker.score(name, svc.store, user, np.array([movie_id], np.int64))
    return name, float(scores[0])
