# gymfloor developer entry points. `make install` once, then any target.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: install test test-fast demo lint format bench clean

# The pages' chart library, copied from web/package-lock.json (see scripts/vendor-web-assets).
ASSETS := services/gymfloor/api/static/vendor/uPlot.iife.min.js

install: $(BIN)/gymfloor $(ASSETS)

$(BIN)/gymfloor: pyproject.toml
	@# Debian's own python3 needs python3-venv to create a virtual environment.
	@$(PYTHON) -c 'import ensurepip' 2>/dev/null || scripts/ensure-debian-packages python3-venv
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

$(ASSETS): web/package.json web/package-lock.json
	@command -v npm >/dev/null || scripts/ensure-debian-packages nodejs npm
	scripts/vendor-web-assets

test: install
	@# The tests start servers of their own from Debian's packages: Mosquitto brokers (some with
	@# TLS), InfluxDB (1.6; a forwarder in the tests adds 1.8's /api/v2/write) and PostgreSQL;
	@# the browser tests drive Debian's chromium.
	@scripts/ensure-debian-packages mosquitto mosquitto-clients openssl influxdb postgresql chromium
	$(BIN)/pytest

# The pure tests alone (tests/unit/): no servers, no browser, no Debian packages; under a minute.
test-fast: install
	$(BIN)/pytest tests/unit

demo: install
	$(BIN)/gymfloor demo

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python bench/accuracy.py
	$(BIN)/python bench/detector_speed.py
	$(BIN)/python bench/decode_speed.py
	$(BIN)/python bench/analyze_speed.py
	$(BIN)/python bench/pipeline.py
	$(BIN)/python bench/sink_cost.py
	$(BIN)/python bench/api.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info web/node_modules services/gymfloor/api/static/vendor
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
