"""Coaching text, in gymfloor's own words, for the machine display and the member's report."""

from __future__ import annotations

from gymfloor.contract import Fault

LIVE_CUE = {
    Fault.LUMBAR_LIFTOFF: "Keep your lower back on the pad: stop before your hips roll under.",
    Fault.EXCESSIVE_ROM: "Stop a little higher, before your lower back starts to round.",
    Fault.UNCONTROLLED_DESCENT: "Slow down: take two to three seconds to lower the sled.",
}
"""Short enough to read on the machine's display in the middle of a rep."""

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
