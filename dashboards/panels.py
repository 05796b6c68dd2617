"""The kinds of panel the dashboards use, and the frame every dashboard shares."""

from __future__ import annotations

from typing import TypeVar

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, histogram, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.queries import BY_MACHINE, DATASOURCE, InfluxQL, on_the_floor
from gymfloor.storage.timeseries.schema import Measurement, RepField, Tag

TAGS = ["gymfloor"]
Panel = TypeVar("Panel", timeseries.Panel, stat.Panel, table.Panel, histogram.Panel)
LAST = common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)


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
    """How one field of the reps is distributed, per machine."""
    query = f'SELECT "{field}" {on_the_floor(Measurement.REP)} GROUP BY "{Tag.MACHINE_ID}"'
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
