"""`ragway logs summary | tail | export | prune` through typer's CliRunner, on both stores."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.usage.store import UsageStore
from tests.gateway.usage.conftest import make_record

WIDE = {"COLUMNS": "220"}


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def recent(store: UsageStore) -> UsageStore:
    """Five recent records on two routes and one from forty days ago."""
    now = time.time()
    store.insert_many([
        make_record(now - 50, "chat", "large", 10, tokens_in=10, cost_usd=0.01, large_cost_usd=0.01),
        make_record(now - 40, "chat", "large", 30, status=502, error_type="upstream_error"),
        make_record(now - 30, "intent", "small", 5, cache="hit", large_cost_usd=0.02),
        make_record(now - 20, "intent", "small", 7, cache="miss", large_cost_usd=0.02),
        make_record(now - 10, "intent", "large", 50, cost_usd=0.03, large_cost_usd=0.03),
        make_record(now - 40 * 86_400, "chat", "large", 1),
    ])
    return store


def test_summary_prints_a_table_per_group(runner: CliRunner, recent: UsageStore, store_url: str) -> None:
    result = runner.invoke(app, ["logs", "summary", "--since", "1h", "--by", "route,target", "--url", store_url],
                           env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert any("requests since 1h" in line for line in lines)
    assert any("p95 ms" in line and "saved $" in line for line in lines)
    chat = next(line.split() for line in lines if " chat " in line)
    assert chat[:5] == ["chat", "large", "2", "50.0%", "0.0%"]
    assert sum(" intent " in line for line in lines) == 2


def test_summary_json_matches_the_records(runner: CliRunner, recent: UsageStore, store_url: str) -> None:
    result = runner.invoke(app, ["logs", "summary", "--since", "7d", "--by", "route", "--json", "--url", store_url])
    assert result.exit_code == 0, result.output
    rows = {row["route"]: row for row in json.loads(result.stdout)}
    assert rows["chat"]["requests"] == 2 and rows["chat"]["error_rate"] == 0.5
    assert rows["intent"]["requests"] == 3 and rows["intent"]["cache_hit_rate"] == pytest.approx(1 / 3)
    assert rows["intent"]["savings_usd"] == pytest.approx(0.04)


def test_store_url_comes_from_gateway_yaml(runner: CliRunner, tmp_path: Path) -> None:
    configs = tmp_path / "configs"
    (configs / "routes").mkdir(parents=True)
    (configs / "gateway.yaml").write_text("log:\n  url: sqlite:///var/logs.db\n")
    store = UsageStore(f"sqlite:///{tmp_path / 'var' / 'logs.db'}")
    store.migrate()
    store.insert_many([make_record(time.time(), "from-config")])
    store.close()
    result = runner.invoke(app, ["logs", "summary", "--json", "--config", str(configs)])
    assert result.exit_code == 0, result.output
    assert [row["route"] for row in json.loads(result.stdout)] == ["from-config"]


def test_tail_once_shows_the_last_written_in_order(runner: CliRunner, recent: UsageStore, store_url: str) -> None:
    result = runner.invoke(app, ["logs", "tail", "--once", "-n", "2", "--url", store_url], env=WIDE)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 2
    assert "route=intent target=large" in lines[0] and "cost=$0.030000" in lines[0]
    assert "route=chat" in lines[1] and "total_ms=1.0" in lines[1]


def test_tail_follows_records_written_while_it_runs(runner: CliRunner, store: UsageStore, store_url: str) -> None:
    store.insert_many([make_record(time.time(), "old")])

    def write_later() -> None:
        time.sleep(0.3)
        for i in range(3):
            store.insert_many([make_record(time.time(), f"live-{i}")])
            time.sleep(0.1)

    writer = threading.Thread(target=write_later)
    writer.start()
    result = runner.invoke(app, ["logs", "tail", "-n", "0", "--limit", "3", "--interval", "0.05", "--url", store_url],
                           env=WIDE)
    writer.join()
    assert result.exit_code == 0, result.output
    assert [line.split("route=")[1].split()[0] for line in result.stdout.splitlines()] == ["live-0", "live-1", "live-2"]


def test_export_jsonl_and_csv(runner: CliRunner, recent: UsageStore, store_url: str, tmp_path: Path) -> None:
    out = tmp_path / "logs.jsonl"
    result = runner.invoke(app, ["logs", "export", "--since", "7d", "--format", "jsonl", "-o", str(out),
                                 "--url", store_url])
    assert result.exit_code == 0, result.output
    assert "wrote 5 records" in result.stdout
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [row["route"] for row in rows] == ["chat", "chat", "intent", "intent", "intent"]
    assert rows[1]["status"] == 502 and rows[1]["error_type"] == "upstream_error"
    assert rows[0]["retrieved_ids"] == [] and "total_ms" in rows[0]

    result = runner.invoke(app, ["logs", "export", "--since", "60d", "--format", "csv", "--url", store_url])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.stdout)))
    assert len(table) == 6 and table[0]["route"] == "chat" and table[0]["retrieved_ids"] == "[]"


def test_prune_removes_old_records(runner: CliRunner, recent: UsageStore, store_url: str) -> None:
    result = runner.invoke(app, ["logs", "prune", "--older-than", "30d", "--url", store_url])
    assert result.exit_code == 0, result.output
    assert "deleted 1 records" in result.stdout
    assert recent.count() == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["summary", "--since", "3 parsecs"], "bad time '3 parsecs'"),
        (["summary", "--by", "route,colour"], "cannot group by colour"),
        (["export", "--format", "xml"], "bad format 'xml'"),
        (["prune", "--older-than", "soon"], "bad duration 'soon'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(runner: CliRunner, tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["logs", *args, "--url", f"sqlite:///{tmp_path / 'x.db'}"])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_unreachable_store_is_one_line_and_exit_1(runner: CliRunner) -> None:
    result = runner.invoke(app, ["logs", "summary", "--url", "postgresql://postgres@127.0.0.1:9/test"])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: log store postgresql:") and result.stderr.count("\n") == 1
