"""One module per dashboard; DASHBOARDS names the JSON file each one is written to."""

from __future__ import annotations

from collections.abc import Callable

from grafana_foundation_sdk.builders import dashboard

from dashboards.boards.distributions import distributions
from dashboards.boards.faults import faults_by_hour
from dashboards.boards.floor_overview import floor_overview
from dashboards.boards.member_trend import member_trend
from dashboards.boards.pipeline_health import pipeline_health

DASHBOARDS: dict[str, Callable[[], dashboard.Dashboard]] = {
    "floor-overview": floor_overview,
    "faults": faults_by_hour,
    "distributions": distributions,
    "member-trend": member_trend,
    "pipeline-health": pipeline_health,
}
