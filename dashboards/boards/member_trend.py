"""One member's reps over time, from `member_rep`: depth, back contact, descent and faults."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, timeseries
from grafana_foundation_sdk.models import common

from dashboards.panels import base, placed, series
from dashboards.queries import GYM, InfluxQL, gym_variable, variable
from gymfloor.contract import Fault
from gymfloor.storage.timeseries.schema import Measurement, RepField, Tag

MEMBER = (
    f'FROM "{Measurement.MEMBER_REP}" WHERE {GYM} AND "{Tag.MEMBER_ID}" = \'$member\' '
    "AND $timeFilter"
)
PER_DAY = "GROUP BY time(1d) fill(none)"


def trend(title: str, query: InfluxQL, unit: str, width: int = 12) -> timeseries.Panel:
    """Reps are minutes or days apart: points, not only a line, so each one shows."""
    panel = series(title, query, unit=unit).show_points(common.VisibilityMode.ALWAYS)
    return placed(panel, width, 8)


def member_trend() -> dashboard.Dashboard:
    rom = RepField.ROM_MM
    daily_rom = f'SELECT mean("{rom}") AS "mean", max("{rom}") AS "max" {MEMBER} {PER_DAY}'
    rates = ", ".join(f'mean("{fault}") AS "{fault}"' for fault in Fault)
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
                InfluxQL(f'SELECT "{rom}" {MEMBER}', alias="rom"),
                "lengthmm",
            )
        )
        .with_panel(trend("Range of motion per day", InfluxQL(daily_rom), "lengthmm"))
        .with_panel(
            trend(
                "Lowest lumbar contact per rep",
                InfluxQL(f'SELECT "{RepField.MIN_LUMBAR_RATIO}" {MEMBER}', alias="lumbar contact"),
                "percentunit",
            )
        )
        .with_panel(
            trend(
                "Eccentric time per rep",
                InfluxQL(f'SELECT "{RepField.ECCENTRIC_S}" {MEMBER}', alias="eccentric"),
                "s",
            )
        )
        .with_panel(
            trend(
                "Share of reps with each fault, per day",
                InfluxQL(f"SELECT {rates} {MEMBER} {PER_DAY}"),
                "percentunit",
                width=24,
            )
            .description("0 % is clean every rep, 100 % the fault in every rep.")
            .min(0)
            .max(1)
        )
    )
