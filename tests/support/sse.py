"""Reading a Server-Sent Events stream, as the tests of the alert stream do."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx


def read_events(lines: Iterator[str], until: Any, timeout: float = 60.0) -> list[dict[str, str]]:
    """Parse text/event-stream until an event satisfies `until`. The server's keep-alive
    comments wake this at least every 15 s, so a missing event fails rather than hangs."""
    deadline = time.monotonic() + timeout
    events: list[dict[str, str]] = []
    event: dict[str, str] = {}
    for line in lines:
        assert time.monotonic() < deadline, f"no such event within {timeout} s: {events}"
        if line == "":
            if "data" in event:
                events.append(event)
                if until(event):
                    return events
            event = {}
        elif not line.startswith(":"):
            name, _, value = line.partition(":")
            event[name] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended: {events}")


def connected(response: httpx.Response) -> Iterator[str]:
    """The stream's lines, once the server has said where in the feed it starts."""
    lines = response.iter_lines()
    assert next(lines) == ": connected"
    return lines
