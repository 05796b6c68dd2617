"""How long a delivery waits after a failed attempt before the next."""

from __future__ import annotations

import random


def retry_delay(attempts: int, first_s: float, max_s: float, rng: random.Random) -> float:
    """Seconds to wait after `attempts` failed attempts: doubling from `first_s`, capped at
    `max_s`, and jittered down by up to half so that deliveries failed together (a receiver
    down) do not all come back together."""
    ceiling = min(max_s, first_s * 2.0 ** (attempts - 1))
    return ceiling - rng.uniform(0.0, ceiling / 2.0)
