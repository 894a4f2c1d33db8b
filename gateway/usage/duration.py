"""Time windows as people type them: `90s`, `15m`, `24h`, `7d`, `2w`, or an ISO date-time."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")


def parse_duration(text: str) -> timedelta:
    """`24h` -> timedelta(hours=24); ValueError naming the accepted units otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"bad duration {text!r}: use a number and a unit s, m, h, d or w (e.g. 24h, 7d)")
    return timedelta(seconds=float(match.group(1)) * _UNITS[match.group(2)])


def parse_since(text: str) -> timedelta | datetime:
    """A duration back from now (`24h`), or a point in time (`2025-01-31T12:00`, UTC unless it says)."""
    try:
        return parse_duration(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"bad time {text!r}: use a duration (24h, 7d) or an ISO date-time (2025-01-31T12:00)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def epoch_since(since: timedelta | datetime | float, now: float) -> float:
    """Seconds since the epoch for a window start given as a duration back from *now* or a moment."""
    if isinstance(since, timedelta):
        return now - since.total_seconds()
    if isinstance(since, datetime):
        return (since if since.tzinfo else since.replace(tzinfo=UTC)).timestamp()
    return float(since)
