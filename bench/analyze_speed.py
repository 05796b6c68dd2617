"""End-to-end speed of `gymfloor analyze` on a large recording, as a user runs it.

Writes a recording of 30 simulated machines (3 members each) with `gymfloor simulate`, then
times `gymfloor analyze` on it and on its first 50 lines (which is the start-up cost: imports
and loading the compiled kernel), and prints medians, messages per second net of start-up,
and the peak memory of the process.

    python bench/analyze_speed.py [--machines 30] [--visits 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")


def timed(*args: str) -> tuple[float, float]:
    """Wall seconds and the process's own peak resident memory in MiB."""
    start = time.perf_counter()
    process = subprocess.Popen([GYMFLOOR, *args], stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode:
        raise SystemExit(f"gymfloor {' '.join(args)} failed with {process.returncode}")
    return elapsed, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=30)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder, "big.jsonl"), Path(folder, "small.jsonl")
        subprocess.run(
            [
                GYMFLOOR,
                "simulate",
                "--seed",
                "9",
                "--machines",
                str(args.machines),
                "--visits",
                str(args.visits),
                "-o",
                str(big),
            ],
            check=True,
            capture_output=True,
        )
        lines = big.read_text().splitlines(keepends=True)
        small.write_text("".join(lines[:50]))
        out = Path(folder, "reports.jsonl")
        big_runs = [timed("analyze", str(big), "-o", str(out)) for _ in range(args.repeats)]
        small_runs = [timed("analyze", str(small)) for _ in range(args.repeats)]
        reports = len(out.read_text().splitlines())

    whole = statistics.median(t for t, _ in big_runs)
    startup = statistics.median(t for t, _ in small_runs)
    size_mb = sum(len(line) for line in lines) / 1e6
    print(f"recording: {len(lines)} messages, {size_mb:.1f} MB, {reports} rep reports")
    print(f"analyze, whole recording      {whole:6.2f} s   (median of {args.repeats})")
    print(f"analyze, first 50 lines       {startup:6.2f} s   start-up")
    print(f"net rate                      {len(lines) / (whole - startup):8.0f} messages/s")
    print(f"peak memory                   {max(m for _, m in big_runs):6.0f} MiB")


if __name__ == "__main__":
    main()
