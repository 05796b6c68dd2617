"""Staff alerts to the gyms' webhooks, received by a real HTTP server that checks each
signature: from a real ingest behind a real Mosquitto, through the deliverer of a real
`gymfloor api`; and the outbox's retries, dead letters and concurrent claims on SQLite and on a
real PostgreSQL."""

from __future__ import annotations

import itertools
import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from gymfloor.contract import Severity, StaffAlert
from gymfloor.outputs import Changes
from gymfloor.storage import OperationalStore, schema
from gymfloor.storage.alerts import acknowledge
from gymfloor.storage.models import Webhook
from gymfloor.storage.outbox import DeliveryState, WebhookEvent, retry_dead
from gymfloor.storage.webhooks import add_webhook, page_webhooks
from gymfloor.webhooks.config import WebhookConfig
from gymfloor.webhooks.deliverer import Deliverer
from tests.support.floor import (
    offline_alert,
    stored,
    two_gyms,
    two_gyms_messages,
    write_recording,
)
from tests.support.processes import (
    Mosquitto,
    PostgreSQL,
    api,
    gymfloor,
    ingest,
    issue_token,
    replay,
    wait_until,
)
from tests.support.webhooks import Receiver

RAISED, ACKNOWLEDGED = WebhookEvent.RAISED.value, WebhookEvent.ACKNOWLEDGED.value
FAST_RETRIES = {"backoff_s": 0.05, "max_backoff_s": 0.2}
"""Back-off short enough for a test to see several retries."""


def add(data_dir: Path, gym: str, receiver: Receiver | str, *args: str) -> str:
    """`gymfloor webhooks add`: the new webhook's id (from its log line)."""
    url = receiver.url if isinstance(receiver, Receiver) else receiver
    done = gymfloor("webhooks", "add", gym, url, *args, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    if isinstance(receiver, Receiver):
        receiver.secret = done.stdout.strip()
    return logged_id(done.stderr)


def logged_id(log: str) -> str:
    found = re.search(r"added webhook (\w+)", log)
    assert found is not None, log
    return found[1]


def ids(alerts: list[StaffAlert], gym: str) -> list[str]:
    return sorted(a.id for a in alerts if a.gym_id == gym)


def metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}{{{re.escape(wanted)}}} (\S+)$", text, re.MULTILINE)
    assert found is not None, f"{name}{{{wanted}}} not in /metrics"
    return float(found[1])


def webhooks(data_dir: Path, *args: str) -> tuple[int, str, str]:
    done = gymfloor("webhooks", *args, "--data-dir", str(data_dir))
    return done.returncode, done.stdout, done.stderr


def stored_secret(data_dir: Path, webhook_id: str) -> str:
    with stored(data_dir) as store, store.read() as db:
        query = select(schema.webhooks.c.secret).where(schema.webhooks.c.id == webhook_id)
        return str(db.execute(query).scalar_one())


def test_webhooks_are_added_listed_without_secrets_renewed_and_removed(tmp_path: Path) -> None:
    code, out, err = webhooks(tmp_path, "add", "g1", "ftp://example.org/x")
    assert code == 2 and "not http:// or https://" in err and out == ""
    assert not (tmp_path / "gymfloor.db").exists()  # refused before the store was made

    url = "http://10.1.2.3:8080/alerts"  # a private address: the gym's own network
    code, out, err = webhooks(tmp_path, "add", "g1", url, "--min-severity", "warning")
    secret = out.strip()
    assert code == 0 and out == secret + "\n" and secret.startswith("whsec_")
    webhook_id = logged_id(err)
    assert stored_secret(tmp_path, webhook_id) == secret

    code, out, _ = webhooks(tmp_path, "list")
    listed = [json.loads(line) for line in out.splitlines()]
    assert [(w["id"], w["gym_id"], w["url"], w["min_severity"]) for w in listed] == [
        (webhook_id, "g1", url, "warning")
    ]
    assert (listed[0]["pending"], listed[0]["dead_letters"]) == (0, 0)
    assert secret not in out and "whsec_" not in out

    code, out, _ = webhooks(tmp_path, "secret", webhook_id)
    renewed = out.strip()
    assert code == 0 and renewed.startswith("whsec_") and renewed != secret
    assert stored_secret(tmp_path, webhook_id) == renewed
    assert webhooks(tmp_path, "secret", "nosuch")[0] == 1
    assert webhooks(tmp_path, "retry", webhook_id)[0] == 0
    code, _, err = webhooks(tmp_path, "retry", "nosuch")
    assert code == 1 and "no webhook nosuch" in err

    assert webhooks(tmp_path, "remove", webhook_id)[0] == 0
    code, _, err = webhooks(tmp_path, "remove", webhook_id)
    assert code == 1 and f"no webhook {webhook_id}" in err
    assert webhooks(tmp_path, "list")[1] == ""


def test_alerts_from_real_ingest_reach_their_gyms_webhooks_signed_once_each(
    tmp_path: Path,
) -> None:
    expected = two_gyms().alerts
    assert ids(expected, "g1") and ids(expected, "g2")
    recording = write_recording(tmp_path / "floor.jsonl", two_gyms_messages())
    g1, g2 = Receiver(), Receiver()
    with g1, g2:
        add(tmp_path, "g1", g1)
        add(tmp_path, "g2", g2)
        nowhere = add(tmp_path, "g2", f"http://127.0.0.1:{Receiver().port}/never-listening")
        with Mosquitto(tmp_path / "broker") as broker, ingest(broker, tmp_path) as service:
            service.wait_for_log("subscribed")
            with replay(broker, recording) as publisher:
                assert publisher.process is not None and publisher.process.wait(120) == 0
            wait_until(lambda: stored_alerts(tmp_path) == len(expected), 60, "every alert stored")
            assert service.stop() == 0

        settings = {
            "GYMFLOOR_WEBHOOKS__POLL_S": "0.1",
            "GYMFLOOR_WEBHOOKS__MAX_ATTEMPTS": "3",
            "GYMFLOOR_WEBHOOKS__BACKOFF_S": "0.05",
        }
        staff = issue_token(tmp_path, "--role", "staff", "--gym", "g1")
        with api(tmp_path, **settings) as (base, server), httpx.Client(base_url=base) as client:
            for receiver, gym in ((g1, "g1"), (g2, "g2")):
                wait_until(raised_all(receiver, ids(expected, gym)), 60, f"{gym}'s alerts")
            # The acknowledgement, through the API, goes out as an event of its own.
            taken = ids(expected, "g1")[0]
            answer = client.post(
                f"/v1/alerts/{taken}/acknowledge", headers={"Authorization": f"Bearer {staff}"}
            )
            assert answer.status_code == 200, answer.text
            wait_until(
                lambda: bool(g1.events(ACKNOWLEDGED)), 30, "the acknowledgement at g1's webhook"
            )
            wait_until(lambda: outbox_settled(tmp_path), 60, "every delivery sent or given up")
            metrics = client.get("/metrics").text
        server.wait_for_log("dead-lettered after 3 attempts", count=len(ids(expected, "g2")))

    for receiver, gym in ((g1, "g1"), (g2, "g2")):
        raised = receiver.events(RAISED)
        assert sorted(r.alert_id for r in raised) == ids(expected, gym)  # each once, no other
        assert {r.alert["gym_id"] for r in raised} == {gym}
        assert receiver.bad_signatures == 0
        assert all(r.acknowledged_at is None for r in raised)  # sent before the acknowledgement
    (acknowledged,) = g1.events(ACKNOWLEDGED)
    assert acknowledged.alert_id == taken
    assert acknowledged.acknowledged_at == answer.json()["acknowledged_at"]
    assert acknowledged.acknowledged_by == answer.json()["acknowledged_by"]
    assert acknowledged.alert == next(r.alert for r in g1.events(RAISED) if r.alert_id == taken)
    assert not g2.events(ACKNOWLEDGED)  # another gym's acknowledgement

    dead = len(ids(expected, "g2"))
    assert metric(metrics, "gymfloor_webhook_dead_letters", gym="g2", webhook=nowhere) == dead
    assert metric(metrics, "gymfloor_webhook_pending", gym="g2", webhook=nowhere) == 0


def raised_all(receiver: Receiver, alert_ids: list[str]) -> Callable[[], bool]:
    return lambda: len(receiver.events(RAISED)) >= len(alert_ids)


def stored_alerts(data_dir: Path) -> int:
    with stored(data_dir) as store:
        return len(store.alerts())


def outbox_settled(data_dir: Path) -> bool:
    with stored(data_dir) as store, store.read() as db:
        return all(w.pending == 0 for w in page_webhooks(db, None, 100).items)


# -- the outbox and its deliverers, on SQLite and PostgreSQL ------------------------------------


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgreSQL]:
    with PostgreSQL() as server:
        yield server


DATABASES = itertools.count()


@pytest.fixture(params=["sqlite", "postgresql"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, postgres: PostgreSQL
) -> Iterator[OperationalStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'store.db'}"
    else:
        url = postgres.new_database(f"webhooks_{next(DATABASES)}")
    opened = OperationalStore(url)
    yield opened
    opened.close()


def subscribe(
    store: OperationalStore, gym: str, receiver: Receiver, minimum: Severity | None = None
) -> str:
    with store.transaction() as db:
        webhook_id, receiver.secret = add_webhook(db, gym, receiver.url, minimum)
    return webhook_id


def attempts(store: OperationalStore) -> list[int]:
    """The attempts of every delivery still pending."""
    d = schema.webhook_deliveries
    with store.read() as db:
        query = select(d.c.attempts).where(d.c.state == DeliveryState.PENDING)
        return list(db.execute(query).scalars())


def webhook(store: OperationalStore, webhook_id: str) -> Webhook:
    with store.read() as db:
        (found,) = [w for w in page_webhooks(db, None, 100).items if w.id == webhook_id]
    return found


def delivering(deliverer: Deliverer, condition: Callable[[], bool], what: str) -> None:
    """Run the deliverer's rounds until `condition` holds."""
    wait_until(lambda: deliverer.deliver_due() >= 0 and condition(), 60, what)


@pytest.mark.parametrize("outage", ["http_500", "connection_refused"])
def test_a_receiver_that_fails_then_recovers_gets_everything_in_order(
    store: OperationalStore, outage: str
) -> None:
    changes = two_gyms()
    expected = ids(changes.alerts, "g1")
    with Receiver() as receiver:
        subscribe(store, "g1", receiver)
        store.write(changes)
        if outage == "http_500":
            receiver.failing = True
        else:
            receiver.stop()
        deliverer = Deliverer(store, WebhookConfig(max_attempts=100, **FAST_RETRIES))
        delivering(
            deliverer, lambda: min(attempts(store), default=0) >= 2, "two failed attempts of each"
        )
        assert not receiver.accepted
        # Taken on the board while the receiver is down: the raised event's retry tells of it.
        taken = expected[0]
        with store.transaction() as db:
            record = acknowledge(db, taken, "staff-token", time.time())
        assert record is not None
        if outage == "http_500":
            receiver.failing = False
        else:
            receiver.start()
        delivering(deliverer, lambda: not attempts(store), "every delivery sent")

    raised = receiver.events(RAISED)
    assert sorted(r.alert_id for r in raised) == expected  # each once, none of g2
    assert receiver.bad_signatures == 0
    of_taken = [r for r in receiver.accepted if r.alert_id == taken]
    assert [r.event for r in of_taken] == [RAISED, ACKNOWLEDGED]  # in order
    assert all(r.acknowledged_at == record.acknowledged_at for r in of_taken)
    assert all(r.acknowledged_by == "staff-token" for r in of_taken)


def test_a_receiver_that_never_recovers_leads_to_counted_dead_letters(
    store: OperationalStore,
) -> None:
    changes = two_gyms()
    expected = ids(changes.alerts, "g1")
    with Receiver() as receiver:
        webhook_id = subscribe(store, "g1", receiver)
        store.write(changes)
        receiver.failing = True
        deliverer = Deliverer(store, WebhookConfig(max_attempts=3, **FAST_RETRIES))
        delivering(deliverer, lambda: not attempts(store), "every delivery given up")
        given_up = webhook(store, webhook_id)
        assert (given_up.dead_letters, given_up.pending) == (len(expected), 0)
        assert receiver.requests == 3 * len(expected)  # each tried max_attempts times

        # Once the receiver is back, `gymfloor webhooks retry` sends them after all.
        receiver.failing = False
        with store.transaction() as db:
            assert retry_dead(db, webhook_id, time.time()) == len(expected)
        delivering(deliverer, lambda: not attempts(store), "every dead letter sent")
    assert sorted(r.alert_id for r in receiver.events(RAISED)) == expected
    assert webhook(store, webhook_id).dead_letters == 0


def test_a_minimum_severity_keeps_lesser_alerts_and_their_acknowledgements_away(
    store: OperationalStore,
) -> None:
    changes = two_gyms()
    of_g1 = [a for a in changes.alerts if a.gym_id == "g1"]
    critical = sorted(a.id for a in of_g1 if a.severity == Severity.CRITICAL)
    lesser = sorted(a.id for a in of_g1 if a.severity != Severity.CRITICAL)
    assert critical and lesser
    with Receiver() as receiver:
        subscribe(store, "g1", receiver, Severity.CRITICAL)
        store.write(changes)
        with store.transaction() as db:
            for alert_id in (critical[0], lesser[0]):
                acknowledge(db, alert_id, "staff-token", time.time())
        deliverer = Deliverer(store, WebhookConfig())
        delivering(deliverer, lambda: not attempts(store), "every delivery sent")
    assert sorted(r.alert_id for r in receiver.events(RAISED)) == critical
    assert [r.alert_id for r in receiver.events(ACKNOWLEDGED)] == [critical[0]]


def test_deliverers_side_by_side_send_each_delivery_once(store: OperationalStore) -> None:
    changes = two_gyms()
    with Receiver() as g1, Receiver() as g2:
        subscribe(store, "g1", g1)
        subscribe(store, "g2", g2)
        store.write(changes)
        store.write(changes)  # as a journal replay: the alerts are stored, and sent, once
        config = WebhookConfig(poll_s=0.05, batch=2)
        deliverers = [Deliverer(store, config) for _ in range(3)]
        for deliverer in deliverers:
            deliverer.start()
        wait_until(lambda: not attempts(store), 60, "every delivery sent")
        for deliverer in deliverers:
            deliverer.stop()
    for receiver, gym in ((g1, "g1"), (g2, "g2")):
        assert sorted(r.alert_id for r in receiver.accepted) == ids(changes.alerts, gym)
        assert len({r.delivery_id for r in receiver.accepted}) == len(receiver.accepted)


def test_a_cleared_alert_is_delivered_again_as_cleared_after_its_raise(
    store: OperationalStore,
) -> None:
    alert = offline_alert()
    with Receiver() as receiver:
        subscribe(store, "g1", receiver)
        store.write(Changes(alerts=[alert]))
        cleared = alert.model_copy(update={"cleared_at": 130.0})
        store.write(Changes(cleared=[cleared]))
        store.write(Changes(cleared=[cleared]))  # a replay's clearance: no second delivery
        delivering(Deliverer(store, WebhookConfig()), lambda: not attempts(store), "all sent")
    events = [(r.event, r.cleared_at) for r in receiver.accepted]
    assert events == [(RAISED, 130.0), (WebhookEvent.CLEARED.value, 130.0)]
