"""The `gymfloor` command's flags over the environment's settings."""

from __future__ import annotations

import pytest

from gymfloor.cli import parser
from gymfloor.cli.flags import with_flags
from gymfloor.settings import Settings


def test_flags_override_the_environment_setting_by_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GYMFLOOR_API__HOST", "0.0.0.0")
    monkeypatch.setenv("GYMFLOOR_API__PORT", "9000")
    monkeypatch.setenv("GYMFLOOR_DETECTOR__NEAR_MM", "5")
    settings = with_flags(Settings(), parser().parse_args(["api", "--port", "9001"]))
    assert (settings.api.host, settings.api.port) == ("0.0.0.0", 9001)
    args = parser().parse_args(["ingest", "--far-mm", "40", "--mqtt-url", "mqtt://broker"])
    settings = with_flags(Settings(), args)
    assert (settings.detector.near_mm, settings.detector.far_mm) == (5.0, 40.0)
    assert settings.mqtt_url == "mqtt://broker"
    assert {"mqtt_url", "detector"} <= settings.model_fields_set  # what the demo asks
