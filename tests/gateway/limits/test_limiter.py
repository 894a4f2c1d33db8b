"""Budgets and rate limits on both counter stores: the in-process one and a real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
from prometheus_client import CollectorRegistry

from gateway.config.limits import LimitsConfig, LimitSet
from gateway.errors import QuotaExceeded, RateLimited, ServiceUnavailable
from gateway.limits import Ask, Limiter
from gateway.limits.counters import MemoryCounters
from gateway.limits.redis_counters import RedisCounters
from tests.private_servers import PrivateRedis

SHARED_REDIS = "redis://127.0.0.1:6379/0"


def config(prefix: str, **limits: object) -> LimitsConfig:
    return LimitsConfig(key_prefix=prefix, keys={"KEY_A": LimitSet(name="team-a", **limits)})


def ask(tokens: int = 100, usd: float = 0.1, key: str = "KEY_A") -> Ask:
    return Ask(request_id=uuid.uuid4().hex, key_id=key, route="chat", tokens=tokens, usd=usd)


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator:
    made: list[Limiter] = []

    def make(**limits: object) -> Limiter:
        cfg = config(f"ragway-test:{uuid.uuid4().hex}", **limits)
        counters = MemoryCounters() if request.param == "memory" else RedisCounters(SHARED_REDIS, socket_timeout_s=1)
        limiter = Limiter(cfg, counters, CollectorRegistry())
        made.append(limiter)
        return limiter

    yield make
    for limiter in made:
        await limiter.aclose()


async def test_requests_per_minute_admits_exactly_the_limit(make_limiter) -> None:
    limiter = make_limiter(requests_per_minute=5)
    results = await asyncio.gather(*(limiter.reserve(ask()) for _ in range(12)), return_exceptions=True)
    admitted = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert len(admitted) == 5 and len(refused) == 7
    assert sorted(g.headers["x-ratelimit-remaining-requests"] for g in admitted) == ["0", "1", "2", "3", "4"]
    error = refused[0]
    assert error.code == "rate_limit_exceeded" and error.status == 429
    assert error.headers["x-ratelimit-limit-requests"] == "5" and 1 <= int(error.headers["retry-after"]) <= 60
    assert "key KEY_A (team-a)" in error.message


async def test_a_budget_reserves_the_worst_case_and_settles_to_the_real_cost(make_limiter) -> None:
    limiter = make_limiter(usd_per_day=0.25)
    first = await limiter.reserve(ask(usd=0.1))
    await limiter.reserve(ask(usd=0.1))
    with pytest.raises(QuotaExceeded) as refused:
        await limiter.reserve(ask(usd=0.1))  # 0.2 reserved + 0.1 > 0.25
    assert refused.value.type == "insufficient_quota" and "x-ratelimit-reset-usd-day" in refused.value.headers
    limiter.settle(first, tokens=30, usd=0.01)  # the real cost: 0.09 goes back
    await asyncio.sleep(0.05)
    third = await limiter.reserve(ask(usd=0.1))
    assert float(third.headers["x-ratelimit-remaining-usd-day"]) == pytest.approx(0.25 - 0.21, abs=1e-4)


async def test_tokens_per_minute_counts_settled_tokens(make_limiter) -> None:
    limiter = make_limiter(tokens_per_minute=1000)
    grant = await limiter.reserve(ask(tokens=900))
    with pytest.raises(RateLimited):
        await limiter.reserve(ask(tokens=200))
    limiter.settle(grant, tokens=100, usd=0.0)
    await asyncio.sleep(0.05)
    await limiter.reserve(ask(tokens=800))


async def test_requests_without_limits_reserve_nothing(make_limiter) -> None:
    limiter = make_limiter(requests_per_minute=1)
    for _ in range(3):
        grant = await limiter.reserve(ask(key="OTHER_KEY"))
        assert grant.checks == () and grant.headers == {}


async def test_redis_down_fails_open_for_rates_and_closed_for_budgets(private_redis: PrivateRedis) -> None:
    registry = CollectorRegistry()
    cfg = LimitsConfig(key_prefix="t", keys={"RATE": LimitSet(requests_per_minute=1),
                                             "BUDGET": LimitSet(usd_per_day=1.0),
                                             "OPEN_BUDGET": LimitSet(usd_per_day=1.0, budget_on_error="fail_open")})
    limiter = Limiter(cfg, RedisCounters(private_redis.url, socket_timeout_s=0.2), registry)
    private_redis.stop()
    try:
        for _ in range(3):
            assert (await limiter.reserve(ask(key="RATE"))).checks == ()
        await limiter.reserve(ask(key="OPEN_BUDGET"))
        with pytest.raises(ServiceUnavailable) as refused:
            await limiter.reserve(ask(key="BUDGET"))
        assert refused.value.code == "limits_unavailable" and "fail_closed" in refused.value.message
        assert registry.get_sample_value("ragway_limit_store_errors_total", {"decision": "fail_open"}) == 4
        assert registry.get_sample_value("ragway_limit_store_errors_total", {"decision": "fail_closed"}) == 1
    finally:
        private_redis.start()
        await limiter.aclose()
    await limiter_after_restart(private_redis)


async def limiter_after_restart(server: PrivateRedis) -> None:
    limiter = Limiter(LimitsConfig(key_prefix="t2", keys={"RATE": LimitSet(requests_per_minute=1)}),
                      RedisCounters(server.url, socket_timeout_s=1), CollectorRegistry())
    await limiter.reserve(ask(key="RATE"))
    with pytest.raises(RateLimited):
        await limiter.reserve(ask(key="RATE"))
    await limiter.aclose()
