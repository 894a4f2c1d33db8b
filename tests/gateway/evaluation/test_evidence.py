"""The advisor's inputs come from the eval history, the request log and the index manifest, marked as such."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import Engine

from gateway.config.snapshot import load_snapshot
from gateway.evaluation.evidence import LabelledCount, TrafficStats, gather, traffic_stats
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.provenance import Provenance
from gateway.usage.record import RequestRecord
from tests.gateway.evaluation.fakes import result_with, write_config


def provenance(version: str) -> Provenance:
    return Provenance("banking77", version, {}, {}, "gold.csv", "0" * 64)


def test_measured_inputs_come_from_history_logs_and_the_index(tmp_path: Path, eval_engine: Engine) -> None:
    snapshot = load_snapshot(write_config(tmp_path))
    index = tmp_path / "indexes" / "banking77-examples"
    index.mkdir(parents=True)
    (index / "manifest.json").write_text(json.dumps({"rows": 10003, "checksum": "ab" * 32}), encoding="utf-8")
    history = EvalHistory(eval_engine)
    history.record(provenance("v1"), [result_with("prompt", 0.7, n=600, p95_ms=900, cost_per_1k=4.0)])
    history.record(provenance("v1"), [result_with("small", 0.93)])

    got = gather(snapshot, snapshot.routes["banking77"], history, TrafficStats(requests=1500, days=3, p95_ms=1200))

    assert (got.metric, got.threshold.value, got.threshold.measured) == ("accuracy", 0.9, False)
    assert got.describable.value is True
    assert (got.scores["prompt"].value, got.scores["prompt"].measured) == (0.7, True)
    assert (got.scores["small"].value, got.scores["rag"].value, got.scores["rag"].measured) == (0.93, None, False)
    assert (got.prompt_cases.value, got.labelled_examples.value) == (600, 10003)
    assert (got.p95_ms.value, got.p95_ms.source) == (1200, "request log, 1,500 requests")
    assert (got.monthly_requests.value, got.monthly_requests.measured) == (15_000, True)
    assert (got.api_cost_per_request.value, got.api_cost_per_request.measured) == (0.004, True)
    assert got.cost.api_cost_per_request == 0.004
    assert [(o.variant, o.meets) for o in got.options] == [("prompt", False), ("small", True)]
    given = gather(snapshot, snapshot.routes["banking77"], history, None, requests_per_month=2_000)
    assert (given.monthly_requests.value, given.monthly_requests.source) == (2_000, "--requests-per-month")


def test_without_measurements_inputs_are_assumed_from_config_or_defaults(tmp_path: Path, eval_engine: Engine) -> None:
    configs = write_config(tmp_path)
    route_file = configs / "routes" / "banking77.yaml"
    route_file.write_text(
        route_file.read_text(encoding="utf-8") + "  cost: {api_cost_per_request: 0.02}\n  slo: {p95_ms: 500}\n",
        encoding="utf-8",
    )
    snapshot = load_snapshot(configs)
    history = EvalHistory(eval_engine)
    history.record(provenance("v1"), [result_with("rag", 0.9, cost_per_1k=0.0, p95_ms=700)])

    got = gather(snapshot, snapshot.routes["banking77"], history, labelled=LabelledCount(1200, "rows in train.csv"))

    assert (got.labelled_examples.value, got.labelled_examples.measured) == (1200, True)
    api_cost = got.api_cost_per_request
    assert (api_cost.value, api_cost.source) == (0.02, "route eval.cost.api_cost_per_request")
    assert not got.api_cost_per_request.measured
    assert got.monthly_requests.value == 100_000
    assert got.monthly_requests.source.startswith("framework default (override: route eval.cost.monthly_requests)")
    assert "--requests-per-month" in got.monthly_requests.source
    assert got.monthly_requests.kind == "assumed"
    assert (got.slo_p95_ms.kind, got.slo_cost_per_1k.kind, got.slo_cost_per_1k.value) == ("configured", "assumed", None)
    assert [o.variant for o in got.options] == ["rag"]
    assert (got.p95_ms.value, got.p95_ms.measured) == (700, True)
    assert got.slo_p95_ms.value == 500
    assert got.prompt_cases.value is None


def test_traffic_stats_scale_the_window_to_a_month_and_leave_errors_out() -> None:
    records = [RequestRecord(ts=float(i), request_id=str(i), route="banking77") for i in range(21)]
    for i, rec in enumerate(records):
        rec.latency.total_ms = float(i * 10)
    records[-1].status = 502

    stats = traffic_stats(records, days=2)

    assert stats.requests == 20
    assert stats.monthly_requests == 300
    # p95 of 0, 10, ..., 190: rank 0.95 * 19 = 18.05 -> 180.5
    assert stats.p95_ms == 180.5
