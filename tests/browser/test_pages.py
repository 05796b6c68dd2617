"""The staff board and the member report page in a real browser (Debian's chromium, driven by
Playwright), against `gymfloor api` over a store that the real pipeline fills: a simulated floor
replayed through a real Mosquitto into `gymfloor ingest`. The last stretch of the floor, with a
lumbar lift-off in it, is replayed while the board is open, so its alert must arrive live.

Screenshots go to test-artifacts/browser/."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from playwright.sync_api import Browser

from gymfloor.contract import (
    MACHINE_OFFLINE,
    MachineChannel,
    MachineKey,
    Payload,
    SessionPayload,
    StatusPayload,
    encode_payload,
)
from gymfloor_edge.simulator import SimulationPlan, simulate
from tests.support.browser import PHONE, TABLET, Tab
from tests.support.floor import (
    Report,
    analyzed,
    busiest_members,
    stored_count,
    write_recording,
)
from tests.support.processes import Mosquitto, api, ingest, issue_token, replay, wait_until


@dataclass
class Floor:
    base: str
    api: httpx.Client
    broker: Mosquitto
    directory: Path
    later: Path  # the rest of the floor, with a lift-off, for replaying while the board is open
    tokens: dict[str, str]
    members: tuple[str, str]

    def get(self, path: str, role: str, **params: Any) -> Any:
        response = self.api.get(path, params=params, headers=self.auth(role))
        assert response.status_code == 200, response.text
        return response.json()

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def first_liftoff_of_last_set(reports: list[Report]) -> float:
    """When the last session with a lift-off had its first one: the policy always raises an
    alert for the first lift-off of a set."""
    by_session: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        if "lumbar_liftoff" in report["faults"] and report["session_id"]:
            by_session[report["session_id"]].append(report["t_start"])
    assert by_session, "the simulated floor has no lift-off to replay"
    return min(max(by_session.values(), key=min))


@pytest.fixture(scope="module")
def floor(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Floor]:
    directory = tmp_path_factory.mktemp("browser")
    simulation = simulate(SimulationPlan(seed=21, machines=3, visits=4, members=3))
    reports = analyzed(write_recording(directory / "floor.jsonl", simulation.messages))
    split = first_liftoff_of_last_set(reports) - 1.0
    earlier = write_recording(
        directory / "earlier.jsonl", [m for m in simulation.messages if m.t < split]
    )
    later = write_recording(
        directory / "later.jsonl", [m for m in simulation.messages if m.t >= split]
    )
    member_a, member_b = busiest_members(reports)
    with Mosquitto(directory / "broker") as broker, ingest(broker, directory) as service:
        service.wait_for_log("subscribed")
        with replay(broker, earlier) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        expected = sum(r["t_start"] < split - 10 for r in reports)
        wait_until(lambda: stored_count(directory) >= expected, 60, "the earlier reps stored")
        tokens = {
            "staff": issue_token(
                directory, "--role", "staff", "--gym", "g1", "--label", "floor tablet"
            ),
            "member_a": issue_token(directory, "--role", "member", "--member", member_a),
            "member_b": issue_token(directory, "--role", "member", "--member", member_b),
        }
        with api(directory) as (base, _), httpx.Client(base_url=base, timeout=30) as client:
            yield Floor(base, client, broker, directory, later, tokens, (member_a, member_b))
        assert service.stop() == 0


# -- the board -------------------------------------------------------------------------------


def test_the_board_shows_a_tile_for_every_machine_with_its_state(floor: Floor, tab: Tab) -> None:
    page = tab.sign_in(floor, "/board", "staff")
    machines = floor.get("/v1/machines", "staff")["items"]
    page.wait_for_selector(".tile")
    assert page.locator(".tile").count() == len(machines) > 0
    for machine in machines:
        tile = page.locator(f'.tile[data-machine="{machine["gym_id"]}/{machine["machine_id"]}"]')
        text = tile.inner_text()
        assert machine["machine_id"] in text
        open_session = machine["current_session"]
        if machine["state"] == "offline":
            assert "Offline" in text
        elif open_session:
            reps = open_session["reps"]
            assert (f"{reps} rep" if reps else "No reps yet") in text
            assert (open_session["member_id"] or "guest") in text
        if machine["last_fault"]:
            assert tile.locator(".chip").count() == len(machine["last_fault"]["faults"])
    page.wait_for_selector("#stream-state[data-state=live]")
    alerts = floor.get("/v1/alerts", "staff", limit=40)["items"]
    page.wait_for_function(f"document.querySelectorAll('.alert').length === {len(alerts)}")
    tab.screenshot("board-tablet")


def test_a_lift_off_appears_live_and_acknowledging_it_reaches_every_board(
    floor: Floor, browser: Browser, tab: Tab
) -> None:
    page = tab.sign_in(floor, "/board", "staff")
    page.wait_for_selector("#stream-state[data-state=live]")
    page.evaluate("window.notReloaded = true")
    before = set(page.eval_on_selector_all(".alert", "items => items.map(i => i.dataset.alert)"))
    other = Tab(browser, TABLET)  # a second tablet on the same floor
    try:
        other.sign_in(floor, "/board", "staff").wait_for_selector("#stream-state[data-state=live]")
        with replay(floor.broker, floor.later) as publisher:
            assert publisher.process is not None and publisher.process.wait(120) == 0
        new_liftoff = ".alert[data-kind=lumbar_liftoff]:not(.taken)" + "".join(
            f':not([data-alert="{alert_id}"])' for alert_id in before
        )
        page.wait_for_selector(new_liftoff)
        assert page.evaluate("window.notReloaded") is True
        fresh = page.locator(new_liftoff).first
        alert_id = fresh.get_attribute("data-alert")
        alert = page.locator(f'.alert[data-alert="{alert_id}"]')
        if alert.get_attribute("data-severity") == "critical":  # a red card, not a white one
            colour = alert.evaluate("node => getComputedStyle(node).backgroundColor")
            assert colour == "rgb(193, 18, 31)"
        tab.screenshot("board-live-alert")

        alert.locator("button.ack").click()
        page.wait_for_selector(f'.alert.taken[data-alert="{alert_id}"]')
        other.page.wait_for_selector(f'.alert.taken[data-alert="{alert_id}"]')
        taken = floor.get("/v1/alerts", "staff", acknowledged="true", limit=200)["items"]
        (record,) = [a for a in taken if a["id"] == alert_id]
        token_id = floor.tokens["staff"].split("_")[1]
        assert record["acknowledged_by"] == token_id
        tab.screenshot("board-acknowledged")
    finally:
        other.close()
    assert other.problems == []


def test_selecting_a_machine_plots_its_set_with_the_faulty_reps_marked(
    floor: Floor, tab: Tab
) -> None:
    page = tab.sign_in(floor, "/board", "staff")
    machines = floor.get("/v1/machines", "staff")["items"]
    traces = {
        f"{m['gym_id']}/{m['machine_id']}": floor.get(
            f"/v1/machines/{m['gym_id']}/{m['machine_id']}/trace", "staff"
        )
        for m in machines
    }
    # The machine whose set shows the most faults makes the plot worth looking at.
    key, trace = max(
        traces.items(), key=lambda item: sum(bool(r["faults"]) for r in item[1]["reps"])
    )
    faulty = sum(bool(rep["faults"]) for rep in trace["reps"])
    assert len(trace["t"]) > 100 and faulty > 0
    page.click(f'.tile[data-machine="{key}"]')
    page.wait_for_selector("#plot canvas")
    plot = page.locator("#plot")
    assert plot.get_attribute("data-samples") == str(len(trace["t"]))
    assert plot.get_attribute("data-faulty-reps") == str(faulty)
    assert page.locator("#set-title").inner_text().startswith(trace["machine_id"])
    # Drawn, not just sized: the sled line and a fault's colour are on the canvas.
    colours = page.evaluate(
        """() => {
        const canvas = document.querySelector('#plot canvas');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        const near = (r, g, b) => { let n = 0; for (let i = 0; i < data.length; i += 4)
            if (Math.abs(data[i] - r) < 12 && Math.abs(data[i + 1] - g) < 12
                && Math.abs(data[i + 2] - b) < 12 && data[i + 3] > 200) n++; return n; };
        return { sled: near(29, 53, 87), ratio: near(42, 157, 143),
                 fault: near(214, 40, 40) + near(247, 127, 0) + near(123, 44, 191) };
    }"""
    )
    assert colours["sled"] > 200, colours
    assert colours["ratio"] > 200, colours
    assert colours["fault"] > 20, colours
    tab.screenshot("board-machine-plot")


def test_the_board_refuses_a_member_token(floor: Floor, tab: Tab) -> None:
    page = tab.sign_in(floor, "/board", "member_a")
    message = page.wait_for_selector("#sign-in .message:not(:empty)")
    assert message is not None and "cannot open this page" in message.inner_text()
    assert page.locator("#floor").is_hidden()
    tab.problems.clear()  # the 403 the browser logged is the point of this test


# -- the member report -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["member_a", "member_b"])
def test_the_member_page_shows_that_members_own_sessions_only(
    floor: Floor, phone: Tab, who: str
) -> None:
    me, someone_else = floor.members if who == "member_a" else reversed(floor.members)
    page = phone.sign_in(floor, "/report", who)
    page.wait_for_selector("#chart canvas")
    own = floor.get("/v1/me/sessions", who, limit=50)["items"]
    shown = page.eval_on_selector_all("#sessions option", "options => options.map(o => o.value)")
    assert shown == [s["session_id"] for s in own] and len(own) > 0
    assert all(s["member_id"] == me for s in own)
    theirs = floor.get("/v1/reps", "staff", member_id=someone_else, limit=500)["items"]
    assert theirs and not {r["session_id"] for r in theirs} & set(shown)
    assert someone_else not in page.content()

    report = floor.get(f"/v1/me/sessions/{own[0]['session_id']}", who)
    assert page.locator("#report").get_attribute("data-session") == own[0]["session_id"]
    assert page.locator("#reps tbody tr").count() == len(report["reps"])
    for rep in report["reps"]:
        row = page.locator(f'#reps tbody tr[data-rep="{rep["rep"]}"]')
        assert row.locator(".chip").count() == len(rep["faults"])
    chart = page.locator("#chart")
    assert chart.get_attribute("data-reps") == str(len(report["reps"]))
    assert chart.get_attribute("data-faulty-reps") == str(
        sum(bool(r["faults"]) for r in report["reps"])
    )
    advice = report["coaching"][:-1] if report["see_a_professional"] else report["coaching"]
    shown_advice = page.locator("#coaching li").all_inner_texts()
    assert shown_advice == advice[: report["key_cues"]] or (not advice and len(shown_advice) == 1)
    trend = floor.get("/v1/me/trend", who)
    professional = report["see_a_professional"] or trend["see_a_professional"]
    assert page.locator("#professional").is_visible() == professional
    # Readable on a phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot(f"report-phone-{who}")


def test_the_member_page_follows_the_session_picked(floor: Floor, phone: Tab) -> None:
    page = phone.sign_in(floor, "/report", "member_a")
    page.wait_for_selector("#chart canvas")
    own = floor.get("/v1/me/sessions", "member_a", limit=50)["items"]
    assert len(own) >= 2
    oldest = own[-1]["session_id"]
    page.select_option("#sessions", oldest)
    page.wait_for_selector(f'#report[data-session="{oldest}"]')
    report = floor.get(f"/v1/me/sessions/{oldest}", "member_a")
    assert page.locator("#reps tbody tr").count() == len(report["reps"])


def test_on_a_phone_the_cues_that_matter_most_come_first_and_the_rest_fold_away(
    floor: Floor, phone: Tab
) -> None:
    sessions = floor.get("/v1/me/sessions", "member_a", limit=50)["items"]
    reports = [floor.get(f"/v1/me/sessions/{s['session_id']}", "member_a") for s in sessions]
    busy = next(
        r for r in reports if len(r["coaching"]) - r["see_a_professional"] > r["key_cues"] > 0
    )
    advice = busy["coaching"][:-1] if busy["see_a_professional"] else busy["coaching"]
    page = phone.sign_in(floor, "/report", "member_a")
    page.wait_for_selector("#chart canvas")
    page.select_option("#sessions", busy["session"]["session_id"])
    page.wait_for_selector(f'#report[data-session="{busy["session"]["session_id"]}"]')
    assert page.locator("#coaching li").all_inner_texts() == advice[: busy["key_cues"]]
    more = page.locator("#more-coaching")
    folded = more.locator("li")
    assert more.is_visible() and more.get_attribute("open") is None
    assert folded.count() == len(advice) - busy["key_cues"]
    assert not any(item.is_visible() for item in folded.all())
    summary = more.locator("summary")
    assert summary.inner_text() == f"{folded.count()} more tip{'s' if folded.count() > 1 else ''}"
    summary.focus()
    page.keyboard.press("Enter")  # a keyboard opens it as a tap does
    assert more.get_attribute("open") is not None
    assert folded.all_inner_texts() == advice[busy["key_cues"] :]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot("report-phone-coaching-opened")


def test_the_member_page_charts_the_trend_with_one_sentence(floor: Floor, phone: Tab) -> None:
    trend = floor.get("/v1/me/trend", "member_a")
    page = phone.sign_in(floor, "/report", "member_a")
    page.wait_for_selector("#progress-depth canvas")
    progress = page.locator("#progress")
    assert progress.is_visible()
    assert progress.get_attribute("data-sessions") == str(len(trend["sessions"]))
    assert page.locator("#progress-summary").inner_text() == trend["summary"]
    assert page.locator("#progress-faults canvas").count() == 1
    # The trend stays while another session is picked.
    oldest = page.eval_on_selector_all("#sessions option", "o => o.at(-1).value")
    page.select_option("#sessions", oldest)
    page.wait_for_selector(f'#report[data-session="{oldest}"]')
    assert page.locator("#progress-summary").inner_text() == trend["summary"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.screenshot("report-phone-trend")


def test_the_member_page_refuses_a_staff_token(floor: Floor, phone: Tab) -> None:
    page = phone.sign_in(floor, "/report", "staff")
    message = page.wait_for_selector("#sign-in .message:not(:empty)")
    assert message is not None and "cannot open this page" in message.inner_text()
    phone.problems.clear()  # the 403 the browser logged is the point of this test


def test_a_machine_that_goes_offline_mid_set_is_marked_until_it_is_back(
    floor: Floor, tab: Tab
) -> None:
    """Last among the board's tests: the machine it adds is on the floor from here on."""
    page = tab.sign_in(floor, "/board", "staff")
    page.wait_for_selector("#stream-state[data-state=live]")
    key = MachineKey("g1", "lp-offline")
    device = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="browser-test-device")
    device.connect("127.0.0.1", floor.broker.port)
    device.loop_start()

    def send(channel: MachineChannel, payload: Payload, retain: bool = False) -> None:
        device.publish(key.topic(channel), encode_payload(payload), qos=1, retain=retain)

    def presence(state: Literal["online", "offline"]) -> None:
        send(MachineChannel.STATUS, StatusPayload(v=1, state=state, t=time.time()), retain=True)

    session = SessionPayload(
        v=1, event="start", t=time.time(), session_id="s-off", member_id="m-off"
    )
    tile = f'.tile[data-machine="{key}"]'
    try:
        presence("online")
        send(MachineChannel.SESSION, session)
        page.wait_for_selector(f"{tile}:not(.offline-alert)")
        presence("offline")  # the device's goodbye, mid-set
        page.wait_for_selector(f"{tile}.offline-alert")
        alert = page.locator(f".alert[data-kind={MACHINE_OFFLINE}]")
        assert alert.count() == 1 and "m-off" in alert.inner_text()
        assert page.locator(f"{tile} .tile-offline-alert").count() == 1
        tab.screenshot("board-machine-offline")

        presence("online")
        page.wait_for_selector(f"{tile}:not(.offline-alert)")
        page.wait_for_selector(f".alert.cleared[data-kind={MACHINE_OFFLINE}]")
        assert page.locator(f"{tile} .tile-offline-alert").count() == 0
        assert "Cleared" in alert.inner_text()
        tab.screenshot("board-machine-back")
        send(
            MachineChannel.SESSION,
            SessionPayload(v=1, event="end", t=time.time(), session_id="s-off"),
        )
    finally:
        device.disconnect()
        device.loop_stop()
