"""Upstream model providers: how the gateway calls a model and what it gets back.

Every provider speaks the OpenAI chat shape both ways: it takes a request payload
(dict) and returns a chat.completion dict, or yields chat.completion.chunk dicts.
Failures are raised as gateway errors (UpstreamError, UpstreamTimeout, ...).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol


class Provider(Protocol):
    async def complete(self, payload: dict[str, Any]) -> dict[str, Any]: ...

    def stream(self, payload: dict[str, Any]) -> AsyncIterator[dict[str, Any]]: ...

    async def aclose(self) -> None: ...
