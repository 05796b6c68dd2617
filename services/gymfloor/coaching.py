"""Coaching text, in gymfloor's own words: live cues for the machine's display, and advice for
the member's session report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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
KEY_CUES = 3
"""How many of the advice's first items matter most: the report shows them and folds the rest."""

SAFETY_ORDER = (Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM, Fault.UNCONTROLLED_DESCENT)
"""The faults by the harm they risk: the lower back bending under load, then the depth that
leads to it, then a sled that falls too fast."""


def session_advice(reports: Sequence[RepReport], liftoff_sessions_in_a_row: int = 1) -> list[str]:
    """What to tell a member after a session, what matters most first; nothing after clean reps.

    The ranking: each fault seen, in SAFETY_ORDER; then the general cues, the one concerning
    the most reps first (a lighter load: every faulty rep; bracing: the reps with lift-off or
    excessive depth; the feet's set-up, a reminder for any session with a fault, last). The
    first KEY_CUES items are what matters most. `liftoff_sessions_in_a_row` counts this session
    and the member's sessions just before it that all showed lift-off."""
    if not reports:
        return []
    reps_with = {fault: sum(fault in r.faults for r in reports) for fault in Fault}
    faulty = sum(bool(r.faults) for r in reports)
    if not faulty:
        return []
    advice = [ADVICE[fault] for fault in SAFETY_ORDER if reps_with[fault]]
    general: list[tuple[int, str]] = []  # (reps concerned, advice); a tie keeps this order
    if faulty >= LIGHTER_WHEN_FAULTY_SHARE * len(reports):
        general.append((faulty, LIGHTER))
    back_at_risk = sum(
        bool({Fault.LUMBAR_LIFTOFF, Fault.EXCESSIVE_ROM} & set(r.faults)) for r in reports
    )
    if back_at_risk:
        general.append((back_at_risk, BRACE))
    general.append((0, SETUP))
    advice += [text for _, text in sorted(general, key=lambda item: -item[0])]
    streak = liftoff_sessions_in_a_row
    if needs_a_professional(reps_with[Fault.LUMBAR_LIFTOFF], len(reports), streak):
        advice.append(SEE_A_PROFESSIONAL)
    return advice


def needs_a_professional(liftoff_reps: int, reps: int, liftoff_sessions_in_a_row: int) -> bool:
    """The one rule for advising a physiotherapist, for a session and for a member's trend
    alike: lift-off in this session, and either in most of its reps or in several sessions
    running."""
    if not liftoff_reps:
        return False
    return (
        liftoff_reps >= PROFESSIONAL_WHEN_LIFTOFF_SHARE * reps
        or liftoff_sessions_in_a_row >= PROFESSIONAL_AFTER_LIFTOFF_SESSIONS
    )


def liftoff_streak(sessions_newest_first: Iterable[tuple[int, int]]) -> int:
    """How many sessions in a row, from the newest, showed lift-off, given each session's
    (reps, reps with lift-off). A session without reps says nothing about the back: it neither
    breaks the streak nor adds to it."""
    streak = 0
    for reps, liftoff_reps in sessions_newest_first:
        if not reps:
            continue
        if not liftoff_reps:
            break
        streak += 1
    return streak


DESCENT_TARGET_S = (2.0, 3.0)
"""The descent a member is coached towards, as ADVICE and CUES say: two to three seconds."""

TREND_SENTENCES: dict[tuple[str, str], str] = {
    # One sentence on a member's recent sessions, keyed by (what changed, how): `better` and
    # `worse` for each fault's share and for the descent time, `deeper` and `shallower` for depth.
    (Fault.LUMBAR_LIFTOFF, "worse"): (
        "Your lower back is leaving the pad more often than before: take some weight off and "
        "stop a little higher."
    ),
    (Fault.LUMBAR_LIFTOFF, "better"): "Your lower back is leaving the pad less often — good.",
    (Fault.EXCESSIVE_ROM, "worse"): (
        "You are going too deep more often than before: stop before your hips roll under."
    ),
    (Fault.EXCESSIVE_ROM, "better"): "You are going too deep less often — good.",
    (Fault.UNCONTROLLED_DESCENT, "worse"): (
        "More of your reps come down too fast: lower the sled over two to three seconds."
    ),
    (Fault.UNCONTROLLED_DESCENT, "better"): "Fewer of your reps come down too fast — good.",
    ("descent", "worse"): (
        "Your descents are drifting away from two to three seconds: take your time on the way down."
    ),
    ("descent", "better"): "Your descents are getting closer to two to three seconds — good.",
    ("depth", "deeper"): (
        "You are going deeper than before, with no more faults: keep your back flat as you do."
    ),
    ("depth", "shallower"): "You are stopping a little higher than before, with no more faults.",
    ("all", "steady"): "Steady: your depth, your descents and your faults are about the same.",
    ("all", "too few"): (
        "Train a few more times with your check-in and this shows how your reps are changing."
    ),
}
