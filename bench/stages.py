"""Where a live ingest process spends its CPU, per stage, in microseconds per message.

Runs `bench/pipeline.py --parts throughput` (a real Mosquitto, a fresh `gymfloor ingest`, a
stream of telemetry from a minimal publisher) under py-spy, which samples every thread of ingest
while it runs on a CPU. Each sample is put in the stage of the innermost frame that names one
(below), and a stage's share of the samples times ingest's CPU per message (which the bench
measures from /proc) gives its microseconds per message.

Given several checkouts (`--checkout DIR`, each with its own `.venv` holding py-spy), the runs
alternate between them, so that two versions are compared side by side on the same machine at
the same time; medians over `--repeats`.

    python bench/stages.py --checkout ../before --checkout . --repeats 3
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

# Innermost match wins; patterns see "function (file)" of each frame. Names of the code before
# and after the ingest core was split into stages are both listed, so both can be compared.
# `MqttIntake._receive` hands a socket read's messages over (it took them one by one before).
_CHECKPOINT = r"save_checkpoint|snapshot|CheckpointFile"
_ROUTING = r"\((pipeline|dispatch|topics|rejects|alerts)\.py"
_HAND_OVER = r"\(lanes\.py|_hand_over|_put_received|MqttIntake\._receive"
_PAHO = r"client\.py|connection\.py|_packet\.py|mqtt_intake\.py"
STAGES: list[tuple[str, re.Pattern[str]]] = [
    ("start-up (imports, numba cache)", re.compile(r"_find_and_load|warm_up|_compile_bytecode")),
    ("journal write", re.compile(r"\(journal\.py")),
    ("checkpoint (snapshot, pickle, fsync)", re.compile(_CHECKPOINT)),
    ("store writes", re.compile(r"\((store|sinks)\.py|sqlalchemy|OperationalStore")),
    ("time-series spool", re.compile(r"\((points|spool|sink)\.py")),
    ("decode and validate", re.compile(r"decode_|_validate|\(payloads\.py|pydantic|msgspec")),
    ("detector", re.compile(r"\((detector|kernel|smoothing|crossings)\.py")),
    ("trace downsampling", re.compile(r"downsample")),
    ("topic, presence, routing, rejects", re.compile(_ROUTING)),
    ("publishing answers", re.compile(r"publish \(|_publish|_send_publish")),
    ("hand-over between threads", re.compile(_HAND_OVER)),
    ("paho: receive, acknowledge", re.compile(_PAHO)),
    ("service loop, timers, status", re.compile(r"service\.py|checkpoint\.py|threading\.py")),
]
CPU_LINE = re.compile(r"CPU per message: ingest ([\d.]+) us")
FRAME = re.compile(r"^(?P<name>.*?) \((?P<file>[^:)]*)")


def stage_of(frames: list[str]) -> str:
    for frame in reversed(frames):
        match = FRAME.match(frame)
        text = f"{match['name']} ({Path(match['file']).name}" if match else frame
        for stage, pattern in STAGES:
            if pattern.search(text):
                return stage
    return "other"


def run_once(checkout: Path, messages: int, folder: Path) -> tuple[float, Counter[str]]:
    """Ingest's CPU per message, and its on-CPU samples per stage."""
    raw = folder / "samples.txt"
    command = [
        str(checkout / ".venv/bin/py-spy"), "record", "--subprocesses", "--format", "raw",
        "--rate", "400", "--output", str(raw), "--",
        str(checkout / ".venv/bin/python"), str(checkout / "bench/pipeline.py"),
        "--parts", "throughput", "--repeats", "1", "--flood-clients", "lean",
        "--messages", str(messages), "--no-flood-alone",
    ]  # fmt: skip
    output = subprocess.run(command, cwd=checkout, capture_output=True, text=True, check=True)
    cpu = CPU_LINE.search(output.stdout)
    if cpu is None:
        sys.exit(f"no CPU figure in the bench's output:\n{output.stdout[-2000:]}")
    stages: Counter[str] = Counter()
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        if "gymfloor ingest" not in frames[0] and not any("ingest" in f for f in frames[:3]):
            continue
        stages[stage_of(frames[1:])] += int(count)
    return float(cpu[1]), stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkout", type=Path, action="append", help="default: this one")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--messages", type=int, default=60_000)
    args = parser.parse_args()
    checkouts = [c.resolve() for c in args.checkout or [Path(__file__).resolve().parent.parent]]
    cpu: dict[Path, list[float]] = {c: [] for c in checkouts}
    per_stage: dict[Path, dict[str, list[float]]] = {c: {} for c in checkouts}
    with tempfile.TemporaryDirectory() as tmp:
        for repeat in range(args.repeats):
            for checkout in checkouts:
                us, stages = run_once(checkout, args.messages, Path(tmp))
                cpu[checkout].append(us)
                total = sum(stages.values()) - stages["start-up (imports, numba cache)"]
                for stage, count in stages.items():
                    per_stage[checkout].setdefault(stage, []).append(us * count / total)
                print(f"run {repeat + 1}, {checkout.name}: {us:.1f} us per message", flush=True)
    names = [name for name, _ in STAGES if name != STAGES[0][0]] + ["other"]
    print(f"\nµs per message, median of {args.repeats} ({args.messages} messages, lean publisher)")
    print(f"{'stage':40s}" + "".join(f"{c.name[:14]:>16s}" for c in checkouts))
    for name in names:
        cells = [statistics.median(per_stage[c].get(name, [0.0])) for c in checkouts]
        print(f"{name:40s}" + "".join(f"{v:16.1f}" for v in cells))
    print(f"{'ingest CPU per message':40s}" + "".join(
        f"{statistics.median(cpu[c]):16.1f}" for c in checkouts))  # fmt: skip


if __name__ == "__main__":
    main()
