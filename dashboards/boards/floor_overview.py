"""The floor right now: machines online, reps and faults, the sleds moving, the last alerts."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard, stat, table, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from dashboards.panels import LAST, base, number, placed, series
from dashboards.queries import (
    BY_MACHINE,
    DATASOURCE,
    InfluxQL,
    gym_variable,
    machine_variable,
    on_the_floor,
)
from gymfloor.storage.timeseries.schema import (
    AlertField,
    Measurement,
    RepField,
    StatusField,
    Tag,
    TraceField,
)

ONLINE: list[model.ValueMapping] = [
    model.ValueMap(
        options={
            "0": model.ValueMappingResult(text="offline", color="red", index=0),
            "1": model.ValueMappingResult(text="online", color="green", index=1),
        }
    )
]
ALERT_COLUMNS = (
    Tag.MACHINE_ID,
    Tag.SEVERITY,
    Tag.KIND,
    AlertField.MESSAGE,
    AlertField.MEMBER_ID,
    AlertField.REP,
    AlertField.LOAD_KG,
)


def floor_overview() -> dashboard.Dashboard:
    reps = on_the_floor(Measurement.REP)
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
        .with_panel(placed(machines(), 12, 5))
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
        .with_panel(placed(sleds(), 24, 9))
        .with_panel(placed(recent_alerts(), 24, 9))
    )


def machines() -> stat.Panel:
    return (
        stat.Panel()
        .title("Machines")
        .description("Each machine's last reported state in the time range.")
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f'SELECT last("{StatusField.ONLINE}") {on_the_floor(Measurement.MACHINE_STATUS)} '
                f'GROUP BY "{Tag.MACHINE_ID}"',
                alias=BY_MACHINE,
            )
        )
        .mappings(ONLINE)
        .reduce_options(LAST)
        .color_mode(common.BigValueColorMode.BACKGROUND)
        .graph_mode(common.BigValueGraphMode.NONE)
        .text_mode(common.BigValueTextMode.VALUE_AND_NAME)
    )


def sleds() -> timeseries.Panel:
    return series(
        "Sled position",
        InfluxQL(
            f'SELECT mean("{TraceField.SLED_MM}") {on_the_floor(Measurement.TRACE)} '
            f'GROUP BY time($__interval), "{Tag.MACHINE_ID}" fill(none)',
            alias=BY_MACHINE,
        ),
        unit="lengthmm",
        description="The downsampled sled trace of each machine.",
    ).interval("100ms")


def recent_alerts() -> table.Panel:
    columns = ", ".join(f'"{name}"' for name in ALERT_COLUMNS)
    return (
        table.Panel()
        .title("Recent alerts")
        .datasource(DATASOURCE)
        .with_target(
            InfluxQL(
                f"SELECT {columns} {on_the_floor(Measurement.ALERT)} ORDER BY time DESC LIMIT 50",
                table=True,
            )
        )
    )
