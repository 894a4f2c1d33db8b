"""Direct calls to an OpenAI-compatible endpoint (llama.cpp, vLLM, TGI, Ollama, OpenAI itself).

This path skips litellm: its per-call CPU cost bounds throughput, and these
endpoints already speak the wire format the gateway serves.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson

from gateway.config import ModelConfig
from gateway.errors import GatewayError, InvalidRequest, RateLimited, UpstreamError, UpstreamTimeout

RETRYABLE_STATUS = {500, 502, 503, 504}


class OpenAICompatProvider:
    """Calls `{api_base}/chat/completions` with the model name after the provider prefix."""

    def __init__(self, name: str, config: ModelConfig, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.name = name
        self.config = config
        self.upstream_model = config.model.split("/", 1)[1] if config.model.startswith("openai/") else config.model
        headers = {"content-type": "application/json"}
        key = config.api_key()
        if key is not None:
            headers["authorization"] = f"Bearer {key.get_secret_value()}"
        self._client = httpx.AsyncClient(
            base_url=(config.api_base or "").rstrip("/"),
            headers=headers,
            timeout=httpx.Timeout(config.timeout_s, connect=min(config.timeout_s, 5.0)),
            limits=httpx.Limits(max_connections=512, max_keepalive_connections=128),
            transport=transport,
        )

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        body = self._body(payload, stream=False)
        response = await self._send(body)
        try:
            return orjson.loads(response.content)
        except orjson.JSONDecodeError:
            raise UpstreamError(f"model '{self.name}' returned a body that is not JSON") from None

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        body = self._body(payload, stream=True)
        request = self._client.build_request("POST", "/chat/completions", content=body)
        try:
            response = await self._client.send(request, stream=True)
        except httpx.TimeoutException:
            raise UpstreamTimeout(f"model '{self.name}' timed out after {self.config.timeout_s:g}s") from None
        except httpx.HTTPError as exc:
            raise UpstreamError(f"model '{self.name}' unreachable: {type(exc).__name__}") from None
        try:
            if response.status_code >= 400:
                await response.aread()
                raise _status_error(self.name, response)
            async for chunk in _sse_chunks(response, self.name, self.config.timeout_s):
                yield chunk
        finally:
            await response.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    def _body(self, payload: dict[str, Any], *, stream: bool) -> bytes:
        body = dict(payload, model=self.upstream_model, stream=stream)
        if not stream:
            body.pop("stream_options", None)
        return orjson.dumps(body)

    async def _send(self, body: bytes) -> httpx.Response:
        attempts = self.config.retries + 1
        for attempt in range(attempts):
            try:
                response = await self._client.post("/chat/completions", content=body)
            except httpx.TimeoutException:
                raise UpstreamTimeout(f"model '{self.name}' timed out after {self.config.timeout_s:g}s") from None
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.05 * (attempt + 1))
                    continue
                raise UpstreamError(f"model '{self.name}' unreachable: {type(exc).__name__}") from None
            if response.status_code in RETRYABLE_STATUS and attempt + 1 < attempts:
                await asyncio.sleep(0.05 * (attempt + 1))
                continue
            if response.status_code >= 400:
                raise _status_error(self.name, response)
            return response
        raise UpstreamError(f"model '{self.name}' failed after {attempts} attempts")


async def _sse_chunks(response: httpx.Response, name: str, timeout_s: float) -> AsyncIterator[dict[str, Any]]:
    try:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            chunk = orjson.loads(data)
            if "error" in chunk and "choices" not in chunk:
                raise UpstreamError(f"model '{name}' failed mid-stream: {_message_of(chunk)}")
            yield chunk
    except httpx.TimeoutException:
        raise UpstreamTimeout(f"model '{name}' stalled for {timeout_s:g}s mid-stream") from None
    except httpx.HTTPError as exc:
        raise UpstreamError(f"model '{name}' dropped the stream: {type(exc).__name__}") from None
    except orjson.JSONDecodeError:
        raise UpstreamError(f"model '{name}' sent a stream event that is not JSON") from None


def _status_error(name: str, response: httpx.Response) -> GatewayError:
    try:
        detail = _message_of(orjson.loads(response.content))
    except orjson.JSONDecodeError:
        detail = response.text[:200]
    status = response.status_code
    message = f"model '{name}' answered {status}: {detail}"
    if status == 429:
        return RateLimited(message)
    if status in (400, 422):
        return InvalidRequest(message, code="upstream_rejected_request")
    return UpstreamError(message)


def _message_of(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error", body)
        if isinstance(error, dict):
            return str(error.get("message") or error)
        return str(error)
    return str(body)[:200]
