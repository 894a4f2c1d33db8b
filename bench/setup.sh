#!/usr/bin/env bash
# Install the benchmark's peers and load generator; idempotent, safe to rerun.
# wrk (Debian), LiteLLM Proxy (own venv: its pins must not touch ragway's), Portkey's gateway (npm).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
PYTHON="${PYTHON:-python3}"

if ! command -v wrk >/dev/null 2>&1; then
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk
fi

# Pinned peers; the benchmark prints the versions it finds installed. LiteLLM: the last release whose
# [proxy] extra installs from this machine's index (1.110's needs a litellm-proxy package it does not hold).
LITELLM_VERSION="1.108.7"
LITELLM_VENV="$HERE/.venv-litellm"
installed="$("$LITELLM_VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("litellm"))' 2>/dev/null || true)"
if [ "$installed" != "$LITELLM_VERSION" ]; then
    test -x "$LITELLM_VENV/bin/python" || "$PYTHON" -m venv "$LITELLM_VENV"
    "$LITELLM_VENV/bin/pip" install -q --upgrade pip
    "$LITELLM_VENV/bin/pip" install -q "litellm[proxy]==$LITELLM_VERSION"
fi

# bench/package.json pins @portkey-ai/gateway exactly; `npm ci` installs what package-lock.json holds.
if [ ! -f "$HERE/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    (cd "$HERE" && npm ci --no-audit --no-fund --silent --prefix "$HERE")
fi
