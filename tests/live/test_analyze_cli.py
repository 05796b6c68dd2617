"""`gymfloor simulate` and `gymfloor analyze` as a user runs them: real processes, real files."""

from __future__ import annotations

import gc
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest
from sqlalchemy import select

from gymfloor.analyze import write_reports
from gymfloor.contract import Fault, TelemetryPayload
from gymfloor.detector import Detector
from gymfloor.storage import schema
from gymfloor.storage.sessions import recent_session_figures
from gymfloor_edge.simulator.scoring import score
from tests.support.floor import stored
from tests.support.processes import GYMFLOOR, gymfloor


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line]


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("recording")
    rec, labels = folder / "rec.jsonl", folder / "labels.jsonl"
    done = gymfloor(
        "simulate",
        "--seed",
        "11",
        "--machines",
        "4",
        "--visits",
        "2",
        "-o",
        str(rec),
        "--labels",
        str(labels),
    )
    assert done.returncode == 0, done.stderr
    return rec, labels


def test_analyze_finds_the_true_reps_and_faults(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    rec, labels = recording
    out = tmp_path / "reports.jsonl"
    done = gymfloor("analyze", str(rec), "-o", str(out))
    assert done.returncode == 0, done.stderr
    reports, truth = read_jsonl(out), read_jsonl(labels)
    assert len(truth) > 50
    result = score(reports, truth)
    assert result.reps.f1 >= 0.99
    for fault in Fault:
        assert result.faults[fault].f1 >= 0.99, fault
    assert result.rom_mae <= 5.0 and result.eccentric_mae <= 0.15
    assert result.attribution_errors == 0
    assert "rep reports" in done.stderr  # the closing summary


def test_reports_carry_every_required_field(recording: tuple[Path, Path]) -> None:
    done = gymfloor("analyze", str(recording[0]))
    required = {
        "gym_id",
        "machine_id",
        "session_id",
        "member_id",
        "rep",
        "t_start",
        "t_bottom",
        "t_end",
        "rom_mm",
        "eccentric_s",
        "concentric_s",
        "min_lumbar_ratio",
        "faults",
    }
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert reports and all(required <= set(r) for r in reports)
    assert all(r["t_start"] < r["t_bottom"] < r["t_end"] for r in reports)


def test_stdout_and_file_output_agree_and_runs_are_deterministic(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "reports.jsonl"
    assert gymfloor("analyze", str(recording[0]), "-o", str(out)).returncode == 0
    from_stdin = gymfloor("analyze", "-", stdin=recording[0].read_bytes())
    assert from_stdin.stdout == out.read_text()


def test_malformed_lines_are_reported_by_number_and_skipped(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    lines = recording[0].read_text().splitlines()
    broken = list(lines)
    broken.insert(5, "{not json")
    broken.insert(9, json.dumps({"topic": "gymfloor/v1/g1/lp-01/telemetry", "payload": {"v": 1}}))
    broken.insert(12, json.dumps(["a", "list"]))
    broken.insert(15, json.dumps({"topic": "elsewhere/x", "payload": {}}))
    bad = tmp_path / "broken.jsonl"
    bad.write_text("\n".join(broken) + "\n")

    clean = gymfloor("analyze", str(recording[0]))
    done = gymfloor("analyze", str(bad))
    assert done.returncode == 0
    assert f"{bad}, line 6, column 2 skipped: not JSON: Expecting property name" in done.stderr
    # Every field's problem, not the first alone.
    missing = [f.name for f in msgspec.structs.fields(TelemetryPayload) if f.required][1:]
    assert len(missing) > 1  # beyond v, which the line has
    assert (
        f"{bad}, line 10 skipped: gymfloor/v1/g1/lp-01/telemetry: "
        + "; ".join(f"{name}: Missing required field" for name in missing)
    ) in done.stderr
    assert f"{bad}, line 13 skipped: not a JSON object" in done.stderr
    assert f"{bad}, line 16 skipped: elsewhere/x" in done.stderr
    assert "4 skipped" in done.stderr
    assert done.stdout == clean.stdout  # the rest is analysed as before


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux's")
def test_on_one_core_the_command_decodes_itself_and_writes_the_same(
    recording: tuple[Path, Path],
) -> None:
    """With two cores a second process decodes ahead; held to one, the command decodes in its
    own process. The reports, and the lines skipped, are the same."""
    lines = recording[0].read_text().splitlines()
    lines.insert(7, "{not json")
    text = "\n".join(lines) + "\n"
    both = gymfloor("analyze", "-", stdin=text.encode())
    one = subprocess.run(
        [GYMFLOOR, "analyze", "-"],
        input=text,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        preexec_fn=lambda: os.sched_setaffinity(0, {min(os.sched_getaffinity(0))}),
    )
    assert both.returncode == one.returncode == 0, one.stderr
    assert one.stdout == both.stdout and one.stdout.count("\n") > 0
    skipped = "stdin, line 8, column 2 skipped: not JSON"
    assert skipped in one.stderr and skipped in both.stderr


def test_a_line_that_is_not_json_is_placed_by_the_recordings_own_line_and_column(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    """The reader's error is about the line alone: its line 1, or its line 2 when the line
    break itself is what is wrong. The message names the recording's line and column."""
    lines = recording[0].read_text().splitlines()
    cut = lines[50][:-7]  # the payload's object never closed: the line ends too soon
    lines[50] = cut
    bad = tmp_path / "cut.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    done = gymfloor("analyze", str(bad))
    assert done.returncode == 0, done.stderr
    assert f"{bad}, line 51, column {len(cut) + 1} skipped: not JSON: " in done.stderr
    assert "line 2" not in done.stderr and "line 1 column" not in done.stderr


def test_a_recording_that_is_not_a_readable_file_is_named_so(tmp_path: Path) -> None:
    missing = gymfloor("analyze", str(tmp_path / "nope.jsonl"))
    assert missing.returncode == 2 and f"{tmp_path / 'nope.jsonl'}: no such file" in missing.stderr
    folder = gymfloor("analyze", str(tmp_path))
    assert folder.returncode == 2
    assert f"{tmp_path}: is a directory, not a recording file" in folder.stderr


def test_thresholds_come_from_flags_and_environment(recording: tuple[Path, Path]) -> None:
    def liftoffs(*args: str, env: dict[str, str] | None = None) -> int:
        done = gymfloor("analyze", str(recording[0]), *args, env=env)
        assert done.returncode == 0, done.stderr
        return sum("lumbar_liftoff" in line for line in done.stdout.splitlines())

    default = liftoffs()
    assert liftoffs("--liftoff-ratio", "0.1") < default
    assert liftoffs(env={"GYMFLOOR_DETECTOR__LIFTOFF_RATIO": "0.1"}) < default


def test_help_explains_the_commands() -> None:
    top = gymfloor("--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("analyze", "simulate", "demo"))
    analyze = gymfloor("analyze", "--help")
    assert "GYMFLOOR_DETECTOR__LIFTOFF_RATIO" in analyze.stdout and "--output" in analyze.stdout


def test_demo_runs_the_live_system_on_embedded_defaults(tmp_path: Path) -> None:
    # 30 s at 20x is ten simulated minutes: members check in, train and check out.
    env = {"HOME": str(tmp_path), "GYMFLOOR_DATA_DIR": str(tmp_path / "data")}
    done = gymfloor("demo", "--duration", "30", "--speed", "20", env=env)
    assert done.returncode == 0, done.stderr
    assert "embedded broker at mqtt://127.0.0.1:" in done.stdout
    assert " depth " in done.stdout and "coaching:" in done.stdout and "ALERT" in done.stdout
    assert "/v1/me/trend" in done.stdout
    assert done.stdout.rstrip().endswith("Stopped cleanly.")
    # The demo's members come back, so their trends have sessions to show.
    with stored(tmp_path / "data") as store, store.read() as db:
        query = select(schema.sessions.c.member_id).distinct()
        members = [m for m in db.execute(query).scalars() if m is not None]
        trends = {m: recent_session_figures(db, m, 10) for m in members}
    assert members and all(m.startswith("m-000") for m in members)
    assert sum(len(sessions) >= 2 for sessions in trends.values()) >= 2


def test_invalid_settings_are_refused_with_the_reason(recording: tuple[Path, Path]) -> None:
    done = gymfloor("analyze", str(recording[0]), env={"GYMFLOOR_DETECTOR__LIFTOFF_RATIO": "half"})
    assert done.returncode == 2
    assert "detector.liftoff_ratio: Input should be a valid number" in done.stderr
    flag = gymfloor("analyze", str(recording[0]), "--near-mm", "50")
    assert flag.returncode == 2 and "near_mm < far_mm < rep_min_mm" in flag.stderr


def test_large_files_show_progress_on_a_terminal(
    recording: tuple[Path, Path], tmp_path: Path
) -> None:
    import fcntl
    import pty
    import struct
    import termios

    big = tmp_path / "big.jsonl"
    text = recording[0].read_bytes()
    big.write_bytes(text * (9 * 1024 * 1024 // len(text) + 1))  # past the 8 MiB threshold
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))  # 24x100 chars
    with subprocess.Popen(
        [GYMFLOOR, "analyze", str(big), "-o", str(tmp_path / "out.jsonl")],
        stderr=follower,
        stdout=subprocess.DEVNULL,
    ) as process:
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            seen += chunk
    assert process.returncode == 0
    assert b"analyze:" in seen and b"100%" in seen


def test_logs_can_be_json_for_collectors(recording: tuple[Path, Path]) -> None:
    done = gymfloor("analyze", str(recording[0]), env={"GYMFLOOR_LOG_FORMAT": "json"})
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stderr.strip().splitlines()[-1])
    assert summary["level"] == "info" and "rep reports" in summary["msg"]
    assert summary["duplicates"] > 0 and "abandoned_reps" in summary


def test_the_analysis_imports_nothing_of_the_live_services() -> None:
    """The analysis loads none of the live services' libraries: each would cost start-up,
    which is a good part of a run."""
    code = (
        "import sys, gymfloor.analyze; "
        "print(' '.join(sorted({name.split('.')[0] for name in sys.modules})))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "gymfloor" in loaded and "numba" in loaded  # the check sees what was imported
    live = {"pydantic_settings", "sqlalchemy", "alembic", "paho", "amqtt", "influxdb_client"}
    assert not loaded & (live | {"fastapi", "starlette", "uvicorn", "prometheus_client", "tqdm"})


def test_the_analysis_function_writes_what_the_command_writes(
    recording: tuple[Path, Path],
) -> None:
    """`write_reports`, which the command is to call, gives the command's output exactly."""
    command = gymfloor("analyze", str(recording[0]))
    skipped: list[int] = []
    sink = io.StringIO()
    try:
        with recording[0].open("rb") as lines:
            counts = write_reports(lines, sink, Detector(), lambda n, _: skipped.append(n))
    finally:
        gc.unfreeze()  # it leaves objects out of garbage collection, meant for a command's end
    assert sink.getvalue() == command.stdout and not skipped
    assert counts.reports == command.stdout.count("\n") > 0
    assert f"{counts.messages} messages, 0 skipped, {counts.reports} rep reports" in command.stderr
