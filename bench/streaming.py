"""Streaming: time to first byte and to the end of the stream, per system, on the same stub.

wrk reports one latency per request, so streamed requests are driven by an asyncio client
instead (aiohttp, closed loop, N connections): it reads each SSE response chunk by chunk and
notes when the first body byte and the end arrived. The client shares the cores with the system
under test, like wrk does; the stub's own row is the floor.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp
import numpy as np

from bench.peers import Endpoint
from bench.report import markdown_table

TITLE = "Streaming"
HEADERS = ["system", "conc.", "streams/s", "TTFB p50 ms", "TTFB p99 ms", "total p50 ms", "total p99 ms",
           "errors / streams"]


@dataclass(frozen=True)
class StreamRow:
    system: str
    concurrency: int
    ttfb_ms: np.ndarray
    total_ms: np.ndarray
    errors: int
    seconds: float
    first_error: str = ""

    def cells(self) -> list[object]:
        if len(self.total_ms) == 0:
            return [self.system, self.concurrency, "—", "—", "—", "—", "—",
                    f"{self.errors} / {self.errors} ({self.first_error})"]
        t50, t99 = np.percentile(self.ttfb_ms, [50, 99])
        a50, a99 = np.percentile(self.total_ms, [50, 99])
        return [self.system, self.concurrency, round(len(self.total_ms) / self.seconds, 1), round(float(t50), 2),
                round(float(t99), 2), round(float(a50), 2), round(float(a99), 2),
                f"{self.errors} / {len(self.total_ms) + self.errors:,}"]


async def _one(session: aiohttp.ClientSession, endpoint: Endpoint, body: bytes, headers: dict[str, str]
               ) -> tuple[float, float] | str:
    """(ttfb, total) in ms of one streamed request, or why it failed (a status, or no [DONE] at the end)."""
    start = time.perf_counter()
    first = None
    tail = b""
    async with session.post(endpoint.url, data=body, headers=headers) as response:
        async for chunk in response.content.iter_any():
            if first is None:
                first = time.perf_counter()
            tail = (tail + chunk)[-64:]
        if response.status != 200:
            return f"HTTP {response.status}"
        if first is None or b"[DONE]" not in tail:
            return "stream without [DONE]"
    end = time.perf_counter()
    return (first - start) * 1000, (end - start) * 1000


async def _drive(endpoint: Endpoint, model: str, texts: Sequence[str], concurrency: int, seconds: float
                 ) -> tuple[list[tuple[float, float]], list[str]]:
    headers = {"Content-Type": "application/json", **dict(h.split(": ", 1) for h in endpoint.headers)}
    bodies = [json.dumps({"model": model, "stream": True, "max_tokens": 16,
                          "messages": [{"role": "user", "content": t}]}).encode() for t in texts]
    done: list[tuple[float, float]] = []
    errors: list[str] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession, offset: int) -> None:
        n = offset
        while time.perf_counter() < deadline:
            n += 1
            try:
                result = await _one(session, endpoint, bodies[n % len(bodies)], headers)
            except (aiohttp.ClientError, TimeoutError) as exc:
                result = type(exc).__name__
            if isinstance(result, str):
                errors.append(result)
            else:
                done.append(result)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session, i * 7919) for i in range(concurrency)))
    return done, errors


def measure_streaming(system: str, endpoint: Endpoint, model: str, texts: Sequence[str],
                      concurrencies: Sequence[int], seconds: float, warmup_s: float) -> list[StreamRow]:
    """Streamed requests at each concurrency for *seconds*, after a discarded warm-up."""
    rows = []
    for concurrency in concurrencies:
        if warmup_s > 0:
            asyncio.run(_drive(endpoint, model, texts, concurrency, warmup_s))
        done, errors = asyncio.run(_drive(endpoint, model, texts, concurrency, seconds))
        ttfb = np.asarray([d[0] for d in done])
        total = np.asarray([d[1] for d in done])
        rows.append(StreamRow(system, concurrency, ttfb, total, len(errors), seconds, errors[0] if errors else ""))
    return rows


def markdown(rows: Sequence[StreamRow]) -> str:
    intro = (
        "`\"stream\": true`, the stub's answer as SSE (role, content, finish with usage, `[DONE]`). Driven by an "
        "aiohttp client (bench/streaming.py), closed loop, the same texts as above: *TTFB* is the time to the first "
        "body byte, *total* to the end of the stream. A stream without `[DONE]` or with a non-200 status is an error; "
        "a row where every stream failed names the first failure (Portkey 1.15.2 on node 20 answered HTTP 500 here, "
        "`TypeError: immutable` in its header update, for streams through a custom host)."
    )
    return intro + "\n\n" + markdown_table(HEADERS, [row.cells() for row in rows])
