"""The staff alert rules Grafana evaluates, in its file provisioning format."""

from __future__ import annotations

from typing import Any

from dashboards.queries import DATASOURCE_UID
from gymfloor.contract import Severity
from gymfloor.status import IngestCounter
from gymfloor.storage.timeseries.schema import AlertField, Measurement, Tag


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
                        f'SELECT count("{IngestCounter.MESSAGES}") FROM "{Measurement.INGEST}" '
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
