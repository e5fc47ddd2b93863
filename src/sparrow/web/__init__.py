"""The web UI: static pages (a MovieLens look-alike) and the JSON they need beyond the API.

`mount_web(app, build, posters)` adds them to the service's FastAPI app; see docs/web.md.
"""

from sparrow.web.mount import mount_web

__all__ = ["mount_web"]
