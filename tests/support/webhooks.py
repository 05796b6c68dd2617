"""A real HTTP receiver of webhook deliveries for the tests: a `ThreadingHTTPServer` on a port
of its own that checks each delivery's signature as docs/WEBHOOKS.md tells receivers to, and
keeps what it accepted. It can answer 500 (`failing`) or be stopped, so that connections are
refused, and started again on the same port."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from gymfloor.ports import LOOPBACK, free_port
from tests.support.processes import Running

REPLAY_TOLERANCE_S = 300


@dataclass(frozen=True)
class Received:
    event: str
    delivery_id: str
    alert: dict[str, Any]
    acknowledged_at: float | None
    acknowledged_by: str | None
    cleared_at: float | None

    @property
    def alert_id(self) -> str:
        return str(self.alert["id"])


def signature_valid(secret: str, timestamp: str, signature: str, body: bytes) -> bool:
    """The receiver's check, as docs/WEBHOOKS.md gives it."""
    signed = timestamp.encode() + b"." + body
    expected = "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(timestamp)) <= REPLAY_TOLERANCE_S
    return hmac.compare_digest(expected, signature) and fresh


class Receiver(Running):
    def __init__(self) -> None:
        self.port = free_port()
        self.secret = ""  # known once the webhook is added
        self.failing = False
        self.accepted: list[Received] = []
        self.requests = 0
        self.bad_signatures = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/hooks/gymfloor"

    def start(self) -> Self:
        self._server = ThreadingHTTPServer((LOOPBACK, self.port), self._handler())
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        """Close the port: connections are refused until `start`."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def events(self, event: str) -> list[Received]:
        with self._lock:
            return [r for r in self.accepted if r.event == event]

    def _take(self, headers: Any, body: bytes) -> int:
        with self._lock:
            self.requests += 1
            if self.failing:
                return 500
            timestamp = headers.get("X-Gymfloor-Timestamp", "0")
            signature = headers.get("X-Gymfloor-Signature", "")
            if not signature_valid(self.secret, timestamp, signature, body):
                self.bad_signatures += 1
                return 401
            payload = json.loads(body)
            assert headers["X-Gymfloor-Event"] == payload["event"]
            assert headers["X-Gymfloor-Delivery"] == payload["delivery_id"]
            self.accepted.append(
                Received(
                    payload["event"],
                    payload["delivery_id"],
                    payload["alert"],
                    payload["acknowledged_at"],
                    payload["acknowledged_by"],
                    payload["cleared_at"],
                )
            )
            return 204

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(receiver._take(self.headers, body))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
