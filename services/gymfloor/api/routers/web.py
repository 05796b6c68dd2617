"""The browser pages: the staff floor board and the member's session report.

The pages are static files that call the `/v1` API from the browser with the token the user
enters, so they hold no data themselves and need no authentication to load; every call they
make does. Scripts and styles come from this server only (see the Content-Security-Policy).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(str(files("gymfloor.api") / "static"))

# No inline script, no third-party origin: a message that somehow carried markup could not run.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)
static = StaticFiles(directory=STATIC_DIR)


@router.get("/board")
def board() -> FileResponse:
    """The floor board, for staff on a tablet: machines, live alerts, and a machine's set."""
    return FileResponse(STATIC_DIR / "board.html", headers=PAGE_HEADERS)


@router.get("/report")
def report() -> FileResponse:
    """A member's session report, for a phone."""
    return FileResponse(STATIC_DIR / "report.html", headers=PAGE_HEADERS)
