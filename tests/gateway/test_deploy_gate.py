"""The deployment gate on a running gateway: a bad edit of a gated route waits while the good version answers."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from openai import OpenAI
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.common import console, err_console
from tests.gateway.conftest import base_gateway
from tests.servers import REPO, free_port, start_gateway, stop, wait_for, write_config

pytestmark = pytest.mark.slow

GATE = {"metric": "accuracy", "min": 0.5, "min_examples": 5}
BROKEN = {"system_prompt": "Reply with the single word banana.", "retrieval": {}, "params": {"max_tokens": 4}}


@pytest.fixture
def configs(llama_url: str, demo_indexes: Path, banking77_dir: Path, tmp_path: Path) -> Path:
    """The repo's banking77 route, gated on a 10-row gold file."""
    with (banking77_dir / "test.csv").open(encoding="utf-8") as handle:
        gold = list(csv.DictReader(handle))[::300][:10]
    with (tmp_path / "gold.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["text", "category"])
        writer.writeheader()
        writer.writerows(gold)
    route = yaml.safe_load((REPO / "configs" / "routes" / "banking77.yaml").read_text())
    route["eval"] = {**route["eval"], "data": str(tmp_path / "gold.csv"), "gate": GATE}
    return write_config(tmp_path / "configs", base_gateway(llama_url, indexes_dir=str(demo_indexes)),
                        {"banking77": route})


@pytest.fixture
def ragway(configs: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., object]:
    """`ragway ARGS -c CONFIGS` in this process, sharing the gateway's eval database (beside its log)."""
    monkeypatch.delenv("RAGWAY_EVAL_STORE", raising=False)
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, [*args, "-c", str(configs)])


def test_bad_edit_is_held_while_the_good_version_answers_and_force_promotes(
    configs: Path, ragway: Callable[..., object], tmp_path: Path
) -> None:
    port = free_port()
    process = start_gateway(configs, port, log_path=tmp_path / "gateway.log")
    base = f"http://127.0.0.1:{port}"
    client = OpenAI(base_url=f"{base}/v1", api_key="x", max_retries=0)
    route_file = configs / "routes" / "banking77.yaml"
    report = str(tmp_path / "report.html")
    try:
        good = _serving(client)
        route_file.write_text(yaml.safe_dump({**yaml.safe_load(route_file.read_text()), **BROKEN}))
        bad = hashlib.sha256(route_file.read_bytes()).hexdigest()[:12]

        assert wait_for(lambda: _config_error(base) is not None)
        error = _config_error(base)
        assert f"route 'banking77' version {bad}" in error and f"still serving version {good}" in error
        assert "`ragway eval --route banking77 --gate`" in error
        assert _serving(client) == good

        refused = ragway("eval", "--route", "banking77", "--gate", "--report", report)
        assert refused.exit_code == 1, refused.output
        assert "gate failed for banking77" in refused.stderr and "accuracy 0.0000 < 0.5000 on 10" in refused.stderr
        status = ragway("config", "status")
        assert "refused" in status.stdout and bad in status.stdout
        assert _serving(client) == good

        forced = ragway("eval", "--route", "banking77", "--gate", "--force", "--report", report)
        assert forced.exit_code == 0, forced.output
        assert f"forced banking77 version {bad}" in forced.stdout
        assert wait_for(lambda: _serving(client) == bad, 15)
        assert _config_error(base) is None
    finally:
        stop(process)
    assert "route edit held back: route 'banking77'" in (tmp_path / "gateway.log").read_text()


def _serving(client: OpenAI) -> str:
    """The route version that answers a question now."""
    reply = client.chat.completions.create(
        model="banking77", messages=[{"role": "user", "content": "My card has not arrived yet"}]
    )
    return reply.model_extra["ragway"]["route_version"]


def _config_error(base: str) -> str | None:
    return httpx.get(f"{base}/readyz").json()["config_error"]
