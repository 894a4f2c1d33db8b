"""`Idempotency-Key`: a request retried with the same key is answered once and billed once.

The first attempt claims the key (Redis `SET NX` when the cache is Redis, so every replica sees
the claim), runs, and stores its answer. A retry that arrives meanwhile, on any replica, waits
for that answer; one that arrives later gets it at once. Either way the retry is logged as a
`replay` at zero cost. A failed first attempt releases the key, so its retry runs for real.
The same key with a different body (or endpoint) is a 409, like the first attempt still running past
`wait_s`. Chat, completions and responses share the store; api/answer.py shows the stored chat answer
in each endpoint's shape.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import orjson
from redis.exceptions import RedisError
from starlette.responses import Response, StreamingResponse

from gateway.api.errors import json_response
from gateway.cache import collect_stream, replay_as_stream
from gateway.cache.lru import LruStore
from gateway.cache.redis_store import redis_client
from gateway.config.gateway_sections import CacheStoreConfig, IdempotencyConfig
from gateway.errors import Conflict, InvalidRequest
from gateway.pipeline.context import RequestContext
from gateway.sse import DONE, event
from gateway.usage.record import RequestRecord

PENDING = b"pending:"
POLL_S = 0.05
OTHER_REQUEST = "this Idempotency-Key was used with a different request body or endpoint"


@dataclass(frozen=True)
class Claim:
    mine: bool
    stored: bytes | None = None
    """The stored entry: `pending:<fingerprint>` while the first attempt runs, else its answer."""


class KeyStore(Protocol):
    async def claim(self, key: str, pending: bytes, ttl_s: float) -> Claim: ...

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes, ttl_s: float) -> None: ...

    async def delete(self, key: str) -> None: ...

    async def aclose(self) -> None: ...


class MemoryKeys:
    """One replica's keys, the least recently used dropped past *max_entries*."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries = LruStore(max_entries, time.monotonic)

    async def claim(self, key: str, pending: bytes, ttl_s: float) -> Claim:
        stored = self._entries.get(key)
        if stored is not None:
            return Claim(False, stored)
        self._entries.put(key, pending, ttl_s)
        return Claim(True)

    async def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        self._entries.put(key, value, ttl_s)

    async def delete(self, key: str) -> None:
        self._entries.delete(key)

    async def aclose(self) -> None:
        return None


class RedisKeys:
    """Keys shared by every replica; one `SET NX` decides which attempt runs."""

    def __init__(self, url: str, prefix: str) -> None:
        self._redis = redis_client(url, 2.0)
        self._prefix = prefix

    async def claim(self, key: str, pending: bytes, ttl_s: float) -> Claim:
        full = self._prefix + key
        if await self._redis.set(full, pending, nx=True, px=int(ttl_s * 1000)):
            return Claim(True)
        return Claim(False, _bytes(await self._redis.get(full)))

    async def get(self, key: str) -> bytes | None:
        return _bytes(await self._redis.get(self._prefix + key))

    async def put(self, key: str, value: bytes, ttl_s: float) -> None:
        await self._redis.set(self._prefix + key, value, px=int(ttl_s * 1000))

    async def delete(self, key: str) -> None:
        await self._redis.delete(self._prefix + key)

    async def aclose(self) -> None:
        await self._redis.aclose()


def _bytes(value: bytes | str | None) -> bytes | None:
    return value.encode() if isinstance(value, str) else value


def build_keys(config: IdempotencyConfig, cache: CacheStoreConfig) -> KeyStore:
    if cache.url.startswith("memory://"):
        return MemoryKeys(config.max_entries)
    return RedisKeys(cache.url, f"{cache.key_prefix}:idem:")


Produce = Callable[[], Awaitable[Response]]
Record = Callable[[RequestRecord], None]


class Idempotency:
    """Runs a request once per (client key, Idempotency-Key); replays the answer to retries."""

    def __init__(self, config: IdempotencyConfig, keys: KeyStore) -> None:
        self.config = config
        self.keys = keys

    async def respond(self, idem_key: str, raw: bytes, stream: bool, ctx: RequestContext, record: Record,
                      produce: Produce) -> Response:
        """The answer to a request carrying *idem_key*: produced now, or the first attempt's, replayed."""
        if not self.config.enabled:
            return await produce()
        key = hashlib.sha256(f"{ctx.key_id}\0{idem_key}".encode()).hexdigest()
        fingerprint = hashlib.sha256(raw).hexdigest().encode()
        deadline = time.monotonic() + self.config.wait_s
        try:
            while True:
                claim = await self.keys.claim(key, PENDING + fingerprint, self.config.wait_s)
                if claim.mine:
                    return await self._first(key, ctx.request_id, produce)
                stored = await self._settled(key, claim.stored, fingerprint, deadline)
                if stored is not None:
                    return self._replay(orjson.loads(stored), stream, ctx, record)
                # the first attempt failed and released the key: this one runs for real
        except RedisError:
            return await produce()  # no shared memory of keys: answer, as without the header

    async def aclose(self) -> None:
        await self.keys.aclose()

    @staticmethod
    def check(idem_key: str) -> None:
        if not 0 < len(idem_key) <= 255 or not idem_key.isprintable():
            raise InvalidRequest("Idempotency-Key must be 1 to 255 printable characters", param="Idempotency-Key")

    async def _first(self, key: str, request_id: str, produce: Produce) -> Response:
        try:
            response = await produce()
        except BaseException:
            await self._release(key)
            raise
        if isinstance(response, StreamingResponse):
            response.body_iterator = self._keep_stream(key, request_id, response.body_iterator)
            return response
        if response.status_code == 200:
            await self._keep(key, request_id, orjson.loads(response.body))
        else:
            await self._release(key)
        return response

    async def _keep_stream(self, key: str, request_id: str, events: AsyncIterable[Any]) -> AsyncIterator[bytes]:
        chunks: list[dict[str, Any]] = []
        complete = False
        try:
            async for raw in events:
                data = raw if isinstance(raw, bytes) else raw.encode()
                if data == DONE:
                    complete = not any("error" in c and "choices" not in c for c in chunks)
                else:
                    chunks.append(orjson.loads(data[len(b"data: "):]))
                yield data
        finally:
            if complete and chunks:
                await self._keep(key, request_id, _collect(chunks))
            else:
                await self._release(key)

    async def _keep(self, key: str, request_id: str, body: dict[str, Any]) -> None:
        try:
            stored = await self.keys.get(key) or b""
            fingerprint = stored[len(PENDING):].decode() if stored.startswith(PENDING) else ""
            entry = {"fingerprint": fingerprint, "request_id": request_id, "body": body}
            await self.keys.put(key, orjson.dumps(entry), self.config.ttl_s)
        except RedisError:
            await self._release(key)

    async def _release(self, key: str) -> None:
        with contextlib.suppress(RedisError):  # else the pending marker expires after wait_s
            await self.keys.delete(key)

    async def _settled(self, key: str, stored: bytes | None, fingerprint: bytes, deadline: float) -> bytes | None:
        """The first attempt's stored answer, waited for while it runs; None once its key is released."""
        while stored is not None and stored.startswith(PENDING):
            if stored[len(PENDING):] != fingerprint:
                raise Conflict(OTHER_REQUEST, param="Idempotency-Key")
            if time.monotonic() >= deadline:
                raise Conflict(f"a request with this Idempotency-Key is still running after {self.config.wait_s:g}s")
            await asyncio.sleep(POLL_S)
            stored = await self.keys.get(key)
        if stored is not None and orjson.loads(stored)["fingerprint"] != fingerprint.decode():
            raise Conflict(OTHER_REQUEST, param="Idempotency-Key")
        return stored

    def _replay(self, entry: dict[str, Any], stream: bool, ctx: RequestContext, record: Record) -> Response:
        body = entry["body"]
        # the same request id is the same request sent again (a proxy's retry): the books have it once already
        if entry.get("request_id") != ctx.request_id:
            record(_replay_record(body, stream, ctx))
        headers = {"x-ragway-cache": "replay", "idempotent-replayed": "true"}
        if not stream:
            return json_response(body, headers=headers)
        chunks = list(replay_as_stream(body, include_usage=True))
        if chunks and "ragway" in body:  # where the first chunk of a stream carries it
            chunks[0] = {**chunks[0], "ragway": body["ragway"]}
        events = [event(chunk) for chunk in chunks]
        return StreamingResponse(_iterate([*events, DONE]), media_type="text/event-stream", headers=headers)


def _collect(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    """The chat.completion a stream adds up to, with the gateway's `ragway` field its first chunk carried."""
    body = collect_stream(chunks)
    meta = next((chunk["ragway"] for chunk in chunks if "ragway" in chunk), None)
    return body if meta is None else {**body, "ragway": meta}


def _replay_record(body: dict[str, Any], stream: bool, ctx: RequestContext) -> RequestRecord:
    meta = body.get("ragway") or {}
    rec = RequestRecord(ts=ctx.ts, request_id=ctx.request_id, route=meta.get("route") or "", key_id=ctx.key_id,
                        target=meta.get("target", ""), model=meta.get("model", ""), decision="replay",
                        reason="replay: answered before under the same Idempotency-Key", cache="replay",
                        stream=stream)
    rec.latency.total_ms = ctx.elapsed_ms()
    return rec


async def _iterate(items: list[bytes]) -> AsyncIterator[bytes]:
    for item in items:
        yield item
