"""`gymfloor demo`: simulated sets through the detector, shown as a person would read them."""

from __future__ import annotations

import argparse
from collections import defaultdict
from collections.abc import Iterable
from typing import TextIO

from gymfloor import coaching
from gymfloor.contract import Fault, RepReport
from gymfloor.detector import Detector, DetectorOutput
from gymfloor.dispatch import dispatch
from gymfloor_edge.simulator import Published

FAULT_LABEL = {
    Fault.LUMBAR_LIFTOFF: "back lifted",
    Fault.EXCESSIVE_ROM: "too deep",
    Fault.UNCONTROLLED_DESCENT: "dropped",
}


def print_demo(
    messages: Iterable[Published], detector: Detector, args: argparse.Namespace, out: TextIO
) -> None:
    outputs: list[DetectorOutput] = []
    for message in messages:
        outputs += dispatch(detector, message.topic, message.payload)
    outputs += detector.flush()
    reports = [o for o in outputs if isinstance(o, RepReport)]
    live = len(outputs) - len(reports)

    by_set: dict[tuple[str, str | None], list[RepReport]] = defaultdict(list)
    for report in reports:
        by_set[(report.machine_id, report.session_id)].append(report)

    out.write(
        f"gymfloor demo: {args.machines} simulated leg presses, {args.visits} member(s) each "
        f"(seed {args.seed}); {len(reports)} reps, {live} live fault cues\n"
    )
    for (machine_id, session_id), reps in sorted(by_set.items(), key=lambda kv: kv[1][0].t_start):
        who = f"member {reps[0].member_id}, session {session_id}" if session_id else "no check-in"
        out.write(f"\n{machine_id} - {who}\n")
        out.write("   rep   depth    down     up   back/pad  faults\n")
        for r in reps:
            ratio = "   -  " if r.min_lumbar_ratio is None else f"{r.min_lumbar_ratio:6.2f}"
            faults = ", ".join(FAULT_LABEL[f] for f in r.faults) or "ok"
            out.write(
                f"  {r.rep:4d}  {r.rom_mm:4.0f} mm  {r.eccentric_s:4.1f} s  {r.concentric_s:4.1f} s"
                f"   {ratio}   {faults}\n"
            )
        advice = coaching.session_advice(reps)
        if advice:
            out.write("  coaching:\n")
            out.writelines(f"   - {line}\n" for line in advice)
