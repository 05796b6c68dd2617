"""The `gymfloor` command's shared behaviour, run as a user runs it: usage errors, start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.processes import gymfloor


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
        (["edge", "--replay", "missing.jsonl"], {}, "no such recording: missing.jsonl"),
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
