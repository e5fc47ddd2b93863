"""`mount_web(app, build, posters)`: the web UI on a FastAPI app (normally the service's).

Adds, in this order (Starlette matches routes in order, so the static mount at `/` comes last
and the service's own routes, added before, keep precedence):

- `/api/*`: search, batched movie cards, methods, dashboard, curves, poster list (`api.py`);
- `POST /events`: rating/click/view events appended to the event log (`events.py`);
- `/posters/{movieId}.jpg`: poster files (the `posters` folder, else `$SPARROW_POSTERS`);
- `/`: the static pages (`index.html`, `movie.html`, `user.html`, `collection.html`,
  `dashboard.html`, `css/`, `js/`).
"""

import os
import re
from collections.abc import Callable
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from sparrow.errors import ConfigError
from sparrow.web import api, events
from sparrow.web.catalog import Catalog

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
    """`GET /posters/{movieId}.jpg` from `folder`; 404 JSON for anything else."""
    router = APIRouter(tags=["web"])

    @router.get(
        "/posters/{name}",
        summary="A movie's poster",
        response_model=None,
        responses={200: {"content": {"image/jpeg": {}}}, 404: {"description": "no such poster"}},
    )
    def poster(name: str) -> FileResponse | JSONResponse:
        """The poster `<movieId>.jpg` (only digits: no other path is ever opened)."""
        match = _POSTER.fullmatch(name)
        if folder is None or match is None:
            return JSONResponse({"error": f"no poster {name[:40]!r}"}, status_code=404)
        path = folder / f"{int(match[1])}.jpg"
        if not path.is_file():
            return JSONResponse({"error": f"no poster for movie {int(match[1])}"}, status_code=404)
        return FileResponse(
            path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=86400"}
        )

    return router


def mount_web(app: FastAPI, build: Path, posters: Path | None = None,
              sink: events.EventSink | None = None,
              count: Callable[[str], None] = lambda _: None) -> None:  # fmt: skip
    """Serve the web UI of `build` on `app`: pages at `/`, posters, `/api/*` and `/events`.

    Call it after the app's own routes are included. The catalogue (titles for search) is read
    once, now. `posters`: a folder of `<movieId>.jpg`; None: `$SPARROW_POSTERS`, else no
    posters (the pages show title cards). `sink`: where events go (None: the build's event
    file); `count(outcome)` counts each `POST /events`.
    """
    build = Path(build)
    folder = posters_folder(posters)
    catalog = Catalog.load(build)
    app.include_router(api.router(build, catalog, poster_ids(folder)))
    app.include_router(events.router(catalog, sink or events.FileSink(build), count))
    app.include_router(posters_router(folder))
    app.mount("/", StaticFiles(directory=STATIC, html=True), name="web")
