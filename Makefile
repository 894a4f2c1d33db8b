# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test services chromium indexes bench lint

install: $(STAMP)

# torch is pinned first: 2.13.0 is the CPU build on disk; an unpinned spec pulls CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install torch==2.13.0
	$(BIN)/pip install -e '.[dev]'
	touch $(STAMP)

indexes: install
	$(BIN)/ragway index ensure-demo

run: install indexes
	$(BIN)/ragway serve

services:
	redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 || redis-server --daemonize yes --port 6379 --save ""
	pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 || pg_ctlcluster --skip-systemctl-redirect 15 main start
	for i in $$(seq 1 30); do pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1 && redis-cli ping >/dev/null 2>&1 && break; sleep 1; done

# The dashboard test screenshots /dashboard in Debian's headless chromium.
chromium:
	test -x /usr/bin/chromium || (apt-get update && apt-get install -y chromium)

test: install services chromium indexes
	$(BIN)/ruff check gateway retrieval tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/pytest -n 2 --dist loadscope

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check gateway retrieval tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy
