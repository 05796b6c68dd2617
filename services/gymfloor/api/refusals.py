"""Answers the API's own middleware gives before any route runs (a body too large, a client
over its rate), and their log, which a flood of them must not flood."""

from __future__ import annotations

import json
import logging
import time

from starlette.types import Scope, Send

log = logging.getLogger("gymfloor.api")

LOG_INTERVAL_S = 10.0


async def refuse(
    send: Send, status: int, detail: str, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    """A JSON error answer, as FastAPI's own look: `{"detail": …}`."""
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RefusalLog:
    """Logs a kind of refusal at most once every LOG_INTERVAL_S, with how many there were."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.unlogged = 0
        self.last_logged = float("-inf")

    def refused(self, client: str) -> None:
        self.unlogged += 1
        now = time.monotonic()
        if now - self.last_logged >= LOG_INTERVAL_S:
            log.warning(
                "refused %s: %d since the last such line, the latest from %s",
                self.what,
                self.unlogged,
                client,
            )
            self.unlogged, self.last_logged = 0, now


def client_of(scope: Scope) -> str:
    """The client's address as the server saw it (behind a trusted proxy, X-Forwarded-For)."""
    client = scope.get("client")
    return str(client[0]) if isinstance(client, tuple | list) and client else "unknown"
