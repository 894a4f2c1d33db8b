"""Bounded-cache evidence shared by every replica: one Redis hash per space, plain HINCRBY and HGETALL.

Each observation is added to `<prefix>:bound:<space>` (fields `<cell>:n` and `<cell>:w`) and to this
process's view at once; a follower task reloads the hashes of the spaces this replica serves every
`refresh_s`, so evidence gathered by the other replicas arrives within that time. A Redis fault loses
the observation (evidence, not an answer) and never reaches the request. A space untouched for
EVIDENCE_TTL_S expires.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable

from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.cache.bounded import BoundTable, Cell, Counts, Observation
from gateway.cache.evidence import Evidence
from gateway.cache.guard import ThrottledWarning

logger = logging.getLogger(__name__)
EVIDENCE_TTL_S = 30 * 86400


class RedisEvidence(Evidence):
    def __init__(self, client: Redis, prefix: str, refresh_s: float = 1.0, rebuild_s: float = 0.5) -> None:
        super().__init__(rebuild_s)
        self._client = client
        self._prefix = prefix
        self._refresh_s = refresh_s
        self._served: set[str] = set()
        self._warning = ThrottledWarning(logger)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._follow(), name="ragway-cache-evidence")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._client.aclose()

    def table(self, space: str, confidence: float, max_error: float) -> BoundTable:
        self._served.add(space)
        return super().table(space, confidence, max_error)

    async def claim(self, space: str) -> bool:
        try:
            return bool(await self._client.set(f"{self._key(space)}:pretrained", b"1", nx=True, ex=EVIDENCE_TTL_S))
        except (RedisError, OSError) as exc:
            self._warning.warn(f"bounded cache not pre-trained, Redis unavailable: {type(exc).__name__}: {exc}")
            return False

    async def observe(self, space: str, cell: Cell, wrong: bool) -> None:
        await self._push(space, {cell.field: (1, int(wrong))})

    async def pretrain(self, space: str, observations: Iterable[Observation]) -> int:
        batch: dict[str, tuple[int, int]] = {}
        for obs in observations:
            total, wrong = batch.get(obs.cell.field, (0, 0))
            batch[obs.cell.field] = (total + 1, wrong + int(obs.wrong))
        await self._push(space, batch)
        return sum(total for total, _ in batch.values())

    async def reload(self, space: str) -> None:
        """Read *space*'s shared counts now (the follower does this for every space served)."""
        raw = await self._client.hgetall(self._key(space))
        self.replace(space, _parse(raw))  # type: ignore[arg-type]  # the client is built without decode_responses

    async def _push(self, space: str, batch: Counts) -> None:
        self._served.add(space)
        self.add_local(space, batch)
        pipe = self._client.pipeline(transaction=False)
        for field, (total, wrong) in batch.items():
            pipe.hincrby(self._key(space), f"{field}:n", total)
            if wrong:
                pipe.hincrby(self._key(space), f"{field}:w", wrong)
        # A route version nobody serves any more stops being touched and ages out.
        pipe.expire(self._key(space), EVIDENCE_TTL_S)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._warning.warn(f"bounded cache evidence not shared, Redis unavailable: {type(exc).__name__}: {exc}")

    async def _follow(self) -> None:
        while True:
            for space in list(self._served):
                try:
                    await self.reload(space)
                except (RedisError, OSError) as exc:
                    self._warning.warn(f"bounded cache evidence not reloaded: {type(exc).__name__}: {exc}")
            await asyncio.sleep(self._refresh_s)

    def _key(self, space: str) -> str:
        return f"{self._prefix}:bound:{space}"


def _parse(raw: dict[bytes, bytes]) -> dict[str, tuple[int, int]]:
    counts: dict[str, tuple[int, int]] = {}
    for name, value in raw.items():
        field, _, kind = name.decode().rpartition(":")
        total, wrong = counts.get(field, (0, 0))
        counts[field] = (int(value), wrong) if kind == "n" else (total, int(value))
    return counts
