"""Coaching text, in gymfloor's own words: live cues for the machine's display, and advice for
the member's session report."""

from __future__ import annotations

from collections.abc import Sequence

from gymfloor.contract import FAULT_LABELS, Fault, RepReport

_DO_NOW = {
    # A few words, read mid-rep on a small screen: what to do now, not why.
    Fault.LUMBAR_LIFTOFF: "turn around sooner and keep your lower back flat.",
    Fault.EXCESSIVE_ROM: "stop before your hips start to roll under.",
    Fault.UNCONTROLLED_DESCENT: "lower the sled over two to three seconds.",
}
CUES = {fault: f"{FAULT_LABELS[fault].capitalize()}: {do}" for fault, do in _DO_NOW.items()}
"""The live cue for each fault: what the member did, in the board's words, then what to do."""

ADVICE = {
    Fault.LUMBAR_LIFTOFF: (
        "Your lower back came away from the pad near the bottom. Lower the sled only as far as "
        "you can while your whole back stays flat against the pad."
    ),
    Fault.EXCESSIVE_ROM: (
        "You went deeper than your hips allow. Find the depth where your pelvis begins to roll "
        "under and stop just short of it; depth is worth nothing if the back pays for it."
    ),
    Fault.UNCONTROLLED_DESCENT: (
        "The sled came down too fast. Lower it under control over two to three seconds rather "
        "than letting it fall and bouncing out of the bottom."
    ),
}

SETUP = (
    "Set your feet flat in the middle of the platform, about shoulder-width apart, and keep "
    "your heels down through the whole push."
)
BRACE = (
    "Before each rep, breathe into your belly and tighten your trunk as if about to be pushed, "
    "and hold that tension until the sled is back at the top."
)
LIGHTER = (
    "Take some weight off until every rep looks like your best one; add load again only when "
    "your back stays on the pad for the whole set."
)
SEE_A_PROFESSIONAL = (
    "Your lower back keeps lifting off the pad. If your back hurts during or after training, "
    "or you feel numbness, tingling or pain running down a leg, stop and have a physiotherapist "
    "or sports physician look at it."
)

LIGHTER_WHEN_FAULTY_SHARE = 0.5
"""Faults in at least this share of a session's reps: the load is too heavy to move well."""
PROFESSIONAL_WHEN_LIFTOFF_SHARE = 0.5
"""Lift-off in at least this share of a session's reps: it is a pattern, not a slip."""
PROFESSIONAL_AFTER_LIFTOFF_SESSIONS = 3
"""Lift-off in this many sessions in a row: it persists, whatever the share in each."""


def session_advice(reports: Sequence[RepReport], liftoff_sessions_in_a_row: int = 1) -> list[str]:
    """What to tell a member after a session, most specific first; nothing after clean reps.

    `liftoff_sessions_in_a_row` counts this session and the member's sessions just before it
    that all showed lift-off."""
    if not reports:
        return []
    seen = {fault for report in reports for fault in report.faults}
    if not seen:
        return []
    advice = [ADVICE[fault] for fault in Fault if fault in seen]
    advice.append(SETUP)
    if seen & {Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM}:
        advice.append(BRACE)
    if sum(bool(r.faults) for r in reports) >= LIGHTER_WHEN_FAULTY_SHARE * len(reports):
        advice.append(LIGHTER)
    liftoffs = sum(Fault.LUMBAR_LIFTOFF in r.faults for r in reports)
    persists = liftoffs and liftoff_sessions_in_a_row >= PROFESSIONAL_AFTER_LIFTOFF_SESSIONS
    if liftoffs >= PROFESSIONAL_WHEN_LIFTOFF_SHARE * len(reports) or persists:
        advice.append(SEE_A_PROFESSIONAL)
    return advice
