"""Passwords kept out of messages: URLs with their password hidden, and settings' validation
errors that never repeat the value they refuse."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from gymfloor.redact import HIDDEN, redact
from gymfloor.settings import Settings

SECRET = "hunter2-Zq9"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"mqtt://ingest:{SECRET}@broker:1883", f"mqtt://ingest:{HIDDEN}@broker:1883"),
        (f"mqtt://ingest:{SECRET}@x@broker", f"mqtt://ingest:{HIDDEN}@broker"),  # an @ unescaped
        (
            f"at nats://a:{SECRET}@n1:4222,nats://b:{SECRET}@n2:4222 (refused)",
            f"at nats://a:{HIDDEN}@n1:4222,nats://b:{HIDDEN}@n2:4222 (refused)",
        ),
        (
            f"postgresql+psycopg://gymfloor:{SECRET}@postgres:5432/gymfloor",
            f"postgresql+psycopg://gymfloor:{HIDDEN}@postgres:5432/gymfloor",
        ),
        (f"redis://:{SECRET}@cache/0", f"redis://:{HIDDEN}@cache/0"),
        ("mqtt://ingest@broker:1883 and http://influxdb:8086", None),  # nothing to hide
    ],
)
def test_a_urls_password_is_hidden(text: str, shown: str | None) -> None:
    assert redact(text) == (shown or text)


@pytest.mark.parametrize(
    "overrides",
    [
        {"mqtt_url": f"mqtp://ingest:{SECRET}@broker"},
        {"nats_replicas": f"nats://ingest:{SECRET}@nats:4222"},
        {"influx": {"url": f"ftp://gymfloor:{SECRET}@influxdb:8086"}},
        {"nats_partitions": SECRET},
    ],
)
def test_settings_errors_do_not_repeat_what_they_refuse(overrides: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError) as refused:
        Settings(mqtt_password=SECRET, **overrides)
    message = str(refused.value)
    assert SECRET not in message and refused.value.error_count() == 1
