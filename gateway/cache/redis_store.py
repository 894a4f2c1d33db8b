"""The shared store: exact entries as Redis keys with a TTL, semantic entries through a Redis stream.

Every call has a short socket timeout and goes through a Breaker; a failure raises StoreUnavailable,
which the cache turns into a miss or a skipped store. Caching resumes by itself once Redis answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from gateway.cache.feed import SemanticFeed, entry_fields
from gateway.cache.guard import Breaker, StoreUnavailable, ThrottledWarning
from gateway.cache.semantic import SemanticEntry, SemanticIndex
from gateway.cache.stats import CacheStats
from gateway.config.gateway_sections import CacheStoreConfig

logger = logging.getLogger(__name__)
FEED_BLOCK_MS = 1000


def redis_client(url: str, timeout_s: float) -> Redis:
    """A client that fails after *timeout_s* instead of retrying: the request path cannot wait."""
    return Redis.from_url(
        url,
        socket_timeout=timeout_s,
        socket_connect_timeout=timeout_s,
        retry=Retry(NoBackoff(), 0),
        retry_on_timeout=False,
    )


class RedisStore:
    """Exact entries under `<prefix>:e:<key>`, semantic entries appended to `<prefix>:semantic`."""

    def __init__(
        self,
        config: CacheStoreConfig,
        index: SemanticIndex,
        stats: CacheStats,
        *,
        catch_up_timeout_s: float = 5.0,
    ) -> None:
        timeout_s = config.socket_timeout_ms / 1000
        warning = ThrottledWarning(logger)
        self._config = config
        self._index = index
        self._client = redis_client(config.url, timeout_s)
        # XREAD blocks for FEED_BLOCK_MS, so the follower needs a socket timeout beyond that.
        self._feed_client = redis_client(config.url, FEED_BLOCK_MS / 1000 + 1.0)
        self._breaker = Breaker(stats, warning, config.retry_after_s)
        self._stream = f"{config.key_prefix}:semantic"
        self.feed = SemanticFeed(
            self._feed_client, self._stream, index, stats, warning,
            block_ms=FEED_BLOCK_MS, retry_after_s=max(config.retry_after_s, 0.1),
        )
        self._catch_up_timeout_s = catch_up_timeout_s
        self._feed_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Start following the stream and wait (bounded) for the catch-up, so a new replica starts warm."""
        self._feed_task = asyncio.create_task(self.feed.run(), name="ragway-cache-feed")
        try:
            await asyncio.wait_for(self.feed.ready.wait(), self._catch_up_timeout_s)
        except TimeoutError:
            logger.warning("semantic cache catch-up not finished after %.1fs; continuing", self._catch_up_timeout_s)

    async def aclose(self) -> None:
        if self._feed_task is not None:
            self.feed.stop()
            self._feed_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._feed_task
        await self._client.aclose()
        await self._feed_client.aclose()

    async def get(self, key: str) -> bytes | None:
        if not self._breaker.allow():
            raise StoreUnavailable("resting after a failure")
        try:
            value = await self._client.get(self._entry_key(key))
        except (RedisError, OSError) as exc:
            self._breaker.failed("get", exc)
            raise StoreUnavailable(str(exc)) from exc
        self._breaker.succeeded()
        return value  # type: ignore[return-value]  # the client is built without decode_responses

    async def put(self, key: str, value: bytes, ttl_s: int, semantic: SemanticEntry | None) -> None:
        if not self._breaker.allow():
            raise StoreUnavailable("resting after a failure")
        pipe = self._client.pipeline(transaction=False)
        pipe.set(self._entry_key(key), value, ex=ttl_s)
        if semantic is not None:
            pipe.xadd(self._stream, entry_fields(semantic), maxlen=self._config.max_entries,  # type: ignore[arg-type]
                      approximate=True)
        try:
            await pipe.execute()
        except (RedisError, OSError) as exc:
            self._breaker.failed("store", exc)
            raise StoreUnavailable(str(exc)) from exc
        self._breaker.succeeded()
        if semantic is not None:
            # Visible here at once; the feed brings it to the other replicas (and back here, harmlessly).
            self._index.add(semantic)

    def _entry_key(self, key: str) -> str:
        return f"{self._config.key_prefix}:e:{key}"
