"""`ragway finetune --from-logs`: which logged rows teach the small model, and training from them."""

from __future__ import annotations

import importlib
import json
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from gateway.cli import app
from gateway.cli.distill import distill, large_target
from gateway.config.route import RouteConfig
from gateway.smallmodel import Embedder
from gateway.usage.record import RequestRecord
from gateway.usage.store import UsageStore
from tests.gateway.usage.conftest import make_record, store_url  # noqa: F401  (store_url is a fixture)

LABELS = ["card_arrival", "exchange_rate", "top_up_failed", "change_pin"]
TAUGHT = LABELS[:3]
PER_LABEL = 20
ROUTE = """task: classification
labels: [{labels}]
log_text: true
targets:
  small:
    model: big
  teacher:
    model: big
policy:
  kind: cascade
  small: small
  large: teacher
"""

runner = CliRunner()
finetune_module = importlib.import_module("gateway.cli.finetune")


def answered(text: str, label: str, **fields: object) -> RequestRecord:
    fields.setdefault("target", "teacher")
    fields.setdefault("cache", "miss")
    return make_record(time.time() - 7200, route="banking77", input_text=text, output_text=label, **fields)


def skipped_rows() -> list[RequestRecord]:
    """One row for each reason a logged answer must not become a training example."""
    return [
        answered("my card is late", "card_arrival", status=502, error_type="upstream_error"),
        answered("my card is late", "card_arrival", cache="semantic-hit;score=0.97"),
        answered("my card is late", "card_arrival", target="small"),
        answered("where can I eat", "pizza"),
        answered("", "", cache="bypass"),
    ]


@pytest.fixture
def logged(store_url: str, banking_rows: list[tuple[str, str]]) -> str:  # noqa: F811
    """A log store holding PER_LABEL large-target answers for each TAUGHT label plus rows to skip."""
    texts = {label: [t for t, c in banking_rows if c == label][:PER_LABEL] for label in TAUGHT}
    taught = [answered(text, label) for label in TAUGHT for text in texts[label]]
    store = UsageStore(store_url)
    store.migrate()
    other_route = make_record(time.time(), route="chat", target="teacher", input_text="hi", output_text="change_pin")
    store.insert_many([*taught, answered(taught[0].input_text, "exchange_rate"), *skipped_rows(), other_route])
    store.close()
    return store_url


@pytest.fixture
def config(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    (root / "routes").mkdir(parents=True)
    (root / "gateway.yaml").write_text("models:\n  big:\n    model: openai/gpt-4o-mini\n")
    (root / "routes" / "banking77.yaml").write_text(ROUTE.format(labels=", ".join(LABELS)))
    return root


def test_only_the_teachers_ok_answers_in_the_label_set_are_kept() -> None:
    rows = [answered("card 1", "card_arrival"), answered("pin 1", " change_pin\n"), *skipped_rows()]
    found = distill(rows, "teacher", LABELS)
    assert list(zip(found.texts, found.labels, strict=True)) == [("card 1", "card_arrival"), ("pin 1", "change_pin")]
    assert found.skipped == {
        "error status": 1, "answered from cache": 1, "answered by another target": 1,
        "label not in the route's labels": 1, "no logged text (log_text off?)": 1,
    }


def test_the_teacher_is_the_policys_large_target_else_the_one_named_large() -> None:
    cascade = RouteConfig.model_validate({"targets": {"a": {"model": "m"}, "b": {"model": "m"}},
                                         "policy": {"kind": "cascade", "small": "a", "large": "b"}})
    fixed = RouteConfig.model_validate({"targets": {"large": {"model": "m"}}})
    assert (large_target(cascade), large_target(fixed)) == ("b", "large")


@pytest.mark.slow
def test_from_logs_trains_and_records_the_source(
    logged: str, config: Path, tmp_path: Path, minilm: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(finetune_module, "load_embedder", lambda model: minilm)
    artifacts = tmp_path / "artifacts"
    result = runner.invoke(app, ["finetune", "--route", "banking77", "--from-logs", "--log-url", logged, "--config",
                                 str(config), "--artifacts-dir", str(artifacts), "--target-accuracy", "0.9"])
    assert result.exit_code == 0, result.stderr
    kept = PER_LABEL * len(TAUGHT)
    assert f"{kept} examples over {len(TAUGHT)} labels" in result.stdout
    assert "repeated input" in result.stdout and "label not in the route's labels" in result.stdout
    manifest = json.loads((artifacts / "banking77" / "v1" / "manifest.json").read_text())
    assert manifest["data_source"] == "logs:banking77 since 30d"
    assert sorted(manifest["labels"]) == sorted(TAUGHT)
    assert manifest["n_train"] == manifest["n_calibration"] == kept
    assert len(manifest["data_checksum"]) == 64


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-examples", "61"], "logged 60 usable answers with 3 labels since 30d; need at least 61"),
        (["--since", "1h"], "logged 0 usable answers with 0 labels since 1h"),
        (["--since", "yesterday"], "bad time 'yesterday'"),
    ],
)
def test_too_few_logged_answers_fail_in_one_line(
    logged: str, config: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["finetune", "--route", "banking77", "--from-logs", "--log-url", logged,
                                 "--config", str(config), *args])
    assert result.exit_code == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
