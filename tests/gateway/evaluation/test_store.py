"""The eval database: numbered migrations, the history of runs and the promotion record."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Engine, select

from gateway.config.gateway_file import GatewayConfig
from gateway.config.snapshot import ConfigSnapshot
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.provenance import Provenance
from gateway.promotion.promotions import Promotion, PromotionStore
from gateway.promotion.store import MIGRATIONS, SCHEMA, default_store_url, migrate, open_engine
from tests.gateway.evaluation.fakes import result_with

PROVENANCE = Provenance(
    route="banking77",
    route_version="abc123",
    index_versions={"banking77-examples": "0f0f0f0f0f0f"},
    model_versions={"large": "openai/smollm2", "small": "v2:feedbeef"},
    dataset="gold.csv",
    dataset_checksum="c" * 64,
)


def test_migrations_apply_once_in_order(eval_engine: Engine) -> None:
    assert migrate(eval_engine) == len(MIGRATIONS)
    with eval_engine.connect() as conn:
        rows = conn.execute(select(SCHEMA.versions.c.version, SCHEMA.versions.c.name)).all()
    assert [tuple(r) for r in rows] == [
        (1, "m001_eval_runs"), (2, "m002_route_promotions"), (3, "m003_details_and_misses")
    ]


def test_history_keeps_versions_and_metrics_newest_first(eval_engine: Engine) -> None:
    history = EvalHistory(eval_engine)
    first = history.record(PROVENANCE, [result_with("prompt", 0.80), result_with("small", 0.93)], ts=1000.0)
    newer = Provenance(**{**PROVENANCE.__dict__, "route_version": "def456"})
    second = history.record(newer, [result_with("prompt", 0.70)], ts=2000.0)

    entries = history.entries("banking77")

    assert [(e.run_id, e.variant) for e in entries] == [(second, "prompt"), (first, "small"), (first, "prompt")]
    latest = history.latest("banking77", "prompt")
    assert latest is not None
    assert latest.metrics["accuracy"] == 0.70
    assert latest.provenance.route_version == "def456"
    assert latest.provenance.index_versions == {"banking77-examples": "0f0f0f0f0f0f"}
    assert latest.provenance.dataset_checksum == "c" * 64
    assert history.latest("banking77", "cascade") is None
    assert history.entries("other") == []


def test_promotions_show_the_serving_version_after_a_refusal(eval_engine: Engine) -> None:
    store = PromotionStore(eval_engine)
    store.record(Promotion("banking77", "v1", "promoted", "accuracy 0.93 >= 0.90", ts=1.0))
    store.record(Promotion("banking77", "v2", "refused", "accuracy 0.40 < 0.90", ts=2.0))
    store.record(Promotion("chat", "c1", "promoted", "no gate", ts=3.0))

    (banking, chat) = store.status()

    assert banking.serving is not None and banking.serving.version == "v1"
    assert (banking.latest.version, banking.latest.state) == ("v2", "refused")
    assert chat.route == "chat"
    refused = store.decision("banking77", "v2")
    assert refused is not None and not refused.servable

    store.record(Promotion("banking77", "v2", "forced", "forced past a failed gate", ts=4.0))

    forced = store.decision("banking77", "v2")
    assert forced is not None and forced.servable
    assert store.status()[0].serving == forced
    assert [p.state for p in store.history("banking77")] == ["forced", "refused", "promoted"]


def test_record_stamps_the_time(eval_engine: Engine) -> None:
    stored = PromotionStore(eval_engine).record(Promotion("r", "v", "promoted", "ok"))

    assert stored.ts > 0


def test_default_store_sits_beside_the_sqlite_log(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("RAGWAY_EVAL_STORE", raising=False)
    root = tmp_path / "configs"
    sqlite = ConfigSnapshot(root=root, gateway=GatewayConfig.model_validate({"log": {"url": "sqlite:///logs/x.db"}}))
    pg_url = "postgresql://postgres@127.0.0.1/test"
    pg = ConfigSnapshot(root=root, gateway=GatewayConfig.model_validate({"log": {"url": pg_url}}))

    assert default_store_url(sqlite) == f"sqlite:///{tmp_path / 'logs' / '.eval-history.db'}"
    assert default_store_url(pg) == pg_url
    monkeypatch.setenv("RAGWAY_EVAL_STORE", "sqlite:////elsewhere.db")
    assert default_store_url(sqlite) == "sqlite:////elsewhere.db"


def test_reopening_an_existing_database_keeps_its_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'eval.db'}"
    EvalHistory(open_engine(url)).record(PROVENANCE, [result_with("prompt", 0.8)])

    assert len(EvalHistory(open_engine(url)).entries("banking77")) == 1
