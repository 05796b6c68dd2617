"""The API's CSV export streams from the store: the server's peak memory while a member exports
10,000 reps and while one exports 1,000,000 should be the same, give or take.

1. Builds a SQLite store (`OperationalStore`, which runs the migrations) holding two members'
   reps, written as ingest writes them: m-small with 10,000, m-big with 1,000,000. `--store
   PATH` keeps it for the next run, which reuses it.
2. For each member, starts a fresh `gymfloor api` on the store, asks it for one small page (so
   that what a first request loads is loaded), notes its resident memory, then downloads the
   member's whole `/v1/me/reps.csv` and reads the server's peak resident memory (VmHWM).

    python bench/export_memory.py [--store PATH] [--big 1000000] [--small 10000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from sqlalchemy import func, select
from tqdm import tqdm

from gymfloor.contract import Fault, RepReport
from gymfloor.ports import free_port
from gymfloor.storage import OperationalStore, schema
from gymfloor.storage.models import Role
from gymfloor.storage.store import _rep_row  # the row exactly as ingest writes it
from gymfloor.storage.tokens import issue_token

GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")
BATCH = 20_000
T0 = 1735689600.0  # 2025-01-01 00:00 UTC


def fill(store: OperationalStore, member: str, reps: int) -> None:
    """`reps` reps of `member` on one machine, 10 s apart, every third with a fault."""
    with store.read() as db:
        query = select(func.count()).where(schema.reps.c.member_id == member)
        if db.execute(query).scalar_one() == reps:
            return
    machine = f"lp-{member}"
    for start in tqdm(range(0, reps, BATCH), desc=f"storing {member}'s reps", unit_scale=BATCH):
        rows = [
            _rep_row(
                RepReport(
                    gym_id="g1",
                    machine_id=machine,
                    session_id=f"s-{n // 10}",
                    member_id=member,
                    rep=n % 10 + 1,
                    t_start=T0 + n * 10,
                    t_bottom=T0 + n * 10 + 2.4,
                    t_end=T0 + n * 10 + 4.1,
                    rom_mm=310.4,
                    eccentric_s=2.4,
                    concentric_s=1.7,
                    min_lumbar_ratio=0.62,
                    faults=[Fault.LUMBAR_LIFTOFF] if n % 3 == 0 else [],
                    load_kg=120.0,
                    peak_descent_mm_s=210.5,
                )
            )
            for n in range(start, min(start + BATCH, reps))
        ]
        with store.transaction() as db:
            db.execute(schema.reps.insert(), rows)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak) of a process, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    fields = dict(line.split(":", 1) for line in status.splitlines())
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def export(data_dir: Path, token: str) -> tuple[dict[str, int], dict[str, int], int, int, float]:
    """Memory before and after the member's whole CSV export, its rows, bytes and seconds."""
    port = free_port()
    env = {**os.environ, "GYMFLOOR_DATA_DIR": str(data_dir), "GYMFLOOR_LOG_LEVEL": "WARNING"}
    server = subprocess.Popen([GYMFLOOR, "api", "--port", str(port)], env=env)
    base, headers = f"http://127.0.0.1:{port}", {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(300):
            try:
                page = urllib.request.Request(f"{base}/v1/me/reps?limit=50", headers=headers)
                urllib.request.urlopen(page, timeout=5).read()
                break
            except OSError:
                time.sleep(0.1)
        before = memory_kib(server.pid)
        lines = size = 0
        started = time.perf_counter()
        request = urllib.request.Request(f"{base}/v1/me/reps.csv", headers=headers)
        with urllib.request.urlopen(request, timeout=600) as response:
            while chunk := response.read(1 << 16):
                lines, size = lines + chunk.count(b"\n"), size + len(chunk)
        seconds = time.perf_counter() - started
        return before, memory_kib(server.pid), lines - 1, size, seconds
    finally:
        server.terminate()
        server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", type=Path, help="keep the store here (a directory)")
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        data_dir = args.store or Path(scratch)
        store = OperationalStore(f"sqlite:///{data_dir / 'gymfloor.db'}")
        members = {"m-small": args.small, "m-big": args.big}
        tokens = {}
        for member, reps in members.items():
            fill(store, member, reps)
            with store.transaction() as db:
                tokens[member] = issue_token(db, Role.MEMBER, member, "bench", time.time())[1]
        store.close()
        print(
            "member    reps exported  CSV MB  seconds  RSS before MB  peak RSS MB  peak - before MB"
        )
        for member in members:
            before, after, lines, size, seconds = export(data_dir, tokens[member])
            assert lines == members[member], f"{member}: {lines} rows exported"
            rss, peak = before["VmRSS"] / 1024, after["VmHWM"] / 1024
            print(
                f"{member:8} {lines:>13,} {size / 1e6:>7.1f} {seconds:>8.1f} {rss:>14.1f}"
                f" {peak:>12.1f}"
                f" {peak - rss:>17.1f}"
            )


if __name__ == "__main__":
    main()
