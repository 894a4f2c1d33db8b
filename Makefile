# Two commands for a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export LITELLM_LOCAL_MODEL_COST_MAP := True
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install run test services chromium nginx indexes bench lint cluster

# CPU-only torch, pinned. TORCH_INDEX empty: the configured index (here the CPU build on disk).
# The Dockerfile sets TORCH_INDEX to PyTorch's CPU wheel index, so no image pulls CUDA wheels.
TORCH_SPEC ?= torch==2.13.0
TORCH_INDEX ?=
REPLICAS ?= 3
CLUSTER_PORT ?= 8080

install: $(STAMP)

# torch is installed first from TORCH_INDEX: an unpinned spec from PyPI pulls CUDA wheels.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) '$(TORCH_SPEC)'
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

# The fleet test puts Debian's nginx in front of the gateway replicas.
nginx:
	test -x /usr/sbin/nginx || (apt-get update && apt-get install -y nginx)

# N replicas on one config directory behind nginx on CLUSTER_PORT (Redis and PostgreSQL from `services`).
cluster: install services nginx indexes
	$(BIN)/ragway cluster --replicas $(REPLICAS) --port $(CLUSTER_PORT)

test: install services chromium nginx indexes
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
