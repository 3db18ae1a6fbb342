# The two commands that work on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck unit proto bench clean redis-server

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstalls when the project's packaging changes; strict editable mode lets mypy see the
# torouter.* namespace that maps the top-level folders.
$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

run: $(BIN)/python
	$(BIN)/pip install --quiet -e . --config-settings editable_mode=strict
	$(BIN)/torouter up $(if $(CONFIG),--config $(CONFIG),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy -p torouter.router -p torouter.edge -p torouter.plugins -p torouter.cli

# Redis tests run a real redis-server (Debian's package) on a loopback port.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

unit: $(STAMP) redis-server
	$(BIN)/pip install --quiet --no-deps -e . --config-settings editable_mode=strict
	$(BIN)/pytest -q

test: lint typecheck unit

proto: $(STAMP)
	$(BIN)/python -m torouter.proto.generate

bench: $(STAMP)
	$(BIN)/python bench/run.py

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
