"""GET /v1/logs/summary (admin), /metrics (Prometheus) and /dashboard, read from `app.state.deps`.

The app's `Deps` carries `usage` (a UsageRecorder or NullRecorder: `.store`, `.metrics`) and
`auth` (`admin(...)` and `metrics(...)` raise Unauthorized for a missing or wrong key); the
`AdminKey` and `MetricsKey` dependencies check the key and log every refusal in the request log.

A window reads every record in it, so windows are capped at MAX_WINDOW, one summary or page is
computed at a time (in a worker thread, off the event loop), and each is served from memory for
VIEW_TTL_S: a dashboard reloaded in a loop costs one query every few seconds, not one per request.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.api.intake import AdminKey, MetricsKey
from gateway.config.limits import LimitsConfig
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.usage.dashboard import PLOTLY_ASSET, plotly_js_path, render_dashboard
from gateway.usage.duration import parse_duration, parse_since
from gateway.usage.metrics import CONTENT_TYPE, UsageMetrics
from gateway.usage.store import UsageStore
from gateway.usage.summary import parse_group_keys, summarize

MAX_WINDOW = timedelta(days=90)
VIEW_TTL_S = 5.0


class AdminCheck(Protocol):
    def admin(self, authorization: str | None) -> str: ...

    def metrics(self, authorization: str | None) -> str: ...


class UsageView(Protocol):
    @property
    def store(self) -> UsageStore | None: ...

    @property
    def metrics(self) -> UsageMetrics: ...


class LogsDeps(Protocol):
    """The part of the app's Deps these endpoints use (their key dependencies read `auth` and `service`)."""

    @property
    def usage(self) -> UsageView: ...

    @property
    def auth(self) -> AdminCheck: ...

    @property
    def limits(self) -> LimitsConfig: ...


async def get_deps(request: Request) -> LogsDeps:
    return request.app.state.deps


LogsDepsDep = Annotated[LogsDeps, Depends(get_deps)]
T = TypeVar("T")
router = APIRouter()


@router.get("/v1/logs/summary", tags=["logs"])
async def logs_summary(
    request: Request,
    deps: LogsDepsDep,
    _key: AdminKey,
    since: Annotated[str, Query(description="A duration back from now (24h, 7d) or an ISO time.")] = "24h",
    by: Annotated[str, Query(description="Comma-separated: route,target,model,cache,status.")] = "route,target",
) -> dict[str, Any]:
    """The same summary as `ragway logs summary`, as JSON (admin key required)."""
    start = _start(_checked(parse_since, since, "since"))
    keys = _checked(parse_group_keys, by, "by")
    store = _store(deps)
    rows = await _views(request).get(("summary", since, ",".join(keys)),
                                     lambda: run_in_threadpool(summarize, store, start, keys))
    return {
        "object": "list",
        "since": start.isoformat(timespec="seconds"),
        "by": keys,
        "data": [row.as_dict() for row in rows],
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(deps: LogsDepsDep, _key: MetricsKey) -> Response:
    return Response(deps.usage.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/dashboard", include_in_schema=False)
async def dashboard(request: Request, deps: LogsDepsDep, _key: MetricsKey, since: str = "24h") -> HTMLResponse:
    window = min(_checked(parse_duration, since, "since"), MAX_WINDOW)
    render = partial(render_dashboard, _store(deps), window, limits=deps.limits)
    html = await _views(request).get(("dashboard", window), lambda: run_in_threadpool(render))
    return HTMLResponse(html)


@router.get(PLOTLY_ASSET, include_in_schema=False)
async def plotly_js(_key: MetricsKey) -> FileResponse:
    return FileResponse(
        plotly_js_path(), media_type="text/javascript", headers={"cache-control": "private, max-age=86400"}
    )


@dataclass
class ViewCache:
    """Computed views for a few seconds, computed one at a time."""

    ttl_s: float = VIEW_TTL_S
    entries: dict[tuple, tuple[float, Any]] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def get(self, key: tuple, compute: Callable[[], Awaitable[T]]) -> T:
        async with self.lock:
            now = time.monotonic()
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if key not in self.entries:
                self.entries[key] = (now + self.ttl_s, await compute())
            return self.entries[key][1]


def _views(request: Request) -> ViewCache:
    state = request.app.state
    if not hasattr(state, "log_views"):
        state.log_views = ViewCache()
    return state.log_views


def _start(window: timedelta | datetime) -> datetime:
    """The window's start, no earlier than MAX_WINDOW ago."""
    now = datetime.now(UTC)
    start = now - min(window, MAX_WINDOW) if isinstance(window, timedelta) else window
    return max(start, now - MAX_WINDOW)


def _store(deps: LogsDeps) -> UsageStore:
    store = deps.usage.store
    if store is None:
        raise ServiceUnavailable("request logging is off (log.enabled: false in gateway.yaml)")
    return store


def _checked(parse: Callable[[str], T], text: str, param: str) -> T:
    try:
        return parse(text)
    except (ValueError, OverflowError):
        raise InvalidRequest(f"{param}: cannot read {text[:40]!r}; use a duration (24h, 7d, at most "
                             f"{MAX_WINDOW.days}d) or an ISO date-time", param=param) from None
