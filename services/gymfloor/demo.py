"""`gymfloor demo`: the whole live system on one computer, shown as a person would read it.

An embedded broker (unless one is named), the ingest service, the API and simulated leg
presses run in this process. The floor view below is one more MQTT client: it prints the rep
reports, cues and staff alerts that ingest publishes, and each member's coaching when they check
out. The API serves the same data, with a staff token and a member token printed at the start.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import threading
import time
from collections import defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import TextIO

import paho.mqtt.client as mqtt

from gymfloor import coaching, wiring
from gymfloor.api.config import ApiConfig
from gymfloor.contract import (
    FAULT_LABELS,
    Feedback,
    MachineChannel,
    RepReport,
    StaffAlert,
    alerts_topic,
    machine_filter,
    parse_machine_topic,
)
from gymfloor.mqtt import new_client, start
from gymfloor.mqtt.embedded import EmbeddedBroker
from gymfloor.ports import free_port
from gymfloor.redact import redact
from gymfloor.settings import Settings
from gymfloor.storage import OperationalStore
from gymfloor.storage.models import Role
from gymfloor.storage.tokens import issue_token
from gymfloor_edge.fleet import run_fleet

GYM = "demo"


def run_demo(
    settings: Settings, args: argparse.Namespace, stopping: threading.Event, out: TextIO
) -> int:
    with ExitStack() as stack:
        # Settings named by a flag or the environment are the user's; the rest the demo picks.
        if "mqtt_url" in settings.model_fields_set:
            broker_note = "your broker"
        else:
            broker = stack.enter_context(EmbeddedBroker())
            settings = settings.model_copy(update={"mqtt_url": broker.url})
            broker_note = "embedded broker"
        if "data_dir" not in settings.model_fields_set:
            data_dir = stack.enter_context(tempfile.TemporaryDirectory(prefix="gymfloor-demo-"))
            settings = settings.model_copy(update={"data_dir": Path(data_dir)})
        address = settings.mqtt.address
        out.write(
            f"gymfloor demo: {args.machines} simulated leg presses, {broker_note} at {address}, "
            f"store {redact(settings.store_url)}\n"
            f"  raw traffic: mosquitto_sub -h {address.host} -p {address.port} "
            f"-t 'gymfloor/v1/#' -v\n"
            "  Ctrl-C stops.\n\n"
        )
        store = wiring.open_store(settings)
        stack.callback(store.close)
        # One process: the demo runs everything in this one.
        api_config = settings.api.model_copy(
            update={"port": free_port(settings.api.port), "workers": 1}
        )
        settings = settings.model_copy(update={"api": api_config})
        api_stopping = threading.Event()
        api_thread = threading.Thread(
            target=wiring.serve_api, args=(settings, store, api_stopping), name="api-runner"
        )
        api_thread.start()
        stack.callback(api_thread.join)
        stack.callback(api_stopping.set)
        out.write(_api_note(store, api_config) + "\n")
        out.flush()
        # Self-contained: no InfluxDB, whatever GYMFLOOR_INFLUX__URL says.
        ingest = wiring.ingest_service(settings, store, None)
        view = FloorView(out)
        viewer = new_client(
            settings.mqtt,
            f"gymfloor-demo-view-{os.getpid()}",
            persistent=False,
            on_connected=view.subscribe,
        )
        viewer.on_message = view.on_message
        start(viewer, settings.mqtt)
        stack.callback(viewer.loop_stop)
        stack.callback(viewer.disconnect)

        ingest_stopping = threading.Event()
        ingest_thread = threading.Thread(target=ingest.run, args=(ingest_stopping,), name="ingest")
        ingest_thread.start()
        # Left early (a second Ctrl-C), ingest still stops before its broker and store go.
        stack.callback(ingest_thread.join)
        stack.callback(ingest_stopping.set)
        machines_stopping = threading.Event()
        fleet = threading.Thread(
            target=run_fleet,
            args=(settings.mqtt, GYM, args.machines, args.seed, machines_stopping),
            kwargs={"speed": args.speed, "members": args.members},
            name="fleet",
        )
        fleet.start()
        stopping.wait(args.duration)
        machines_stopping.set()
        fleet.join()
        time.sleep(0.5)  # the last messages in flight reach ingest
        ingest_stopping.set()
        ingest_thread.join()
        time.sleep(0.2)  # and ingest's last outputs reach the view
        view.summary()
    return 0


def _api_note(store: OperationalStore, config: ApiConfig) -> str:
    member = "m-0001"
    with store.transaction() as db:
        now = time.time()
        _, staff = issue_token(db, Role.STAFF, None, "demo", now, [GYM])
        _, member_token = issue_token(db, Role.MEMBER, member, "demo", now)
    base = f"http://{config.host}:{config.port}"
    # The pages read a token from the link's fragment, which the browser keeps to itself.
    return (
        f"  floor board (staff): {base}/board#token={staff}\n"
        f"  member {member}'s report: {base}/report#token={member_token}\n"
        f"  API: {base}/docs\n"
        f"    staff:  curl -H 'Authorization: Bearer {staff}' {base}/v1/alerts\n"
        f"    member {member}: curl -H 'Authorization: Bearer {member_token}' "
        f"{base}/v1/me/sessions\n"
        f"    {member}'s trend, as they come back: curl -H 'Authorization: Bearer "
        f"{member_token}' {base}/v1/me/trend\n"
    )


class FloorView:
    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.reports: dict[tuple[str, str], list[RepReport]] = defaultdict(list)
        self.reps = 0
        self.alerts = 0
        self.cues = 0
        self._lock = threading.Lock()

    def subscribe(self, client: mqtt.Client, session_present: bool) -> None:
        client.subscribe(
            [
                (machine_filter(MachineChannel.REPS, GYM), 1),
                (machine_filter(MachineChannel.FEEDBACK, GYM), 1),
                (machine_filter(MachineChannel.SESSION, GYM), 1),
                (alerts_topic(GYM), 1),
            ]
        )

    def on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            if message.topic == alerts_topic(GYM):
                alert = StaffAlert.model_validate_json(message.payload)
                self.alerts += 1
                self._line(f"ALERT {alert.severity.upper():8s} {alert.message}")
                return
            machine, channel = parse_machine_topic(message.topic)
            if channel is MachineChannel.REPS:
                self._rep(RepReport.model_validate_json(message.payload))
            elif channel is MachineChannel.FEEDBACK:
                cue = Feedback.model_validate_json(message.payload)
                self.cues += 1
                self._line(f"{machine.machine_id}  rep {cue.rep}  cue on the display: {cue.cue}")
            elif channel is MachineChannel.SESSION:
                self._session(machine.machine_id, json.loads(message.payload))

    def summary(self) -> None:
        self.out.write(
            f"\n{self.reps} reps, {self.cues} live cues, {self.alerts} staff alerts. "
            "Stopped cleanly.\n"
        )
        self.out.flush()

    def _rep(self, r: RepReport) -> None:
        self.reps += 1
        self.reports[(r.machine_id, r.session_id or "")].append(r)
        ratio = "  -  " if r.min_lumbar_ratio is None else f"{r.min_lumbar_ratio:4.2f}"
        faults = ", ".join(FAULT_LABELS[f] for f in r.faults) or "ok"
        who = f"member {r.member_id}" if r.member_id else "no check-in"
        self._line(
            f"{r.machine_id}  rep {r.rep:<3d} depth {r.rom_mm:4.0f} mm  down {r.eccentric_s:3.1f} s"
            f"  up {r.concentric_s:3.1f} s  back/pad {ratio}  {faults:27s} ({who})"
        )

    def _session(self, machine_id: str, event: dict[str, object]) -> None:
        session_id = str(event.get("session_id"))
        if event.get("event") == "start":
            self._line(f"{machine_id}  member {event.get('member_id')} checked in")
        elif event.get("event") == "end":
            reps = self.reports.pop((machine_id, session_id), [])
            self._line(f"{machine_id}  checked out after {len(reps)} reps")
            for advice in coaching.session_advice(reps):
                self.out.write(f"            coaching: {advice}\n")

    def _line(self, text: str) -> None:
        self.out.write(f"{time.strftime('%H:%M:%S')}  {text}\n")
        self.out.flush()
