"""The HTTP endpoints: the original's five, `/getscore`, and the operational ones."""

from fastapi import APIRouter

from sparrow.serving.routes import catalog, ops, recommend

router = APIRouter()
router.include_router(catalog.router)
router.include_router(recommend.router)
router.include_router(ops.router)

__all__ = ["router"]
