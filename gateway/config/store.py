"""The live config: the last valid snapshot, reloaded when route files change."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from pathlib import Path

from gateway.config.snapshot import ConfigSnapshot, load_routes, load_snapshot
from gateway.errors import ConfigError

log = logging.getLogger("ragway.config")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    message: str
    changed: tuple[str, ...] = ()


class ConfigStore:
    """Holds the snapshot requests read; an invalid edit is refused and the last valid one stays."""

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self.current = snapshot
        self.last_error: str | None = None

    @classmethod
    def open(cls, root: Path) -> ConfigStore:
        return cls(load_snapshot(root))

    def reload(self) -> ReloadResult:
        """Re-read every route file; keep serving the old routes if any file is invalid."""
        try:
            routes = load_routes(self.current.root, self.current.gateway)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("config reload refused, still serving the last valid config: %s", exc)
            return ReloadResult(False, str(exc))
        old = self.current.routes
        changed = tuple(
            sorted(name for name in set(old) | set(routes) if getattr(old.get(name), "version", None)
                   != getattr(routes.get(name), "version", None))
        )
        self.current = replace(self.current, routes=routes)
        self.last_error = None
        if changed:
            log.info("config reloaded: %s", ", ".join(changed))
        return ReloadResult(True, "reloaded", changed)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a file under routes/ changes, until *stop* is set."""
        from watchfiles import awatch

        async for _ in awatch(self.current.routes_dir, stop_event=stop, debounce=200, step=50):
            self.reload()
