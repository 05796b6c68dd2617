"""Faults per machine and hour: all kinds together, each kind, and a table over the range."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, table

from dashboards.panels import bars, base, placed
from dashboards.queries import (
    BY_MACHINE,
    DATASOURCE,
    InfluxQL,
    gym_variable,
    machine_variable,
    on_the_floor,
)
from gymfloor.contract import Fault
from gymfloor.storage.timeseries.schema import Measurement, RepField, Tag


def faults_by_hour() -> dashboard.Dashboard:
    where = on_the_floor(Measurement.REP)
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
                        f'SELECT sum("{RepField.FAULTS}") {where} {by_hour}', alias=BY_MACHINE
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
                    InfluxQL(f"SELECT {per_kind} {where} {by_hour}", alias=f"{BY_MACHINE}: $col"),
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
