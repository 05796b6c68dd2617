"""How deep the reps go, how slowly the sled comes down, how much back stays on the pad."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard

from dashboards.panels import base, placed, spread
from dashboards.queries import gym_variable, machine_variable
from gymfloor.storage.timeseries.schema import RepField


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
