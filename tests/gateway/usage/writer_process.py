"""One gateway-like process for the multi-process test: record N requests for a route, then shut down.

    python -m tests.gateway.usage.writer_process URL ROUTE N
"""

from __future__ import annotations

import asyncio
import sys
import time

from gateway.usage.metrics import UsageMetrics
from gateway.usage.record import Latency, RequestRecord
from gateway.usage.store import UsageStore
from gateway.usage.writer import UsageRecorder


async def main(url: str, route: str, count: int) -> None:
    recorder = UsageRecorder(UsageStore(url), UsageMetrics(), batch_max=25, flush_interval_s=0.02)
    await recorder.start()
    for i in range(count):
        recorder.record(
            RequestRecord(ts=time.time(), request_id=f"{route}-{i}", route=route, target="large",
                          latency=Latency(total_ms=float(i)), tokens_in=1)
        )
        if i % 50 == 0:
            await asyncio.sleep(0.005)  # interleave with the other process's writes
    await recorder.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
