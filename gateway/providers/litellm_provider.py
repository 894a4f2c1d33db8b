"""Calls through litellm, for every provider it speaks (OpenAI, Anthropic, Bedrock, ...)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from typing import Any

from gateway.config import ModelConfig
from gateway.errors import GatewayError, InvalidRequest, RateLimited, UpstreamError, UpstreamTimeout


class LiteLLMProvider:
    """One configured model called with `litellm.acompletion`; keys come from the named env var."""

    def __init__(self, name: str, config: ModelConfig) -> None:
        # without this litellm fetches its price map from the internet at import, retrying for seconds
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        import litellm

        self.name = name
        self.config = config
        self._litellm = litellm
        key = config.api_key()
        self._kwargs: dict[str, Any] = {
            "model": config.model,
            "timeout": config.timeout_s,
            "num_retries": config.retries,
        }
        if config.api_base:
            self._kwargs["api_base"] = config.api_base
        if key is not None:
            self._kwargs["api_key"] = key.get_secret_value()
        elif config.api_base:
            # a self-hosted endpoint usually takes no key, but litellm's OpenAI client insists on one
            self._kwargs["api_key"] = "no-key"

    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {k: v for k, v in payload.items() if k not in ("stream", "stream_options")}
        try:
            response = await self._litellm.acompletion(**{**payload, **self._kwargs})
        except Exception as exc:  # litellm raises its own tree; map it onto ours
            raise self._map(exc) from None
        return response.model_dump(exclude_none=True)

    async def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        payload = dict(payload, stream=True)
        try:
            response = await self._litellm.acompletion(**{**payload, **self._kwargs})
            async for chunk in response:
                yield chunk.model_dump(exclude_none=True)
        except GatewayError:
            raise
        except Exception as exc:
            raise self._map(exc) from None

    async def aclose(self) -> None:
        return None

    def _map(self, exc: Exception) -> GatewayError:
        """Our error for litellm's; the client sees a public message, the server log litellm's own words."""
        litellm = self._litellm
        detail = f"{type(exc).__name__}: {getattr(exc, 'message', None) or exc}"
        if isinstance(exc, litellm.Timeout):
            return UpstreamTimeout(f"model '{self.name}' timed out after {self.config.timeout_s:g}s", detail=detail)
        if isinstance(exc, litellm.RateLimitError):
            return RateLimited(f"model '{self.name}' is rate limited upstream", detail=detail)
        if isinstance(exc, litellm.BadRequestError):
            return InvalidRequest(f"model '{self.name}' rejected the request", code="upstream_rejected_request",
                                  detail=detail)
        return UpstreamError(f"model '{self.name}' failed upstream", detail=detail)
