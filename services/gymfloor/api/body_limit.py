"""Request bodies past a size are refused with 413 before they are read, whatever the route or
the token: by their Content-Length when they declare one, else (chunked) once that many bytes
have come, so no request holds more than the limit in memory."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gymfloor.api.refusals import RefusalLog, client_of, refuse

TOO_LARGE = 413


class BodyLimit:
    """A plain ASGI middleware, like RequestMetrics, and for the same reason: no task or stream
    of its own per request."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.detail = f"the request body is larger than {max_bytes} bytes"
        self.log = RefusalLog(f"request bodies over {max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        # uvicorn has refused a Content-Length that is not a number.
        if declared is not None and int(declared) > self.max_bytes:
            await self._refuse(scope, send)
            return
        received, refused, started = 0, False, False

        async def limited() -> Message:
            nonlocal received, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    refused = True
                    if not started:
                        await self._refuse(scope, send)
                    # To the route, the client has gone: it stops reading, and its answer is
                    # dropped below, the 413 having gone out in its place.
                    return {"type": "http.disconnect"}
            return message

        async def answer(message: Message) -> None:
            nonlocal started
            if refused:
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited, answer)

    async def _refuse(self, scope: Scope, send: Send) -> None:
        self.log.refused(client_of(scope))
        # Connection: close, so that the server reads no more of the body.
        await refuse(send, TOO_LARGE, self.detail, [(b"connection", b"close")])
