"""Coalesced streams: identical concurrent streamed requests share one upstream stream.

The first request for a cache key leads: its upstream stream is pumped by a task of its own
into a `SharedStream`. Requests with the same key arriving while it runs follow: each replays
every event from the first, at its own pace, then the rest as they arrive. A client that goes
away neither stops the stream for the others nor loses its events for them.

    flights = StreamFlights()
    shared, leads = flights.join(key, open_upstream)   # open_upstream() -> AsyncIterator[chunk]
    await shared.started()                              # raises what opening the stream raised
    async for chunk in shared.follow(): ...
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from gateway.errors import GatewayError, UpstreamError

log = logging.getLogger(__name__)

Chunk = dict[str, Any]
Opener = Callable[[], Awaitable[AsyncIterator[Chunk]]]


class SharedStream:
    """The events of one upstream stream, kept for every follower until it ends."""

    def __init__(self) -> None:
        self.chunks: list[Chunk] = []
        self.error: GatewayError | None = None
        self.done = False
        self.leader: Any = None  # the leader's plan: followers report the target that answered them
        self._changed = asyncio.Event()

    async def started(self) -> None:
        """Wait for the first event; raise the error that ended the stream before it, if any."""
        while not self.chunks and not self.done:
            await self._wait()
        if not self.chunks and self.error is not None:
            raise self.error

    async def follow(self) -> AsyncIterator[Chunk]:
        """Every event from the first, each a copy the caller may change; the stream's error at the end."""
        seen = 0
        while True:
            while seen < len(self.chunks):
                yield dict(self.chunks[seen])
                seen += 1
            if self.done:
                if self.error is not None:
                    raise self.error
                return
            await self._wait()

    async def pump(self, opener: Opener) -> None:
        try:
            async for chunk in await opener():
                self.chunks.append(chunk)
                self._publish()
        except GatewayError as exc:
            self.error = exc
        except Exception as exc:
            log.exception("shared stream failed")
            self.error = UpstreamError(f"the upstream stream failed: {type(exc).__name__}")
        finally:
            self.done = True
            self._publish()

    def _publish(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def _wait(self) -> None:
        await self._changed.wait()


class StreamFlights:
    """The streams in flight in this process, by cache key."""

    def __init__(self) -> None:
        self._flights: dict[str, SharedStream] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    def join(self, key: str, opener: Opener) -> tuple[SharedStream, bool]:
        """The stream in flight for *key*, or a new one opened with *opener*; True when this caller leads."""
        shared = self._flights.get(key)
        if shared is not None:
            return shared, False
        shared = SharedStream()
        self._flights[key] = shared
        task = asyncio.create_task(shared.pump(opener), name=f"stream-flight-{key[:12]}")
        self._tasks.add(task)
        task.add_done_callback(lambda done: self._land(key, shared, done))
        return shared, True

    def _land(self, key: str, shared: SharedStream, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._flights.get(key) is shared:
            del self._flights[key]

    def __len__(self) -> int:
        return len(self._flights)
