"""Verification through a real gateway process: a semantic hit is answered from the cache, then checked by
the target, and the check is logged and priced so `ragway logs summary` shows the cache's net saving.

The target is the priced, recording upstream of tests/upstream.py: it counts the calls the gateway
makes, which is what this test checks (it answers every question alike, so each check agrees).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import CHAT_ROUTE
from tests.servers import REPO, free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow
PRICE_IN, PRICE_OUT = 1e-6, 2e-6
CACHE = {"enabled": True, "semantic_threshold": 0.85, "semantic": {"verify_share": 1.0}}
ROUTE = {**CHAT_ROUTE, "task": "classification", "targets": {"large": {"model": "priced"}}, "cache": CACHE}


def ask(port: int, text: str) -> httpx.Response:
    body = {"model": "faq", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)


def upstream_calls(upstream: str) -> int:
    return httpx.get(f"{upstream}/stats", timeout=10).json()["chat"]


def summary(config: Path) -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "logs", "summary", "--config", str(config),
                           "--by", "cache", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {row["cache"]: row for row in json.loads(done.stdout)}


def test_verified_hit_is_logged_and_priced(tmp_path: Path, test_upstream: str) -> None:
    priced = {"model": "openai/priced", "api_base": f"{test_upstream}/v1", "retries": 0,
              "provider": "openai_compatible", "input_cost_per_token": PRICE_IN, "output_cost_per_token": PRICE_OUT}
    gateway = {"auth": {"open": True}, "models": {"priced": priced}, "cache": {"url": "memory://"},
               "log": {"url": f"sqlite:///{tmp_path / 'log.db'}", "flush_interval_s": 0.1}}
    config = write_config(tmp_path / "configs", gateway, {"faq": ROUTE})
    before = upstream_calls(test_upstream)
    port = free_port()
    process = start_gateway(config, port, log_path=tmp_path / "gw.log")
    try:
        first = ask(port, "What is the capital city of France?")
        assert first.status_code == 200, first.text
        assert first.headers["x-ragway-cache"] == "miss"
        hit = ask(port, "what's the capital of france")
        assert hit.status_code == 200, hit.text
        assert hit.headers["x-ragway-cache"].startswith("semantic-hit;score=")
        assert "rule=threshold" in hit.headers["x-ragway-cache"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and upstream_calls(test_upstream) - before < 2:
            time.sleep(0.2)
        assert upstream_calls(test_upstream) - before == 2  # the miss, then the check of the hit
    finally:
        stop(process)
    rows = summary(config)
    verify, served = rows["verify"], rows["semantic-hit"]
    assert verify["requests"] == 1 and verify["errors"] == 0
    # the recording upstream reports 20 prompt and 10 completion tokens per call
    assert verify["cost_usd"] == pytest.approx(20 * PRICE_IN + 10 * PRICE_OUT)
    assert verify["savings_usd"] == pytest.approx(-verify["cost_usd"])
    assert served["cost_usd"] == 0 and served["savings_usd"] > 0
    assert rows["miss"]["savings_usd"] == pytest.approx(0)
