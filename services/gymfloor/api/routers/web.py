"""The browser pages: the staff floor board and the member's session report.

The pages are static files that call the `/v1` API from the browser with the token the user
enters, so they hold no data themselves and need no authentication to load; every call they
make does. Scripts and styles come from this server only (see the Content-Security-Policy).
"""

from __future__ import annotations

import json
from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from gymfloor.contract import FAULT_LABELS, MACHINE_OFFLINE

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


# Registered ahead of the /static mount, so it answers for this one path: the pages import it
# like their other modules, and it names faults and alert kinds as everything else does.
FAULTS_MODULE = (
    f"export const FAULT_LABELS = {json.dumps(FAULT_LABELS, indent=2)};\n"
    f"export const MACHINE_OFFLINE = {json.dumps(MACHINE_OFFLINE)};\n"
)


@router.get("/static/faults.js")
def faults_module() -> Response:
    """The fault labels and the offline alert's kind of `gymfloor.contract`, as a JavaScript
    module for the pages."""
    return Response(FAULTS_MODULE, media_type="text/javascript", headers=PAGE_HEADERS)
