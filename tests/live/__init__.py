"""Against real servers the tests start (Mosquitto, InfluxDB, PostgreSQL) and the `gymfloor`
command run end to end."""
