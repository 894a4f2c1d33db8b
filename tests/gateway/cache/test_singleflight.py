from __future__ import annotations

import asyncio

import pytest

from gateway.cache import CacheStats, SingleFlight


class CountingUpstream:
    """A fake upstream that counts calls and answers after the test lets it."""

    def __init__(self) -> None:
        self.calls = 0
        self.release = asyncio.Event()

    async def __call__(self) -> dict:
        self.calls += 1
        await self.release.wait()
        return {"answer": self.calls}


async def test_twenty_concurrent_callers_make_one_call() -> None:
    stats = CacheStats()
    flights = SingleFlight(stats)
    upstream = CountingUpstream()
    tasks = [asyncio.create_task(flights.do("k", upstream)) for _ in range(20)]
    await asyncio.sleep(0.01)
    upstream.release.set()
    results = await asyncio.gather(*tasks)
    assert upstream.calls == 1
    assert all(result == {"answer": 1} for result in results)
    assert stats.coalesced == 19
    assert len(flights) == 0


async def test_different_keys_and_later_calls_are_not_coalesced() -> None:
    flights = SingleFlight()
    upstream = CountingUpstream()
    upstream.release.set()
    await asyncio.gather(flights.do("a", upstream), flights.do("b", upstream))
    await flights.do("a", upstream)
    assert upstream.calls == 3


async def test_every_caller_sees_the_error() -> None:
    flights = SingleFlight()

    async def failing() -> dict:
        await asyncio.sleep(0.01)
        raise RuntimeError("upstream down")

    results = await asyncio.gather(*(flights.do("k", failing) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(result, RuntimeError) for result in results)
    assert len(flights) == 0


async def test_a_cancelled_caller_does_not_cancel_the_call_for_others() -> None:
    flights = SingleFlight()
    upstream = CountingUpstream()
    leader = asyncio.create_task(flights.do("k", upstream))
    follower = asyncio.create_task(flights.do("k", upstream))
    await asyncio.sleep(0.01)
    leader.cancel()
    upstream.release.set()
    assert await follower == {"answer": 1}
    with pytest.raises(asyncio.CancelledError):
        await leader
