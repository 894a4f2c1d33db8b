"""Budgets, rate limits and the log spool: what the books cost a request.

    python -m bench.bench_limits [--redis redis://127.0.0.1:6379/0] [-n 2000] [--doc docs/benchmarks.md]

Times, per request, a reserve plus its settle with four limits on the key and one on the route
(usd/day, usd/month, requests/min, tokens/min; usd/month), in-process and in Redis, against the
same call with no limit configured (the baseline, measured in the same run), and two Redis PINGs
(the floor of any two Redis round trips on the machine at that moment). Then times writing a
200-record batch to the spool (fsync'd) against inserting it in the SQLite log store.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis.asyncio as aioredis
from prometheus_client import CollectorRegistry

from bench.report import markdown_table, print_table, write_section
from gateway.config.limits import LimitsConfig, LimitSet
from gateway.limits import Ask, Limiter
from gateway.limits.counters import MemoryCounters
from gateway.limits.redis_counters import RedisCounters
from gateway.usage.record import RequestRecord
from gateway.usage.spool import Spool
from gateway.usage.store import UsageStore, to_row

TITLE = "Budgets, rate limits and the log spool"
BIG = 1e12  # limits nobody reaches: every request is admitted and fully counted


def limits(prefix: str) -> LimitsConfig:
    return LimitsConfig(key_prefix=prefix, keys={"KEY": LimitSet(usd_per_day=BIG, usd_per_month=BIG,
                                                                 requests_per_minute=10**9, tokens_per_minute=10**12)},
                        routes={"chat": LimitSet(usd_per_month=BIG)})


async def time_limiter(limiter: Limiter, n: int) -> list[float]:
    """Microseconds per reserve + settle (the settle awaited, so its cost is counted)."""
    samples = []
    for _ in range(n):
        ask = Ask(uuid.uuid4().hex, "KEY", "chat", tokens=500, usd=0.002)
        start = time.perf_counter()
        grant = await limiter.reserve(ask)
        await limiter.counters.settle(grant.checks, grant.request_id,
                                      [0.001 if c.kind == "sum" else 120 for c in grant.checks])
        samples.append((time.perf_counter() - start) * 1e6)
    return samples


def time_writes(n_batches: int, batch: int) -> tuple[list[float], list[float]]:
    """Milliseconds per batch: the spool's fsync'd append, and the SQLite log store's insert."""
    rows = [[to_row(RequestRecord(ts=time.time(), request_id=f"r{i}-{j}", route="chat")) for j in range(batch)]
            for i in range(n_batches)]
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(Path(tmp) / "spool.db", max_bytes=2**34)
        store = UsageStore(f"sqlite:///{tmp}/logs.db")
        store.migrate()
        spooled, stored = [], []
        for chunk in rows:
            start = time.perf_counter()
            spool.append(chunk)
            spooled.append((time.perf_counter() - start) * 1e3)
            start = time.perf_counter()
            store.insert_rows(chunk)
            stored.append((time.perf_counter() - start) * 1e3)
        spool.close()
        store.close()
    return spooled, stored


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[q - 1] if len(samples) > 1 else samples[0]


async def main_async(args: argparse.Namespace) -> list[list[object]]:
    none = Limiter(LimitsConfig(), MemoryCounters(), CollectorRegistry())
    memory = Limiter(limits("bench"), MemoryCounters(), CollectorRegistry())
    redis = Limiter(limits(f"ragway-bench:{uuid.uuid4().hex}"), RedisCounters(args.redis, socket_timeout_s=1),
                    CollectorRegistry())
    rows: list[list[object]] = []
    base = await time_limiter(none, args.n)
    floor = await time_pings(args.redis, args.n)
    for name, limiter in (("no limits (baseline)", none), ("in-process, 5 limits", memory),
                          ("Redis Lua, 5 limits", redis)):
        samples = base if limiter is none else await time_limiter(limiter, args.n)
        rows.append([name, round(pct(samples, 50), 1), round(pct(samples, 99), 1),
                     round(statistics.median(samples) / max(statistics.median(base), 1e-9), 1)])
        await limiter.aclose()
    rows.insert(2, ["two Redis PINGs (round-trip floor)", round(pct(floor, 50), 1), round(pct(floor, 99), 1),
                    round(statistics.median(floor) / max(statistics.median(base), 1e-9), 1)])
    return rows


async def time_pings(url: str, n: int) -> list[float]:
    """Microseconds for two PINGs: what any two Redis calls cost on this machine now."""
    client = aioredis.Redis.from_url(url)
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        await client.ping()
        await client.ping()
        samples.append((time.perf_counter() - start) * 1e6)
    await client.aclose()
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--doc", default="docs/benchmarks.md")
    args = parser.parse_args()
    limit_rows = asyncio.run(main_async(args))
    limit_headers = ["reserve + settle", "p50 µs", "p99 µs", "p50 / baseline"]
    print_table("limits per request", limit_headers, limit_rows)
    spooled, stored = time_writes(50, 200)
    write_headers = ["200-record batch", "p50 ms", "p99 ms", "p50 / store insert"]
    write_rows = [["SQLite log store insert (baseline)", round(pct(stored, 50), 2), round(pct(stored, 99), 2), 1.0],
                  ["spool append, fsync'd", round(pct(spooled, 50), 2), round(pct(spooled, 99), 2),
                   round(statistics.median(spooled) / statistics.median(stored), 2)]]
    print_table("log writes", write_headers, write_rows)
    write_section(TITLE, "\n\n".join([
        f"`python -m bench.bench_limits -n {args.n}` (Redis at {args.redis}). The 2-core machine was shared with "
        f"other work while this ran (1-minute load average {os.getloadavg()[0]:.0f} at the end), so the Redis rows "
        "carry scheduling delays: read the ratios, and rerun on an idle machine for absolute times.",
        "Per request, the limiter reserves the worst case before the call and settles after it. Baseline: the same "
        "two calls with no limit configured, in the same run.",
        markdown_table(limit_headers, limit_rows),
        "While the log store is unreachable each batch goes to the spool instead; baseline: the same batches "
        "inserted into a SQLite log store.",
        markdown_table(write_headers, write_rows),
    ]), args.doc)


if __name__ == "__main__":
    main()
