# cargowatch: one command per job, each doing its own set-up from a fresh clone.
#
#   make test    system packages, venv, Kafka jars, then the whole test suite
#   make demo    venv, then `cargowatch demo` (it starts its own local Kafka)
#   make lint    ruff + mypy
#   make kafka-up / kafka-down    a local broker for manual work (KAFKA_PORT, BROKERS)

SHELL := /bin/bash
.DEFAULT_GOAL := test

PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
KAFKA := deploy/local/kafka.sh
KAFKA_PORT ?= 9092
BROKERS ?= 1
PYTEST_ARGS ?=
DEMO_ARGS ?=

# Debian packages the tests use, each with the command that shows it is there:
# kcat (a Kafka client we did not write), promtool (Prometheus), Chromium and its driver
# (dashboard browser tests), docker-compose (validates deploy/docker-compose.yml without
# an engine), Java 17 and Maven (the local Kafka).
SYSTEM_DEPS := kcat:kcat promtool:prometheus prometheus:prometheus chromium:chromium \
	chromedriver:chromium-driver docker-compose:docker-compose java:openjdk-17-jre-headless mvn:maven

.PHONY: test venv system-deps kafka-fetch kafka-up kafka-down kafka-status lint demo constraints clean

# pytest exits 5 when it collected no tests: that is a failure, not a pass.
# Docstring examples in the packages run too: they are documentation that must stay true.
test: system-deps venv kafka-fetch
	@rc=0; $(BIN)/pytest -q -ra --doctest-modules tests/ schemas enrichers streams sinks cargowatch $(PYTEST_ARGS) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; \
	exit $$rc

venv: $(VENV)/.installed

# Reinstall when the dependency ranges, the pins or the native crate change. The
# watchlist matcher's core is a Rust crate (native/, pyo3): pip builds it with the
# maturin pinned in native/pyproject.toml, which needs cargo on the PATH.
NATIVE_SRC := native/Cargo.toml native/Cargo.lock native/pyproject.toml $(wildcard native/src/*.rs)
# rustup installs cargo into ~/.cargo/bin, which a non-login shell may not have on PATH.
export PATH := $(PATH):$(HOME)/.cargo/bin
$(VENV)/.installed: pyproject.toml constraints.txt $(NATIVE_SRC)
	@command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs) to build native/" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q -c constraints.txt -e '.[test]'
	$(BIN)/pip install -q -c constraints.txt ./native
	touch $@

system-deps:
	@missing=""; \
	for pair in $(SYSTEM_DEPS); do \
		command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	missing="$$(tr ' ' '\n' <<<"$$missing" | sort -u | tr '\n' ' ' | sed 's/^ *//;s/ *$$//')"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then \
		echo "missing system packages: $$missing (run: sudo apt-get install -y $$missing)" >&2; exit 1; \
	fi; \
	echo "installing system packages: $$missing" >&2; \
	export DEBIAN_FRONTEND=noninteractive; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing >/dev/null

kafka-fetch:
	$(KAFKA) fetch

kafka-up: kafka-fetch
	@bootstrap="$$($(KAFKA) start --brokers $(BROKERS) --port $(KAFKA_PORT))" && \
	echo "Kafka is up: export CARGOWATCH_KAFKA_BOOTSTRAP=$$bootstrap"

kafka-down:
	$(KAFKA) stop

kafka-status:
	$(KAFKA) status

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy cargowatch schemas enrichers streams sinks

demo: venv
	$(BIN)/cargowatch demo $(DEMO_ARGS)

# Re-pin after changing dependencies in pyproject.toml (then commit constraints.txt).
constraints: venv
	{ echo "# Exact pins of the environment the tests run in (pip install -c constraints.txt)."; \
	  echo "# Regenerate after changing dependencies: make constraints"; \
	  $(BIN)/pip freeze --exclude-editable --exclude cargowatch-native; \
	  grep -o 'maturin==[0-9.]*' native/pyproject.toml; } > constraints.txt

clean:
	rm -rf test-artifacts .pytest_cache .mypy_cache .ruff_cache
