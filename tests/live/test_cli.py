"""The `gymfloor` command's shared behaviour, run as a user runs it: usage errors, start-up."""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gymfloor.cli import parser
from gymfloor.cli.flags import SETTING
from gymfloor.settings import Settings
from tests.support.processes import GYMFLOOR, gymfloor


@pytest.mark.parametrize(
    ("args", "env", "reason"),
    [
        (
            ["ingest", "--liftoff-ratio", "-3"],
            {},
            "invalid setting: detector.liftoff_ratio: Input should be greater than 0",
        ),
        (
            ["api", "--port", "70000"],
            {},
            "invalid setting: api.port: Input should be less than or equal to 65535",
        ),
        (
            ["api", "--port", "70000", "--workers", "0"],
            {},
            "invalid setting: api.port: Input should be less than or equal to 65535; "
            "api.workers: Input should be greater than or equal to 1",
        ),
        (
            ["ingest"],
            {"GYMFLOOR_INGEST__TRACE_HZ": "0"},
            "invalid GYMFLOOR_* environment variable: ingest.trace_hz",
        ),
        (
            ["tokens", "issue", "--role", "member"],
            {},
            "--member is required for, and only for, --role member",
        ),
        (
            ["tokens", "issue", "--role", "staff"],
            {},
            "--role staff needs --gym (once per gym) or --all-gyms",
        ),
        (
            ["tokens", "issue", "--role", "staff", "--gym", "g1", "--all-gyms"],
            {},
            "argument --all-gyms: not allowed with argument --gym",
        ),
        (["tokens", "issue", "--role", "staff", "--gym", "g 1"], {}, "'g 1' is not an id"),
        (
            ["tokens", "issue", "--role", "admin", "--gym", "g1"],
            {},
            "--gym and --all-gyms are for --role staff only",
        ),
        (["edge", "--gym", "g 1"], {}, "gym id 'g 1' must match"),
        (["edge", "--replay", "missing.jsonl"], {}, "missing.jsonl: no such file"),
    ],
)
def test_invalid_input_is_refused_before_anything_is_created(
    args: list[str], env: dict[str, str], reason: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "gymfloor-data"
    done = gymfloor(*args, env={"GYMFLOOR_DATA_DIR": str(data_dir), **env}, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    command = " ".join(args[:2] if args[0] == "tokens" else args[:1])
    assert f"usage: gymfloor {command} " in done.stderr  # the command's own usage
    assert f"gymfloor {command}: error: " in done.stderr and reason in done.stderr
    assert not data_dir.exists() and list(tmp_path.iterdir()) == []  # no store, no journal


LIVE_LIBRARIES = ("sqlalchemy", "alembic", "paho", "fastapi", "uvicorn", "influxdb_client", "amqtt")


def test_analyze_imports_none_of_the_live_commands_libraries(tmp_path: Path) -> None:
    recording = tmp_path / "empty.jsonl"
    recording.write_text("")
    loaded = (
        "import sys\n"
        "from gymfloor.cli import main\n"
        "assert main(sys.argv[1:]) == 0\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", loaded, "analyze", str(recording)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert not set(LIVE_LIBRARIES) & set(done.stdout.split())


@pytest.mark.parametrize(
    ("args", "command"),
    [
        (["analyze", "-", "--bogus", "x"], "analyze"),
        (["analyze", "--bogus", "x"], "analyze"),  # x is missing too: the flag comes first
        (["analyze", "--bogus", "-"], "analyze"),
        (["machines", "add", "g1", "lp-03", "--nope"], "machines add"),
        (["tokens", "issue", "--role", "admin", "--nope"], "tokens issue"),
        (["check", "api", "--nope"], "check api"),
        (["--log-level", "INFO", "demo", "--nope"], "demo"),
    ],
)
def test_a_flag_a_command_does_not_know_is_refused_with_that_commands_usage(
    args: list[str], command: str, tmp_path: Path
) -> None:
    done = gymfloor(*args, env={"GYMFLOOR_DATA_DIR": str(tmp_path / "data")}, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"usage: gymfloor {command} ")  # not the top-level usage
    unknown = [arg for arg in args if arg in ("--bogus", "--nope")]
    assert f"gymfloor {command}: error: unrecognized arguments: {unknown[0]}" in done.stderr
    assert list(tmp_path.iterdir()) == []  # refused before anything was created


def _minding_file_modes(*args: str) -> subprocess.CompletedProcess[str]:
    """The command run so that file modes apply to it: as root, without the capabilities that
    let root read any file (a user switch would also shut it out of a checkout only root may
    enter)."""
    if os.geteuid() != 0:
        return gymfloor(*args)
    bypass = "-dac_override,-dac_read_search"
    modes_apply = ["setpriv", f"--inh-caps={bypass}", f"--bounding-set={bypass}"]
    return subprocess.run(
        [*modes_apply, GYMFLOOR, *args], capture_output=True, text=True, timeout=300, check=False
    )


@pytest.mark.parametrize(
    "command", [["analyze"], ["replay"], ["edge", "--machine", "lp-01", "--replay"]]
)
def test_a_recording_that_cannot_be_read_is_named_with_the_reason(
    command: list[str], tmp_path: Path
) -> None:
    unreadable = tmp_path / "locked.jsonl"
    unreadable.write_text("")
    unreadable.chmod(0o000)
    for path, problem, run in [
        (tmp_path / "nope.jsonl", "no such file", gymfloor),
        (tmp_path, "is a directory, not a recording file", gymfloor),
        (unreadable, "cannot be read: permission denied", _minding_file_modes),
    ]:
        done = run(*command, str(path))
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith(f"usage: gymfloor {command[0]} ")
        assert f"{path}: {problem}" in done.stderr
    unreadable.chmod(0o644)  # the same file readable: it passes, and the bad flag is next
    done = _minding_file_modes(*command, str(unreadable), "--bogus")
    assert done.returncode == 2 and "unrecognized arguments: --bogus" in done.stderr


def _commands(
    command: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command and action of the command line, with its parser."""
    yield path, command
    for action in command._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _commands(sub, (*path, name))


def _setting_default(settings: Settings, setting: str) -> Any:
    """What a setting is when nothing sets it, in the form the help shows it."""
    if setting == "db_url":  # worked out from the data directory
        return Settings(data_dir=Path("DATA_DIR")).store_url
    value: Any = settings
    for part in setting.split("."):
        value = getattr(value, part)
    return "none" if value is None else value


def _flag_entries(help_text: str) -> dict[str, str]:
    """Each flag's entry in a help text, its lines joined (argparse wraps them anywhere)."""
    entries: dict[str, str] = {}
    entry: list[str] = []
    for line in [*help_text.splitlines(), ""]:
        if line.startswith("    ") and entry:
            entry.append(line.strip())
            continue
        if entry:
            text = " ".join(entry)
            for flag in re.findall(r"(?:^|, )(-[-\w]+)", text):
                entries[flag] = text
        entry = [line.strip()] if re.match(r"  -", line) else []
    return entries


OWN_DEFAULTS = {
    ("demo", "mqtt_url"): "an embedded broker on a free port",
    ("demo", "data_dir"): "a new temporary directory, deleted on exit",
}
"""Settings a command does without when they are not given (the demo brings its own)."""


def test_every_help_shows_the_true_default_of_every_flag(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in list(os.environ):
        if name.upper().startswith("GYMFLOOR_"):
            monkeypatch.delenv(name)
    settings = Settings()
    checked = 0
    for path, command in _commands(parser()):
        done = gymfloor(*path, "--help")
        assert done.returncode == 0, done.stderr
        entries = _flag_entries(done.stdout)
        for action in command._actions:
            if not action.option_strings or action.help in (None, argparse.SUPPRESS):
                continue
            flag = action.option_strings[-1]
            if action.dest.startswith(SETTING):
                setting = action.dest.removeprefix(SETTING)
                own = OWN_DEFAULTS.get((" ".join(path), setting))
                default = own or _setting_default(settings, setting)
            elif action.default not in (None, False, [], argparse.SUPPRESS):
                default = action.default
            else:
                continue
            shown = re.search(r"default: ([^;)]+)", entries[flag])
            assert shown is not None, (path, flag, entries[flag])
            assert shown[1].rstrip(". ") == " ".join(str(default).split()), (path, flag)
            checked += 1
    assert checked > 60  # every command's flags, the detector's many among them
