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

LITELLM_VENV="$HERE/.venv-litellm"
if [ ! -x "$LITELLM_VENV/bin/litellm" ]; then
    "$PYTHON" -m venv "$LITELLM_VENV"
    "$LITELLM_VENV/bin/pip" install -q --upgrade pip
    "$LITELLM_VENV/bin/pip" install -q 'litellm[proxy]'
fi

if [ ! -f "$HERE/node_modules/@portkey-ai/gateway/build/start-server.js" ]; then
    (cd "$HERE" && npm install --no-audit --no-fund --silent --prefix "$HERE" @portkey-ai/gateway)
fi
