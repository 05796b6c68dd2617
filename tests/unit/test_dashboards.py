"""The Grafana dashboards and alert rules in dashboards/: generated from dashboards/generate.py
and current, and provisioned against one InfluxDB datasource. tests/live/test_dashboards.py runs
their queries against a real InfluxDB."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from tests.support.grafana import (
    ALERTING,
    BOARDS,
    DATASOURCES,
    GENERATE,
    PROVIDERS,
    TOKEN_DIRECTORY,
    datasource,
    load,
)

# -- generated and current ---------------------------------------------------------------------


def run_generate(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(GENERATE), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_committed_dashboards_and_rules_are_what_generate_py_makes() -> None:
    done = run_generate("--check")
    assert done.returncode == 0, done.stderr


def test_generate_py_explains_itself() -> None:
    done = run_generate("--help")
    assert done.returncode == 0, done.stderr
    assert "--check" in done.stdout


def test_there_are_the_dashboards_the_floor_needs() -> None:
    titles = {board.path.stem: board for board in BOARDS}
    assert set(titles) == {
        "floor-overview",
        "faults",
        "distributions",
        "member-trend",
        "pipeline-health",
    }
    assert titles["floor-overview"].document["refresh"] == "5s"
    assert {v["name"] for v in titles["member-trend"].variables} >= {"member"}
    uids = [board.document["uid"] for board in BOARDS]
    assert len(set(uids)) == len(uids)
    for board in BOARDS:
        ids = [panel["id"] for panel in board.panels]
        assert len(set(ids)) == len(ids), board.title


# -- provisioning ------------------------------------------------------------------------------


def datasource_refs() -> Iterator[tuple[str, dict[str, Any]]]:
    for board in BOARDS:
        for variable in board.variables:
            yield f"{board.title} ${variable['name']}", variable["datasource"]
        for panel in board.panels:
            yield f"{board.title} / {panel['title']}", panel["datasource"]
            for target in panel["targets"]:
                yield f"{board.title} / {panel['title']} {target['refId']}", target["datasource"]


def test_the_datasource_is_influxql_configured_from_gymfloors_environment() -> None:
    source = datasource()
    assert load(DATASOURCES)["apiVersion"] == 1
    assert (source["type"], source["access"]) == ("influxdb", "proxy")
    assert source["url"] == "${GYMFLOOR_INFLUX__URL}"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["dbName"] == "${GYMFLOOR_INFLUX__BUCKET}"
    assert source["jsonData"]["httpHeaderName1"] == "Authorization"
    token_file = TOKEN_DIRECTORY / "token"
    assert source["secureJsonData"]["httpHeaderValue1"] == f"Token $__file{{{token_file}}}"


def test_every_panel_target_and_variable_queries_the_provisioned_datasource() -> None:
    source = datasource()
    refs = list(datasource_refs())
    assert refs
    for where, ref in refs:
        assert ref == {"type": source["type"], "uid": source["uid"]}, where
    for board in BOARDS:
        for panel in board.panels:
            assert panel["targets"], f"{board.title} / {panel['title']} has no query"
            for target in panel["targets"]:
                assert target["rawQuery"] is True and target["query"].strip()


def test_the_dashboard_provider_reads_where_compose_mounts_the_json() -> None:
    config = load(PROVIDERS)
    assert config["apiVersion"] == 1
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "gymfloor"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_alert_rules_are_complete_and_query_the_provisioned_datasource() -> None:
    config = load(ALERTING)
    assert config["apiVersion"] == 1
    uids = []
    for group in config["groups"]:
        assert group["name"] and group["folder"] and group["interval"]
        for rule in group["rules"]:
            uids.append(rule["uid"])
            refs = {step["refId"]: step for step in rule["data"]}
            assert rule["condition"] in refs
            assert rule["noDataState"] in ("Alerting", "NoData", "OK", "KeepLast")
            assert rule["execErrState"] in ("Alerting", "Error", "OK", "KeepLast")
            for step in rule["data"]:
                if step["datasourceUid"] == "__expr__":
                    assert step["model"].get("expression") in refs, rule["title"]
                else:
                    assert step["datasourceUid"] == datasource()["uid"], rule["title"]
                    assert step["relativeTimeRange"]["from"] > 0
    assert len(set(uids)) == len(uids)


def test_grafana_would_leave_the_alert_queries_alone() -> None:
    """Grafana expands environment variables in provisioning files, but not in a rule's query
    model, so $timeFilter reaches the datasource as written; the rest holds no $ at all."""
    for group in load(ALERTING)["groups"]:
        for rule in group["rules"]:
            outside = {k: v for k, v in rule.items() if k != "data"}
            assert "$" not in json.dumps(outside)
            for step in rule["data"]:
                assert "$" not in json.dumps({k: v for k, v in step.items() if k != "model"})
