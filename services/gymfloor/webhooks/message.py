"""What a delivery sends: the JSON body, built from the alert as stored at send time, and its
headers, signed with the webhook's secret (docs/WEBHOOKS.md shows a receiver's check)."""

from __future__ import annotations

import hashlib
import hmac
import json

from gymfloor.storage.outbox import Delivery, StoredAlert

EVENT_HEADER = "X-Gymfloor-Event"
DELIVERY_HEADER = "X-Gymfloor-Delivery"
TIMESTAMP_HEADER = "X-Gymfloor-Timestamp"
SIGNATURE_HEADER = "X-Gymfloor-Signature"
SIGNATURE_SCHEME = "sha256"
USER_AGENT = "gymfloor-webhooks/1"


def body(delivery: Delivery, alert: StoredAlert) -> bytes:
    """The event, the delivery's id, the alert as published (of any kind), whether it is
    acknowledged now and whether it has cleared."""
    return json.dumps(
        {
            "event": delivery.event.value,
            "delivery_id": delivery.id,
            "alert": alert.alert,
            "acknowledged_at": alert.acknowledged_at,
            "acknowledged_by": alert.acknowledged_by,
            "cleared_at": alert.cleared_at,
        },
        separators=(",", ":"),
    ).encode()


def signature(secret: str, timestamp: str, content: bytes) -> str:
    """HMAC-SHA256 of `{timestamp}.{body}`: the timestamp is signed, so a replayed delivery
    cannot be passed off as a new one."""
    signed = timestamp.encode() + b"." + content
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_SCHEME}={digest}"


def headers(delivery: Delivery, content: bytes, now: float) -> dict[str, str]:
    timestamp = str(int(now))
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: delivery.event.value,
        DELIVERY_HEADER: delivery.id,
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature(delivery.secret, timestamp, content),
    }
