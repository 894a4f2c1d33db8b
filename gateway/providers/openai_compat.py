"""Direct calls to an OpenAI-compatible endpoint (llama.cpp, vLLM, TGI, Ollama, OpenAI itself).

This path skips litellm: its per-call CPU cost bounds throughput, and these
endpoints already speak the wire format the gateway serves. Whole answers go
through `Http1Pool` (a prebuilt request and keep-alive connections: a sixth of
aiohttp's CPU per call); streams through aiohttp, not httpx: profiled under load
(docs/benchmarks.md, "Profiles"), httpx's anyio and httpcore layers were the
largest cost of a passthrough request.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httptools
import orjson

from gateway.config import ModelConfig
from gateway.errors import (
    GatewayError,
    InvalidRequest,
    RateLimited,
    UpstreamBadStream,
    UpstreamError,
    UpstreamTimeout,
)
from gateway.providers.http1 import Http1Pool

RETRYABLE_STATUS = {500, 502, 503, 504}


class OpenAICompatProvider:
    """Calls `{api_base}/chat/completions` with the model name after the provider prefix."""

    def __init__(self, name: str, config: ModelConfig) -> None:
        self.name = name
        self.config = config
        self.upstream_model = config.model.split("/", 1)[1] if config.model.startswith("openai/") else config.model
        self._url = (config.api_base or "").rstrip("/") + "/chat/completions"
        self._headers = {"content-type": "application/json"}
        key = config.api_key()
        if key is not None:
            self._headers["authorization"] = f"Bearer {key.get_secret_value()}"
        # Per-read like httpx's timeout: a long stream is fine as long as bytes keep coming. Both clients
        # (aiohttp for streams, Http1Pool for whole answers) take the same two bounds.
        self._connect_timeout_s = min(config.timeout_s, 5.0)
        self._timeout = aiohttp.ClientTimeout(total=None, connect=self._connect_timeout_s, sock_read=config.timeout_s)
        self._session: aiohttp.ClientSession | None = None
        self._pool: Http1Pool | None = None

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = self._body(payload, stream=False)
        content = await self._send(body)
        try:
            return orjson.loads(content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"model '{self.name}' returned a body that is not JSON") from None

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = self._body(payload, stream=True)
        try:
            response = await self._session_now().post(self._url, data=body, headers=self._headers)
        except TimeoutError:
            raise UpstreamTimeout(f"model '{self.name}' timed out after {self.config.timeout_s:g}s") from None
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"model '{self.name}' unreachable: {type(exc).__name__}") from None
        try:
            if response.status >= 400:
                raise _status_error(self.name, response.status, await _read_or_empty(response))
            async for chunk in _sse_chunks(response, self.name, self.config.timeout_s):
                yield chunk
        finally:
            response.release()

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _session_now(self) -> aiohttp.ClientSession:
        """The pooled session, made on first use: aiohttp binds it to the running event loop."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=512, limit_per_host=512, keepalive_timeout=30.0,
                                             enable_cleanup_closed=True)
            # read_bufsize bounds one SSE line; 1 MiB leaves room for large tool-call chunks
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout, read_bufsize=2**20)
        return self._session

    def _pool_now(self) -> Http1Pool:
        """The keep-alive connections for whole answers, made on first use (on the running loop)."""
        if self._pool is None:
            try:
                self._pool = Http1Pool(self._url, self._headers, connect_timeout_s=self._connect_timeout_s,
                                       read_timeout_s=self.config.timeout_s)
            except ValueError as exc:
                raise UpstreamError(f"model '{self.name}' has no usable api_base: {exc}") from None
        return self._pool

    def _body(self, payload: dict[str, Any], *, stream: bool) -> bytes:
        body = dict(payload, model=self.upstream_model, stream=stream)
        if not stream:
            body.pop("stream_options", None)
        return orjson.dumps(body)

    async def _send(self, body: bytes) -> bytes:
        """The response body of a successful call; transport errors and 5xx are retried `retries` times."""
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                status, content = await self._pool_now().post(body)
            except TimeoutError:
                raise UpstreamTimeout(f"model '{self.name}' timed out after {self.config.timeout_s:g}s") from None
            except (OSError, httptools.HttpParserError) as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                raise UpstreamError(f"model '{self.name}' unreachable: {type(exc).__name__}") from None
            if status in RETRYABLE_STATUS and attempt + 1 < attempts:
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            if status >= 400:
                raise _status_error(self.name, status, content)
            return content
        raise UpstreamError(f"model '{self.name}' failed after {attempts} attempts")


async def _sse_chunks(response: aiohttp.ClientResponse, name: str, timeout_s: float) -> AsyncIterator[dict[str, Any]]:
    events = 0
    try:
        async for raw in response.content:
            line = raw.strip()
            if not line.startswith(b"data:"):
                continue
            data = line[5:].strip()
            if data == b"[DONE]":
                break
            chunk = orjson.loads(data)
            if "error" in chunk and "choices" not in chunk:
                raise UpstreamError(f"model '{name}' failed mid-stream: {_message_of(chunk)}")
            events += 1
            yield chunk
    except TimeoutError:
        raise UpstreamTimeout(f"model '{name}' stalled for {timeout_s:g}s mid-stream") from None
    except aiohttp.ClientError as exc:
        raise UpstreamError(f"model '{name}' dropped the stream: {type(exc).__name__}") from None
    except orjson.JSONDecodeError:
        raise UpstreamError(f"model '{name}' sent a stream event that is not JSON") from None
    if not events:
        kind = response.content_type or "no content type"
        raise UpstreamBadStream(f"model '{name}' answered 200 with no stream events ({kind})")


async def _read_or_empty(response: aiohttp.ClientResponse) -> bytes:
    try:
        return await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return b""


def _status_error(name: str, status: int, content: bytes) -> GatewayError:
    try:
        detail = _message_of(orjson.loads(content))
    except orjson.JSONDecodeError:
        detail = content[:200].decode("utf-8", "replace")
    # a 4xx names what the client got wrong; a 5xx's text is the upstream's internals, kept for the log
    message = f"model '{name}' answered {status}"
    if status == 429:
        return RateLimited(message, detail=detail)
    if status in (400, 422):
        return InvalidRequest(f"{message}: {detail[:300]}", code="upstream_rejected_request", detail=detail)
    return UpstreamError(message, detail=detail)


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body)[:200]
