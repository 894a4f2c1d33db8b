"""The /dashboard page: requests, cost and p95 latency per route over time, traffic per target, cache hits.

Plots are drawn in the browser by plotly.js, served by the gateway from the plotly pip
package (no CDN, no build step); the figures arrive embedded in the page as JSON.
"""

from __future__ import annotations

import importlib.util
import math
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from gateway.config.limits import LimitsConfig
from gateway.usage.budgets import budget_usage
from gateway.usage.record import Sample
from gateway.usage.store import UsageStore
from gateway.usage.summary import SummaryRow, summarize, summarize_samples

# (group keys, bucket seconds or None) -> summary rows
Summarizer = Callable[[Sequence[str], float | None], list[SummaryRow]]

PLOTLY_ASSET = "/dashboard/plotly.min.js"
# About sixty points per line: enough to see a trend, few enough to read each bucket.
POINTS_PER_WINDOW = 60
NICE_BUCKETS_S = (10, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 86_400)


def plotly_js_path() -> Path:
    """plotly.min.js inside the installed plotly package (found without importing plotly's Python side)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("the plotly package is not installed (pip install plotly)")
    return Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"


def bucket_seconds(window: timedelta) -> int:
    """The smallest round bucket that keeps a window to about POINTS_PER_WINDOW points."""
    wanted = window.total_seconds() / POINTS_PER_WINDOW
    return next((b for b in NICE_BUCKETS_S if b >= wanted), NICE_BUCKETS_S[-1])


def render_dashboard(store: UsageStore, window: timedelta, *, now: float | None = None,
                     limits: LimitsConfig | None = None) -> str:
    """The dashboard HTML for the last *window* of traffic, with spend against *limits* when any are set."""
    end = time.time() if now is None else now
    start = end - window.total_seconds()
    budgets = budget_usage(store, limits, end) if limits is not None else []
    env = Environment(loader=PackageLoader("gateway.usage", "templates"), autoescape=select_autoescape())
    return env.get_template("dashboard.html").render(
        window=_window_label(window),
        generated=datetime.fromtimestamp(end, UTC).isoformat(timespec="seconds"),
        plotly_src=PLOTLY_ASSET,
        figures=figures_of(lambda keys, bucket: summarize(store, start, keys, until=end, bucket_s=bucket),
                           window, end),
        budgets=budgets,
    )


def figures(samples: Sequence[Sample], window: timedelta, now: float) -> dict[str, Any]:
    """The page's data over samples in hand (the served page has the store aggregate instead)."""
    return figures_of(lambda keys, bucket: summarize_samples(samples, keys, bucket), window, now)


def figures_of(summary: Summarizer, window: timedelta, now: float) -> dict[str, Any]:
    """The page's data: per-route time series, traffic share per target, cache hit rate and a table."""
    bucket = bucket_seconds(window)
    by_route = summary(["route"], None)
    return {
        "bucket_s": bucket,
        "total": sum(r.requests for r in by_route),
        "series": _series(summary(["route"], bucket), now - window.total_seconds(), now, bucket),
        "targets": [{"target": str(r.group["target"]) or "(none)", "requests": r.requests}
                    for r in summary(["target"], None)],
        "cache": [{"route": r.group["route"], "hit_rate": r.cache_hit_rate} for r in by_route],
        "table": [r.as_dict() for r in by_route],
    }


def _series(rows: list[SummaryRow], start: float, end: float, bucket: int) -> dict[str, dict[str, list[Any]]]:
    """Per route, one point per bucket across the whole window: quiet buckets show 0 requests, no p95."""
    first = math.floor(start / bucket) * bucket
    stamps = [first + i * bucket for i in range(math.ceil((end - first) / bucket))]
    found = {(str(r.group["route"]), r.bucket): r for r in rows}
    series: dict[str, dict[str, list[Any]]] = {}
    for route in sorted({str(r.group["route"]) for r in rows}):
        points = [found.get((route, float(t))) for t in stamps]
        series[route] = {
            "t": [datetime.fromtimestamp(t, UTC).isoformat() for t in stamps],
            "requests": [p.requests if p else 0 for p in points],
            "cost": [p.cost_usd if p else 0.0 for p in points],
            "p95": [p.p95_ms if p else None for p in points],
        }
    return series


def _window_label(window: timedelta) -> str:
    seconds = int(window.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
