"""The HTTP endpoints: the original's five, `/getscore`, `POST /events`, the web pages' `/api/*`
and the operational ones."""

from fastapi import APIRouter

from sparrow.serving.routes import catalog, events, ops, recommend, site

router = APIRouter()
router.include_router(catalog.router)
router.include_router(recommend.router)
router.include_router(events.router)
router.include_router(site.router)
router.include_router(ops.router)

__all__ = ["router"]
