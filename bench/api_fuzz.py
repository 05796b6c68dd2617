"""schemathesis against the real `gymfloor api` at length: what tests/live/test_api_fuzz.py
does (a floor of two gyms; member, staff of each gym and admin tokens; every operation, then
sequences along the inferred links; never a 5xx), with more cases. Prints the requests sent by
role; a 5xx stops the run with schemathesis's report and exit code 1.

    python bench/api_fuzz.py [--examples 100] [--scenarios 200] [--steps 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests
from tests.live.test_api_fuzz import ROLES, fuzz, serving, stateful


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=100, help="cases per operation and role")
    parser.add_argument("--scenarios", type=int, default=200, help="sequences per role")
    parser.add_argument("--steps", type=int, default=10, help="the longest sequence")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory, serving(Path(directory)) as floor:
        for role in ROLES:
            single = sum(fuzz(floor, role, args.examples).values())
            sequences = stateful(floor, role, args.scenarios, args.steps)
            print(f"{role}: {single} single calls, {len(sequences)} calls in sequences, 0 x 5xx")
    return 0


if __name__ == "__main__":
    sys.exit(main())
