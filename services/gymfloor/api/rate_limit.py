"""Requests without a valid token are limited per client address: past the limit, 429 with
Retry-After. A request with a valid token is never limited, so staff tablets behind one
gym's address never use up what the pages' and tools' token-less requests may spend; the
health checks (HEALTH_PATHS) are never limited, so a load balancer or orchestrator probing
often never sees 429."""

from __future__ import annotations

import hashlib
import math
import time
from collections import OrderedDict

from limits import RateLimitItemPerSecond
from limits.storage import MemoryStorage
from limits.strategies import SlidingWindowCounterRateLimiter
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Receive, Scope, Send

from gymfloor.api.refusals import RefusalLog, client_of, refuse
from gymfloor.storage import OperationalStore
from gymfloor.storage.tokens import authenticate

TOO_MANY = 429
HEALTH_PATHS = frozenset({"/healthz", "/readyz"})
VALID_TOKEN_TTL_S = 60.0
"""How long a token found valid is taken as valid here without asking the store again. Only
for this limit: every route still authenticates every request, so a token revoked meanwhile
is refused from the next request on, as ever."""
VALID_TOKENS_KEPT = 10_000
"""Tokens remembered as valid at most; past that the least recently found is forgotten."""


class AnonymousRateLimit:
    """A plain ASGI middleware, like RequestMetrics. The counts live in this process: with
    `--workers N`, a client may get up to N times the limit."""

    def __init__(self, app: ASGIApp, store: OperationalStore, requests: int, window_s: int) -> None:
        self.app = app
        self.store = store
        self.item = RateLimitItemPerSecond(requests, window_s)
        # A sliding window counter keeps two counts per address, where a moving window would
        # keep a time per request; the memory storage forgets an address once its window ends.
        self.limiter = SlidingWindowCounterRateLimiter(MemoryStorage())
        self.valid: OrderedDict[bytes, float] = OrderedDict()  # token digest → valid until
        self.log = RefusalLog("requests without a valid token, over the limit")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in HEALTH_PATHS:
            await self.app(scope, receive, send)
            return
        token = _bearer(scope)
        if token is not None and await self._valid(token):
            await self.app(scope, receive, send)
            return
        client = client_of(scope)
        if self.limiter.hit(self.item, client):
            await self.app(scope, receive, send)
            return
        self.log.refused(client)
        reset_at = self.limiter.get_window_stats(self.item, client).reset_time
        retry_after = max(1, math.ceil(reset_at - time.time()))
        await refuse(
            send,
            TOO_MANY,
            "too many requests without a valid token from this address; "
            f"try again in {retry_after} s, or send a token",
            [(b"retry-after", str(retry_after).encode())],
        )

    async def _valid(self, token: str) -> bool:
        digest = hashlib.sha256(token.encode()).digest()
        now = time.monotonic()
        if self.valid.get(digest, 0.0) > now:
            return True
        known = await run_in_threadpool(self._known, token)
        if known is None:  # the store is down: the route answers 503, not this limit
            return True
        if not known:
            return False
        self.valid[digest] = now + VALID_TOKEN_TTL_S
        self.valid.move_to_end(digest)
        if len(self.valid) > VALID_TOKENS_KEPT:
            self.valid.popitem(last=False)
        return True

    def _known(self, token: str) -> bool | None:
        """Whether the store knows the token as live; None if the store cannot say."""
        try:
            with self.store.read() as db:
                return authenticate(db, token) is not None
        except SQLAlchemyError:
            return None


def _bearer(scope: Scope) -> str | None:
    """The request's bearer token, if it has one."""
    header = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None
