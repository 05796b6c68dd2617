"""The staff board over a floor the test writes itself, as ingest would, into the store of a real
`gymfloor api`, seen in Debian's chromium: which alerts stay on top, what an alert card reads,
which machine the plot shows, and how the plot draws dropped samples and a silent machine.

Writing while the board is open is how ingest reaches it too: the alert stream and the tiles read
the store."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page

from gymfloor.contract import Fault, MachineKey, RepReport, Severity, StaffAlert
from gymfloor.detector import FaultDetected
from gymfloor.ingest.alerts import AlertPolicy
from gymfloor.ingest.config import AlertPolicyConfig
from gymfloor.outputs import Changes, MachineStatus, Trace, unix_ns
from gymfloor.storage import OperationalStore
from gymfloor.storage.models import Role
from gymfloor.storage.tokens import issue_token
from tests.support.browser import Tab
from tests.support.floor import store_url
from tests.support.processes import api
from tests.support.synth import rep_report

GYM = "g1"
MACHINES = ("lp-01", "lp-02", "lp-03")
HEAVY_KG = AlertPolicyConfig().heavy_load_kg + 50
LIGHT_KG = AlertPolicyConfig().heavy_load_kg - 70
MORE_THAN_A_PAGE = 45  # the board loads the newest 40 alerts
TRACE_HZ = 10


@dataclass
class Board:
    """A `gymfloor api` over a store this test writes to, as ingest would."""

    base: str
    tokens: dict[str, str]
    store: OperationalStore
    now: float

    def write(self, **changes: Any) -> None:
        self.store.write(Changes(**changes))

    def get(self, path: str) -> Any:
        headers = {"Authorization": f"Bearer {self.tokens['staff']}"}
        response = httpx.get(f"{self.base}{path}", headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def board(tmp_path: Path) -> Iterator[Board]:
    store = OperationalStore(store_url(tmp_path))
    now = time.time()
    online = MachineStatus("online", now - 600, now)
    store.write(Changes(machines={MachineKey(GYM, m): online for m in MACHINES}))
    with store.transaction() as db:
        _, staff = issue_token(db, Role.STAFF, None, "board test", now, [GYM])
    try:
        with api(tmp_path) as (base, _):
            yield Board(base, {"staff": staff}, store, now)
    finally:
        store.close()


def alert(machine_id: str, t: float, fault: Fault, load_kg: float, session: str) -> StaffAlert:
    """The alert ingest's policy raises for the first such fault of a set."""
    detected = FaultDetected(MachineKey(GYM, machine_id), t, 1, fault, session, "m-1", load_kg)
    raised = AlertPolicy().judge(detected)
    assert raised is not None
    return raised


def faulty_rep(machine_id: str, t: float, fault: Fault) -> RepReport:
    """A rep starting at `t` with the fault."""
    return rep_report(1, fault, t0=t - 10).model_copy(update={"machine_id": machine_id})


def shown(page: Page) -> list[str]:
    """The ids of the alert cards, top to bottom."""
    return page.eval_on_selector_all(".alert", "cards => cards.map(c => c.dataset.alert)")


def paren_depth(text: str) -> int:
    depth = deepest = 0
    for char in text:
        depth += {"(": 1, ")": -1}.get(char, 0)
        deepest = max(deepest, depth)
    return deepest


def wait_for_plot_of(page: Page, machine_id: str) -> None:
    page.wait_for_function(
        "id => document.querySelector('#set-title').textContent.startsWith(id + ':')"
        " && document.querySelector('#plot canvas')",
        arg=machine_id,
    )


# -- alerts ----------------------------------------------------------------------------------


def test_open_critical_alerts_stay_on_top_on_load_and_live(board: Board, tab: Tab) -> None:
    old_critical = alert("lp-01", board.now - 3600, Fault.LUMBAR_LIFTOFF, HEAVY_KG, "s-old")
    newer = [
        alert(MACHINES[i % 3], board.now - 3000 + 60 * i, Fault.EXCESSIVE_ROM, LIGHT_KG, f"s-{i}")
        for i in range(MORE_THAN_A_PAGE)
    ]
    assert old_critical.severity is Severity.CRITICAL
    assert {a.severity for a in newer} == {Severity.INFO}
    board.write(alerts=[old_critical, *newer])

    page = tab.sign_in(board, "/board", "staff")
    page.wait_for_selector("#stream-state[data-state=live]")
    page.wait_for_selector(f'.alert[data-alert="{old_critical.id}"]')
    on_load = shown(page)
    newest_first = [a.id for a in sorted(newer, key=lambda a: a.t, reverse=True)]
    assert len(on_load) > 1
    assert on_load == [old_critical.id, *newest_first[: len(on_load) - 1]]

    # Live: a newer warning goes under the open critical one; a newer critical one above it.
    warning = alert("lp-02", board.now, Fault.LUMBAR_LIFTOFF, LIGHT_KG, "s-live")
    assert warning.severity is Severity.WARNING
    board.write(alerts=[warning])
    page.wait_for_selector(f'.alert[data-alert="{warning.id}"]')
    assert shown(page)[:3] == [old_critical.id, warning.id, newest_first[0]]
    critical = alert("lp-03", board.now + 1, Fault.LUMBAR_LIFTOFF, HEAVY_KG, "s-live-2")
    board.write(alerts=[critical])
    page.wait_for_selector(f'.alert[data-alert="{critical.id}"]')
    assert shown(page)[:3] == [critical.id, old_critical.id, warning.id]

    # Taken, the old one goes back among the rest by its age.
    page.locator(f'.alert[data-alert="{old_critical.id}"] button.ack').click()
    page.wait_for_function(
        "id => !document.querySelector(`.alert[data-alert='${id}']:not(.taken)`)",
        arg=old_critical.id,
    )
    assert shown(page)[:3] == [critical.id, warning.id, newest_first[0]]


def test_an_alert_card_names_its_machine_once(board: Board, tab: Tab) -> None:
    raised = alert("lp-02", board.now - 60, Fault.LUMBAR_LIFTOFF, HEAVY_KG, "s-1")
    board.write(alerts=[raised])
    page = tab.sign_in(board, "/board", "staff")
    card = page.locator(f'.alert[data-alert="{raised.id}"]')
    card.wait_for()
    assert card.inner_text().count(raised.machine_id) == 1
    message = card.locator(".alert-message").inner_text()
    # The published message still names the machine, for those who read it alone (MQTT).
    assert raised.message == f"{raised.machine_id}: {message}"
    assert f"{raised.load_kg:g} kg" in message and "heavy" in message
    assert paren_depth(message) == 1, message


# -- the plot --------------------------------------------------------------------------------


def test_the_plot_follows_the_latest_fault_unless_a_machine_was_tapped(
    board: Board, tab: Tab
) -> None:
    page = tab.sign_in(board, "/board", "staff")
    page.wait_for_selector(".tile")
    hint = page.locator("#set-hint")
    hint.wait_for()
    assert hint.inner_text().strip() and page.locator("#set-view").is_hidden()

    board.write(reports=[faulty_rep("lp-02", board.now - 50, Fault.LUMBAR_LIFTOFF)])
    wait_for_plot_of(page, "lp-02")
    assert hint.is_hidden()
    board.write(reports=[faulty_rep("lp-03", board.now - 30, Fault.EXCESSIVE_ROM)])
    wait_for_plot_of(page, "lp-03")

    # A machine staff chose stays, whatever fault comes next.
    page.click(f'.tile[data-machine="{GYM}/lp-01"]')
    wait_for_plot_of(page, "lp-01")
    board.write(reports=[faulty_rep("lp-02", board.now - 10, Fault.UNCONTROLLED_DESCENT)])
    page.wait_for_selector(f'.tile[data-machine="{GYM}/lp-02"] .fault-uncontrolled_descent')
    assert page.locator("#set-title").inner_text().startswith("lp-01:")
    # Tapped again, it lets the plot follow the latest fault once more.
    page.click(f'.tile[data-machine="{GYM}/lp-01"]')
    wait_for_plot_of(page, "lp-02")


def test_the_sled_line_bridges_dropped_samples_but_not_a_silent_machine(
    board: Board, tab: Tab
) -> None:
    key = MachineKey(GYM, "lp-02")
    first, last = board.now - 80, board.now - 5
    dropped = (board.now - 60, board.now - 59.5)  # half a second of lost samples
    silent = (board.now - 40, board.now - 25)  # no messages at all
    trace = Trace(key)
    for i in range(round((last - first) * TRACE_HZ) + 1):
        t = first + i / TRACE_HZ
        if silent[0] <= t < silent[1]:
            continue
        lost = dropped[0] <= t < dropped[1]
        trace.t_ns.append(unix_ns(t))
        trace.sled_mm.append(math.nan if lost else 150 + 120 * math.sin(2 * math.pi * t / 8))
        trace.lumbar_kpa.append(math.nan if lost else 4.0)
        trace.lumbar_ratio.append(math.nan if lost else 0.9)
    board.write(trace={key: trace}, reports=[faulty_rep("lp-02", first + 2, Fault.EXCESSIVE_ROM)])

    page = tab.sign_in(board, "/board", "staff")
    page.click(f'.tile[data-machine="{GYM}/lp-02"]')
    wait_for_plot_of(page, "lp-02")
    served = board.get(f"/v1/machines/{GYM}/lp-02/trace")
    assert None in served["sled_mm"]  # the premise: the dropped samples reach the page as null
    t0, t1 = served["t"][0], served["t"][-1]
    middles = [sum(dropped) / 2, sum(silent) / 2]
    at_dropped, at_silent = page.evaluate(
        """([t0, t1, times]) => {
        const canvas = document.querySelector('#plot canvas');
        const box = canvas.getBoundingClientRect();
        const over = document.querySelector('#plot .u-over').getBoundingClientRect();
        const scale = canvas.width / box.width;
        const top = Math.round((over.top - box.top) * scale);
        const bottom = Math.round((over.bottom - box.top) * scale);
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const near = (i, [r, g, b]) => Math.abs(data[i] - r) < 12
            && Math.abs(data[i + 1] - g) < 12 && Math.abs(data[i + 2] - b) < 12;
        // Three pixels wide at each time, down the plot's height.
        return times.map((t) => {
            const css = over.left + (t - t0) / (t1 - t0) * over.width;
            const x = Math.round((css - box.left) * scale);
            let sled = 0, silence = 0;
            for (let y = top; y < bottom; y++) for (let dx = -1; dx <= 1; dx++) {
                const i = 4 * (y * canvas.width + x + dx);
                if (near(i, [29, 53, 87])) sled++;
                if (near(i, [222, 226, 230])) silence++;
            }
            return { sled, silence };
        });
    }""",
        [t0, t1, middles],
    )
    assert at_dropped["sled"] > 0 and at_dropped["silence"] == 0, at_dropped
    assert at_silent["sled"] == 0 and at_silent["silence"] > 0, at_silent
    assert "No readings" in page.locator("#set-legend").inner_text()
    tab.screenshot("board-gaps")
