"""Shared streams: every follower replays the leader's events from the first, at its own pace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from gateway.errors import UpstreamError
from gateway.pipeline.coalesce import StreamFlights


class FakeUpstream:
    """A fake stream opener that counts how often it was opened and releases chunks on demand."""

    def __init__(self, chunks: int, fail_after: int | None = None) -> None:
        self.opened = 0
        self.chunks = chunks
        self.fail_after = fail_after
        self.release = asyncio.Event()

    async def open(self) -> AsyncIterator[dict]:
        self.opened += 1
        return self._events()

    async def _events(self) -> AsyncIterator[dict]:
        for i in range(self.chunks):
            if i == 1:
                await self.release.wait()
            if self.fail_after is not None and i == self.fail_after:
                raise UpstreamError("dropped mid-stream")
            yield {"i": i}


async def collect(stream: AsyncIterator[dict]) -> list[int]:
    return [chunk["i"] async for chunk in stream]


async def test_followers_joining_mid_stream_get_every_event_from_one_upstream_call() -> None:
    flights, upstream = StreamFlights(), FakeUpstream(chunks=5)
    leader, leads = flights.join("k", upstream.open)
    await leader.started()
    early = asyncio.create_task(collect(leader.follow()))
    follower, follows_leads = flights.join("k", upstream.open)
    assert leads and not follows_leads and follower is leader
    late = asyncio.create_task(collect(follower.follow()))
    await asyncio.sleep(0.01)
    upstream.release.set()
    assert await early == await late == [0, 1, 2, 3, 4]
    assert upstream.opened == 1
    await asyncio.sleep(0)
    assert len(flights) == 0, "a finished stream is not joined again"


async def test_an_error_mid_stream_reaches_every_follower_and_a_copy_is_theirs_to_change() -> None:
    flights, upstream = StreamFlights(), FakeUpstream(chunks=5, fail_after=2)
    shared, _ = flights.join("k", upstream.open)
    upstream.release.set()
    await shared.started()
    first = shared.follow()
    chunk = await anext(first)
    chunk["i"] = 99  # a follower tags its first chunk; the others must not see it
    for follower in (first, shared.follow()):
        with pytest.raises(UpstreamError):
            async for _ in follower:
                pass
    assert shared.chunks[0] == {"i": 0}


async def test_a_stream_that_fails_to_open_raises_at_started() -> None:
    async def refused() -> AsyncIterator[dict]:
        raise UpstreamError("unreachable")

    shared, _ = StreamFlights().join("k", refused)
    with pytest.raises(UpstreamError, match="unreachable"):
        await shared.started()
