"""Machine logins bound to their gym, on a real Mosquitto: the password `gymfloor machines add`
prints opens the login init-auth writes for it, and that login speaks only for its own machine
of its own gym, even where another gym has a machine of the same id."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from gymfloor.contract.topics import MachineChannel, MachineKey
from tests.live.test_compose import NOT_AUTHORIZED, PASSWORDS, Session, init_auth
from tests.support.processes import ConfiguredMosquitto, Mosquitto, gymfloor, wait_until
from tests.support.stack import MOSQUITTO_DIR

OWN = MachineKey("g1", "lp-07")
NAMESAKE = MachineKey("g2", "lp-07")  # the same machine id, in another gym


def registered(data_dir: Path, key: MachineKey) -> str:
    """`gymfloor machines add`: the password it prints."""
    done = gymfloor("machines", "add", *key, "--data-dir", str(data_dir))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.fixture(scope="module")
def logins(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    data_dir = tmp_path_factory.mktemp("store")
    return {f"{key.gym_id}.{key.machine_id}": registered(data_dir, key) for key in (OWN, NAMESAKE)}


@pytest.fixture(scope="module")
def broker(
    tmp_path_factory: pytest.TempPathFactory, logins: dict[str, str]
) -> Iterator[ConfiguredMosquitto]:
    """deploy/mosquitto as deployed, with init-auth's password file and ACL for both machines."""
    directory = tmp_path_factory.mktemp("broker")
    machines = ",".join(f"{login}:{password}" for login, password in logins.items())
    done = init_auth(directory / "auth", **{**PASSWORDS, "MQTT_MACHINES": machines})
    assert done.returncode == 0, done.stderr
    (directory / "data").mkdir()
    paths = {"/mosquitto/auth/": directory / "auth", "/mosquitto/data/": directory / "data"}
    with ConfiguredMosquitto(directory, MOSQUITTO_DIR / "mosquitto.conf", paths) as server:
        yield server


def test_a_machine_cannot_publish_as_the_namesake_of_another_gym(
    broker: ConfiguredMosquitto, logins: dict[str, str]
) -> None:
    ingest = Session(broker.port, "ingest", PASSWORDS["MQTT_INGEST_PASSWORD"])
    own = Session(broker.port, "g1.lp-07", logins["g1.lp-07"])
    namesake = Session(broker.port, "g2.lp-07", logins["g2.lp-07"])
    try:
        assert ingest.accepted and own.accepted and namesake.accepted
        assert not ingest.subscribe("gymfloor/v1/+/+/telemetry").is_failure
        telemetry = MachineChannel.TELEMETRY
        refused = own.publish(NAMESAKE.topic(telemetry), b"spoofed")
        assert refused.value == NOT_AUTHORIZED
        assert not own.publish(OWN.topic(telemetry), b"own").is_failure
        assert not namesake.publish(NAMESAKE.topic(telemetry), b"namesake's").is_failure
        wait_until(lambda: len(ingest.received) >= 2, 10, "both machines' telemetry at ingest")
        assert sorted(ingest.received) == [
            (OWN.topic(telemetry), b"own"),
            (NAMESAKE.topic(telemetry), b"namesake's"),
        ]

        # Feedback reaches its own machine only: the namesake's is not delivered to g1.lp-07.
        own.subscribe(NAMESAKE.topic(MachineChannel.FEEDBACK))
        assert not own.subscribe(OWN.topic(MachineChannel.FEEDBACK)).is_failure
        feedback = MachineChannel.FEEDBACK
        assert not ingest.publish(NAMESAKE.topic(feedback), b"namesake's cue").is_failure
        assert not ingest.publish(OWN.topic(feedback), b"cue").is_failure
        wait_until(lambda: len(own.received) >= 1, 10, "feedback at g1.lp-07")
        assert own.received == [(OWN.topic(feedback), b"cue")]
    finally:
        for session in (ingest, own, namesake):
            session.close()


def test_the_stored_hash_is_a_password_file_line_mosquitto_reads(tmp_path: Path) -> None:
    """The store keeps the password as mosquitto_passwd would write it, so a broker's password
    file can be made from the registry."""
    password = registered(tmp_path, OWN)
    with sqlite3.connect(tmp_path / "gymfloor.db") as db:
        ((stored,),) = db.execute("select password_hash from registered_machines").fetchall()
    broker = Mosquitto(tmp_path / "broker", users={"g1.lp-07": "replaced below"})
    (tmp_path / "broker" / "passwords").write_text(f"g1.lp-07:{stored}\n")
    with broker:
        for secret, accepted in ((password, True), ("not-the-password", False)):
            session = Session(broker.port, "g1.lp-07", secret)
            session.close()
            assert session.accepted == accepted, secret
