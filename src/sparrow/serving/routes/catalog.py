"""Movies, users and genre lists: the original's `/getmovie`, `/getuser`, `/getrecommendation`."""

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from sparrow.errors import NotFoundError
from sparrow.serving.cards import json_list
from sparrow.serving.routes.common import ERRORS, Id, Svc, respond, respond_json, size_param
from sparrow.serving.schemas import Movie, User

router = APIRouter(responses=ERRORS)


@router.get("/getmovie", response_model=Movie, summary="One movie")
def get_movie(svc: Svc, id: Id) -> Response:
    """A movie by id: details, rating statistics and its top ratings (404 when unknown)."""
    card = svc.cards.get([id])[0]
    if card is None:
        raise NotFoundError(f"no movie with id {id}")
    return respond_json(svc, card)


@router.get("/getuser", response_model=User, summary="One user")
def get_user(svc: Svc, id: Id) -> Response:
    """A user by id: rating statistics and every rating, oldest first (404 when unknown)."""
    found = svc.store.user(id)
    if found is None:
        raise NotFoundError(f"no user with id {id}")
    return respond(svc, User.model_validate(found))


@router.get("/getrecommendation", response_model=list[Movie], summary="Movies of a genre")
def get_recommendation(
    svc: Svc,
    genre: Annotated[
        str | None,
        Query(min_length=1, max_length=100, description="exact genre name; absent: all movies"),
    ] = None,
    size: int = size_param(8),
    sortby: Annotated[
        Literal["rating", "releaseYear", "popularity"],
        Query(description="average rating, release year or rating count, highest first"),
    ] = "rating",
) -> Response:
    """The best movies of a genre (or of the whole catalogue): the home and genre pages."""
    if genre is not None and genre not in svc.store.genres():
        raise NotFoundError(f"unknown genre {genre!r}; genres: {', '.join(svc.store.genres())}")
    ids = svc.store.top_movies(genre, sortby, size)
    return respond_json(svc, json_list([c for c in svc.cards.get(ids) if c is not None]))
