"""The pictures in docs/: the floor board and a member's report page, as chromium shows them.

A simulated floor like the demo's (its gym, seed and members) goes through the real pipeline,
ending now, into a store of its own; `gymfloor api` serves it, and Debian's chromium, driven by
Playwright as in the browser tests, signs in with a staff and a member token:

    .venv/bin/python scripts/screenshots.py            # docs/img/board.png, report.png and
                                                       # report-trend.png
    .venv/bin/python scripts/screenshots.py report     # one page only
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for tests.support
from gymfloor.contract import encode_payload
from gymfloor.demo import GYM
from gymfloor.detector import Detector
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.pipeline import Pipeline
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore
from gymfloor.storage.models import Role
from gymfloor.storage.tokens import issue_token
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support import ROOT
from tests.support.browser import PHONE, chromium
from tests.support.floor import store_url
from tests.support.processes import api

PAGES = ["board", "report"]
BOARD = {"width": 1280, "height": 800}
TRACE_HZ = 10.0
WAIT_MS = 30_000


def floor(plan: SimulationPlan) -> Changes:
    """What ingest would store of the simulated floor, shifted to end now."""
    span = max(m.t for m in simulate(plan).messages) - plan.start
    pipeline = Pipeline(Detector(), AlertPolicy(), trace_hz=TRACE_HZ)
    for m in simulate(replace(plan, start=time.time() - span)).messages:
        pipeline.handle(m.topic, encode_payload(m.payload), m.t, live=False)
    return pipeline.take_changes()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pages", nargs="*", default=PAGES, help=f"of {PAGES} (default: both)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    args = parser.parse_args()
    if unknown := set(args.pages) - set(PAGES):
        parser.error(f"no page {', '.join(sorted(unknown))}; the pages are {', '.join(PAGES)}")
    changes = floor(SimulationPlan(seed=1, machines=4, visits=3, gym_id=GYM, members=6))
    member = Counter(r.member_id for r in changes.reports if r.member_id).most_common(1)[0][0]
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="gymfloor-screenshots-") as directory:
        data_dir = Path(directory)
        store = OperationalStore(store_url(data_dir))
        store.write(changes)
        with store.transaction() as db:
            _, staff = issue_token(db, Role.STAFF, None, "screenshots", time.time(), [GYM])
            _, mine = issue_token(db, Role.MEMBER, member, "screenshots", time.time())
        store.close()
        with api(data_dir) as (base, _), chromium() as browser:
            for name in args.pages:
                viewport, token, ready = {
                    "board": (BOARD, staff, "#plot canvas"),
                    "report": (PHONE, mine, "#chart canvas"),
                }[name]
                page = browser.new_page(viewport=viewport)  # type: ignore[arg-type]
                page.set_default_timeout(WAIT_MS)
                page.goto(f"{base}/{name}#token={token}")
                page.wait_for_selector(ready)
                if name == "board":
                    page.wait_for_selector("#stream-state[data-state=live]")
                    page.wait_for_selector(".alert")
                path = args.out / f"{name}.png"
                page.screenshot(path=str(path), animations="disabled")
                shots = [path]
                if name == "report":  # the trend lies below the fold: a picture of its own
                    page.wait_for_selector("#progress-faults canvas")
                    shots.append(args.out / "report-trend.png")
                    page.locator("#progress").screenshot(path=str(shots[-1]), animations="disabled")
                page.close()
                for shot in shots:
                    print(f"{shot}: {shot.stat().st_size // 1024} kB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
