"""`ragway eval`, `ragway eval history`, `ragway config status` and `ragway advise` with a fake answer path."""

from __future__ import annotations

import json
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.common import console, err_console
from gateway.cli.eval_cmd import EvalDeps, log_traffic
from gateway.config import load_snapshot
from gateway.config.snapshot import ConfigSnapshot
from gateway.evaluation.evidence import TrafficStats
from gateway.evaluation.runner import AnswerFn
from gateway.usage.record import Latency, RequestRecord
from gateway.usage.store import UsageStore
from tests.gateway.evaluation.fakes import GOLD, FakeAnswerFn, write_config

RIGHT = {e.input: e.expected for e in GOLD}
WRONG = {e.input: "card_arrival" for e in GOLD}


class FakeAnswerFactory:
    """Yields one FakeAnswerFn per eval, where the large model is right and the small one says card_arrival."""

    def __init__(self) -> None:
        self.opened: list[Path] = []

    @asynccontextmanager
    async def __call__(self, config_dir: Path) -> AsyncIterator[AnswerFn]:
        self.opened.append(config_dir)
        yield FakeAnswerFn({"large": RIGHT, "small": WRONG}, cost_usd={"large": 0.003})


def fake_traffic(snapshot: ConfigSnapshot, route: str, days: float) -> TrafficStats:
    return TrafficStats(requests=9000, days=days, p95_ms=2500.0)


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(console, "width", 250)
    monkeypatch.setattr(err_console, "width", 250)
    monkeypatch.delenv("RAGWAY_EVAL_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    factory = FakeAnswerFactory()
    store = f"sqlite:///{tmp_path / 'eval.db'}"

    def run(*args: str, configs: Path | None = None):
        base = ["-c", str(configs or tmp_path / "configs"), "--store", store]
        return runner.invoke(app, [*args, *base], obj=EvalDeps(answer_factory=factory, traffic=fake_traffic))

    write_config(tmp_path)
    run.factory = factory  # type: ignore[attr-defined]
    return run


def test_eval_prints_the_table_writes_the_report_and_the_history(cli, tmp_path: Path) -> None:
    report = tmp_path / "out" / "report.html"

    result = cli("eval", "--route", "banking77", "--variants", "prompt,small", "--report", str(report))

    assert result.exit_code == 0, result.output
    assert "accuracy" in result.stdout and "macro_f1" in result.stdout and "p95_ms" in result.stdout
    assert "100.0%" in result.stdout and "50.0%" in result.stdout
    assert "$3.0000" in result.stdout
    html = report.read_text(encoding="utf-8")
    assert html.count("data:image/png;base64,") == 5
    assert cli.factory.opened == [tmp_path / "configs"]

    history = cli("eval", "history", "--route", "banking77")

    assert history.exit_code == 0, history.output
    assert "prompt" in history.stdout and "small" in history.stdout
    assert "accuracy=100.0%" in history.stdout and "accuracy=50.0%" in history.stdout


def test_gate_refuses_a_bad_version_and_force_promotes_it(cli, tmp_path: Path) -> None:
    good = cli("eval", "--route", "banking77", "--gate")
    assert good.exit_code == 0, good.output
    assert "promoted" in good.stdout

    write_config(tmp_path, target="small")
    bad = cli("eval", "--route", "banking77", "--gate")
    assert bad.exit_code == 1
    assert "gate failed for banking77" in bad.stderr
    assert "accuracy 0.5000 < 0.9000 on 4 examples" in bad.stderr

    forced = cli("eval", "--route", "banking77", "--gate", "--force")
    assert forced.exit_code == 0, forced.output
    assert "forced" in forced.stdout

    status = cli("config", "status")
    assert status.exit_code == 0, status.output
    assert "forced" in status.stdout and "banking77" in status.stdout


def test_bad_rows_are_reported_with_line_numbers(cli, tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text(gold.read_text(encoding="utf-8") + ",card_arrival\n", encoding="utf-8")

    result = cli("eval", "--route", "banking77")

    assert result.exit_code == 0, result.output
    assert "skipped 1 bad row(s)" in result.stderr
    assert "line 6: 'text' is missing or empty" in result.stderr


def test_usage_errors_are_one_line(cli) -> None:
    assert "--force only applies with --gate" in cli("eval", "--route", "banking77", "--force").stderr
    assert "no route 'nope'" in cli("eval", "--route", "nope").stderr
    assert "unknown variant(s) bogus" in cli("eval", "--route", "banking77", "--variants", "bogus").stderr
    assert "no eval history for route 'banking77'" in cli("eval", "history", "--route", "banking77").stderr


def test_advise_walks_the_flowchart_with_the_measured_numbers(cli, tmp_path: Path, banking77_dir: Path) -> None:
    assert cli("eval", "--route", "banking77", "--variants", "prompt,rag,small").exit_code == 0

    result = cli("advise", "--route", "banking77", "--labelled", str(banking77_dir / "train.csv"))

    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Ship prompting" not in out
    assert "too few cases" in out
    assert "10,003" in out and "measured" in out and "assumed" in out
    # logs say p95 2,500 ms; no SLO is set, so latency does not bind; 9,000 requests in 30 days
    assert "9,000" in out
    # prompt and rag are both right on every case at the same cost and p95: the first measured one ships
    assert "Ship 'prompt'" in out and "measured options" in out
    assert "no p95 SLO set, latency not checked" in out and "within the SLO" not in out
    assert "litellm's price map" not in out or "openai/smollm2" in out
    assert "running-cost crossover" in out and "year-one crossover" in out

    as_json = cli("advise", "--route", "banking77", "--json", "--requests-per-month", "5000")
    assert as_json.exit_code == 0, as_json.output
    data = json.loads(as_json.stdout)
    assert data["chosen"] == "prompt"
    assert {o["variant"] for o in data["options"]} == {"prompt", "rag", "small"}
    volume = next(f for f in data["inputs"] if f["name"] == "requests per month")
    # the log has 9,000 requests in 30 days: measured traffic wins over the given volume
    assert (volume["value"], volume["kind"]) == (9000.0, "measured")


def test_eval_and_history_print_json_with_slices_and_misses(cli, tmp_path: Path) -> None:
    result = cli("eval", "--route", "banking77", "--variants", "prompt,small", "--json")

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    small = next(v for v in data["variants"] if v["variant"] == "small")
    assert small["metrics"]["accuracy"] == 0.5
    assert small["by_target"] == [{"target": "small", "n": 4, "coverage": 1.0, "accuracy": 0.5, "off_label": 0}]
    assert [(m["line"], m["expected"], m["got"]) for m in small["misses"]] == [
        (4, "exchange_rate", "card_arrival"), (5, "exchange_rate", "card_arrival")
    ]
    assert Path(data["report"]).is_file()
    assert Path(data["report"]).parent == tmp_path / "reports"

    history = cli("eval", "history", "--route", "banking77", "--json")
    assert history.exit_code == 0, history.output
    rows = json.loads(history.stdout)
    assert {r["variant"] for r in rows} == {"prompt", "small"}
    assert all(r["run_id"] == data["run_id"] for r in rows)


def test_off_label_is_outside_the_classifiers_labels_not_outside_the_sample(cli, tmp_path: Path) -> None:
    route = tmp_path / "configs" / "routes" / "banking77.yaml"
    route.write_text(route.read_text(encoding="utf-8").replace("labels: [card_arrival, exchange_rate]\n", ""),
                     encoding="utf-8")
    artifact = tmp_path / "artifacts" / "banking77"
    artifact.mkdir(parents=True)
    (artifact / "manifest.json").write_text(json.dumps({"labels": ["card_arrival", "exchange_rate"]}),
                                            encoding="utf-8")
    # the gold rows hold one label only; the small model answers the classifier's other one
    gold = tmp_path / "gold.csv"
    gold.write_text("text,category\n\"exchange rate please\",exchange_rate\n\"what rate do you use\",exchange_rate\n",
                    encoding="utf-8")

    result = cli("eval", "--route", "banking77", "--variants", "small", "--json")

    assert result.exit_code == 0, result.output
    (small,) = json.loads(result.stdout)["variants"]
    assert small["by_target"] == [{"target": "small", "n": 2, "coverage": 1.0, "accuracy": 0.0, "off_label": 0}]


def test_defaults_resolve_beside_the_config_dir_not_the_working_dir(cli, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (tmp_path / "artifacts" / "banking77").mkdir(parents=True)
    route_file = tmp_path / "configs" / "routes" / "banking77.yaml"
    route_file.write_text(route_file.read_text().replace("  small: {classifier: artifacts/banking77}\n", ""))
    os.chdir(elsewhere)

    result = cli("eval", "--route", "banking77", "--variants", "small")

    assert result.exit_code == 0, result.output
    assert list((tmp_path / "reports").glob("eval-banking77-*.html"))
    assert not (elsewhere / "reports").exists()


def test_small_variants_borrow_the_finetuned_classifier_of_a_route_without_one(cli, tmp_path: Path) -> None:
    route_file = tmp_path / "configs" / "routes" / "banking77.yaml"
    route_file.write_text(route_file.read_text().replace("  small: {classifier: artifacts/banking77}\n", ""))

    missing = cli("eval", "--route", "banking77", "--variants", "small")

    assert missing.exit_code == 1
    assert "train one with `ragway finetune --route banking77 --data TRAIN.csv` or pass --small" in missing.stderr

    (tmp_path / "artifacts" / "banking77").mkdir(parents=True)
    borrowed = cli("eval", "--route", "banking77", "--variants", "small,cascade")

    assert borrowed.exit_code == 0, borrowed.output
    assert "small 100%" in borrowed.stdout
    wrong = cli("eval", "--route", "banking77", "--variants", "small", "--small", "nope")
    assert "--small nope: no classifier artifact" in wrong.stderr


def test_log_traffic_reads_the_request_log_and_is_none_before_the_gateway_logged(tmp_path: Path) -> None:
    snapshot = load_snapshot(write_config(tmp_path / "fresh"))

    assert log_traffic(snapshot, "banking77", 30.0) is None

    store = UsageStore.from_config(snapshot.gateway.log, snapshot.root.parent)
    store.migrate()
    served = RequestRecord(ts=time.time(), request_id="r1", route="banking77", latency=Latency(total_ms=80.0))
    store.insert_many([served])
    store.close()

    assert log_traffic(snapshot, "banking77", 30.0) == TrafficStats(requests=1, days=30.0, p95_ms=80.0)


def test_any_labelled_csv_works_with_its_own_column_names(cli, tmp_path: Path) -> None:
    other = tmp_path / "other.csv"
    other.write_text("utterance,intent\n" + "".join(f'"{e.input}",{e.expected}\n' for e in GOLD), encoding="utf-8")

    unnamed = cli("eval", "--route", "banking77", "--data", str(other))
    named = cli("eval", "--route", "banking77", "--data", str(other), "--input-col", "utterance",
                "--expected-col", "intent", "--variants", "prompt")

    assert unnamed.exit_code == 1
    assert "no column text, category (columns: utterance, intent)" in unnamed.stderr
    assert "--input-col" in unnamed.stderr
    assert named.exit_code == 0, named.output
    assert "100.0%" in named.stdout
