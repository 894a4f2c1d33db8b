"""Budgets and rate limits hold across replicas: three gateways share one Redis, one holds in-process.

Real gateway processes, the shared Redis (a key prefix of this test's own), the shared PostgreSQL
(a schema of this test's own) as the log the spend is summed from, and the priced upstream of
tests/upstream.py: every answer reports 20 prompt and 10 completion tokens.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from gateway.usage.pricing import approximate_tokens
from tests.servers import PG, pg_schema, replicas, wait_for, write_config

pytestmark = pytest.mark.slow

PRICE_IN, PRICE_OUT, MAX_TOKENS = 1e-3, 2e-3, 50
BUDGET, RPM = 0.50, 60
KEYS = {"RAGWAY_TEST_BUDGET_KEY": f"sk-budget-{uuid.uuid4().hex}",
        "RAGWAY_TEST_RATE_KEY": f"sk-rate-{uuid.uuid4().hex}"}


@pytest.fixture
def log_schema() -> Iterator[str]:
    with pg_schema("limits") as schema:
        yield schema


def limits_config(root: Path, upstream: str, schema: str, limits_url: str) -> Path:
    gateway = {
        "auth": {"open": False, "client_key_envs": list(KEYS)},
        "models": {"priced": {"model": "openai/stub", "api_base": f"{upstream}/v1", "retries": 0,
                              "provider": "openai_compatible",
                              "input_cost_per_token": PRICE_IN, "output_cost_per_token": PRICE_OUT}},
        "log": {"url": f"{PG.replace('+psycopg', '')}?options=-csearch_path%3D{schema}", "flush_interval_s": 0.1,
                "spool_path": str(root.parent / "spool.db")},
        # a loaded test machine can stall the shared Redis for seconds: this test is about the counts
        "limits": {"url": limits_url, "key_prefix": f"ragway-test:{uuid.uuid4().hex}", "socket_timeout_ms": 10_000,
                   "keys": {"RAGWAY_TEST_BUDGET_KEY": {"name": "budgeted", "usd_per_day": BUDGET},
                            "RAGWAY_TEST_RATE_KEY": {"name": "rated", "requests_per_minute": RPM}}},
    }
    route = {"task": "generation", "targets": {"large": {"model": "priced"}},
             "policy": {"kind": "fixed", "target": "large"}, "cache": {"enabled": False}}
    return write_config(root, gateway, {"chat": route})


def messages(i: int) -> list[dict]:
    return [{"role": "user", "content": f"request number {i:04d}"}]


async def burst(ports: list[int], key: str, n: int) -> list[httpx.Response]:
    """*n* concurrent requests with *key*, spread round-robin over the replicas."""
    async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=n)) as client:
        return await asyncio.gather(*(
            client.post(f"http://127.0.0.1:{ports[i % len(ports)]}/v1/chat/completions",
                        headers={"authorization": f"Bearer {KEYS[key]}"},
                        json={"model": "chat", "max_tokens": MAX_TOKENS, "messages": messages(i)})
            for i in range(n)))


async def drain(ports: list[int], first: int) -> int:
    """Requests one at a time (rotating replicas) until the budget refuses; how many were admitted."""
    admitted, refused_in_a_row = 0, 0
    async with httpx.AsyncClient(timeout=120) as client:
        for i in range(first, first + 100):
            response = await client.post(
                f"http://127.0.0.1:{ports[i % len(ports)]}/v1/chat/completions",
                headers={"authorization": f"Bearer {KEYS['RAGWAY_TEST_BUDGET_KEY']}"},
                json={"model": "chat", "max_tokens": MAX_TOKENS, "messages": messages(i)})
            if response.status_code == 429:
                refused_in_a_row += 1
                if refused_in_a_row == 3:
                    return admitted
                await asyncio.sleep(2)  # the last answer's settle may still be on its way
                continue
            assert response.status_code == 200, response.text
            admitted, refused_in_a_row = admitted + 1, 0
    return admitted


def logged(schema: str, key: str) -> tuple[int, int, float]:
    """(records answered 200, records refused 429, spend) of *key* in the shared log."""
    engine = create_engine(PG, connect_args={"options": f"-csearch_path={schema}"})
    with engine.connect() as conn:
        ok, refused, spend = conn.execute(text(
            "SELECT COUNT(*) FILTER (WHERE status = 200), COUNT(*) FILTER (WHERE status = 429), "
            "COALESCE(SUM(cost_usd), 0) FROM request_log WHERE key_id = :key"), {"key": key}).one()
    engine.dispose()
    return int(ok), int(refused), float(spend)


@pytest.mark.timeout(1800)
@pytest.mark.parametrize("count,store", [(3, "redis"), (1, "memory")], ids=["3-replicas-redis", "1-in-process"])
def test_a_budget_and_a_rate_limit_hold_across_replicas(
    tmp_path: Path, test_upstream: str, log_schema: str, count: int, store: str
) -> None:
    limits_url = "redis://127.0.0.1:6379/0" if store == "redis" else "memory://"
    root = limits_config(tmp_path / "configs", test_upstream, log_schema, limits_url)
    with replicas(root, count, KEYS) as ports:
        spent = asyncio.run(burst(ports, "RAGWAY_TEST_BUDGET_KEY", 300))
        ok = [r for r in spent if r.status_code == 200]
        refused = [r for r in spent if r.status_code != 200]
        outcomes = {(r.status_code, r.json()["error"]["code"]) for r in refused}
        assert outcomes <= {(429, "insufficient_quota")}, outcomes
        assert all(int(r.headers["retry-after"]) >= 1 and "x-ratelimit-remaining-usd-day" in r.headers
                   for r in refused)
        assert wait_for(lambda: logged(log_schema, "RAGWAY_TEST_BUDGET_KEY")[:2] == (len(ok), len(refused)), 60)
        spend = logged(log_schema, "RAGWAY_TEST_BUDGET_KEY")[2]
        worst = max(approximate_tokens(messages(i)) * PRICE_IN + MAX_TOKENS * PRICE_OUT for i in range(300))
        print(f"\n{store} x{count}: budget ${BUDGET}: {len(ok)} admitted, {len(refused)} refused, "
              f"settled spend ${spend:.4f} (bound ${BUDGET + worst:.4f})")
        assert spend == pytest.approx(len(ok) * (20 * PRICE_IN + 10 * PRICE_OUT))
        # a burst reserves worst cases faster than answers settle them: the bound is the promise
        assert ok and spend <= BUDGET + worst
        # one at a time, each answer settles before the next reserve: the budget fills to within a worst case
        drained = asyncio.run(drain(ports, len(spent)))
        assert wait_for(lambda: logged(log_schema, "RAGWAY_TEST_BUDGET_KEY")[0] == len(ok) + drained, 60)
        spend = logged(log_schema, "RAGWAY_TEST_BUDGET_KEY")[2]
        print(f"{store} x{count}: then {drained} admitted one at a time; settled spend ${spend:.4f}")
        assert BUDGET - worst <= spend <= BUDGET + worst

        rated = asyncio.run(burst(ports, "RAGWAY_TEST_RATE_KEY", 150))
        admitted = sum(r.status_code == 200 for r in rated)
        print(f"{store} x{count}: {RPM} requests/minute: {admitted} of 150 admitted")
        assert RPM - 1 <= admitted <= RPM + 1
        limited = next(r for r in rated if r.status_code == 429)
        assert limited.json()["error"]["code"] == "rate_limit_exceeded"
        assert limited.headers["x-ratelimit-limit-requests"] == str(RPM)
        assert limited.headers["x-ratelimit-remaining-requests"] == "0"
