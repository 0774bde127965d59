"""The screens: a sign-in page, the dispatcher console, the ED receiving board and the crew
tablet. Plain HTML, CSS and ES modules, served as files (no build step); they use only the
public API and websockets. Leaflet is vendored under static/vendor/ with its licence."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from dispatch.web.vocabulary import vocabulary_module

__all__ = ["PAGES", "mount"]

ROOT = Path(__file__).parent / "static"
# URL path -> page file
PAGES = {"/": "index.html", "/console": "console.html", "/ed": "ed.html", "/crew": "crew.html"}


def _page(name: str) -> FileResponse:
    # Pages are small and change with the service: always revalidate.
    return FileResponse(ROOT / name, media_type="text/html; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})


def _vocabulary() -> Response:
    return Response(vocabulary_module(), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "no-cache"})


def mount(app: FastAPI) -> None:
    """Serve the pages at their paths and their assets under /web (the domain's vocabulary
    as the module /web/js/vocabulary.js)."""
    for path, name in PAGES.items():
        app.add_api_route(path, lambda name=name: _page(name), methods=["GET"],
                          include_in_schema=False)
    app.add_api_route("/web/js/vocabulary.js", _vocabulary, methods=["GET"],
                      include_in_schema=False)
    app.mount("/web", StaticFiles(directory=ROOT), name="web")
