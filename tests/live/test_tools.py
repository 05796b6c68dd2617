"""The commands around the live pipeline, as an operator runs them against a real broker:
`simulate --live`, `record`, TLS, and `--help`."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from gymfloor.contract import MachineKey, read_recording
from tests.support.floor import stored
from tests.support.processes import Mosquitto, Service, gymfloor, wait_until


def test_simulated_machines_go_live_and_a_recorder_captures_them(tmp_path: Path) -> None:
    recording = tmp_path / "captured.jsonl"
    with Mosquitto(tmp_path / "broker") as broker:
        env = {"GYMFLOOR_MQTT_URL": broker.url}
        with Service("record", "-o", str(recording), "--count", "200", env=env) as recorder:
            recorder.wait_for_log("connected")
            with Service("simulate", "--live", "--machines", "3", "--gym", "g7", env=env) as sim:
                assert recorder.process is not None and recorder.process.wait(60) == 0
                assert sim.stop() == 0
            assert any("stopped after" in line for line in sim.log)
        last_words = subprocess.run(
            [
                "mosquitto_sub",
                "-p",
                str(broker.port),
                "-t",
                "gymfloor/v1/g7/+/status",
                "-C",
                "3",
                "-W",
                "5",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    lines = recording.read_bytes().splitlines()
    messages = list(read_recording(lines))
    assert len(messages) == 200 and all(hasattr(m, "topic") for m in messages)
    machines = {m.topic.split("/")[3] for m in messages}  # type: ignore[union-attr]
    assert machines == {"lp-01", "lp-02", "lp-03"}
    # The retained status now says each machine went offline, as its agent said goodbye.
    assert [json.loads(s)["state"] for s in last_words.stdout.splitlines()] == ["offline"] * 3
    analyzed = gymfloor("analyze", str(recording))
    assert analyzed.returncode == 0 and "200 messages, 0 skipped" in analyzed.stderr


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """A private CA and a broker certificate for 127.0.0.1, made with openssl."""
    folder = tmp_path_factory.mktemp("tls")
    ca_key, ca, key, request, cert = (
        folder / n for n in ("ca.key", "ca.pem", "b.key", "b.csr", "b.pem")
    )

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        "2",
        "-subj",
        "/CN=gymfloor test CA",
    )
    openssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(key),
        "-out",
        str(request),
        "-subj",
        "/CN=127.0.0.1",
    )
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "x509",
        "-req",
        "-in",
        str(request),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        "2",
        "-extfile",
        str(folder / "san.ext"),
    )
    return ca, cert, key


def test_ingest_and_tools_speak_tls_to_a_broker_that_requires_it(
    certificates: tuple[Path, Path, Path], tmp_path: Path
) -> None:
    ca = certificates[0]
    with Mosquitto(tmp_path / "broker", tls=certificates) as broker:
        assert broker.url.startswith("mqtts://")
        trusted = {"GYMFLOOR_MQTT_URL": broker.url, "GYMFLOOR_MQTT_CA_FILE": str(ca)}
        with Service("ingest", env={**trusted, "GYMFLOOR_DATA_DIR": str(tmp_path)}) as ingest:
            ingest.wait_for_log("subscribed")
            simulated = tmp_path / "rec.jsonl"
            assert gymfloor("simulate", "-o", str(simulated), "--machines", "1").returncode == 0
            replayed = gymfloor("replay", str(simulated), "--speed", "0", env=trusted)
            assert replayed.returncode == 0, replayed.stderr
            expected = len(gymfloor("analyze", str(simulated)).stdout.splitlines())

            def stored() -> int:
                done = gymfloor("reps", "export", "--data-dir", str(tmp_path))
                return len(done.stdout.splitlines())

            wait_until(lambda: stored() >= expected > 0, 60, "every rep over TLS")
        # Without the CA the broker's certificate is not trusted: no connection, said plainly.
        with Service("record", env={"GYMFLOOR_MQTT_URL": broker.url}) as untrusting:
            untrusting.wait_for_log("cannot reach")
            assert not any("connected to" in line for line in untrusting.log)


def test_every_command_explains_itself() -> None:
    for command, mentions in {
        "ingest": ("GYMFLOOR_MQTT_URL", "GYMFLOOR_DB_URL", "--mqtt-url"),
        "edge": ("--driver", "--replay", "--simulate", "GYMFLOOR_EDGE__MACHINE_ID"),
        "replay": ("--speed",),
        "record": ("--count",),
        "demo": ("Ctrl-C",),
    }.items():
        done = gymfloor(command, "--help")
        text = " ".join(done.stdout.split())  # argparse wraps lines anywhere
        assert done.returncode == 0
        assert all(m in text for m in mentions), (command, text)
    done = gymfloor("reps", "export", "--help")
    assert done.returncode == 0 and "JSON Lines" in " ".join(done.stdout.split())


def test_ingest_tracks_machines_online_and_offline_from_status_and_will(tmp_path: Path) -> None:
    def state(machine: str) -> str | None:
        with stored(tmp_path) as store:
            status = store.machines().get(MachineKey("g1", machine))
        return status.state if status else None

    with Mosquitto(tmp_path / "broker") as broker:
        env = {"GYMFLOOR_MQTT_URL": broker.url, "GYMFLOOR_DATA_DIR": str(tmp_path)}
        with Service("ingest", env=env) as ingest:
            ingest.wait_for_log("subscribed")
            leaving = Service("edge", "--machine", "lp-01", env=env).start()
            crashing = Service("edge", "--machine", "lp-02", env=env).start()
            wait_until(lambda: state("lp-01") == state("lp-02") == "online", 30, "both online")
            assert leaving.stop() == 0  # says goodbye
            crashing.kill()  # the broker speaks its will
            wait_until(lambda: state("lp-01") == state("lp-02") == "offline", 30, "both offline")
    # Each agent kept its outbox where `gymfloor edge --help` says it does by default.
    wide = gymfloor("edge", "--help", env={"COLUMNS": "1000"}).stdout  # no wrapped lines
    outbox = re.search(r"default: DATA_DIR/(\S+)\)", wide)
    assert outbox is not None, wide
    for machine in ("lp-01", "lp-02"):
        assert (tmp_path / outbox[1].replace("GYM", "g1").replace("MACHINE", machine)).is_file()


def test_a_driver_that_cannot_be_loaded_is_a_clear_error(tmp_path: Path) -> None:
    done = gymfloor(
        "edge", "--driver", "no_such_vendor:Driver", env={"GYMFLOOR_DATA_DIR": str(tmp_path)}
    )
    assert done.returncode == 2 and "cannot load the driver no_such_vendor:Driver" in done.stderr
