"""A recorder that keeps nothing, for setups and tests that log no requests."""

from __future__ import annotations

from gateway.usage.record import RequestRecord


class NullRecorder:
    def record(self, rec: RequestRecord) -> None:
        return None

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None
