"""The `gymfloor` command's flags over the environment's settings."""

from __future__ import annotations

import os
import subprocess
import sys

import pydantic
import pytest

from gymfloor.cli import parser
from gymfloor.cli.analyze import AnalysisSettings, read_analysis_settings
from gymfloor.cli.common import ReadSettings
from gymfloor.cli.flags import read_settings, with_flags
from gymfloor.contract.payloads import describe_error
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


def without_settings_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith("GYMFLOOR_"):
            monkeypatch.delenv(name)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--liftoff-ratio", "0.4", "--far-mm", "40"],
        ["--near-mm", "50"],
        ["--liftoff-ratio", "2"],
        ["--tilt-ratio", "0", "--smoothing-s", "1"],
    ],
)
@pytest.mark.parametrize("log_level", [None, "debug", "LOUD"])
def test_analyze_without_environment_settings_reads_what_every_command_reads(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], log_level: str | None
) -> None:
    """Without GYMFLOOR_* variables `gymfloor analyze` skips pydantic-settings: the same
    settings, or the same refusal."""
    without_settings_in_environment(monkeypatch)
    top = ["--log-level", log_level] if log_level else []
    args = parser().parse_args([*top, "analyze", "-", *argv])
    assert args.read_settings is read_analysis_settings

    def outcome(read: ReadSettings) -> object:
        try:
            settings = with_flags(read({}), args, read)
        except pydantic.ValidationError as exc:
            return describe_error(exc)
        return (settings.log_level, settings.log_format, settings.detector)

    assert outcome(read_analysis_settings) == outcome(read_settings)


def test_analyze_reads_the_environment_as_every_command_when_it_sets_any(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    without_settings_in_environment(monkeypatch)
    assert isinstance(read_analysis_settings({}), AnalysisSettings)
    monkeypatch.setenv("gymfloor_detector__near_mm", "5")  # names are read in any case
    settings = read_analysis_settings({"detector": {"far_mm": 40.0}})
    assert isinstance(settings, Settings)
    assert (settings.detector.near_mm, settings.detector.far_mm) == (5.0, 40.0)


def test_the_command_line_imports_no_settings_until_a_command_reads_them() -> None:
    code = (
        "import sys; from gymfloor.cli import parser; "
        "args = parser().parse_args(['analyze', '-', '--near-mm', '5']); "
        "args.read_settings({}); print(' '.join(sys.modules))"
    )
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("GYMFLOOR_")}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "gymfloor.cli" in loaded and "pydantic" in loaded  # the check sees what was imported
    assert not {"pydantic_settings", "gymfloor.settings"} & loaded
