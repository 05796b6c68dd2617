"""The `gymfloor` command."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import pydantic
from tqdm import tqdm

from gymfloor import __version__
from gymfloor.analyze import AnalysisCounts, analyze
from gymfloor.contract import ID_PATTERN, MachineKey, encode_line
from gymfloor.contract.payloads import describe_error
from gymfloor.detector import Detector, DetectorConfig
from gymfloor.logs import configure_logging
from gymfloor.settings import Settings, env_var
from gymfloor_edge.simulator import Imperfections, Simulation, SimulationPlan, simulate

if TYPE_CHECKING:
    from gymfloor.storage import OperationalStore
    from gymfloor.storage.pagination import Page
    from gymfloor_edge.driver import SensorDriver

# The live commands (ingest, edge, record, replay, reps, demo, simulate --live) import what they
# need when they run: the MQTT client, SQLAlchemy and the embedded broker would otherwise add a
# quarter of a second to the start of every `gymfloor analyze`.

log = logging.getLogger("gymfloor")

PROGRESS_MIN_BYTES = 8 * 1024 * 1024
SKIPS_LOGGED = 50
"""Skipped lines logged one by one; past that only the count, so a broken file can't flood."""


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        parser.error(f"invalid GYMFLOOR_* environment variable: {describe_error(exc)}")
    configure_logging(args.log_level or settings.log_level, settings.log_format)
    try:
        return args.run(args, settings)
    except pydantic.ValidationError as exc:
        parser.error(f"invalid setting: {describe_error(exc, whole='thresholds')}")
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. `gymfloor analyze rec.jsonl | head`
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gymfloor",
        description="Leg press form monitoring: rep segmentation and fault detection "
        "(lumbar lift-off, excessive range of motion, uncontrolled descent) from machine "
        "telemetry. Settings come from GYMFLOOR_* environment variables; flags override them.",
    )
    parser.add_argument("--version", action="version", version=f"gymfloor {__version__}")
    parser.add_argument(
        "--log-level", help="DEBUG, INFO, WARNING or ERROR (env GYMFLOOR_LOG_LEVEL)"
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    analyze_cmd = commands.add_parser(
        "analyze",
        help="turn a recording into rep reports",
        description="Run the detector over a recording (JSON Lines of MQTT messages, as "
        "captured by `gymfloor record` or written by `gymfloor simulate`) and write one rep "
        "report per line. Lines that are not valid messages are reported on stderr with "
        "their line number and skipped.",
    )
    analyze_cmd.add_argument("recording", type=Path, help="recording file, or - for stdin")
    analyze_cmd.add_argument("-o", "--output", type=Path, help="reports file (default: stdout)")
    _add_detector_flags(analyze_cmd)
    analyze_cmd.set_defaults(run=_run_analyze)

    simulate_cmd = commands.add_parser(
        "simulate",
        help="write a recording of simulated leg presses, with ground truth",
        description="Simulate members on several leg presses (sets, rests, foot adjustments, "
        "every fault alone and combined, sensor noise, dropped and repeated batches) and "
        "write the recording, and optionally the true reps as JSON Lines.",
    )
    simulate_cmd.add_argument("-o", "--output", type=Path, help="recording file (default: stdout)")
    simulate_cmd.add_argument("--labels", type=Path, help="also write the true reps here")
    _add_simulation_flags(simulate_cmd, machines=3, visits=2)
    simulate_cmd.add_argument(
        "--perfect", action="store_true", help="no noise, drop-outs, lost or repeated batches"
    )
    simulate_cmd.set_defaults(run=_run_simulate)

    simulate_cmd.add_argument(
        "--live",
        action="store_true",
        help="publish to the broker in real time instead, until stopped (Ctrl-C)",
    )
    simulate_cmd.add_argument("--gym", default="g1", help="gym id for --live (default: g1)")
    _add_mqtt_flags(simulate_cmd)

    ingest_cmd = commands.add_parser(
        "ingest",
        help="run the live ingest service",
        description="Subscribe to every machine's telemetry, session and status topics, detect "
        "reps and faults, publish feedback to the machines, staff alerts and rep reports, and "
        "store them; with an InfluxDB URL, also write them as time series for dashboards. "
        "Keeps a journal and checkpoints, so a restart loses and repeats nothing. "
        "Stops cleanly on SIGTERM or Ctrl-C.",
    )
    _add_mqtt_flags(ingest_cmd)
    _add_store_flags(ingest_cmd)
    influx = ingest_cmd.add_argument_group(
        "time series", "token, bucket and the rest: GYMFLOOR_INFLUX__*, see docs/TIMESERIES.md"
    )
    influx.add_argument(
        "--influx-url",
        help="also write time series to this InfluxDB, e.g. http://localhost:8086 "
        "(env GYMFLOOR_INFLUX__URL; default: none)",
    )
    _add_detector_flags(ingest_cmd)
    ingest_cmd.set_defaults(run=_run_ingest)

    edge_cmd = commands.add_parser(
        "edge",
        help="run the edge agent of one machine",
        description="Read a machine's sensors through a driver, batch the samples, and publish "
        "telemetry, session events and presence over MQTT, buffering on disk while the broker "
        "is unreachable. docs/EDGE.md explains the driver interface.",
    )
    edge_cmd.add_argument("--gym", help="gym id (env GYMFLOOR_EDGE__GYM_ID)")
    edge_cmd.add_argument("--machine", help="machine id (env GYMFLOOR_EDGE__MACHINE_ID)")
    source = edge_cmd.add_mutually_exclusive_group()
    source.add_argument(
        "--simulate", type=int, metavar="SEED", help="simulated members (the default, seed 1)"
    )
    source.add_argument(
        "--replay", type=Path, metavar="FILE", help="play one machine of a recording"
    )
    source.add_argument(
        "--driver", metavar="MODULE:FACTORY", help="a vendor's driver: FACTORY() returns it"
    )
    edge_cmd.add_argument(
        "--speed", type=float, default=1.0, help="playback speed of --simulate/--replay"
    )
    edge_cmd.add_argument(
        "--batch-interval",
        type=float,
        help="seconds per batch (env GYMFLOOR_EDGE__BATCH_INTERVAL_S)",
    )
    edge_cmd.add_argument(
        "--outbox", type=Path, help="store-and-forward file (default: DATA_DIR/edge-MACHINE.outbox)"
    )
    _add_mqtt_flags(edge_cmd)
    _add_store_flags(edge_cmd, db=False)
    edge_cmd.set_defaults(run=_run_edge)

    record_cmd = commands.add_parser(
        "record",
        help="capture live traffic to a recording",
        description="Write the machines' telemetry, session and status messages, as received, "
        "to a recording (JSON Lines, contract section 6) until Ctrl-C, SIGTERM or --count.",
    )
    record_cmd.add_argument("-o", "--output", type=Path, help="recording file (default: stdout)")
    record_cmd.add_argument("--count", type=int, help="stop after this many messages")
    record_cmd.add_argument(
        "--all", action="store_true", help="everything under gymfloor/v1/, outputs included"
    )
    _add_mqtt_flags(record_cmd)
    record_cmd.set_defaults(run=_run_record)

    replay_cmd = commands.add_parser(
        "replay",
        help="publish a recording to the broker",
        description="Publish a recording's messages, in order, at QoS 1, paced as they were "
        "recorded. Exits once the broker has acknowledged every message.",
    )
    replay_cmd.add_argument("recording", type=Path, help="recording file, or - for stdin")
    replay_cmd.add_argument(
        "--speed", type=float, default=1.0, help="1 real time, 10 ten times faster, 0 at once"
    )
    _add_mqtt_flags(replay_cmd)
    replay_cmd.set_defaults(run=_run_replay)

    reps_cmd = commands.add_parser("reps", help="stored rep reports")
    reps_actions = reps_cmd.add_subparsers(title="actions", required=True, metavar="ACTION")
    export_cmd = reps_actions.add_parser(
        "export",
        help="write the stored rep reports as JSON Lines",
        description="Write every stored rep report as JSON Lines (one report per line, "
        "contract section 4), in the order they were stored and the form `gymfloor analyze` "
        "writes.",
    )
    export_cmd.add_argument("-o", "--output", type=Path, help="reports file (default: stdout)")
    _add_store_flags(export_cmd)
    export_cmd.set_defaults(run=_run_export)

    api_cmd = commands.add_parser(
        "api",
        help="serve the HTTP API (members, staff, admin)",
        description="Serve the API over the operational store: members' reports, the staff "
        "feed and machines, admin of members and tokens, and /healthz, /readyz, /metrics. "
        "OpenAPI docs at /docs. SIGTERM or Ctrl-C stops it after the requests in flight.",
    )
    api_cmd.add_argument("--host", help="address to listen on (env GYMFLOOR_API__HOST)")
    api_cmd.add_argument("--port", type=int, help="port (env GYMFLOOR_API__PORT; default 8000)")
    api_cmd.add_argument(
        "--workers", type=int, help="server processes (env GYMFLOOR_API__WORKERS; default 1)"
    )
    _add_store_flags(api_cmd)
    api_cmd.set_defaults(run=_run_api)

    tokens_cmd = commands.add_parser("tokens", help="issue, list and revoke API tokens")
    tokens_actions = tokens_cmd.add_subparsers(title="actions", required=True, metavar="ACTION")
    issue_cmd = tokens_actions.add_parser(
        "issue",
        help="issue a token and print it alone on stdout",
        description="Issue an API token and print it, alone, on stdout: it is stored hashed "
        "and cannot be shown again. A member token registers the member if unknown.",
    )
    issue_cmd.add_argument("--role", required=True, choices=["member", "staff", "admin"])
    issue_cmd.add_argument(
        "--member", type=_identifier, help="the member's id (member tokens only)"
    )
    issue_cmd.add_argument("--label", help="what the token is for, e.g. 'front desk tablet'")
    _add_store_flags(issue_cmd)
    issue_cmd.set_defaults(run=_run_token_issue)
    revoke_cmd = tokens_actions.add_parser(
        "revoke", help="revoke a token", description="Revoke a token by its id (see `list`)."
    )
    revoke_cmd.add_argument("token_id", help="the token's id, or the whole token")
    _add_store_flags(revoke_cmd)
    revoke_cmd.set_defaults(run=_run_token_revoke)
    list_tokens_cmd = tokens_actions.add_parser("list", help="list tokens, without secrets")
    _add_store_flags(list_tokens_cmd)
    list_tokens_cmd.set_defaults(run=_run_token_list)

    members_cmd = commands.add_parser("members", help="register and list members")
    members_actions = members_cmd.add_subparsers(title="actions", required=True, metavar="ACTION")
    add_member_cmd = members_actions.add_parser(
        "add", help="register a member, or rename one already known"
    )
    add_member_cmd.add_argument("member_id", type=_identifier, help="the member's id")
    add_member_cmd.add_argument("--name", help="display name")
    _add_store_flags(add_member_cmd)
    add_member_cmd.set_defaults(run=_run_member_add)
    list_members_cmd = members_actions.add_parser("list", help="list members as JSON Lines")
    _add_store_flags(list_members_cmd)
    list_members_cmd.set_defaults(run=_run_member_list)

    store_cmd = commands.add_parser("store", help="the operational store's schema")
    store_actions = store_cmd.add_subparsers(title="actions", required=True, metavar="ACTION")
    upgrade_cmd = store_actions.add_parser(
        "upgrade",
        help="create the store, or bring its schema up to date, and exit",
        description="Create the operational store if there is none, or migrate its schema to "
        "the newest revision this version knows, then exit. Ingest and the API do the same "
        "when they open the store; running this first, alone, spares two processes migrating "
        "a new store at once (the compose file's store-init service). Migrations only go "
        "forward: back the store up before an upgrade.",
    )
    _add_store_flags(upgrade_cmd)
    upgrade_cmd.set_defaults(run=_run_store_upgrade)

    check_cmd = commands.add_parser(
        "check",
        help="health checks of the API and ingest",
        description="Check a service running on this host. Exit status 0 when it is healthy; "
        "1 when it is not, with the reason on stderr. The compose file's health checks run "
        "these in the service's own container, with its GYMFLOOR_* settings.",
    )
    checks = check_cmd.add_subparsers(title="checks", required=True, metavar="SERVICE")
    check_api_cmd = checks.add_parser(
        "api",
        help="the API answers GET /healthz",
        description="Healthy when the API answers GET http://127.0.0.1:PORT/healthz with 200 "
        "within 5 s.",
    )
    check_api_cmd.add_argument(
        "--port", type=int, help="the API's port (env GYMFLOOR_API__PORT; default 8000)"
    )
    check_api_cmd.set_defaults(run=_run_check, check="api")
    check_ingest_cmd = checks.add_parser(
        "ingest",
        help="ingest reported to the store lately, connected to the broker",
        description="Healthy when the status ingest writes to the store at every checkpoint, "
        "for its client id (env GYMFLOOR_INGEST__CLIENT_ID), is younger than "
        "GYMFLOOR_API__INGEST_STALE_S (the limit /readyz applies; default 30 s) and says it is "
        "connected to the broker. Unhealthy while there is no store yet; the check never "
        "creates one.",
    )
    _add_store_flags(check_ingest_cmd)
    check_ingest_cmd.set_defaults(run=_run_check, check="ingest")

    demo_cmd = commands.add_parser(
        "demo",
        help="the whole system on this computer, with simulated machines",
        description="Start an embedded MQTT broker (unless GYMFLOOR_MQTT_URL or --mqtt-url "
        "names one), the ingest service and a few simulated leg presses with members, and show "
        "reps, live cues and staff alerts as they happen. Ctrl-C stops everything.",
    )
    demo_cmd.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    demo_cmd.add_argument("--machines", type=int, default=3, help="leg presses (default: 3)")
    demo_cmd.add_argument("--duration", type=float, help="stop after this many seconds")
    _add_members_flag(demo_cmd, default=6)
    demo_cmd.add_argument(
        "--speed", type=float, default=1.0, help="simulated time per real second (default: 1)"
    )
    demo_cmd.add_argument("--mqtt-url", help="use this broker instead of an embedded one")
    _add_store_flags(demo_cmd)
    demo_cmd.set_defaults(run=_run_demo)
    return parser


def _add_simulation_flags(command: argparse.ArgumentParser, machines: int, visits: int) -> None:
    command.add_argument("--seed", type=int, default=1, help="random seed (default: 1)")
    command.add_argument(
        "--machines", type=int, default=machines, help=f"leg presses (default: {machines})"
    )
    command.add_argument(
        "--visits", type=int, default=visits, help=f"visits per machine (default: {visits})"
    )
    _add_members_flag(command)


def _add_members_flag(command: argparse.ArgumentParser, default: int = 0) -> None:
    zero = "; 0" if default else ","
    command.add_argument(
        "--members",
        type=int,
        default=default,
        help=f"recurring members m-0001…, who come back visit after visit (default: {default}"
        f"{zero} every visit by a new member)",
    )


def _add_mqtt_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group("broker", "credentials and TLS files: GYMFLOOR_MQTT_*")
    group.add_argument(
        "--mqtt-url", help="mqtt://host:port or mqtts://host:port (env GYMFLOOR_MQTT_URL)"
    )


def _add_store_flags(command: argparse.ArgumentParser, db: bool = True) -> None:
    group = command.add_argument_group("storage")
    group.add_argument(
        "--data-dir",
        type=Path,
        help="state directory (env GYMFLOOR_DATA_DIR; default ./gymfloor-data)",
    )
    if db:
        group.add_argument(
            "--db-url", help="store URL, e.g. sqlite:///path/gymfloor.db (env GYMFLOOR_DB_URL)"
        )


def _with_flags(args: argparse.Namespace, settings: Settings) -> Settings:
    """The settings with the command's flags applied over the environment's."""
    update = {
        name: getattr(args, name)
        for name in ("mqtt_url", "db_url", "data_dir")
        if getattr(args, name, None) is not None
    }
    return Settings.model_validate({**settings.model_dump(), **update}) if update else settings


def _stop_on_signals() -> threading.Event:
    """An event set by SIGTERM or Ctrl-C: the way every long-running command learns to stop."""
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        if stopping.is_set():  # a second Ctrl-C: the user means it
            raise KeyboardInterrupt
        log.info("stopping (%s)", signal.Signals(signum).name)
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping


def _add_detector_flags(command: argparse.ArgumentParser) -> None:
    group = command.add_argument_group(
        "detector thresholds", "defaults are the contract's; docs/DETECTION.md explains each"
    )
    for name, field in DetectorConfig.model_fields.items():
        group.add_argument(
            f"--{name.replace('_', '-')}",
            dest=f"detector_{name}",
            type=float,
            metavar="X",
            help=f"{field.description} (default: {field.default}; "
            f"env {env_var(f'detector.{name}')})",
        )


def detector_config(args: argparse.Namespace, settings: Settings) -> DetectorConfig:
    overrides = {
        name: getattr(args, f"detector_{name}")
        for name in DetectorConfig.model_fields
        if getattr(args, f"detector_{name}", None) is not None
    }
    return DetectorConfig(**{**settings.detector.model_dump(), **overrides})


def _run_analyze(args: argparse.Namespace, settings: Settings) -> int:
    detector = Detector(detector_config(args, settings))
    counts = AnalysisCounts()

    def on_skip(line_no: int, reason: str) -> None:
        if counts.skipped <= SKIPS_LOGGED:
            log.warning("line %d skipped: %s", line_no, reason)
        if counts.skipped == SKIPS_LOGGED:
            log.warning("further skipped lines are only counted")

    with ExitStack() as stack:
        if str(args.recording) == "-":
            source, size = sys.stdin.buffer, 0
        else:
            if not args.recording.is_file():
                log.error("no such recording: %s", args.recording)
                return 2
            source = stack.enter_context(args.recording.open("rb"))
            size = args.recording.stat().st_size
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        for report in analyze(_with_progress(source, size), detector, on_skip, counts):
            sink.write(report.model_dump_json() + "\n")
    log.info(
        "analysed %d lines: %d messages, %d skipped, %d rep reports",
        counts.lines,
        counts.messages,
        counts.skipped,
        counts.reports,
        extra={
            "duplicates": detector.counters.duplicates,
            "abandoned_reps": detector.counters.abandoned_reps,
        },
    )
    return 0


def _with_progress(source: IO[bytes], size: int) -> Iterator[bytes]:
    """Lines of the file, with a progress bar on stderr for large files on a terminal."""
    quiet = True if size < PROGRESS_MIN_BYTES else None  # None: tqdm shows it on a terminal only
    with tqdm(
        total=size, unit="B", unit_scale=True, desc="analyze", disable=quiet, file=sys.stderr
    ) as bar:
        for line in source:
            bar.update(len(line))
            yield line


def _simulation(args: argparse.Namespace, perfect: bool = False) -> Simulation:
    imperfections = Imperfections.none() if perfect else Imperfections()
    plan = SimulationPlan(
        seed=args.seed,
        machines=args.machines,
        visits=args.visits,
        members=args.members,
        imperfections=imperfections,
    )
    return simulate(plan)


def _run_simulate(args: argparse.Namespace, settings: Settings) -> int:
    if args.live:
        from gymfloor_edge.fleet import run_fleet

        settings = _with_flags(args, settings)
        stopping = _stop_on_signals()
        run_fleet(settings.mqtt, args.gym, args.machines, args.seed, stopping, members=args.members)
        return 0
    simulation = _simulation(args, args.perfect)
    with ExitStack() as stack:
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        for message in simulation.messages:
            sink.write(encode_line(message.topic, message.payload, round(message.t, 4)) + "\n")
    if args.labels:
        with args.labels.open("w") as labels:
            for label in simulation.labels:
                labels.write(json.dumps(label.to_dict()) + "\n")
    log.info("simulated %d messages, %d reps", len(simulation.messages), len(simulation.labels))
    return 0


def _run_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.ingest.assembly import mqtt_ingest
    from gymfloor.storage import OperationalStore

    settings = _with_flags(args, settings)
    if args.influx_url is not None:
        influx = {**settings.influx.model_dump(), "url": args.influx_url}
        settings = Settings.model_validate({**settings.model_dump(), "influx": influx})
    timeseries = None
    if settings.influx.url is not None:
        from gymfloor.storage.timeseries.sink import TimeSeriesSink

        timeseries = TimeSeriesSink(
            settings.influx, settings.data_dir / "influx-spool", settings.ingest.client_id
        )
    store = OperationalStore(settings.store_url)
    service = mqtt_ingest(
        settings.mqtt,
        store,
        settings.data_dir / "ingest-journal",
        settings.ingest,
        detector_config(args, settings),
        settings.alerts,
        timeseries,
    )
    try:
        service.run(_stop_on_signals())
    finally:
        store.close()
    return 0


def _run_edge(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor_edge.agent import EdgeAgent
    from gymfloor_edge.outbox import Outbox
    from gymfloor_edge.sources import recording_driver, simulated_driver
    from gymfloor_edge.uplink import Uplink

    settings = _with_flags(args, settings)
    edge = settings.edge
    machine = MachineKey(args.gym or edge.gym_id, args.machine or edge.machine_id)
    for name, value in (("gym", machine.gym_id), ("machine", machine.machine_id)):
        if not ID_PATTERN.fullmatch(value):
            log.error("%s id %r must match %s", name, value, ID_PATTERN.pattern)
            return 2
    driver: SensorDriver
    if args.replay:
        if not args.replay.is_file():
            log.error("no such recording: %s", args.replay)
            return 2
        try:
            driver = recording_driver(args.replay, machine.machine_id, args.speed)
        except LookupError as exc:
            log.error("%s", exc)
            return 2
    elif args.driver:
        try:
            driver = _load_driver(args.driver)
        except (ImportError, AttributeError, TypeError) as exc:
            log.error("cannot load the driver %s: %s", args.driver, exc)
            return 2
    else:
        seed = 1 if args.simulate is None else args.simulate
        driver = simulated_driver(seed, machine.machine_id, args.speed)
    outbox_path = (
        args.outbox or settings.data_dir / f"edge-{machine.gym_id}-{machine.machine_id}.outbox"
    )
    uplink = Uplink(
        settings.mqtt,
        f"gymfloor-edge-{machine.gym_id}-{machine.machine_id}",
        Outbox(outbox_path, edge.outbox_max_messages),
        machine=machine,
    )
    interval = args.batch_interval or edge.batch_interval_s
    EdgeAgent(machine, driver, uplink, interval).run(_stop_on_signals())
    return 0


def _load_driver(spec: str) -> SensorDriver:
    """`package.module:factory`, where factory() returns a SensorDriver."""
    module_name, _, attribute = spec.partition(":")
    factory = getattr(importlib.import_module(module_name), attribute or "driver")
    driver: SensorDriver = factory()
    return driver


def _run_record(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.recorder import record

    settings = _with_flags(args, settings)
    stopping = _stop_on_signals()
    with ExitStack() as stack:
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        record(settings.mqtt, sink, stopping, everything=args.all, count=args.count)
    return 0


def _run_replay(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.recorder import replay

    settings = _with_flags(args, settings)
    stopping = _stop_on_signals()
    with ExitStack() as stack:
        if str(args.recording) == "-":
            source: IO[bytes] = sys.stdin.buffer
        elif not args.recording.is_file():
            log.error("no such recording: %s", args.recording)
            return 2
        else:
            source = stack.enter_context(args.recording.open("rb"))
        replay(settings.mqtt, source, args.speed, stopping)
    return 0


def _run_export(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage import OperationalStore

    settings = _with_flags(args, settings)
    store = OperationalStore(settings.store_url)
    count = 0
    with ExitStack() as stack:
        sink = stack.enter_context(args.output.open("w")) if args.output else sys.stdout
        for report in store.reports():
            sink.write(report.model_dump_json() + "\n")
            count += 1
    store.close()
    log.info("exported %d rep reports", count)
    return 0


def _run_demo(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.demo import run_demo

    settings = _with_flags(args, settings)
    return run_demo(settings, args, _stop_on_signals(), sys.stdout)


def _run_api(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.api.server import serve
    from gymfloor.storage import OperationalStore

    settings = _with_flags(args, settings)
    overrides = {
        name: getattr(args, name) for name in ("host", "port", "workers") if getattr(args, name)
    }
    config = settings.api.model_copy(update=overrides)
    store = OperationalStore(settings.store_url)
    try:
        return 0 if serve(store, config, _stop_on_signals()) else 1
    finally:
        store.close()


def _run_token_issue(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.models import Role
    from gymfloor.storage.tokens import issue_token

    role = Role(args.role)
    if (role is Role.MEMBER) != (args.member is not None):
        raise SystemExit(
            "gymfloor tokens issue: --member is required for, and only for, --role member"
        )
    with _store(args, settings) as store, store.transaction() as db:
        info, secret = issue_token(db, role, args.member, args.label, time.time())
    log.info("issued %s token %s", info.role.value, info.id)
    print(secret)
    return 0


def _run_token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.tokens import revoke_token, token_id_of

    with _store(args, settings) as store, store.transaction() as db:
        revoked = revoke_token(db, token_id_of(args.token_id), time.time())
    if revoked is None:
        log.error("no token with id %s", args.token_id)
        return 1
    log.info("revoked token %s (%s)", revoked.id, revoked.role.value)
    return 0


def _run_token_list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.tokens import page_tokens

    with _store(args, settings) as store, store.read() as db:
        _print_all(lambda cursor: page_tokens(db, cursor, 500))
    return 0


def _run_member_add(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.members import add_member

    with _store(args, settings) as store, store.transaction() as db:
        member = add_member(db, args.member_id, args.name, time.time())
    print(member.model_dump_json())
    return 0


def _run_member_list(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage.members import page_members

    with _store(args, settings) as store, store.read() as db:
        _print_all(lambda cursor: page_members(db, cursor, 500))
    return 0


def _run_store_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.storage import migrate

    with _store(args, settings) as store:  # opening it migrates it
        revision, _ = migrate.revisions(store.engine)
    log.info("store schema at revision %s, the newest", revision)
    return 0


def _run_check(args: argparse.Namespace, settings: Settings) -> int:
    from gymfloor.health import CHECKS

    settings = _with_flags(args, settings)
    if getattr(args, "port", None) is not None:
        settings = settings.model_copy(
            update={"api": settings.api.model_copy(update={"port": args.port})}
        )
    problem = CHECKS[args.check](settings)
    if problem is not None:
        log.error("%s", problem)
        return 1
    return 0


@contextmanager
def _store(args: argparse.Namespace, settings: Settings) -> Iterator[OperationalStore]:
    from gymfloor.storage import OperationalStore

    store = OperationalStore(_with_flags(args, settings).store_url)
    try:
        yield store
    finally:
        store.close()


def _print_all(fetch: Callable[[str | None], Page[Any]]) -> None:
    """Every item of a paged list, as JSON Lines."""
    cursor = None
    while True:
        page = fetch(cursor)
        for item in page.items:
            print(item.model_dump_json())
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def _identifier(value: str) -> str:
    if not ID_PATTERN.fullmatch(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not an id: 1-64 of A-Z a-z 0-9 _ -")
    return value
