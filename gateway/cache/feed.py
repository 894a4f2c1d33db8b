"""Semantic entries shared through a Redis stream: every replica appends, every replica follows.

Each replica mirrors the stream into its own in-process SemanticIndex. On start it reads the stream
from the beginning (the catch-up), then blocks on XREAD for new entries. The stream is trimmed to
about `max_entries`; entries past their expiry are skipped on read. After Redis restarts empty,
new entries get later ids than the last one read, so following resumes where it left off.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import numpy as np
from redis.asyncio import Redis
from redis.exceptions import RedisError

from gateway.cache.guard import ThrottledWarning
from gateway.cache.semantic import SemanticEntry, SemanticIndex
from gateway.cache.stats import CacheStats

logger = logging.getLogger(__name__)


def entry_fields(entry: SemanticEntry) -> dict[str, Any]:
    """The stream fields of one entry: exact key, scope, float32 vector bytes, expiry (epoch s), answer
    digest and question text (the last two absent from records written before them)."""
    return {
        "k": entry.key,
        "s": entry.scope,
        "v": np.ascontiguousarray(entry.vector, dtype=np.float32).tobytes(),
        "x": repr(entry.expires_at),
        "a": entry.answer,
        "t": entry.text,
    }


def parse_fields(fields: dict[bytes, bytes], dim: int) -> SemanticEntry | None:
    """The entry a stream record holds, or None when it is malformed or of another dimension."""
    try:
        vector = np.frombuffer(fields[b"v"], dtype=np.float32)
        entry = SemanticEntry(
            scope=fields[b"s"].decode(),
            key=fields[b"k"].decode(),
            vector=vector,
            expires_at=float(fields[b"x"]),
            answer=fields.get(b"a", b"").decode(),
            text=fields.get(b"t", b"").decode(),
        )
    except (KeyError, ValueError, UnicodeDecodeError):
        return None
    return entry if vector.shape == (dim,) else None


class SemanticFeed:
    """Follows the stream into the index until cancelled; a Redis fault pauses it, never ends it."""

    def __init__(
        self,
        client: Redis,
        stream: str,
        index: SemanticIndex,
        stats: CacheStats,
        warning: ThrottledWarning,
        *,
        block_ms: int = 1000,
        batch: int = 500,
        retry_after_s: float = 1.0,
    ) -> None:
        self._client = client
        self._stream = stream
        self._index = index
        self._stats = stats
        self._warning = warning
        self._block_ms = block_ms
        self._batch = batch
        self._retry_after_s = retry_after_s
        self.last_id = "0-0"
        # Set once the backlog is read, or once Redis failed: then there is nothing to wait for.
        self.ready = asyncio.Event()
        self._stopping = False

    def stop(self) -> None:
        """Make `run` return: redis-py can turn a cancellation during connect into ConnectionError."""
        self._stopping = True

    async def run(self) -> None:
        while not self._stopping:
            # The catch-up reads without blocking, so start() returns as soon as the backlog is in.
            block = self._block_ms if self.ready.is_set() else None
            try:
                replies = await self._client.xread({self._stream: self.last_id}, count=self._batch, block=block)
            except (RedisError, OSError) as exc:
                if self._stopping:
                    return
                self._stats.stream_errors += 1
                self._warning.warn(f"semantic cache feed paused, Redis unavailable: {type(exc).__name__}: {exc}")
                self.ready.set()
                await asyncio.sleep(self._retry_after_s)
                continue
            if self._apply(replies) < self._batch:
                self.ready.set()

    def _apply(self, replies: Any) -> int:
        count = 0
        for _stream, records in replies or []:
            for record_id, fields in records:
                self.last_id = record_id.decode() if isinstance(record_id, bytes) else record_id
                count += 1
                entry = parse_fields(fields, self._index.dim)
                if entry is None:
                    logger.warning("semantic cache feed: skipped malformed record %s", self.last_id)
                    continue
                self._index.add(entry)
                self._stats.semantic_received += 1
        return count
