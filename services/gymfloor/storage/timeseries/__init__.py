"""Time series in InfluxDB, for Grafana: reps, alerts, machine status, a telemetry trace and
ingest's own counters, through a durable spool; docs/TIMESERIES.md describes them."""
