"""The HTTP API under load: requests/s and latency percentiles of a member's session report and
the staff rep list, over a store of 1 million reps.

1. Builds a SQLite store as `gymfloor` creates one (`OperationalStore`, which runs the
   migrations) and fills it in bulk: one gym of 40 leg presses, 2000 members who come 50 times a
   year on average (some several times as often as others), sessions of 8-12 reps spread over a
   year's opening hours, 5 % of sessions without check-in, about 30 % of reps with a fault. Each
   rep's `report` column is a contract rep report and the columns copied from it are what ingest
   writes. `--store PATH` keeps the store for the next run, which reuses it.
2. Issues member tokens (for members with a typical number of sessions) and a staff token,
   starts `gymfloor api` on the store, and checks that every endpoint answers as it should.
3. Loads one endpoint at a time with wrk, 2 threads and 8 connections, then 1 connection (a
   request at a time): /healthz (no database) as the baseline; a member's session report,
   cycling through those members' sessions; the staff rep list: first page, first page of one
   machine (cycling through the machines), and a page 1000 pages deep. Each repeat runs every
   endpoint once, so their figures come from the same minutes; the tables give medians over the
   repeats, and PASS or FAIL against p99 < 50 ms.

    python bench/api.py [--quick] [--store PATH] [--reps 1000000] [--seconds 20] [--repeats 3]
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import platform
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import Connection, func, select
from tqdm import tqdm

from gymfloor.contract import Fault, RepReport
from gymfloor.ports import free_port
from gymfloor.storage import OperationalStore, schema
from gymfloor.storage.models import Role
from gymfloor.storage.store import _rep_row  # the row exactly as ingest writes it
from gymfloor.storage.tokens import issue_token

ROOT = Path(__file__).resolve().parent.parent
GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")
GYM = "g1"
YEAR_START = 1735689600.0  # 2025-01-01 00:00 UTC
OPEN_FROM_H, OPEN_HOURS = 6, 17  # the gym is open 06:00-23:00
TARGET_P99_MS = 50.0
PAGE = 50
# Faulty reps show these faults, in these shares: lift-off and too deep often come together.
L, E, U = Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM, Fault.UNCONTROLLED_DESCENT
FAULT_SETS = ((U,), (L,), (E,), (L, E), (L, U), (E, U), (L, E, U))
FAULT_SET_SHARES = (0.35, 0.15, 0.10, 0.22, 0.06, 0.04, 0.08)


def say(text: str, indent: str = "") -> None:
    """Prose of the report, wrapped at 100 columns; tables are printed as they are."""
    print(textwrap.fill(text, 100, initial_indent=indent, subsequent_indent=indent + "  "))
    sys.stdout.flush()


# -- the store ---------------------------------------------------------------------------------

Array = np.ndarray[Any, Any]


@dataclass(frozen=True, slots=True)
class Shape:
    reps: int
    members: int
    machines: int
    seed: int
    anonymous: float = 0.05  # share of sessions without check-in
    days: int = 365


@dataclass(frozen=True, slots=True)
class Sessions:
    """Every session of the store, oldest first, as numpy columns."""

    t_start: Array
    machine: Array  # index of the machine
    number: Array  # the session's number on its machine, for its id
    member: Array  # index of the member; -1 when nobody checked in
    reps: Array
    load_kg: Array


@dataclass(frozen=True, slots=True)
class Members:
    """What each member is like: how deep they go, how often they fault, their back pressure."""

    depth_mm: Array
    fault_p: Array
    baseline_kpa: Array


def machine_id(index: int) -> str:
    return f"lp-{index + 1:02d}"


def member_id(index: int) -> str:
    return f"m-{index + 1:05d}"


def plan_sessions(shape: Shape, rng: np.random.Generator) -> Sessions:
    """Sessions of 8-12 reps (the last one cut to make the total exact), each on a random
    machine; a machine's sessions are spread over the year's opening hours, one at a random time
    in each of equal slots (2.5 hours with the defaults), so that they never overlap. Each is by
    a member drawn by how often they come (weights from a log-normal distribution), or by nobody
    checked in."""
    counts = rng.integers(8, 13, size=shape.reps // 8 + 1)
    total = np.cumsum(counts)
    n = int(np.searchsorted(total, shape.reps)) + 1
    counts = counts[:n].copy()
    counts[-1] -= int(total[n - 1]) - shape.reps
    machine = rng.integers(0, shape.machines, size=n)
    day_s = OPEN_HOURS * 3600.0
    t_start = np.empty(n)
    number = np.empty(n, dtype=np.int64)
    for m in range(shape.machines):
        mine = np.flatnonzero(machine == m)
        slot = shape.days * day_s / max(len(mine), 1)
        opening = np.arange(len(mine)) * slot + rng.uniform(0, max(slot - 300.0, 1.0), len(mine))
        day, within = np.divmod(opening, day_s)
        t_start[mine] = YEAR_START + day * 86400.0 + OPEN_FROM_H * 3600.0 + within
        number[mine] = np.arange(len(mine))
    weights = rng.lognormal(0.0, 0.6, size=shape.members)
    member = rng.choice(shape.members, size=n, p=weights / weights.sum())
    member[rng.random(n) < shape.anonymous] = -1
    load_kg = np.round(rng.uniform(60, 240, size=n) / 2.5) * 2.5
    order = np.argsort(t_start, kind="stable")
    return Sessions(
        t_start[order], machine[order], number[order], member[order], counts[order], load_kg[order]
    )


def plan_members(shape: Shape, rng: np.random.Generator) -> Members:
    return Members(
        depth_mm=rng.uniform(330, 500, size=shape.members),
        fault_p=rng.beta(1.5, 3.2, size=shape.members),  # a third of reps faulty on average
        baseline_kpa=rng.uniform(3.0, 9.0, size=shape.members),
    )


def draw_reps(
    sessions: Sessions, members: Members, rng: np.random.Generator
) -> dict[str, list[Any]]:
    """Every field of these sessions' rep reports, one list per field, drawn with numpy so
    that the values agree with the detector's rules (docs/DETECTION.md): lift-off is a lumbar
    ratio under 0.5, too deep is 30 mm past the tilt onset (a ratio under 0.85), an
    uncontrolled descent lasts under 1.5 s or has a 0.2 s window faster than 600 mm/s."""
    count = sessions.reps
    of = np.repeat(np.arange(len(count)), count)  # each rep's session
    r = len(of)
    who = sessions.member[of]
    known = who >= 0
    mem = np.where(known, who, 0)
    faulty = rng.random(r) < np.where(known, members.fault_p[mem], 0.3)
    fault_set = rng.choice(len(FAULT_SETS), size=r, p=FAULT_SET_SHARES)
    has = {}
    for fault in Fault:
        has[fault] = faulty & np.isin(
            fault_set, [i for i, s in enumerate(FAULT_SETS) if fault in s]
        )
    empty_pad = rng.random(r) < 0.02  # nobody's back on the pad at the top: no baseline
    has[L] &= ~empty_pad
    has[E] &= ~empty_pad
    rom = np.clip(np.where(known, members.depth_mm[mem], 420.0) + rng.normal(0, 15, r), 250, 600)
    rom = np.where(has[E], rom + rng.uniform(10, 60, r), rom)
    tilted = has[E] | (rng.random(r) < 0.3)
    ratio = np.where(
        has[L],
        rng.uniform(0.05, 0.48, r),
        np.where(tilted, rng.uniform(0.52, 0.84, r), rng.uniform(0.86, 1.0, r)),
    )
    tilt = np.where(has[E], rom - rng.uniform(35, 90, r), rom - rng.uniform(0, 28, r))
    short = rng.random(r) < 0.5  # an uncontrolled descent too short, or too fast somewhere
    eccentric = np.where(
        has[U],
        np.where(short, rng.uniform(0.6, 1.45, r), rng.uniform(1.5, 2.4, r)),
        rng.uniform(1.6, 3.0, r),
    )
    peak = np.where(
        has[U] & ~short,
        rng.uniform(620, 1500, r),
        np.minimum(rom / eccentric * rng.uniform(1.2, 1.5, r), 595.0),
    )
    concentric = rng.uniform(0.7, 1.3, r)
    took = eccentric + concentric + rng.uniform(0.8, 2.0, r)  # and a pause before the next
    first = np.concatenate(([0], np.cumsum(count)[:-1]))  # each session's first rep
    since_first = np.cumsum(took) - took
    since_first -= since_first[first][of]
    t_start = sessions.t_start[of] + rng.uniform(3, 8, len(count))[of] + since_first
    machine = sessions.machine[of].tolist()
    empty = empty_pad.tolist()
    return {
        "machine_id": [machine_id(m) for m in machine],
        "session_id": [
            f"s-{machine_id(m)}-{n:05d}"
            for m, n in zip(machine, sessions.number[of].tolist(), strict=True)
        ],
        "member_id": [member_id(m) if m >= 0 else None for m in who.tolist()],
        "rep": (np.arange(r) - first[of] + 1).tolist(),
        "t_start": np.round(t_start, 3).tolist(),
        "t_bottom": np.round(t_start + eccentric, 3).tolist(),
        "t_end": np.round(t_start + eccentric + concentric, 3).tolist(),
        "rom_mm": np.round(rom, 1).tolist(),
        "eccentric_s": np.round(eccentric, 3).tolist(),
        "concentric_s": np.round(concentric, 3).tolist(),
        "min_lumbar_ratio": _unless(empty, np.round(ratio, 3).tolist()),
        "faults": [
            [fault for fault, flag in zip(Fault, flags, strict=True) if flag]
            for flags in zip(*(has[fault].tolist() for fault in Fault), strict=True)
        ],
        "load_kg": sessions.load_kg[of].tolist(),
        "baseline_kpa": _unless(
            empty, np.round(np.where(known, members.baseline_kpa[mem], 6.0), 2).tolist()
        ),
        "tilt_onset_mm": _unless(
            [e or x >= 0.85 for e, x in zip(empty, ratio.tolist(), strict=True)],
            np.round(tilt, 1).tolist(),
        ),
        "peak_descent_mm_s": np.round(peak, 1).tolist(),
    }


def _unless(missing: list[bool], values: list[Any]) -> list[Any]:
    return [None if m else v for m, v in zip(missing, values, strict=True)]


def session_rows(sessions: Sessions, reports: list[RepReport]) -> list[dict[str, Any]]:
    rows, at = [], 0
    for t_start, count in zip(sessions.t_start.tolist(), sessions.reps.tolist(), strict=True):
        first, last = reports[at], reports[at + count - 1]
        at += count
        rows.append(
            {
                "gym_id": GYM,
                "machine_id": first.machine_id,
                "session_id": first.session_id,
                "member_id": first.member_id,
                "t_start": round(t_start, 3),
                "t_end": round(last.t_end + 5.0, 3),
                "load_kg": first.load_kg,
            }
        )
    return rows


def build_store(store: OperationalStore, shape: Shape) -> None:
    """Fill an empty store: members and machines, then sessions and their reps, oldest first
    (as ingest stores them, so that ids follow time), 10,000 sessions per transaction."""
    rng = np.random.default_rng(shape.seed)
    members = plan_members(shape, rng)
    sessions = plan_sessions(shape, rng)
    with store.transaction() as db:
        db.execute(
            schema.members.insert(),
            [
                {"member_id": member_id(m), "display_name": None, "created_at": YEAR_START - 86400}
                for m in range(shape.members)
            ],
        )
        last = float(sessions.t_start[-1])
        db.execute(
            schema.machines.insert(),
            [
                {
                    "gym_id": GYM,
                    "machine_id": machine_id(m),
                    "state": "online",
                    "state_since": YEAR_START,
                    "last_message_at": last,
                }
                for m in range(shape.machines)
            ],
        )
    chunk = 10_000
    with tqdm(total=shape.reps, unit=" reps", unit_scale=True, file=sys.stdout) as progress:
        for at in range(0, len(sessions.t_start), chunk):
            part = Sessions(*(getattr(sessions, f.name)[at : at + chunk] for f in fields(Sessions)))
            drawn = draw_reps(part, members, rng)
            reports = [
                RepReport(gym_id=GYM, **dict(zip(drawn, values, strict=True)))
                for values in zip(*drawn.values(), strict=True)
            ]
            assert set(drawn) | {"gym_id"} == set(RepReport.model_fields)
            with store.transaction() as db:
                db.exec_driver_sql("PRAGMA cache_size=-262144")  # 256 MiB while building
                db.execute(schema.sessions.insert(), session_rows(part, reports))
                db.execute(schema.reps.insert(), [_rep_row(report) for report in reports])
            progress.update(len(reports))
    with store.read() as db:
        db.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")


def counts(db: Connection) -> dict[str, int]:
    tables = {
        "members": schema.members,
        "sessions": schema.sessions,
        "reps": schema.reps,
        "api_tokens": schema.api_tokens,
    }
    out = {
        name: db.execute(select(func.count()).select_from(t)).scalar_one()
        for name, t in tables.items()
    }
    c = schema.reps.c
    out["faulty reps"] = db.execute(
        select(func.count()).where(c.lumbar_liftoff | c.excessive_rom | c.uncontrolled_descent)
    ).scalar_one()
    return out


def typical_members(db: Connection, how_many: int) -> list[tuple[str, list[str]]]:
    """The members whose number of sessions is nearest the median, and their session ids."""
    s = schema.sessions.c
    per_member = db.execute(
        select(s.member_id, func.count())
        .where(s.member_id.is_not(None))
        .group_by(s.member_id)
        .order_by(func.count(), s.member_id)
    ).all()
    middle = len(per_member) // 2
    chosen = per_member[max(middle - how_many // 2, 0) :][:how_many]
    out = []
    for member, _ in chosen:
        ids = db.execute(select(s.session_id).where(s.member_id == member).order_by(s.t_start))
        out.append((member, list(ids.scalars())))
    return out


def disk_mib(path: Path) -> float:
    files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


# -- the server --------------------------------------------------------------------------------


class Server:
    """`gymfloor api` as an operator runs it, on a port of its own."""

    def __init__(self, db_path: Path, folder: Path, workers: int) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.args = [
            GYMFLOOR,
            "api",
            "--port",
            str(self.port),
            "--db-url",
            f"sqlite:///{db_path}",
            "--data-dir",
            str(folder),
            "--workers",
            str(workers),
        ]
        self.log = folder / "api.log"
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                self.args,
                stdout=subprocess.DEVNULL,
                stderr=log,
                env={**os.environ, "GYMFLOOR_LOG_FORMAT": "text"},
            )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"gymfloor api exited:\n{self.log.read_text()[-3000:]}")
            try:
                if get(f"{self.base}/healthz")[0] == 200:
                    return self
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("gymfloor api did not answer /healthz within 60 s")
            time.sleep(0.1)

    def __exit__(self, *exc: object) -> None:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)

    def cpu_s(self) -> float:
        """User and system CPU seconds the server has used so far, its worker processes (its
        children) included."""
        assert self.process is not None
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:  # a process that ended meanwhile
                continue
            if stat.parent.name == str(self.process.pid) or fields[1] == str(self.process.pid):
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")


def get(url: str, token: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(url, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


# -- load --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    requests: list[tuple[str, str | None]]  # paths and their tokens, requested in turn


@dataclass(frozen=True, slots=True)
class Load:
    requests_s: float
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    errors: int  # non-2xx/3xx responses, and socket errors (timeouts included)
    cpu_ms: float  # the server's CPU time per request


LUA = """
-- Written by bench/api.py: each thread requests these in turn, from its own starting point.
local paths = {%(paths)s}
local tokens = {%(tokens)s}
local requests = {}
local at = 0
local threads = 0

function setup(thread)
  thread:set("number", threads)
  threads = threads + 1
end

function init(args)
  for i, path in ipairs(paths) do
    local headers = {}
    for name, value in pairs(wrk.headers) do headers[name] = value end
    if tokens[i] ~= "" then headers["Authorization"] = "Bearer " .. tokens[i] end
    requests[i] = wrk.format("GET", path, headers)
  end
  at = (number * 7919) %% #requests
end

function request()
  at = at %% #requests + 1
  return requests[at]
end
"""


def lua_script(endpoint: Endpoint, folder: Path) -> Path:
    def strings(values: Sequence[str]) -> str:
        return ", ".join(json.dumps(v) for v in values)  # JSON strings are Lua strings here

    path = folder / f"{re.sub(r'[^a-z0-9]+', '-', endpoint.name.lower()).strip('-')}.lua"
    path.write_text(
        LUA
        % {
            "paths": strings([p for p, _ in endpoint.requests]),
            "tokens": strings([t or "" for _, t in endpoint.requests]),
        }
    )
    return path


def wrk(server: Server, script: Path, threads: int, connections: int, seconds: int) -> Load:
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-s",
        str(script),
        server.base,
    ]
    cpu = server.cpu_s()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    cpu = server.cpu_s() - cpu
    if done.returncode:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return parse_wrk(done.stdout, cpu)


def parse_wrk(out: str, cpu_s: float) -> Load:
    def number(pattern: str) -> str:
        found = re.search(pattern, out)
        if found is None:
            raise SystemExit(f"unexpected wrk output, no {pattern!r}:\n{out}")
        return found.group(1)

    def ms(percent: int) -> float:
        value, unit = re.findall(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", out, re.M)[0]
        return float(value) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[unit]

    requests = int(number(r"(\d+) requests in"))
    errors = int(number(r"Non-2xx or 3xx responses: (\d+)")) if "Non-2xx" in out else 0
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    if sockets:
        errors += sum(int(g) for g in sockets.groups())
    return Load(
        requests_s=float(number(r"Requests/sec:\s+([\d.]+)")),
        requests=requests,
        p50_ms=ms(50),
        p90_ms=ms(90),
        p99_ms=ms(99),
        errors=errors,
        cpu_ms=cpu_s * 1e3 / max(requests, 1),
    )


# -- checks before the load --------------------------------------------------------------------


def check_endpoints(
    server: Server,
    members: list[tuple[str, str, list[str]]],
    staff: str,
    machines: list[str],
) -> None:
    """Every endpoint answers 200 with what it should, before wrk (which counts statuses only)."""
    member, token, session_ids = members[0]
    status, body = get(f"{server.base}/v1/me/sessions/{session_ids[0]}", token)
    assert status == 200, (status, body)
    assert body["session"]["member_id"] == member and 1 <= len(body["reps"]) <= 12, body
    assert body["session"]["reps"] == len(body["reps"])
    status, body = get(f"{server.base}/v1/me/sessions/{members[1][2][0]}", token)
    assert status == 404, "a member sees another member's session"
    status, body = get(f"{server.base}/v1/reps?limit={PAGE}", staff)
    assert status == 200 and len(body["items"]) == PAGE and body["next_cursor"], (status, body)
    status, body = get(f"{server.base}/v1/reps?machine_id={machines[0]}&limit={PAGE}", staff)
    assert status == 200 and {i["machine_id"] for i in body["items"]} == {machines[0]}, body


def deep_cursor(server: Server, staff: str, pages: int) -> tuple[str, float, float]:
    """The cursor `pages` pages into the staff list, found by following next_cursor; and the
    median and 99th percentile in ms of those requests, one at a time."""
    cursor, times = "", []
    for _ in range(pages):
        started = time.perf_counter()
        status, body = get(f"{server.base}/v1/reps?limit={PAGE}{cursor}", staff)
        times.append((time.perf_counter() - started) * 1e3)
        assert status == 200 and body["next_cursor"], (status, body)
        cursor = f"&cursor={body['next_cursor']}"
    times.sort()
    return cursor, statistics.median(times), times[int(0.99 * (len(times) - 1))]


# -- main --------------------------------------------------------------------------------------


def describe_machine() -> str:
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split()
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    parser = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return (
        f"{os.cpu_count()} CPUs ({model or platform.machine()}), Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}, uvicorn "
        f"{importlib.metadata.version('uvicorn')} ({loop} event loop, {parser} HTTP parser), "
        f"FastAPI {importlib.metadata.version('fastapi')}, wrk {' '.join(wrk_version[1:2])}"
    )


def open_store(args: argparse.Namespace, folder: Path) -> tuple[Path, OperationalStore]:
    path = Path(args.store).resolve() if args.store else folder / "gymfloor.db"
    store = OperationalStore(f"sqlite:///{path}")
    with store.read() as db:
        reps = db.execute(select(func.count()).select_from(schema.reps)).scalar_one()
    if reps:
        say(f"store: reusing {path} ({reps} reps; --reps and the shape flags do not apply)")
        return path, store
    shape = Shape(args.reps, args.members, args.machines, args.seed)
    say(
        f"store: building {path}: {shape.reps} reps, {shape.members} members, 1 gym of "
        f"{shape.machines} machines, {shape.days} days, sessions of 8-12 reps"
    )
    started = time.perf_counter()
    build_store(store, shape)
    say(f"built in {time.perf_counter() - started:.0f} s")
    return path, store


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="100k reps, 3 s per endpoint")
    parser.add_argument(
        "--store", help="SQLite file to keep the store in, and to reuse if it holds reps already"
    )
    parser.add_argument("--reps", type=int, default=1_000_000, help="in the store")
    parser.add_argument("--members", type=int, default=2000, help="in the store")
    parser.add_argument("--machines", type=int, default=40, help="in the store's one gym")
    parser.add_argument("--seed", type=int, default=3, help="of the store's contents")
    parser.add_argument("--seconds", type=int, default=20, help="of wrk per endpoint")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of wrk, not counted")
    parser.add_argument("--repeats", type=int, default=3, help="runs of every endpoint")
    parser.add_argument("--threads", type=int, default=2, help="of wrk")
    parser.add_argument("--connections", type=int, default=8, help="of wrk, kept open")
    parser.add_argument(
        "--serial-seconds",
        type=int,
        default=5,
        help="of wrk with one connection after each loaded run (0: none)",
    )
    parser.add_argument(
        "--member-tokens", type=int, default=10, help="members whose sessions are requested"
    )
    parser.add_argument("--deep-pages", type=int, default=1000, help="depth of the deep page")
    parser.add_argument("--workers", type=int, default=1, help="`gymfloor api --workers`")
    if parser.parse_known_args()[0].quick:  # shorter defaults; flags given still win
        parser.set_defaults(
            reps=100_000, members=200, seconds=3, warmup=1, repeats=1, serial_seconds=2
        )
    args = parser.parse_args()

    subprocess.run([ROOT / "scripts" / "ensure-debian-packages", "wrk"], check=True)
    say(f"machine: {describe_machine()}")
    say("parameters: " + " ".join(f"{k}={v}" for k, v in vars(args).items() if k != "quick"))
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gymfloor-bench-") as temporary:
        folder = Path(temporary)
        path, store = open_store(args, folder)
        try:
            with store.transaction() as db:
                chosen = typical_members(db, args.member_tokens)
                now = time.time()
                members = [
                    (m, issue_token(db, Role.MEMBER, m, "bench/api.py", now)[1], ids)
                    for m, ids in chosen
                ]
                staff = issue_token(db, Role.STAFF, None, "bench/api.py", now)[1]
                machines = list(db.execute(select(schema.machines.c.machine_id)).scalars())
            with store.read() as db:
                rows = counts(db)
        finally:
            store.close()
        say(
            f"store: {disk_mib(path):.0f} MiB on disk; "
            + ", ".join(f"{v} {k}" for k, v in rows.items())
            + f" ({rows['faulty reps'] / rows['reps']:.0%} of reps)"
        )
        sessions = [len(ids) for _, _, ids in members]
        say(
            f"requests: {len(members)} members with {min(sessions)}-{max(sessions)} sessions each "
            f"(the median member's count), {sum(sessions)} session reports in turn; "
            f"{len(machines)} machines in turn"
        )
        with Server(path, folder, args.workers) as server:
            say(f"server: {' '.join(server.args)}")
            check_endpoints(server, members, staff, machines)
            deep, deep_p50, deep_p99 = deep_cursor(server, staff, args.deep_pages)
            say(
                f"deep cursor: followed next_cursor through {args.deep_pages} pages of {PAGE}, one "
                f"request at a time: p50 {deep_p50:.1f} ms, p99 {deep_p99:.1f} ms"
            )
            endpoints = [
                Endpoint("GET /healthz", [("/healthz", None)]),
                Endpoint(
                    "GET /v1/me/sessions/{id}",
                    [(f"/v1/me/sessions/{s}", t) for _, t, ids in members for s in ids],
                ),
                Endpoint("GET /v1/reps (first page)", [(f"/v1/reps?limit={PAGE}", staff)]),
                Endpoint(
                    "GET /v1/reps?machine_id=",
                    [(f"/v1/reps?machine_id={m}&limit={PAGE}", staff) for m in machines],
                ),
                Endpoint(
                    f"GET /v1/reps (page {args.deep_pages + 1})",
                    [(f"/v1/reps?limit={PAGE}{deep}", staff)],
                ),
            ]
            scripts = [lua_script(e, folder) for e in endpoints]
            loaded: list[list[Load]] = [[] for _ in endpoints]
            serial: list[list[Load]] = [[] for _ in endpoints]
            if args.warmup > 0:
                for script in scripts:
                    wrk(server, script, args.threads, args.connections, args.warmup)
            for repeat in range(args.repeats):
                for e, script in enumerate(scripts):
                    load = wrk(server, script, args.threads, args.connections, args.seconds)
                    loaded[e].append(load)
                    if args.serial_seconds > 0:
                        serial[e].append(wrk(server, script, 1, 1, args.serial_seconds))
                say(f"repeat {repeat + 1} of {args.repeats} done")
        failed = table(
            f"under load: wrk, {args.threads} threads, {args.connections} connections, "
            f"{args.seconds} s per endpoint",
            endpoints,
            loaded,
        )
        if args.serial_seconds > 0:
            table(
                f"one request at a time: wrk, 1 thread, 1 connection, {args.serial_seconds} s per "
                "endpoint, right after each run above",
                endpoints,
                serial,
            )
        if args.repeats > 1:
            print("\nper repeat, under load: requests/s and p99")
            for endpoint, loads in zip(endpoints, loaded, strict=True):
                figures = ", ".join(f"{x.requests_s:5.0f} {x.p99_ms:6.1f} ms" for x in loads)
                print(f"  {endpoint.name:<28} {figures}")
        print()
        say(
            f"p99 < {TARGET_P99_MS:g} ms under load ({args.connections} connections): "
            + ("FAIL on at least one endpoint" if failed else "PASS on every endpoint")
        )
    print(f"\nwhole run: {time.perf_counter() - started:.0f} s")


def table(title: str, endpoints: list[Endpoint], runs: list[list[Load]]) -> bool:
    """Print the medians of each endpoint's runs; True if any endpoint failed the target."""
    repeats = len(runs[0])
    print()
    say(
        f"{title}; {'median of ' + str(repeats) + ' runs' if repeats > 1 else '1 run'}. x "
        "healthz: requests/s over /healthz's in the same repeat. CPU: the server's (user and "
        "system) per request. errors: responses other than 2xx/3xx, and socket errors."
    )
    print(
        f"  {'endpoint':<28} {'req/s':>6} {'x healthz':>9} {'p50':>8} {'p90':>8} {'p99':>8} "
        f"{'errors':>6} {'CPU':>8}  p99 < {TARGET_P99_MS:g} ms"
    )
    healthz, failed = runs[0], False
    for endpoint, loads in zip(endpoints, runs, strict=True):
        med = {
            name: statistics.median(getattr(load, name) for load in loads)
            for name in ("requests_s", "p50_ms", "p90_ms", "p99_ms", "cpu_ms")
        }
        ratio = statistics.median(
            load.requests_s / base.requests_s for load, base in zip(loads, healthz, strict=True)
        )
        errors = sum(load.errors for load in loads)
        if errors:
            verdict = f"FAIL: {errors} errors, figures not valid"
        else:
            verdict = "PASS" if med["p99_ms"] < TARGET_P99_MS else "FAIL"
        failed |= verdict != "PASS"
        print(
            f"  {endpoint.name:<28} {med['requests_s']:6.0f} {ratio:9.3f} "
            f"{med['p50_ms']:6.1f}ms {med['p90_ms']:6.1f}ms {med['p99_ms']:6.1f}ms "
            f"{errors:6d} {med['cpu_ms']:6.2f}ms  {verdict}"
        )
    return failed


if __name__ == "__main__":
    main()
