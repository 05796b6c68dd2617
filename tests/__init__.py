"""gymfloor's tests, by kind: unit/ (pure logic, fast: `make test-fast`), live/ (real
Mosquitto, InfluxDB and PostgreSQL servers, the `gymfloor` command end to end), browser/ (the
pages in chromium); support/ holds what they share."""
