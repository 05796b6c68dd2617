"""End-to-end speed of `gymfloor analyze` on a 25 MB recording, as a user runs it.

Writes a recording with `gymfloor simulate` (26 machines, 3 members each: about 25 MB), then
times, alternating, repeat after repeat, each way of analysing it on the whole recording and
on its first 50 lines (which is the start-up: imports and loading the compiled kernel):

- `command`: `gymfloor analyze REC -o OUT`, this checkout's;
- `one core`: the same command held to one CPU (`sched_setaffinity`), where it decodes in
  its own process rather than ahead in a second one;
- `against`, with `--against PATH`: another checkout's `gymfloor` command (e.g. the main
  branch's `.venv/bin/gymfloor`), for figures before and after a change, in one sitting.

Prints medians of wall time, start-up, samples per second end to end and net of start-up, CPU
time (user + system of the command and the processes it starts; less disturbed than wall time
by other work on the machine) and peak memory, and checks that every way wrote the same
reports. No GYMFLOOR_* variable is passed on: the commands run on their defaults.

    python bench/analyze_speed.py [--machines 26] [--visits 3] [--repeats 5] [--against PATH]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from gymfloor.contract import (
    BadLine,
    MachineChannel,
    TelemetryPayload,
    parse_machine_topic,
    read_recording,
)
from gymfloor.contract.payloads import decode_payload

GYMFLOOR = str(Path(sys.executable).parent / "gymfloor")
STARTUP_LINES = 50
ENV = {k: v for k, v in os.environ.items() if not k.upper().startswith("GYMFLOOR_")}


@dataclass
class Way:
    name: str
    command: list[str]
    """Run with `REC -o OUT` appended."""
    cpus: set[int] | None = None
    """The CPUs it may run on; None: any."""
    whole: list[tuple[float, float, float]] = field(default_factory=list)
    startup: list[tuple[float, float, float]] = field(default_factory=list)
    """(wall s, CPU s, peak MiB) per run."""


def timed(command: list[str], cpus: set[int] | None = None) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds and the peak resident memory (MiB) of one run."""
    pin = None if cpus is None else (lambda: os.sched_setaffinity(0, cpus))
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, preexec_fn=pin
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{' '.join(command)} failed:\n{errors}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def simulate(path: Path, machines: int, visits: int) -> None:
    command = [GYMFLOOR, "simulate", "--seed", "9", "--machines", str(machines)]
    command += ["--visits", str(visits), "-o", str(path)]
    subprocess.run(command, check=True, capture_output=True)


def count_samples(path: Path) -> tuple[int, int]:
    """Messages and telemetry samples in the recording (repeated deliveries included)."""
    messages = samples = 0
    with path.open("rb") as lines:
        for item in read_recording(lines):
            if isinstance(item, BadLine):
                continue
            messages += 1
            if parse_machine_topic(item.topic)[1] is MachineChannel.TELEMETRY:
                samples += len(decode_payload(TelemetryPayload, item.payload).sled_mm)
    return messages, samples


def median(runs: list[tuple[float, float, float]], index: int) -> float:
    return statistics.median(run[index] for run in runs)


def report(ways: list[Way], samples: int, repeats: int) -> None:
    print(f"median of {repeats} runs each, the ways alternating")
    head = ("way", "wall", "start-up", "end to end", "net", "CPU", "peak")
    print(
        f"  {head[0]:10s} {head[1]:>8s} {head[2]:>9s} {head[3]:>13s} {head[4]:>13s} "
        f"{head[5]:>8s} {head[6]:>8s}"
    )
    for way in ways:
        wall, startup = median(way.whole, 0), median(way.startup, 0)
        print(
            f"  {way.name:10s} {wall:7.2f}s {startup:8.2f}s "
            f"{samples / wall / 1e6:7.2f} M/s   {samples / (wall - startup) / 1e6:7.2f} M/s  "
            f"{median(way.whole, 1):6.2f}s {max(r[2] for r in way.whole):5.0f} MiB"
        )
    print("  end to end: samples / wall time; net: samples / (wall time - start-up)")
    print("per run, wall seconds (whole recording / first lines):")
    for way in ways:
        pairs = zip(way.whole, way.startup, strict=True)
        runs = ", ".join(f"{whole[0]:.2f}/{first[0]:.2f}" for whole, first in pairs)
        print(f"  {way.name:10s} {runs}")
    if len(ways) > 2:
        this, before = ways[0], ways[-1]
        ratio = median(before.whole, 0) / median(this.whole, 0)
        cpu_ratio = median(before.whole, 1) / median(this.whole, 1)
        startup_ratio = median(before.startup, 0) / median(this.startup, 0)
        print(
            f"against / command: {ratio:.2f}x the wall time, {cpu_ratio:.2f}x the CPU time, "
            f"{startup_ratio:.2f}x the start-up"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, default=26)
    parser.add_argument("--visits", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--against", help="another checkout's gymfloor command, to compare")
    args = parser.parse_args()

    ways = [
        Way("command", [GYMFLOOR, "analyze"]),
        Way("one core", [GYMFLOOR, "analyze"], cpus={min(os.sched_getaffinity(0))}),
    ]
    if args.against:
        ways.append(Way("against", [args.against, "analyze"]))
    with tempfile.TemporaryDirectory() as folder:
        big, small = Path(folder, "big.jsonl"), Path(folder, "small.jsonl")
        simulate(big, args.machines, args.visits)
        with big.open("rb") as lines:
            small.write_bytes(b"".join(itertools.islice(lines, STARTUP_LINES)))
        messages, samples = count_samples(big)
        outputs = {way.name: Path(folder, f"{way.name}.jsonl") for way in ways}
        first = Path(folder, "first.jsonl")
        for way in ways:  # untimed: numba compiles the kernel if its cache is not there yet
            timed([*way.command, str(small), "-o", str(first)], way.cpus)
        for _ in range(args.repeats):
            for way in ways:
                output = outputs[way.name]
                way.whole.append(timed([*way.command, str(big), "-o", str(output)], way.cpus))
                way.startup.append(timed([*way.command, str(small), "-o", str(first)], way.cpus))
        reports = {name: path.read_bytes() for name, path in outputs.items()}
        size_mb = big.stat().st_size / 1e6
    count = reports["command"].count(b"\n")
    same = all(text == reports["command"] for text in reports.values())
    print(
        f"recording: {messages} messages, {samples} samples, {size_mb:.1f} MB; "
        f"{count} rep reports, {'the same' if same else 'NOT THE SAME'} from every way"
    )
    report(ways, samples, args.repeats)


if __name__ == "__main__":
    main()
