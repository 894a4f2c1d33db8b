"""What one request is checked against: one `Check` per limit of its key and of its route (pure functions)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

from gateway.config.limits import LimitsConfig, LimitSet

Kind = Literal["count", "tokens", "sum"]
MINUTE = 60.0


@dataclass(frozen=True, slots=True)
class Ask:
    """A request about to be called: who sends it, on which route, and its worst case."""

    request_id: str
    key_id: str
    route: str
    tokens: int
    usd: float


@dataclass(frozen=True, slots=True)
class Check:
    """One counter and its limit.

    `count` and `tokens` are sliding 60-second windows (span = 60); `sum` is a budget in a calendar
    window (span = seconds until the window ends, when it resets).
    """

    kind: Kind
    key: str
    limit: float
    amount: float
    span: float
    unit: str  # what the x-ratelimit-*-<unit> headers call it: requests, tokens, usd-day, usd-month
    scope: str  # for messages: "key RAGWAY_API_KEY (team-a)", "route chat"
    fail_open: bool

    @property
    def budget(self) -> bool:
        return self.kind == "sum"


def checks_for(config: LimitsConfig, ask: Ask, now: float) -> list[Check]:
    """Every limit that applies to *ask*, the key's first; [] when none does."""
    found: list[Check] = []
    key_limits = config.keys.get(ask.key_id)
    if key_limits is not None:
        label = f"key {ask.key_id}" + (f" ({key_limits.name})" if key_limits.name else "")
        found += _of(key_limits, f"{config.key_prefix}:key:{ask.key_id}", label, ask, now)
    route_limits = config.routes.get(ask.route) if ask.route else None
    if route_limits is not None:
        found += _of(route_limits, f"{config.key_prefix}:route:{ask.route}", f"route {ask.route}", ask, now)
    return found


def _of(limits: LimitSet, prefix: str, scope: str, ask: Ask, now: float) -> list[Check]:
    rate_open, budget_open = limits.rate_on_error == "fail_open", limits.budget_on_error == "fail_open"
    found = []
    if limits.requests_per_minute is not None:
        found.append(Check("count", f"{prefix}:rpm", limits.requests_per_minute, 1, MINUTE, "requests", scope,
                           rate_open))
    if limits.tokens_per_minute is not None:
        found.append(Check("tokens", f"{prefix}:tpm", limits.tokens_per_minute, ask.tokens, MINUTE, "tokens",
                           scope, rate_open))
    stamp = datetime.fromtimestamp(now, UTC)
    if limits.usd_per_day is not None:
        day_end = datetime(stamp.year, stamp.month, stamp.day, tzinfo=UTC).timestamp() + 86_400
        found.append(Check("sum", f"{prefix}:usd:{stamp:%Y%m%d}", limits.usd_per_day, ask.usd, day_end - now,
                           "usd-day", scope, budget_open))
    if limits.usd_per_month is not None:
        days = calendar.monthrange(stamp.year, stamp.month)[1]
        month_end = datetime(stamp.year, stamp.month, 1, tzinfo=UTC).timestamp() + days * 86_400
        found.append(Check("sum", f"{prefix}:usd:{stamp:%Y%m}", limits.usd_per_month, ask.usd, month_end - now,
                           "usd-month", scope, budget_open))
    return found
