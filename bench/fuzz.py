"""Ingest against 100,000 and more cases of hostile messages (tests/support/fuzz.py): the
property the fuzz test checks on a thousand, at length, with the counts.

Each case is one to four messages, in turn, to a fresh pipeline; each message must be accepted
or counted as exactly one reject, and nothing may raise. Prints the cases, the messages, how
many were accepted and rejected, and the crashes (a crash stops the run with the smallest
case hypothesis finds, and exit code 1).

    python bench/fuzz.py [--cases 100000] [--seed 0]
"""

from __future__ import annotations

import argparse
import logging
import sys
import traceback
from collections import Counter
from pathlib import Path

from hypothesis import given, seed, settings

from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
from tests.support.fuzz import RUN_SETTINGS, Message, cases, feed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)  # a line per reject would be most of the run's time
    counts: Counter[str] = Counter()

    @seed(args.seed)
    @settings(max_examples=args.cases, **RUN_SETTINGS)
    @given(messages=cases)
    def property_holds(messages: list[Message]) -> None:
        pipeline = Pipeline(Detector(), AlertPolicy())
        counts["cases"] += 1
        for topic, payload in messages:
            counts["messages"] += 1
            counts["accepted" if feed(pipeline, topic, payload) else "rejected"] += 1
        counts["rejects counted"] += pipeline.rejects.total

    try:
        property_holds()
    except Exception as error:
        traceback.print_exception(error)  # with hypothesis's smallest case, in its notes
        counts["crashes"] += 1
    print(
        f"cases {counts['cases']}, messages {counts['messages']}: "
        f"accepted {counts['accepted']}, rejected {counts['rejected']}, "
        f"rejects counted {counts['rejects counted']}, crashes {counts['crashes']}"
    )
    return 1 if counts["crashes"] else 0


if __name__ == "__main__":
    sys.exit(main())
