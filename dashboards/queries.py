"""InfluxQL targets and the dashboards' variables, over the one InfluxDB datasource."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard
from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

from gymfloor.storage.timeseries.schema import Measurement, Tag

DATASOURCE_UID = "gymfloor-influxdb"
DATASOURCE = model.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)

# Filters that every rep, alert, status and trace panel shares; Grafana renders a multi-value
# or "All" selection of a variable as a regular expression, so tags are matched with =~.
GYM = f'"{Tag.GYM_ID}" =~ /^$gym$/'
MACHINE = f'"{Tag.MACHINE_ID}" =~ /^$machine$/'
BY_MACHINE = f"$tag_{Tag.MACHINE_ID}"  # a series' name: its machine


def on_the_floor(measurement: Measurement) -> str:
    """FROM and WHERE of a query over the selected gyms and machines, in the time range."""
    return f'FROM "{measurement}" WHERE {GYM} AND {MACHINE} AND $timeFilter'


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
