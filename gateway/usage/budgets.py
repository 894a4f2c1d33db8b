"""Spend and rates against the budgets and limits in gateway.yaml, read from the request log.

The log holds settled costs, so these figures are what was spent; the limiter's own counters
also hold the worst cases of requests still in flight.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.config.limits import LimitsConfig, LimitSet
from gateway.usage.store import UsageStore

WINDOWS = {"usd_per_day": "today (UTC)", "usd_per_month": "this month (UTC)",
           "requests_per_minute": "last 60 s", "tokens_per_minute": "last 60 s"}


@dataclass(frozen=True, slots=True)
class BudgetRow:
    scope: str
    limit: str
    allowed: float
    used: float

    @property
    def window(self) -> str:
        return WINDOWS[self.limit]

    @property
    def remaining(self) -> float:
        return max(0.0, self.allowed - self.used)

    @property
    def share(self) -> float:
        """Used as a fraction of the limit (1.0 = exhausted; 0 for a zero limit with nothing used)."""
        return self.used / self.allowed if self.allowed else float(self.used > 0)

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.scope, "limit": self.limit, "window": self.window, "allowed": self.allowed,
                "used": round(self.used, 6), "remaining": round(self.remaining, 6), "share": round(self.share, 4)}


def budget_usage(store: UsageStore, limits: LimitsConfig, now: float) -> list[BudgetRow]:
    """One row per configured limit of every key and route, keys first."""
    stamp = datetime.fromtimestamp(now, UTC)
    starts = {"day": datetime(stamp.year, stamp.month, stamp.day, tzinfo=UTC).timestamp(),
              "month": datetime(stamp.year, stamp.month, 1, tzinfo=UTC).timestamp(), "minute": now - 60}
    rows: list[BudgetRow] = []
    for column, configured in (("key_id", limits.keys), ("route", limits.routes)):
        if not configured:
            continue
        totals = {window: store.totals(column, since=start) for window, start in starts.items()}
        for name, limit_set in configured.items():
            scope = _scope(column, name, limit_set)
            rows += _rows(scope, limit_set, {w: totals[w].get(name, (0, 0, 0.0)) for w in totals})
    return rows


def _rows(scope: str, limits: LimitSet, used: dict[str, tuple[int, int, float]]) -> list[BudgetRow]:
    figures = {
        "usd_per_day": (limits.usd_per_day, used["day"][2]),
        "usd_per_month": (limits.usd_per_month, used["month"][2]),
        "requests_per_minute": (limits.requests_per_minute, used["minute"][0]),
        "tokens_per_minute": (limits.tokens_per_minute, used["minute"][1]),
    }
    return [BudgetRow(scope, name, float(allowed), float(spent))
            for name, (allowed, spent) in figures.items() if allowed is not None]


def _scope(column: str, name: str, limits: LimitSet) -> str:
    if column == "route":
        return f"route {name}"
    return f"key {name}" + (f" ({limits.name})" if limits.name else "")
