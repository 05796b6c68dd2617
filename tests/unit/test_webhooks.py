"""Webhook delivery's pure parts: the back-off, the URLs refused, the severity filter, and the
signed message as a receiver checks it (the check written out as docs/WEBHOOKS.md gives it)."""

from __future__ import annotations

import json
import random
import time

import pydantic
import pytest

from gymfloor.contract import Severity
from gymfloor.storage.outbox import Delivery, StoredAlert, WebhookEvent, severity_reaches
from gymfloor.storage.webhooks import InvalidWebhookUrl, checked_url
from gymfloor.webhooks import message
from gymfloor.webhooks.backoff import retry_delay
from gymfloor.webhooks.config import WebhookConfig
from tests.support.webhooks import signature_valid

SECRET = "whsec_test-secret"
DELIVERY = Delivery(
    seq=1,
    id="d1",
    webhook_id="w1",
    alert_id="a1",
    event=WebhookEvent.ACKNOWLEDGED,
    attempts=0,
    url="https://example.org/hook",
    secret=SECRET,
    claim="c1",
)
ALERT = StoredAlert(
    {"id": "a1", "kind": "machine_offline", "gym_id": "g1"}, 1764064900.5, "t1", 1764064950.0
)


def test_the_back_off_doubles_up_to_its_cap_jittered_down_by_at_most_half() -> None:
    rng = random.Random(7)
    for attempts, ceiling in [(1, 2.0), (2, 4.0), (3, 8.0), (4, 16.0), (9, 60.0), (40, 60.0)]:
        delays = [retry_delay(attempts, 2.0, 60.0, rng) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered, not one value


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.org/gymfloor",
        "http://10.0.0.5:8080/alerts?source=gymfloor",  # a gym's own network is allowed
        "http://[fd00::5]/alerts",
    ],
)
def test_http_and_https_urls_are_accepted(url: str) -> None:
    assert checked_url(url) == url


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.org/x", "not http:// or https://"),
        ("file:///etc/passwd", "not http:// or https://"),
        ("example.org/hook", "not http:// or https://"),
        ("https://", "no host"),
        ("https://user:pw@example.org/", "credentials"),
        ("https://example.org:99999/", "not a URL"),
        ("https://example.org/#part", "fragment"),
        ("https://example.org/" + "x" * 2048, "longer than"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, reason: str) -> None:
    with pytest.raises(InvalidWebhookUrl, match=reason):
        checked_url(url)


def test_a_minimum_severity_lets_through_that_severity_and_above() -> None:
    info, warning, critical = Severity.INFO, Severity.WARNING, Severity.CRITICAL
    assert [severity_reaches(s, warning) for s in (info, warning, critical)] == [
        False,
        True,
        True,
    ]
    assert all(severity_reaches(s, None) for s in Severity)


def test_the_message_carries_the_alert_as_stored_and_verifies_as_documented() -> None:
    content = message.body(DELIVERY, ALERT)
    assert json.loads(content) == {
        "event": "alert.acknowledged",
        "delivery_id": "d1",
        "alert": ALERT.alert,  # any kind, as stored
        "acknowledged_at": 1764064900.5,
        "acknowledged_by": "t1",
        "cleared_at": 1764064950.0,
    }
    headers = message.headers(DELIVERY, content, now=time.time())
    timestamp, signature = headers[message.TIMESTAMP_HEADER], headers[message.SIGNATURE_HEADER]
    assert headers[message.EVENT_HEADER] == "alert.acknowledged"
    assert headers[message.DELIVERY_HEADER] == "d1"
    assert signature.startswith("sha256=") and len(signature) == len("sha256=") + 64
    # The receiver's check, written apart from the code that signs.
    assert signature_valid(SECRET, timestamp, signature, content)
    assert not signature_valid("whsec_other", timestamp, signature, content)
    assert not signature_valid(SECRET, str(int(timestamp) + 1), signature, content)
    assert not signature_valid(SECRET, timestamp, signature, content + b" ")


def test_the_receivers_check_refuses_a_stale_timestamp() -> None:
    content = message.body(DELIVERY, ALERT)
    old = message.headers(DELIVERY, content, now=1_000_000_000.0)
    timestamp, signature = old[message.TIMESTAMP_HEADER], old[message.SIGNATURE_HEADER]
    assert signature == message.signature(SECRET, timestamp, content)  # well signed, but old
    assert not signature_valid(SECRET, timestamp, signature, content)


def test_a_lease_shorter_than_a_send_is_refused() -> None:
    with pytest.raises(pydantic.ValidationError, match="lease_s must exceed"):
        WebhookConfig(timeout_s=10, lease_s=20)
