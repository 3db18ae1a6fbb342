# The two commands that work on a fresh machine: `make run` and `make test`.
# The interpreter the venv is made from (PYTHON=... overrides): the distribution's CPython 3.11 when
# the machine has it with its venv module, else python3. Debian builds its CPython with profile-guided
# and link-time optimization; one built from source without them (pyenv's default, python3 on
# this machine) runs the gateway's own code slower (bench/README.md, "The interpreter").
ifeq ($(origin PYTHON),undefined)
PYTHON := $(shell /usr/bin/python3.11 -c 'import ensurepip, venv' 2>/dev/null && echo /usr/bin/python3.11 || echo python3)
endif
VENV := .venv
# The interpreter the venv was made from; when PYTHON names another, the venv is made again.
MADE_FROM := $(VENV)/.made-from
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every install takes its versions from the lock (build backends too, through PIP_CONSTRAINT):
# a fresh clone gets what the tests last passed with. `make lock` refreshes it on purpose.
LOCK := requirements.lock
PIP := PIP_CONSTRAINT=$(CURDIR)/$(LOCK) $(BIN)/pip
# An editable install leaves the project's modules uncompiled: compiled once here, so that no start
# compiles them all again (as every start would where PYTHONDONTWRITEBYTECODE is set: ~0.3 s).
COMPILE := $(BIN)/python -m compileall -q -j 0 build

.PHONY: FORCE run test lint typecheck relink unit proto bench clean redis-server postgresql strace openssl chromium lock agent-clis

# Made (again) when missing, or when PYTHON names another interpreter than the one it was made from.
$(MADE_FROM): FORCE
	@want="$$($(PYTHON) -c 'import os, sys; print(os.path.realpath(sys.executable))')" && \
	if [ "$$(cat $@ 2>/dev/null)" != "$$want" ] || [ ! -x $(BIN)/python ]; then \
		if [ -d $(VENV) ]; then echo "making $(VENV) again, from $$want"; rm -rf $(VENV); fi; \
		$(PYTHON) -m venv $(VENV) && $(PIP) install --quiet --upgrade pip && echo "$$want" > $@; \
	fi

# Reinstalls when the project's packaging changes; strict editable mode lets mypy see the
# torouter.* namespace that maps the top-level folders.
$(STAMP): $(MADE_FROM) pyproject.toml $(LOCK)
	$(PIP) install --quiet -e '.[dev]' --config-settings editable_mode=strict
	$(COMPILE)
	touch $(STAMP)

run: $(MADE_FROM)
	$(PIP) install --quiet -e . --config-settings editable_mode=strict
	$(COMPILE)
	$(BIN)/torouter up $(if $(CONFIG),--config $(CONFIG),)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Strict editable mode links each file: a module added since the last install needs it again.
relink: $(STAMP)
	$(PIP) install --quiet --no-deps -e . --config-settings editable_mode=strict
	$(COMPILE)

typecheck: relink
	$(BIN)/mypy -p torouter.router -p torouter.edge -p torouter.plugins -p torouter.cli
	$(BIN)/mypy examples/torouter-ollama/torouter_ollama
	$(BIN)/mypy bench

# Redis tests run a real redis-server (Debian's package) on a loopback port.
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
		echo "installing redis-server (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; }

# Usage store tests run a real PostgreSQL (Debian's package; initdb/pg_ctl into a temporary
# directory, on a loopback port).
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || { \
		echo "installing postgresql (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }


# The coding-agent CLIs the tests in tests/agents drive (Claude Code, Codex, Gemini CLI), at the
# versions of tests/agents/package-lock.json, installed when npm is present (their tests skip,
# saying why, when it is not). No install script runs but Claude Code's, which puts its native
# binary (an optional dependency of the package) in place without any download.
AGENTS := tests/agents
agent-clis:
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "npm not found: the agent CLI tests (tests/agents) will be skipped"; \
	elif [ ! $(AGENTS)/node_modules/.package-lock.json -nt $(AGENTS)/package-lock.json ]; then \
		cd $(AGENTS) && npm ci --ignore-scripts --no-audit --no-fund --no-update-notifier --loglevel=error \
			&& node node_modules/@anthropic-ai/claude-code/install.cjs; \
	fi

# The agent CLI tests record with strace every address a CLI connects or sends to (none may be
# outside loopback); without it they run unchecked.
strace:
	@command -v strace >/dev/null 2>&1 || { \
		echo "installing strace (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }

# A test stores its CA under its subject's hash, as a system's CA directory has them (openssl rehash).
openssl:
	@command -v openssl >/dev/null 2>&1 || { \
		echo "installing openssl (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl >/dev/null; }

# The console's browser tests drive a real headless Chromium: Debian's package, through Playwright
# (pointed at it; Playwright's own browser download is never used).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package)"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

unit: relink redis-server postgresql strace openssl chromium agent-clis
	$(BIN)/pytest -q

test: lint typecheck unit

proto: $(STAMP)
	$(BIN)/python -m torouter.proto.generate

# Options go through ARGS, e.g. `make bench ARGS="--pin --compare-litellm"` (see bench/README.md).
bench: $(STAMP)
	$(BIN)/python bench/run.py $(ARGS)

# Resolves pyproject.toml's ranges afresh in a throwaway venv and writes every version (runtime,
# dev, pip and the build backend) to the lock. Run it when a dependency is added or on purpose,
# then `make test` and commit the lock with what it changed.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip setuptools wheel
	.lock-venv/bin/pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	{ echo "# Generated by 'make lock' from pyproject.toml; every install in the Makefile uses it."; \
	  .lock-venv/bin/pip freeze --all --exclude-editable; } > $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build *.egg-info .mypy_cache .pytest_cache .ruff_cache
