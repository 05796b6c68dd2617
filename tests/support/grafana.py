"""The Grafana files in dashboards/, as Grafana reads them: the generated dashboards and alert
rules, and the provisioning of the datasource and the dashboards."""

from __future__ import annotations

import json
import re
import string
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tests.support import ROOT

HERE = ROOT / "dashboards"
GENERATE = HERE / "generate.py"
PROVISIONING = HERE / "provisioning"
DATASOURCES = PROVISIONING / "datasources" / "influxdb.yaml"
PROVIDERS = PROVISIONING / "dashboards" / "gymfloor.yaml"
ALERTING = PROVISIONING / "alerting" / "staff-alerts.yaml"
TOKEN_DIRECTORY = PurePosixPath("/run/secrets/gymfloor-influxdb")
"""Where the Grafana container finds its InfluxDB token (docker-compose.yml mounts it)."""


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@dataclass(frozen=True)
class Board:
    path: Path
    document: dict[str, Any]

    @property
    def title(self) -> str:
        return str(self.document["title"])

    @property
    def variables(self) -> list[dict[str, Any]]:
        return list(self.document.get("templating", {}).get("list", []))

    @property
    def panels(self) -> list[dict[str, Any]]:
        return [p for p in self.document.get("panels", []) if p.get("type") != "row"]


BOARDS = [Board(path, json.loads(path.read_text())) for path in sorted(HERE.glob("json/*.json"))]


def rules() -> list[dict[str, Any]]:
    return [rule for group in load(ALERTING)["groups"] for rule in group["rules"]]


def datasource() -> dict[str, Any]:
    (source,) = load(DATASOURCES)["datasources"]
    assert isinstance(source, dict)
    return source


def grafana_reads(source: dict[str, Any], env: dict[str, str], tokens: Path) -> dict[str, Any]:
    """The datasource as Grafana reads it: first each $__file{path} becomes the file's text,
    trimmed (the token directory being `tokens` here), then each ${NAME} the environment's."""

    def file(match: re.Match[str]) -> str:
        path = tokens / PurePosixPath(match[1]).relative_to(TOKEN_DIRECTORY)
        return json.dumps(path.read_text().strip())[1:-1]

    text = re.sub(r"\$__file\{([^}]+)\}", file, json.dumps(source))
    read: dict[str, Any] = json.loads(string.Template(text).substitute(env))
    return read
