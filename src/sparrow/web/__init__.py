"""The web UI: static pages (a MovieLens look-alike) served by the service, and the posters.

`mount_web(app, posters)` adds them to the service's FastAPI app; see docs/web.md.
"""

from sparrow.web.mount import mount_web

__all__ = ["mount_web"]
