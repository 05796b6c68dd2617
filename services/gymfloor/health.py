"""Health checks of the long-running services, for `gymfloor check` (the compose file's
health checks run it).

Each check returns None when the service is healthy, or one line saying what is wrong.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from gymfloor import wiring
from gymfloor.redact import redact
from gymfloor.settings import Settings

HTTP_TIMEOUT_S = 5.0


def check_api(settings: Settings) -> str | None:
    """The API on this host answers GET /healthz on its port."""
    url = f"http://127.0.0.1:{settings.api.port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HTTP_TIMEOUT_S) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except OSError as exc:  # refused, timed out, or an HTTP error status
        return f"{url}: {exc}"


def check_ingest(settings: Settings) -> str | None:
    """This ingest instance (GYMFLOOR_INGEST__CLIENT_ID) wrote its status to the store within
    GYMFLOOR_API__INGEST_STALE_S, the limit the API's /readyz applies, and was then connected
    to the broker. Ingest serves no HTTP: the status row is how it tells."""
    instance = settings.ingest.client_id
    url = make_url(settings.store_url)
    if url.get_backend_name() == "sqlite" and not Path(url.database or "").is_file():
        # Opening the store would create an empty one, which ingest would then take as its own.
        return f"no store at {url.database} yet"
    try:
        store = wiring.open_store(settings)
        try:
            statuses = store.ingest_statuses()
        finally:
            store.close()
    except SQLAlchemyError as exc:
        return f"cannot read the store: {type(exc).__name__}: {redact(str(exc))}"
    status = next((s for s in statuses if s.instance == instance), None)
    if status is None:
        return f"ingest instance {instance!r} has not reported yet"
    age = time.time() - status.updated_at
    if age > settings.api.ingest_stale_s:
        return f"ingest instance {instance!r} last reported {age:.0f} s ago"
    if not status.health.broker_connected:
        return f"ingest instance {instance!r} is not connected to the broker"
    return None


CHECKS: dict[str, Callable[[Settings], str | None]] = {"api": check_api, "ingest": check_ingest}
