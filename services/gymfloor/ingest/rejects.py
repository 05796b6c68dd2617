"""Messages that break the contract: counted, logged without flooding, echoed to the vendor.

A device that sends garbage thousands of times a second must cost the log a line now and then,
and the broker a bounded trickle of echoes, whatever it does. Each source (the machine its topic
names) gets at most one line per interval: the first reject at once, the rest held back and
reported when the interval ends (on the timer, `flush`), with the span they really covered. The
status line names the sources that sent the most since the last one (`take_top`).

A device inventing machine ids must not grow memory without limit: past `max_sources`, new
sources share one entry, `OTHER_SOURCES`.
"""

from __future__ import annotations

import base64
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from itertools import takewhile

from gymfloor.contract import MachineKey, Rejected

log = logging.getLogger("gymfloor.ingest")

ECHO_MAX_BYTES = 4096
MAX_SOURCES = 1000
"""Sources tracked one by one; a busy floor has a few hundred machines."""
BAD_TOPIC = "(bad topic)"
OTHER_SOURCES = "(other sources)"

ONE_REJECT = "rejected a message from %s: %s"
HELD_REJECTS = "rejected %d messages from %s between %s and %s; latest: %s"


@dataclass(slots=True)
class _Held:
    """Rejects not logged yet: how many, the first's and the last's time, the last's reason."""

    count: int
    first: float
    last: float
    reason: str
    topic: str


@dataclass(slots=True)
class _Source:
    logged_at: float = float("-inf")
    held: _Held | None = None
    echo_tokens: float = 0.0
    echo_refilled: float = float("-inf")


class RejectLog:
    def __init__(
        self,
        log_interval_s: float = 10.0,
        echo_per_s: float = 5.0,
        echo_burst: int = 20,
        max_sources: int = MAX_SOURCES,
    ) -> None:
        self.log_interval_s = log_interval_s
        self.echo_per_s = echo_per_s
        self.echo_burst = echo_burst
        self.max_sources = max_sources
        self.total = 0
        self.echoes_suppressed = 0
        # Ordered by the time of each source's last line, oldest first (a source is moved to
        # the end when it logs), so `flush` looks only at the sources whose interval is over.
        self._sources: dict[str, _Source] = {}
        self._since_summary: Counter[str] = Counter()

    def reject(
        self, machine: MachineKey | None, topic: str, reason: str, raw: bytes, now: float
    ) -> Rejected | None:
        """Count and log the reject; return the echo for the machine's `rejected` topic, or
        None when the machine is over its echo rate (or the topic names no machine)."""
        self.total += 1
        name = str(machine) if machine else BAD_TOPIC
        self._since_summary[_bounded(self._since_summary, name, self.max_sources)] += 1
        name = _bounded(self._sources, name, self.max_sources)
        state = self._sources.setdefault(name, _Source())
        held = state.held
        if held is None:
            state.held = _Held(1, now, now, reason, topic)
        else:
            held.count += 1
            held.last, held.reason, held.topic = now, reason, topic
        if now - state.logged_at >= self.log_interval_s:
            self._log(name, state, now)
        if machine is None:
            return None
        state.echo_tokens = min(
            self.echo_burst, state.echo_tokens + (now - state.echo_refilled) * self.echo_per_s
        )
        state.echo_refilled = now
        if state.echo_tokens < 1.0:
            self.echoes_suppressed += 1
            return None
        state.echo_tokens -= 1.0
        return _echo(topic, reason, raw, now)

    def flush(self, now: float, everything: bool = False) -> None:
        """Log the rejects held back from each source whose interval has ended (`everything`:
        from every source, as ingest stops), and forget the sources quiet for an interval."""
        # Called on every tick: look at the due sources only, which come first in the order.
        due = list(self._sources) if everything else list(takewhile(self._due(now), self._sources))
        for name in due:
            state = self._sources[name]
            if state.held is None:
                # Quiet for a whole interval: a new entry would log and echo alike.
                del self._sources[name]
            else:
                self._log(name, state, now)

    def _due(self, now: float) -> Callable[[str], bool]:
        return lambda name: now - self._sources[name].logged_at >= self.log_interval_s

    def take_top(self, n: int) -> list[tuple[str, int]]:
        """The `n` sources with the most rejects since the last call, most first."""
        top = self._since_summary.most_common(n)
        self._since_summary.clear()
        return top

    def _log(self, name: str, state: _Source, now: float) -> None:
        held = state.held
        assert held is not None
        if held.count == 1:
            log.warning(ONE_REJECT, name, held.reason, extra={"topic": held.topic})
        else:
            log.warning(
                HELD_REJECTS,
                held.count,
                name,
                _clock(held.first),
                _clock(held.last),
                held.reason,
                extra={"topic": held.topic},
            )
        state.held, state.logged_at = None, now
        del self._sources[name]  # to the end of the order
        self._sources[name] = state


def _bounded(entries: Mapping[str, object], name: str, limit: int) -> str:
    """`name`, or `OTHER_SOURCES` once `limit` others have entries."""
    return name if name in entries or len(entries) < limit else OTHER_SOURCES


def _clock(t: float) -> str:
    """UTC time of day to the millisecond, as the log lines' own timestamps are in UTC."""
    seconds, ms = divmod(round(t * 1000), 1000)
    return time.strftime("%H:%M:%S", time.gmtime(seconds)) + f".{ms:03d}"


def _echo(topic: str, reason: str, raw: bytes, now: float) -> Rejected:
    head = raw[:ECHO_MAX_BYTES]
    try:
        text, encoding = head.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(head).decode("ascii"), "base64"
    return Rejected(
        t=round(now, 3),
        topic=topic,
        reason=reason,
        raw=text,
        raw_encoding=encoding,  # type: ignore[arg-type]
        raw_truncated=len(raw) > ECHO_MAX_BYTES,
    )
