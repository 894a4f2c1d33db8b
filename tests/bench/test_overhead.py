"""The overhead table: overhead against the stub and ratios against the peers, at the same concurrency."""

from __future__ import annotations

from bench.load import Result
from bench.overhead import LITELLM_ROW, PORTKEY_ROW, STUB_ROW, Row, table_rows
from bench.profile import parse_collapsed
from bench.targets import verdicts


def _result(rps: float, p50_ms: float) -> Result:
    return Result(requests=int(rps * 10), errors=0, rps=rps, p50_ms=p50_ms, p99_ms=p50_ms * 3, mean_ms=p50_ms)


ROWS = [
    Row(STUB_ROW, 1, _result(5000, 0.2)),
    Row(STUB_ROW, 32, _result(9000, 3.0)),
    Row(LITELLM_ROW, 1, _result(100, 10.0)),
    Row(LITELLM_ROW, 32, _result(100, 300.0)),
    Row(PORTKEY_ROW, 1, _result(800, 1.2)),
    Row(PORTKEY_ROW, 32, _result(1000, 30.0)),
    Row("ragway passthrough", 1, _result(1000, 1.0)),
    Row("ragway passthrough", 32, _result(1500, 20.0)),
]


def test_overhead_and_ratios_use_the_baselines_at_the_same_concurrency() -> None:
    table = {(row[0], row[1]): row for row in table_rows(ROWS)}
    c1 = table[("ragway passthrough", 1)]
    assert c1[5] == "+0.80"
    assert c1[6] == "—"  # no server pid given: no CPU figure
    assert c1[7] == "10.00×"
    assert c1[8] == "1.25×"
    c32 = table[("ragway passthrough", 32)]
    assert c32[5] == "+17.00"
    assert c32[7] == "15.00×"
    assert c32[8] == "1.50×"


def test_a_row_measured_with_its_own_stub_baseline_is_compared_with_that_one() -> None:
    adjacent = Row("ragway passthrough", 1, _result(1000, 1.0), stub_p50_ms=0.6)
    rows = [*ROWS[:-2], adjacent, ROWS[-1]]
    assert {(row[0], row[1]): row for row in table_rows(rows)}[("ragway passthrough", 1)][5] == "+0.40"
    # the target reads the same baseline: 0.40 ms is within the 0.5 ms bound, where the stub's row gives 0.80
    assert {v[0]: v[3] for v in verdicts(rows)}["passthrough overhead p50, concurrency 1"] == "met"


def test_a_skipped_row_keeps_its_reason() -> None:
    rows = [*ROWS, Row("ragway RAG", 1, None, "not run: no index")]
    assert table_rows(rows)[-1][-1] == "not run: no index"


def test_targets_say_met_missed_or_not_measured() -> None:
    by_target = {v[0]: v[3] for v in verdicts(ROWS)}
    assert by_target["passthrough overhead p50, concurrency 1"] == "missed by 0.30 ms"
    assert by_target["passthrough req/s at least 2x Portkey's, concurrency 32"] == "missed by 500.00 req/s"
    assert by_target["RAG req/s, concurrency 32, 1 worker"] == "not measured"
    assert by_target["RAG req/s, concurrency 32, 2 workers (one per core)"] == "not measured"
    fast = [r if r.system != "ragway passthrough" else Row(r.system, r.concurrency, _result(2500, r.concurrency * 0.6))
            for r in ROWS]
    by_target = {v[0]: v[3] for v in verdicts(fast)}
    assert by_target["passthrough overhead p50, concurrency 1"] == "met"
    assert by_target["passthrough req/s at least 2x Portkey's, concurrency 32"] == "met"


def test_a_missed_target_names_where_its_route_spent_cpu() -> None:
    frames = parse_collapsed("a (httpx/_client.py:1) 30\nb (anyio/_core.py:2) 60\nc (gateway/service.py:3) 10")
    slow = [r if r.system != "ragway passthrough" or r.concurrency != 1 else Row(r.system, 1, _result(400, 2.7))
            for r in ROWS]
    by_target = {v[0]: v[4] for v in verdicts(slow, {"passthrough": frames})}
    expected = "100 samples, own time: anyio 60%, httpx 30%, gateway 10%"
    assert by_target["passthrough overhead p50, concurrency 1"] == expected
    assert by_target["RAG req/s, concurrency 32, 1 worker"] == ""


def test_a_missed_throughput_target_says_what_the_servers_cpu_per_request_allows(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr("bench.targets.os.cpu_count", lambda: 2)
    rag = [*ROWS, Row("ragway RAG (k=4 examples, 2 chunks)", 32, _result(400, 80.0), cpu_ms=4.0)]
    table = {(row[0], row[1]): row for row in table_rows(rag)}
    assert table[("ragway RAG (k=4 examples, 2 chunks)", 32)][6] == "4.00"
    by_target = {v[0]: v[4] for v in verdicts(rag)}
    assert by_target["RAG req/s, concurrency 32, 1 worker"] == (
        "4.00 ms of server CPU per request: at most 500 req/s on 2 cores with nothing else running")
