"""The log of the API's refusals (bodies too large, clients over their rate): a flood of them
costs the log a line every LOG_INTERVAL_S, counting what it held back."""

from __future__ import annotations

import logging

import pytest

from gymfloor.api import refusals
from gymfloor.api.refusals import LOG_INTERVAL_S, RefusalLog


def test_a_flood_of_refusals_is_logged_once_per_interval_with_its_count(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1000.0]
    monkeypatch.setattr(refusals.time, "monotonic", lambda: now[0])
    log = RefusalLog("request bodies over 65536 bytes")
    with caplog.at_level(logging.WARNING, logger="gymfloor.api"):
        for n in range(500):
            now[0] = 1000.0 + n / 20  # 25 s of 20 refusals a second
            log.refused(f"192.0.2.{n % 7}")
    lines = [record.getMessage() for record in caplog.records]
    assert len(lines) == 3  # at 0 s, 10 s and 20 s
    assert lines[0].startswith("refused request bodies over 65536 bytes: 1 since")
    assert f": {int(LOG_INTERVAL_S * 20)} since" in lines[1]
    assert "the latest from 192.0.2." in lines[2]
