"""`ragway limits` and the budgets under `ragway logs summary`, read from a real log store."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from pathlib import Path

import yaml
from typer.testing import CliRunner

from gateway.cli import app
from gateway.config.limits import LimitsConfig
from gateway.usage.dashboard import render_dashboard
from gateway.usage.store import UsageStore
from tests.gateway.usage.conftest import make_record

LIMITS = {"keys": {"TEAM_A_KEY": {"name": "team-a", "usd_per_day": 1.0, "requests_per_minute": 10}},
          "routes": {"chat": {"tokens_per_minute": 1000}}}


def config_dir(tmp_path: Path, store_url: str, limits: dict | None = LIMITS) -> Path:
    root = tmp_path / "configs"
    (root / "routes").mkdir(parents=True)
    gateway = {"auth": {"open": True}, "log": {"url": store_url}, **({"limits": limits} if limits else {})}
    (root / "gateway.yaml").write_text(yaml.safe_dump(gateway))
    return root


def test_limits_lists_spend_and_rates_against_each_limit(store: UsageStore, store_url: str, tmp_path: Path) -> None:
    now = time.time()
    store.insert_many([
        make_record(now - 5, "chat", key_id="TEAM_A_KEY", cost_usd=0.25, tokens_in=100, tokens_out=50),
        make_record(now - 10, "chat", key_id="TEAM_A_KEY", cost_usd=0.5, tokens_in=200, tokens_out=100),
        make_record(now - 7200, "chat", key_id="TEAM_A_KEY", cost_usd=0.125),
        make_record(now - 3, "chat", key_id="TEAM_A_KEY", status=429, decision="refused"),
        make_record(now - 3, "chat", key_id="OTHER", cost_usd=9.0, tokens_in=10),
    ])
    day_start = now - now % 86_400
    today = 0.875 if now - 7200 >= day_start else 0.75
    result = CliRunner().invoke(app, ["limits", "--json", "--config", str(config_dir(tmp_path, store_url))])
    assert result.exit_code == 0, result.output
    rows = {(r["scope"], r["limit"]): r for r in json.loads(result.output)}
    assert rows[("key TEAM_A_KEY (team-a)", "usd_per_day")]["used"] == today
    assert rows[("key TEAM_A_KEY (team-a)", "requests_per_minute")]["used"] == 2, "refusals are not counted"
    assert rows[("route chat", "tokens_per_minute")]["used"] == 460
    assert rows[("route chat", "tokens_per_minute")]["remaining"] == 540

    table = CliRunner().invoke(app, ["logs", "summary", "--config", str(config_dir(tmp_path / "b", store_url))],
                               env={"COLUMNS": "200"})
    assert table.exit_code == 0, table.output
    assert "spend against budgets" in table.output and "team-a" in table.output


def test_limits_without_a_limits_section_says_so(store_url: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["limits", "--config", str(config_dir(tmp_path, store_url, None))])
    assert result.exit_code != 0 and "no budgets or rate limits" in result.output


def test_the_dashboard_shows_spend_against_each_budget(store: UsageStore) -> None:
    now = time.time()
    store.insert_many([make_record(now - 5, "chat", key_id="TEAM_A_KEY", cost_usd=1.5)])
    html = render_dashboard(store, timedelta(hours=1), now=now, limits=LimitsConfig.model_validate(LIMITS))
    assert 'id="budgets"' in html and "key TEAM_A_KEY (team-a)" in html
    assert "$1.5000" in html and "150%" in html and 'class="over"' in html
    assert 'id="budgets"' not in render_dashboard(store, timedelta(hours=1), now=now)
