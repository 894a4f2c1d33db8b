"""Verification through a real gateway: a semantic hit is answered from the cache, then checked by the model,
and the check is logged and priced so `ragway logs summary` shows the cache's net saving."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import CHAT_ROUTE, base_gateway
from tests.servers import REPO, free_port, start_gateway, stop, write_config

pytestmark = pytest.mark.slow
CACHE = {"enabled": True, "semantic_threshold": 0.85, "semantic": {"verify_share": 1.0}}
ROUTE = {**CHAT_ROUTE, "task": "classification", "cache": CACHE}


def ask(port: int, text: str) -> httpx.Response:
    body = {"model": "faq", "messages": [{"role": "user", "content": text}]}
    return httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=body, timeout=60)


def summary(config: Path) -> dict[str, dict]:
    done = subprocess.run([sys.executable, "-m", "gateway.cli", "logs", "summary", "--config", str(config),
                           "--by", "cache", "--json"], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return {row["cache"]: row for row in json.loads(done.stdout)}


def test_verified_hit_is_logged_and_priced(tmp_path: Path, llama_url: str) -> None:
    models = base_gateway(llama_url)["models"]
    models["smollm2"] = {**models["smollm2"], "input_cost_per_token": 1e-6, "output_cost_per_token": 2e-6}
    log = {"url": f"sqlite:///{tmp_path / 'log.db'}", "flush_interval_s": 0.1}
    config = write_config(tmp_path / "configs", base_gateway(llama_url, cache={"url": "memory://"}, models=models,
                                                              log=log), {"faq": ROUTE})
    port = free_port()
    process = start_gateway(config, port, log_path=tmp_path / "gateway.log")
    try:
        first = ask(port, "What is the capital city of France?")
        assert first.status_code == 200, first.text
        assert first.headers["x-ragway-cache"] == "miss"
        hit = ask(port, "what's the capital of france")
        assert hit.status_code == 200, hit.text
        assert hit.headers["x-ragway-cache"].startswith("semantic-hit;score=")
        assert "rule=threshold" in hit.headers["x-ragway-cache"]
        deadline, rows = time.monotonic() + 60, {}
        while time.monotonic() < deadline and "verify" not in rows:
            time.sleep(0.5)
            rows = summary(config)
    finally:
        stop(process)
    rows = summary(config)
    verify, served = rows["verify"], rows["semantic-hit"]
    assert verify["requests"] == 1 and verify["errors"] == 0
    assert verify["cost_usd"] > 0 and verify["savings_usd"] == pytest.approx(-verify["cost_usd"])
    assert served["cost_usd"] == 0 and served["savings_usd"] > 0
    net = sum(row["savings_usd"] for row in rows.values() if row["cache"] != "miss")
    assert net == pytest.approx(served["savings_usd"] - verify["cost_usd"])
