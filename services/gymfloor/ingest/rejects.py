"""Messages that break the contract: counted, logged without flooding, echoed to the vendor.

A device that sends garbage thousands of times a second must cost the log a line now and then,
and the broker a bounded trickle of echoes, whatever it does.
"""

from __future__ import annotations

import base64
import logging
from collections import Counter
from dataclasses import dataclass

from gymfloor.contract import MachineKey, Rejected

log = logging.getLogger("gymfloor.ingest")

ECHO_MAX_BYTES = 4096


@dataclass(slots=True)
class _MachineRejects:
    since_logged: int = 0
    last_logged: float = float("-inf")
    echo_tokens: float = 0.0
    echo_refilled: float = float("-inf")


class RejectLog:
    def __init__(
        self, log_interval_s: float = 10.0, echo_per_s: float = 5.0, echo_burst: int = 20
    ) -> None:
        self.log_interval_s = log_interval_s
        self.echo_per_s = echo_per_s
        self.echo_burst = echo_burst
        self.by_machine: Counter[str] = Counter()
        self.total = 0
        self.echoes_suppressed = 0
        self._machines: dict[str, _MachineRejects] = {}

    def reject(
        self, machine: MachineKey | None, topic: str, reason: str, raw: bytes, now: float
    ) -> Rejected | None:
        """Count and log the reject; return the echo for the machine's `rejected` topic, or
        None when the machine is over its echo rate (or the topic names no machine)."""
        name = str(machine) if machine else "(bad topic)"
        self.total += 1
        self.by_machine[name] += 1
        state = self._machines.setdefault(name, _MachineRejects())
        state.since_logged += 1
        if now - state.last_logged >= self.log_interval_s:
            if state.since_logged == 1:
                log.warning("rejected a message from %s: %s", name, reason, extra={"topic": topic})
            else:
                log.warning(
                    "rejected %d messages from %s in the last %.0f s; latest: %s",
                    state.since_logged,
                    name,
                    min(now - state.last_logged, self.log_interval_s),
                    reason,
                    extra={"topic": topic},
                )
            state.since_logged, state.last_logged = 0, now
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
