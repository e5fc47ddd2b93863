"""`mount_web(app, posters)`: the web UI on the service's FastAPI app.

Adds, in this order (Starlette matches routes in order, so the static mount at `/` comes last
and the service's own routes, added before, keep precedence):

- `/posters/{movieId}.jpg` and `/api/posters`: poster files (the `posters` folder, else
  `$SPARROW_POSTERS`) and which movies have one;
- `/`: the static pages (`index.html`, `movie.html`, `user.html`, `collection.html`,
  `dashboard.html`, `css/`, `js/`). The pages call the service's API (`serving.routes`).
"""

import os
import re
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from sparrow.errors import ConfigError, NotFoundError

STATIC = Path(__file__).parent / "static"
POSTERS_ENV = "SPARROW_POSTERS"
_POSTER = re.compile(r"([0-9]{1,10})\.jpg")


def posters_folder(posters: Path | None) -> Path | None:
    """The posters folder: the argument, else `$SPARROW_POSTERS`, else none (ConfigError when
    the one given is not a folder)."""
    given = posters if posters is not None else os.environ.get(POSTERS_ENV) or None
    if given is None:
        return None
    folder = Path(given)
    if not folder.is_dir():
        source = "posters" if posters is not None else POSTERS_ENV
        raise ConfigError(f"{source}: {folder} is not a folder of <movieId>.jpg posters")
    return folder


def poster_ids(folder: Path | None) -> list[int]:
    """The movie ids with a `<movieId>.jpg` in `folder`, ascending."""
    if folder is None:
        return []
    with os.scandir(folder) as entries:
        found = (_POSTER.fullmatch(e.name) for e in entries if e.is_file())
        return sorted(int(m[1]) for m in found if m)


def posters_router(folder: Path | None) -> APIRouter:
    """`GET /posters/{movieId}.jpg` from `folder` (404 for anything else), `GET /api/posters`."""
    router = APIRouter(tags=["web"])
    ids = poster_ids(folder)

    @router.get(
        "/posters/{name}",
        summary="A movie's poster",
        response_class=FileResponse,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such poster"}},
    )
    def poster(name: str) -> FileResponse:
        """The poster `<movieId>.jpg` (only digits: no other path is ever opened)."""
        match = _POSTER.fullmatch(name)
        if folder is None or match is None:
            raise NotFoundError(f"no poster {name[:40]!r}")
        path = folder / f"{int(match[1])}.jpg"
        if not path.is_file():
            raise NotFoundError(f"no poster for movie {int(match[1])}")
        return FileResponse(
            path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"}
        )

    @router.get("/api/posters", summary="Movies that have a poster")
    def posters() -> JSONResponse:
        """The ids with a poster file; the pages show a title card for the others."""
        return JSONResponse({"ids": ids}, headers={"Cache-Control": "max-age=300"})

    return router


def mount_web(app: FastAPI, posters: Path | None = None) -> None:
    """Serve the web UI on `app`: posters and the pages at `/`. Call it after the app's own
    routes are included. `posters`: a folder of `<movieId>.jpg`; None: `$SPARROW_POSTERS`, else
    no posters (the pages show title cards)."""
    app.include_router(posters_router(posters_folder(posters)))
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="web")
