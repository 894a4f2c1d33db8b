"""Which version of each route is promoted, refused, forced or pending, and why: an append-only record.

`ragway eval --gate` writes promoted or refused (forced with `--force`); the gateway writes pending
when a gated route file changes to a version nobody decided yet, and serves an edited gated route
only once its version is promoted or forced. `ragway config status` prints it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from sqlalchemy import Engine, insert, select

from gateway.promotion.store import route_promotions

State = Literal["promoted", "refused", "forced", "pending"]
SERVABLE: frozenset[str] = frozenset({"promoted", "forced"})


@dataclass(frozen=True)
class Promotion:
    route: str
    version: str
    state: State
    reason: str
    ts: float = 0.0

    @property
    def servable(self) -> bool:
        return self.state in SERVABLE


@dataclass(frozen=True)
class RouteStatus:
    """`serving` is the newest promoted or forced version; `latest` the newest decision of any kind."""

    route: str
    serving: Promotion | None
    latest: Promotion


class PromotionStore:
    """Append and read promotion decisions in the eval database."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, promotion: Promotion) -> Promotion:
        """Store *promotion*, stamped now unless it carries a time; return what was stored."""
        stamped = promotion if promotion.ts else replace(promotion, ts=time.time())
        with self._engine.begin() as conn:
            conn.execute(insert(route_promotions), asdict(stamped))
        return stamped

    def decision(self, route: str, version: str) -> Promotion | None:
        """The newest decision on this exact version of the route."""
        c = route_promotions.c
        found = self._select((c.route == route) & (c.version == version), limit=1)
        return found[0] if found else None

    def history(self, route: str | None = None, limit: int | None = None) -> list[Promotion]:
        """Decisions, newest first, for one route or all."""
        return self._select(route_promotions.c.route == route if route else None, limit=limit)

    def status(self) -> list[RouteStatus]:
        """Per route (sorted by name): the serving version and the newest decision."""
        newest: dict[str, Promotion] = {}
        serving: dict[str, Promotion] = {}
        for promotion in self.history():
            newest.setdefault(promotion.route, promotion)
            if promotion.servable:
                serving.setdefault(promotion.route, promotion)
        return [RouteStatus(route, serving.get(route), newest[route]) for route in sorted(newest)]

    def _select(self, condition: Any, limit: int | None) -> list[Promotion]:
        c = route_promotions.c
        query = select(c.route, c.version, c.state, c.reason, c.ts)
        if condition is not None:
            query = query.where(condition)
        query = query.order_by(c.ts.desc(), c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [Promotion(**row) for row in conn.execute(query).mappings()]
