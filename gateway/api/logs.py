"""GET /v1/logs/summary (admin), /metrics (Prometheus) and /dashboard, read from `app.state.deps`.

The app's `Deps` carries `usage` (a UsageRecorder or NullRecorder: `.store`, `.metrics`) and
`auth` (`admin(authorization_header)` raises Unauthorized for a missing or wrong admin key).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from gateway.config.limits import LimitsConfig
from gateway.errors import InvalidRequest, ServiceUnavailable
from gateway.usage.dashboard import PLOTLY_ASSET, plotly_js_path, render_dashboard
from gateway.usage.duration import parse_duration, parse_since
from gateway.usage.metrics import CONTENT_TYPE, UsageMetrics
from gateway.usage.store import UsageStore
from gateway.usage.summary import parse_group_keys, summarize


class AdminCheck(Protocol):
    def admin(self, authorization: str | None) -> str: ...


class UsageView(Protocol):
    @property
    def store(self) -> UsageStore | None: ...

    @property
    def metrics(self) -> UsageMetrics: ...


class LogsDeps(Protocol):
    """The part of the app's Deps these endpoints use."""

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
    since: Annotated[str, Query(description="A duration back from now (24h, 7d) or an ISO time.")] = "24h",
    by: Annotated[str, Query(description="Comma-separated: route,target,model,cache,status.")] = "route,target",
) -> dict[str, Any]:
    """The same summary as `ragway logs summary`, as JSON (admin key required)."""
    deps.auth.admin(request.headers.get("authorization"))
    window = _checked(parse_since, since, "since")
    keys = _checked(parse_group_keys, by, "by")
    rows = await run_in_threadpool(summarize, _store(deps), window, keys)
    start = datetime.now(UTC) - window if isinstance(window, timedelta) else window
    return {
        "object": "list",
        "since": start.isoformat(timespec="seconds"),
        "by": keys,
        "data": [row.as_dict() for row in rows],
    }


@router.get("/metrics", include_in_schema=False)
async def metrics(deps: LogsDepsDep) -> Response:
    return Response(deps.usage.metrics.render(), media_type=CONTENT_TYPE)


@router.get("/dashboard", include_in_schema=False)
async def dashboard(deps: LogsDepsDep, since: str = "24h") -> HTMLResponse:
    window = _checked(parse_duration, since, "since")
    html = await run_in_threadpool(partial(render_dashboard, _store(deps), window, limits=deps.limits))
    return HTMLResponse(html)


@router.get(PLOTLY_ASSET, include_in_schema=False)
async def plotly_js() -> FileResponse:
    return FileResponse(
        plotly_js_path(), media_type="text/javascript", headers={"cache-control": "public, max-age=86400"}
    )


def _store(deps: LogsDeps) -> UsageStore:
    store = deps.usage.store
    if store is None:
        raise ServiceUnavailable("request logging is off (log.enabled: false in gateway.yaml)")
    return store


def _checked(parse: Callable[[str], T], text: str, param: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        raise InvalidRequest(str(exc), param=param) from None
