"""Summary figures against values computed by hand on a known set of records, on both stores."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from gateway.usage.record import Sample
from gateway.usage.store import UsageStore
from gateway.usage.summary import parse_group_keys, percentile, summarize, summarize_samples
from tests.gateway.usage.conftest import make_record

NOW = 1_700_000_000.0


def known_records() -> list:
    chat = [
        make_record(NOW - 600, "chat", "large", 10, status=200, cache="miss", tokens_in=100, tokens_out=20,
                    cost_usd=0.001, large_cost_usd=0.001),
        make_record(NOW - 500, "chat", "large", 20, status=200, cache="hit"),
        make_record(NOW - 400, "chat", "large", 30, status=500, cache="miss", tokens_in=50, cost_usd=0.0005,
                    large_cost_usd=0.0005, error_type="upstream_error"),
        make_record(NOW - 300, "chat", "large", 40, status=200, cache="semantic-hit;score=0.95"),
    ]
    small = [
        make_record(NOW - 100 + i, "intent", "small", ms, cache="miss", tokens_in=10, tokens_out=2,
                    cost_usd=0.0, large_cost_usd=0.0002)
        for i, ms in enumerate([100, 5, 9, 7, 11])
    ]
    large = [make_record(NOW - 50, "intent", "large", 200, status=429, cost_usd=0.0003, large_cost_usd=0.0003)]
    outside = [make_record(NOW - 2 * 86_400, "chat", "large", 9999), make_record(NOW + 10, "chat", "large", 9999)]
    return chat + small + large + outside


@pytest.fixture
def loaded(store: UsageStore) -> UsageStore:
    store.insert_many(known_records())
    return store


def by_group(rows: list, *keys: str) -> dict:
    return {tuple(row.group[k] for k in keys): row for row in rows}


def test_summary_by_route_and_target_matches_hand_computed_figures(loaded: UsageStore) -> None:
    rows = summarize(loaded, timedelta(hours=1), ["route", "target"], until=NOW + 1, now=NOW)
    groups = by_group(rows, "route", "target")
    assert list(groups) == [("chat", "large"), ("intent", "large"), ("intent", "small")]

    chat = groups[("chat", "large")]
    assert (chat.requests, chat.errors, chat.cache_hits) == (4, 1, 2)
    assert chat.error_rate == 0.25 and chat.cache_hit_rate == 0.5
    # latencies 10, 20, 30, 40: ranks 1.5, 2.85 and 2.97 (0-based) interpolated
    assert (chat.p50_ms, chat.p95_ms, chat.p99_ms) == pytest.approx((25.0, 38.5, 39.7))
    assert (chat.tokens_in, chat.tokens_out) == (150, 20)
    assert chat.cost_usd == pytest.approx(0.0015) and chat.savings_usd == pytest.approx(0.0)

    small = groups[("intent", "small")]
    assert (small.requests, small.errors, small.cache_hits) == (5, 0, 0)
    # latencies 5, 7, 9, 11, 100: p95 at rank 3.8 = 11 + 0.8 * 89
    assert (small.p50_ms, small.p95_ms, small.p99_ms) == pytest.approx((9.0, 82.2, 96.44))
    assert (small.tokens_in, small.tokens_out) == (50, 10)
    assert small.cost_usd == 0.0
    assert small.large_cost_usd == pytest.approx(0.001) and small.savings_usd == pytest.approx(0.001)

    large = groups[("intent", "large")]
    assert (large.requests, large.error_rate) == (1, 1.0)
    assert (large.p50_ms, large.p95_ms, large.p99_ms) == (200.0, 200.0, 200.0)


def test_summary_overall_and_by_status(loaded: UsageStore) -> None:
    [total] = summarize(loaded, datetime.fromtimestamp(NOW - 3600, UTC), [], until=NOW + 1)
    assert (total.requests, total.errors, total.cache_hits) == (10, 2, 2)
    # all ten latencies: 5 7 9 10 11 20 30 40 100 200
    assert (total.p50_ms, total.p95_ms, total.p99_ms) == pytest.approx((15.5, 155.0, 191.0))
    assert total.cost_usd == pytest.approx(0.0018)
    assert total.large_cost_usd == pytest.approx(0.0028)
    assert total.savings_usd == pytest.approx(0.001)

    statuses = by_group(summarize(loaded, timedelta(hours=1), ["status"], until=NOW + 1, now=NOW), "status")
    assert {k: r.requests for k, r in statuses.items()} == {(200,): 8, (429,): 1, (500,): 1}


def test_summary_by_cache_keeps_each_status(loaded: UsageStore) -> None:
    rows = summarize(loaded, timedelta(hours=1), ["cache"], until=NOW + 1, now=NOW)
    counts = {row.group["cache"]: (row.requests, row.cache_hits) for row in rows}
    assert counts == {"bypass": (1, 0), "hit": (1, 1), "miss": (7, 0), "semantic-hit;score=0.95": (1, 1)}


def test_window_excludes_older_records(loaded: UsageStore) -> None:
    rows = summarize(loaded, timedelta(seconds=200), ["route"], until=NOW + 1, now=NOW)
    assert {row.group["route"]: row.requests for row in rows} == {"intent": 6}


def test_buckets_split_the_window_by_time() -> None:
    records = [make_record(3600 * 10 + s, total_ms=s) for s in (0, 100, 3599, 3600, 7300)]
    rows = summarize_samples(map(Sample.of, records), ["route"], bucket_s=3600)
    assert [(row.bucket, row.requests) for row in rows] == [(36000, 3), (39600, 1), (43200, 1)]


def test_as_dict_carries_every_figure() -> None:
    [row] = summarize_samples([Sample.of(make_record(1.0, tokens_in=3))], ["route", "target"])
    assert row.as_dict() == {
        "route": "chat", "target": "large", "requests": 1, "errors": 0, "error_rate": 0.0, "cache_hits": 0,
        "cache_hit_rate": 0.0, "p50_ms": 10.0, "p95_ms": 10.0, "p99_ms": 10.0, "tokens_in": 3, "tokens_out": 0,
        "cost_usd": 0.0, "large_cost_usd": 0.0, "savings_usd": 0.0,
    }


def test_percentile_edges() -> None:
    assert percentile([], 95) == 0.0
    assert percentile([7.0], 99) == 7.0
    assert percentile([1.0, 2.0], 0) == 1.0
    assert percentile([1.0, 2.0], 100) == 2.0


def test_group_keys_are_checked() -> None:
    assert parse_group_keys("route, target,route") == ["route", "target"]
    assert parse_group_keys("") == []
    with pytest.raises(ValueError, match="cannot group by colour"):
        parse_group_keys("route,colour")


def random_records(seed: int, n: int) -> list:
    rng = random.Random(seed)
    return [
        make_record(NOW - rng.uniform(0, 7200), rng.choice(["chat", "intent", "faq"]), rng.choice(["large", "small"]),
                    round(rng.lognormvariate(3, 1), 3), status=rng.choice([200, 200, 200, 400, 429, 502]),
                    cache=rng.choice(["miss", "hit", "bypass", "semantic-hit;score=0.9", "hitch", "coalesced"]),
                    tokens_in=rng.randrange(200), tokens_out=rng.randrange(50), cost_usd=rng.random() / 1000,
                    large_cost_usd=rng.random() / 500)
        for _ in range(n)
    ]


@pytest.mark.parametrize(("keys", "bucket_s"), [([], None), (["route", "target"], None), (["cache", "status"], None),
                                                (["route"], 900), (["target"], 60)])
def test_database_aggregation_equals_the_python_reference(store: UsageStore, keys: list, bucket_s: float) -> None:
    # The store aggregates in SQL (GROUP BY, ranked latencies); summarize_samples is the same arithmetic
    # over samples in hand: every figure of every group must agree, ties and single-row groups included.
    records = random_records(len(keys) + int(bucket_s or 0), 700)
    records += [make_record(NOW - 30, "tie", total_ms=5.0) for _ in range(4)]
    store.insert_many(records)
    start = NOW - 3600
    got = summarize(store, start, keys, until=NOW, bucket_s=bucket_s)
    wanted = summarize_samples((Sample.of(r) for r in records if start <= r.ts < NOW), keys, bucket_s)
    assert len(got) == len(wanted) > 1 or keys == []
    for a, b in zip(got, wanted, strict=True):
        assert (a.group, a.bucket, a.requests, a.errors, a.cache_hits, a.tokens_in, a.tokens_out) == (
            b.group, b.bucket, b.requests, b.errors, b.cache_hits, b.tokens_in, b.tokens_out)
        assert (a.p50_ms, a.p95_ms, a.p99_ms, a.cost_usd, a.large_cost_usd) == pytest.approx(
            (b.p50_ms, b.p95_ms, b.p99_ms, b.cost_usd, b.large_cost_usd))


def test_an_empty_window_has_no_rows(store: UsageStore) -> None:
    assert summarize(store, NOW - 60, ["route"], until=NOW) == []
