"""The Grafana dashboards and the staff alert rules, as code.

`python dashboards/generate.py` (or `python -m dashboards` from the repository's root) writes one
JSON file per dashboard into dashboards/json/ (which Grafana's file provider reads) and the alert
rules into dashboards/provisioning/alerting/staff-alerts.yaml. Every query is raw InfluxQL against
one InfluxDB datasource (uid `gymfloor-influxdb`), over the measurements that `gymfloor ingest`
writes, named by `gymfloor.storage.timeseries.schema`. docs/DASHBOARDS.md lists the modules.
"""
