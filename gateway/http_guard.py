"""uvicorn's HTTP protocol with the two limits it lacks: a header timeout and a connection cap.

uvicorn times out only idle keep-alive connections, and any byte cancels that timer, so a client that
connects and never finishes its headers (or sends one byte a minute) holds a socket and a protocol
object forever: 5,000 of them were held. Here every request's headers must be complete within
`server.header_timeout_s` of the connection opening or of the previous response, and connections past
`server.max_connections` are closed as they are accepted.

uvicorn builds this class by import string in every worker, so its limits travel in the environment
(`ragway serve` sets them from gateway.yaml).
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

HEADER_TIMEOUT_ENV = "RAGWAY_HEADER_TIMEOUT_S"
MAX_CONNECTIONS_ENV = "RAGWAY_MAX_CONNECTIONS"
PROTOCOL = "gateway.http_guard:GuardedHttpProtocol"


class GuardedHttpProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout_s = float(os.environ.get(HEADER_TIMEOUT_ENV, "10"))
        self.max_connections = int(os.environ.get(MAX_CONNECTIONS_ENV, "4096"))
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.max_connections:
            transport.close()
            return
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._header_timer = self.loop.call_later(self.header_timeout_s, self._expire)

    def _disarm(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _expire(self) -> None:
        self._header_timer = None
        # a pipelined request already parsed is being served: its headers were in time
        busy = self.cycle is not None and not self.cycle.response_complete
        if not busy and not self.transport.is_closing():
            self.transport.close()
