"""The Grafana dashboards and the staff alert rules, as code.

Writes one JSON file per dashboard into dashboards/json/ (which Grafana's file provider reads)
and the alert rules into dashboards/provisioning/alerting/staff-alerts.yaml. Every query is raw
InfluxQL against one InfluxDB datasource (uid `gymfloor-influxdb`), over the measurements that
`gymfloor ingest` writes (docs/TIMESERIES.md). `--check` writes nothing and fails if a committed
file differs from what this script makes, so CI can tell when someone forgot to regenerate.
"""

from __future__ import annotations

import argparse
import difflib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import yaml
from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, histogram, stat, table, timeseries
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from gymfloor.contract import Fault, Severity
from gymfloor.storage.timeseries.schema import (
    AlertField,
    IngestField,
    Measurement,
    RepField,
    StatusField,
    Tag,
    TraceField,
)

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
ALERTING_FILE = HERE / "provisioning" / "alerting" / "staff-alerts.yaml"

DATASOURCE_UID = "gymfloor-influxdb"
DATASOURCE = model.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
TAGS = ["gymfloor"]
Panel = TypeVar("Panel", timeseries.Panel, stat.Panel, table.Panel, histogram.Panel)

# Filters that every rep, alert, status and trace panel shares; Grafana renders a multi-value
# or "All" selection of a variable as a regular expression, so tags are matched with =~.
GYM = f'"{Tag.GYM_ID}" =~ /^$gym$/'
MACHINE = f'"{Tag.MACHINE_ID}" =~ /^$machine$/'
BY_MACHINE = f"$tag_{Tag.MACHINE_ID}"  # a series' name: its machine
LAST = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
ONLINE: list[model.ValueMapping] = [
    model.ValueMap(
        options={
            "0": model.ValueMappingResult(text="offline", color="red", index=0),
            "1": model.ValueMappingResult(text="online", color="green", index=1),
        }
    )
]


# -- queries -----------------------------------------------------------------------------------


class InfluxQLQuery(cogvariants.Dataquery):
    """A target of Grafana's InfluxDB datasource in raw InfluxQL mode. The SDK has no model of
    that datasource's queries, so this is the handful of keys Grafana reads for raw mode."""

    def __init__(self, ref_id: str, query: str, result_format: str, alias: str | None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "refId": self.ref_id,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQL(cogbuilder.Builder[cogvariants.Dataquery]):
    def __init__(
        self, query: str, ref_id: str = "A", table: bool = False, alias: str | None = None
    ) -> None:
        self._query = InfluxQLQuery(ref_id, query, "table" if table else "time_series", alias)

    def build(self) -> InfluxQLQuery:
        return self._query


def variable(
    name: str, label: str, query: str, include_all: bool = True
) -> dashboard.QueryVariable:
    built = (
        dashboard.QueryVariable(name)
        .label(label)
        .datasource(DATASOURCE)
        .query(query)
        .refresh(model.VariableRefresh.ON_TIME_RANGE_CHANGED)
        .sort(model.VariableSort.ALPHABETICAL_ASC)
    )
    if include_all:
        built = built.multi(True).include_all(True)
    return built


def gym_variable() -> dashboard.QueryVariable:
    return variable(
        "gym", "Gym", f'SHOW TAG VALUES FROM "{Measurement.REP}" WITH KEY = "{Tag.GYM_ID}"'
    )


def machine_variable() -> dashboard.QueryVariable:
    return variable(
        "machine",
        "Machine",
        f'SHOW TAG VALUES FROM "{Measurement.MACHINE_STATUS}" WITH KEY = "{Tag.MACHINE_ID}" '
        f"WHERE {GYM}",
    )


# -- panels ------------------------------------------------------------------------------------


def series(
    title: str, *queries: InfluxQL, unit: str = "short", description: str = ""
) -> timeseries.Panel:
    panel = timeseries.Panel().title(title).datasource(DATASOURCE).unit(unit).targets(list(queries))
    return panel.description(description) if description else panel


def bars(title: str, *queries: InfluxQL, description: str = "") -> timeseries.Panel:
    return (
        series(title, *queries, description=description)
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .stacking(common_builders.StackingConfig().mode(common.StackingMode.NORMAL))
        .decimals(0)
    )


def number(title: str, query: str, unit: str = "short", description: str = "") -> stat.Panel:
    panel = (
        stat.Panel()
        .title(title)
        .datasource(DATASOURCE)
        .unit(unit)
        .with_target(InfluxQL(query))
        .reduce_options(LAST)
        .graph_mode(common.BigValueGraphMode.NONE)
    )
    return panel.description(description) if description else panel


def spread(title: str, field: RepField, unit: str, description: str) -> histogram.Panel:
    query = (
        f'SELECT "{field}" FROM "{Measurement.REP}" WHERE {GYM} AND {MACHINE} AND $timeFilter '
        f'GROUP BY "{Tag.MACHINE_ID}"'
    )
    return (
        histogram.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .unit(unit)
        .with_target(InfluxQL(query, alias=BY_MACHINE))
    )


def placed(panel: Panel, w: int, h: int) -> Panel:
    return panel.span(w).height(h)


def numbered(built: dashboard.Dashboard) -> dict[str, Any]:
    """The dashboard as JSON, its panels numbered in order (Grafana needs unique ids)."""
    document: dict[str, Any] = json.loads(json.dumps(built.build(), cls=JSONEncoder))
    for index, panel in enumerate(document.get("panels", []), start=1):
        panel["id"] = index
    return document


def base(
    uid: str, title: str, description: str, time_from: str, refresh: str
) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .time(time_from, "now")
        .timezone("browser")
        .refresh(refresh)
        .editable()
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )


# -- dashboards --------------------------------------------------------------------------------


def floor_overview() -> dashboard.Dashboard:
    reps = f'FROM "{Measurement.REP}" WHERE {GYM} AND {MACHINE} AND $timeFilter'
    alert_columns = (
        Tag.MACHINE_ID,
        Tag.SEVERITY,
        Tag.KIND,
        AlertField.MESSAGE,
        AlertField.MEMBER_ID,
        AlertField.REP,
        AlertField.LOAD_KG,
    )
    columns = ", ".join(f'"{name}"' for name in alert_columns)
    return (
        base(
            "gymfloor-floor",
            "gymfloor: floor overview",
            "The floor right now: which machines report, their sleds moving, the staff alerts.",
            "now-15m",
            "5s",
        )
        .with_variable(gym_variable())
        .with_variable(machine_variable())
        .with_panel(
            placed(
                stat.Panel()
                .title("Machines")
                .description("Each machine's last reported state in the time range.")
                .datasource(DATASOURCE)
                .with_target(
                    InfluxQL(
                        f'SELECT last("{StatusField.ONLINE}") FROM "{Measurement.MACHINE_STATUS}" '
                        f'WHERE {GYM} AND {MACHINE} AND $timeFilter GROUP BY "{Tag.MACHINE_ID}"',
                        alias=BY_MACHINE,
                    )
                )
                .mappings(ONLINE)
                .reduce_options(LAST)
                .color_mode(common.BigValueColorMode.BACKGROUND)
                .graph_mode(common.BigValueGraphMode.NONE)
                .text_mode(common.BigValueTextMode.VALUE_AND_NAME),
                12,
                5,
            )
        )
        .with_panel(placed(number("Reps", f'SELECT count("{RepField.REP}") {reps}'), 6, 5))
        .with_panel(
            placed(
                number(
                    "Faults",
                    f'SELECT sum("{RepField.FAULTS}") {reps}',
                    description="Faults found in the reps of the time range, all kinds.",
                ),
                6,
                5,
            )
        )
        .with_panel(
            placed(
                series(
                    "Sled position",
                    InfluxQL(
                        f'SELECT mean("{TraceField.SLED_MM}") FROM "{Measurement.TRACE}" '
                        f"WHERE {GYM} AND {MACHINE} AND $timeFilter "
                        f'GROUP BY time($__interval), "{Tag.MACHINE_ID}" fill(none)',
                        alias=BY_MACHINE,
                    ),
                    unit="lengthmm",
                    description="The downsampled sled trace of each machine.",
                ).interval("100ms"),
                24,
                9,
            )
        )
        .with_panel(
            placed(
                table.Panel()
                .title("Recent alerts")
                .datasource(DATASOURCE)
                .with_target(
                    InfluxQL(
                        f'SELECT {columns} FROM "{Measurement.ALERT}" '
                        f"WHERE {GYM} AND {MACHINE} AND $timeFilter "
                        "ORDER BY time DESC LIMIT 50",
                        table=True,
                    )
                ),
                24,
                9,
            )
        )
    )


def faults_by_hour() -> dashboard.Dashboard:
    where = f'FROM "{Measurement.REP}" WHERE {GYM} AND {MACHINE} AND $timeFilter'
    per_kind = ", ".join(f'sum("{fault}") AS "{fault}"' for fault in Fault)
    by_hour = f'GROUP BY time(1h), "{Tag.MACHINE_ID}" fill(0)'
    return (
        base(
            "gymfloor-faults",
            "gymfloor: faults per machine",
            "How many reps of each machine had each fault, hour by hour.",
            "now-24h",
            "1m",
        )
        .with_variable(gym_variable())
        .with_variable(machine_variable())
        .with_panel(
            placed(
                bars(
                    "Faulty reps per machine and hour",
                    InfluxQL(
                        f'SELECT sum("{RepField.FAULTS}") {where} {by_hour}',
                        alias=BY_MACHINE,
                    ),
                    description="Faults found in each hour, all kinds together.",
                ),
                24,
                9,
            )
        )
        .with_panel(
            placed(
                bars(
                    "Faults per kind and hour",
                    InfluxQL(
                        f"SELECT {per_kind} {where} {by_hour}",
                        alias=f"{BY_MACHINE}: $col",
                    ),
                ),
                24,
                9,
            )
        )
        .with_panel(
            placed(
                table.Panel()
                .title("Faults per machine in the time range")
                .datasource(DATASOURCE)
                .with_target(
                    InfluxQL(
                        f'SELECT count("{RepField.REP}") AS "reps", '
                        f'sum("{RepField.FAULTS}") AS "{RepField.FAULTS}", {per_kind} '
                        f'{where} GROUP BY "{Tag.MACHINE_ID}"',
                        table=True,
                    )
                ),
                24,
                8,
            )
        )
    )


def distributions() -> dashboard.Dashboard:
    return (
        base(
            "gymfloor-distributions",
            "gymfloor: depth and descent",
            "How deep the reps go and how slowly the sled comes down, rep by rep.",
            "now-7d",
            "1m",
        )
        .with_variable(gym_variable())
        .with_variable(machine_variable())
        .with_panel(
            placed(
                spread(
                    "Range of motion",
                    RepField.ROM_MM,
                    "lengthmm",
                    "Sled travel from top to bottom of each rep.",
                ),
                12,
                10,
            )
        )
        .with_panel(
            placed(
                spread(
                    "Eccentric time",
                    RepField.ECCENTRIC_S,
                    "s",
                    "Time from the top to the bottom of each rep; under two seconds is a drop.",
                ),
                12,
                10,
            )
        )
        .with_panel(
            placed(
                spread(
                    "Lowest lumbar contact",
                    RepField.MIN_LUMBAR_RATIO,
                    "percentunit",
                    "The least of the lower back that stayed on the pad, as a share of its "
                    "baseline, per rep.",
                ),
                12,
                10,
            )
        )
        .with_panel(
            placed(
                spread("Load", RepField.LOAD_KG, "masskg", "The load of each rep, where reported."),
                12,
                10,
            )
        )
    )


def member_trend() -> dashboard.Dashboard:
    member = (
        f'FROM "{Measurement.MEMBER_REP}" WHERE {GYM} AND "{Tag.MEMBER_ID}" = \'$member\' '
        "AND $timeFilter"
    )
    per_day = "GROUP BY time(1d) fill(none)"
    rates = ", ".join(f'mean("{fault}") AS "{fault}"' for fault in Fault)

    def trend(title: str, query: InfluxQL, unit: str, width: int = 12) -> timeseries.Panel:
        """Reps are minutes or days apart: points, not only a line, so each one shows."""
        panel = series(title, query, unit=unit).show_points(common.VisibilityMode.ALWAYS)
        return placed(panel, width, 8)

    rom = RepField.ROM_MM
    daily_rom = f'SELECT mean("{rom}") AS "mean", max("{rom}") AS "max" {member} {per_day}'
    return (
        base(
            "gymfloor-member",
            "gymfloor: member trend",
            "One member's reps over time: depth, back contact, descent and faults.",
            "now-90d",
            "",
        )
        .with_variable(gym_variable())
        .with_variable(
            variable(
                "member",
                "Member",
                f'SHOW TAG VALUES FROM "{Measurement.MEMBER_REP}" WITH KEY = "{Tag.MEMBER_ID}" '
                f"WHERE {GYM}",
                include_all=False,
            )
        )
        .with_panel(
            trend(
                "Range of motion per rep",
                InfluxQL(f'SELECT "{rom}" {member}', alias="rom"),
                "lengthmm",
            )
        )
        .with_panel(trend("Range of motion per day", InfluxQL(daily_rom), "lengthmm"))
        .with_panel(
            trend(
                "Lowest lumbar contact per rep",
                InfluxQL(f'SELECT "{RepField.MIN_LUMBAR_RATIO}" {member}', alias="lumbar contact"),
                "percentunit",
            )
        )
        .with_panel(
            trend(
                "Eccentric time per rep",
                InfluxQL(f'SELECT "{RepField.ECCENTRIC_S}" {member}', alias="eccentric"),
                "s",
            )
        )
        .with_panel(
            trend(
                "Share of reps with each fault, per day",
                InfluxQL(f"SELECT {rates} {member} {per_day}"),
                "percentunit",
                width=24,
            )
            .description("0 % is clean every rep, 100 % the fault in every rep.")
            .min(0)
            .max(1)
        )
    )


def pipeline_health() -> dashboard.Dashboard:
    instance = Tag.INSTANCE
    ingest = f'FROM "{Measurement.INGEST}" WHERE "{instance}" =~ /^$instance$/ AND $timeFilter'
    by_time = f'GROUP BY time($__interval), "{instance}" fill(none)'
    by_instance = f"$tag_{instance}: $col"

    def rate(field: IngestField) -> InfluxQL:
        return InfluxQL(
            f'SELECT non_negative_derivative(max("{field}"), 1s) AS "{field}" {ingest} {by_time}',
            ref_id=field,
            alias=by_instance,
        )

    def level(field: IngestField) -> InfluxQL:
        return InfluxQL(
            f'SELECT max("{field}") AS "{field}" {ingest} {by_time}',
            ref_id=field,
            alias=by_instance,
        )

    def counters(
        title: str, *queries: InfluxQL, unit: str, about: str, width: int = 12
    ) -> timeseries.Panel:
        # Ingest writes its counters every checkpoint (5 s): finer buckets would be empty.
        panel = series(title, *queries, unit=unit, description=about).interval("5s")
        return placed(panel, width, 8)

    return (
        base(
            "gymfloor-pipeline",
            "gymfloor: pipeline health",
            "gymfloor ingest's own counters, as it writes them every checkpoint.",
            "now-6h",
            "30s",
        )
        .with_variable(
            variable(
                "instance",
                "Ingest",
                f'SHOW TAG VALUES FROM "{Measurement.INGEST}" WITH KEY = "{instance}"',
            )
        )
        .with_panel(
            counters(
                "Messages in",
                rate(IngestField.MESSAGES),
                unit="reqps",
                about="MQTT messages ingest took in, per second.",
            )
        )
        .with_panel(
            counters(
                "Rejected and duplicate messages",
                rate(IngestField.REJECTED),
                rate(IngestField.DUPLICATES),
                unit="reqps",
                about="Messages that broke the contract, and batches seen twice.",
            )
        )
        .with_panel(
            counters(
                "Reps, alerts and cues out",
                rate(IngestField.REPS),
                rate(IngestField.ALERTS),
                rate(IngestField.FEEDBACK),
                unit="ops",
                about="Rep reports, staff alerts and cues to the machines' displays, per second.",
            )
        )
        .with_panel(
            counters(
                "Backlog",
                level(IngestField.QUEUED),
                level(IngestField.SPOOL_BACKLOG),
                unit="short",
                about="Messages waiting in the machines' queues, and points in the spool that "
                "InfluxDB has not accepted yet.",
            )
        )
        .with_panel(
            counters(
                "Detection latency",
                level(IngestField.DETECTION_LATENCY_P50_S),
                level(IngestField.DETECTION_LATENCY_P99_S),
                unit="s",
                about="From a telemetry batch's arrival to the cue or report it led to: the "
                "median and the 99th percentile of each checkpoint interval, to the bucket.",
            )
        )
        .with_panel(
            counters(
                "Errors",
                rate(IngestField.STORE_ERRORS),
                rate(IngestField.JOURNAL_ERRORS),
                rate(IngestField.INTERNAL_ERRORS),
                unit="ops",
                about="Failed writes to the store or the journal, and messages that met a bug.",
            )
        )
    )


DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "floor-overview": floor_overview,
    "faults": faults_by_hour,
    "distributions": distributions,
    "member-trend": member_trend,
    "pipeline-health": pipeline_health,
}


# -- alert rules -------------------------------------------------------------------------------


def alert_rule(
    uid: str,
    title: str,
    query: str,
    seconds: int,
    reducer: str,
    above: float | None,
    below: float | None,
    no_data: str,
    summary: str,
    severity: str,
) -> dict[str, Any]:
    """A rule in Grafana's file provisioning format: query A (InfluxQL over the last `seconds`),
    B reduces each series to one number, C compares it with the threshold."""
    evaluator = (
        {"type": "gt", "params": [above]}
        if above is not None
        else {"type": "lt", "params": [below]}
    )
    return {
        "uid": uid,
        "title": title,
        "condition": "C",
        "data": [
            {
                "refId": "A",
                "relativeTimeRange": {"from": seconds, "to": 0},
                "datasourceUid": DATASOURCE_UID,
                "model": {
                    "refId": "A",
                    "datasource": {"type": "influxdb", "uid": DATASOURCE_UID},
                    "query": query,
                    "rawQuery": True,
                    "resultFormat": "time_series",
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "B",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "type": "reduce",
                    "expression": "A",
                    "reducer": reducer,
                },
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "datasource": {"type": "__expr__", "uid": "__expr__"},
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": evaluator}],
                },
            },
        ],
        "noDataState": no_data,
        "execErrState": "Error",
        "for": "0s",
        "annotations": {"summary": summary},
        "labels": {"team": "floor", "severity": severity},
        "isPaused": False,
    }


def alert_rules() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "gymfloor staff",
                "folder": "gymfloor",
                "interval": "1m",
                "rules": [
                    alert_rule(
                        "gymfloor-critical-alerts",
                        "Critical form alerts on the floor",
                        f'SELECT count("{AlertField.COUNT}") FROM "{Measurement.ALERT}" '
                        f"WHERE \"{Tag.SEVERITY}\" = '{Severity.CRITICAL}' AND $timeFilter "
                        f'GROUP BY "{Tag.GYM_ID}", "{Tag.MACHINE_ID}"',
                        seconds=60,
                        reducer="sum",
                        above=0,
                        below=None,
                        no_data="OK",
                        summary="A machine raised a critical form alert in the last minute; "
                        "a trainer should walk over.",
                        severity="critical",
                    ),
                    alert_rule(
                        "gymfloor-ingest-silent",
                        "gymfloor ingest stopped reporting",
                        f'SELECT count("{IngestField.MESSAGES}") FROM "{Measurement.INGEST}" '
                        f'WHERE $timeFilter GROUP BY "{Tag.INSTANCE}"',
                        seconds=180,
                        reducer="last",
                        above=None,
                        below=1,
                        no_data="Alerting",
                        summary="No counters from gymfloor ingest for three minutes: ingest, "
                        "its path to InfluxDB, or InfluxDB is down.",
                        severity="warning",
                    ),
                ],
            }
        ],
    }


# -- output ------------------------------------------------------------------------------------


def rendered() -> dict[Path, str]:
    """Every generated file and its content."""
    files = {
        JSON_DIR / f"{name}.json": json.dumps(numbered(make()), indent=2, sort_keys=True) + "\n"
        for name, make in DASHBOARDS.items()
    }
    header = "# Generated by dashboards/generate.py; edit that, not this file.\n"
    files[ALERTING_FILE] = header + yaml.safe_dump(alert_rules(), sort_keys=False, width=100)
    return files


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Write gymfloor's Grafana dashboards (dashboards/json/) and staff alert "
        "rules (dashboards/provisioning/alerting/staff-alerts.yaml)."
    )
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed file differs from what would be written",
    )
    args = parser.parse_args(argv)
    files = rendered()
    if args.check:
        stale = [path for path, text in files.items() if _read(path) != text]
        stray = sorted(set(JSON_DIR.glob("*.json")) - set(files))
        for path in stale:
            diff = difflib.unified_diff(
                _read(path).splitlines(keepends=True),
                files[path].splitlines(keepends=True),
                f"{path} (committed)",
                f"{path} (generated)",
            )
            sys.stderr.writelines(diff)
        for path in stray:
            print(f"{path}: not made by generate.py", file=sys.stderr)
        if stale or stray:
            print("out of date: run python dashboards/generate.py", file=sys.stderr)
            return 1
        return 0
    JSON_DIR.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for path in sorted(set(JSON_DIR.glob("*.json")) - set(files)):
        path.unlink()
    return 0


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
