# One entry point for a newcomer and for CI: `make test` installs what it needs first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
NODE_DIR := .node
POUCHDB := $(NODE_DIR)/node_modules/.bin/pouchdb-server
STAMP := $(VENV)/.installed

.PHONY: install test unit integration lint bench demo clean

install: $(STAMP) $(POUCHDB)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

# pouchdb-server is the CouchDB-API server the integration tests start (no CouchDB package here).
$(POUCHDB):
	mkdir -p $(NODE_DIR)
	test -f $(NODE_DIR)/package.json || echo '{"name": "whistle-test-servers", "private": true}' > $(NODE_DIR)/package.json
	cd $(NODE_DIR) && npm install --no-audit --no-fund --loglevel=error pouchdb-server@4.2.0

test: install lint
	WHISTLE_POUCHDB=$(abspath $(POUCHDB)) $(BIN)/pytest -q tests

unit: install
	$(BIN)/pytest -q tests/unit tests/contract -m 'not integration'

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

bench: install
	$(BIN)/python benchmarks/bus.py
	$(BIN)/python benchmarks/ecallmgr_events.py
	$(BIN)/python benchmarks/setup_latency.py

# The demo: a sample company and scripted calls, all in one process (add --amqp-url/--couch-url with
# ARGS to run it against real services).
demo: $(STAMP)
	$(BIN)/whistle demo $(ARGS)

clean:
	rm -rf $(VENV) $(NODE_DIR) .run build *.egg-info
