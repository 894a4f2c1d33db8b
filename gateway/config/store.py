"""The live config: the last valid snapshot and what was loaded for it, swapped whole on reload."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.config.snapshot import ConfigSnapshot, load_routes, load_snapshot
from gateway.errors import ConfigError

log = logging.getLogger("ragway.config")

Prepare = Callable[[ConfigSnapshot], Any]
"""Loads what a snapshot needs (indexes, classifier heads); raises ConfigError to refuse it."""


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    message: str
    changed: tuple[str, ...] = ()


@dataclass(frozen=True)
class Live:
    """A snapshot together with the resources prepared for it: requests read both from one object."""

    snapshot: ConfigSnapshot
    resources: Any = None


class ConfigStore:
    """Holds what requests read; an invalid edit is refused and the last valid config stays."""

    def __init__(self, snapshot: ConfigSnapshot) -> None:
        self.live = Live(snapshot)
        self.last_error: str | None = None
        self._prepare: Prepare = lambda snapshot: None

    @classmethod
    def open(cls, root: Path) -> ConfigStore:
        return cls(load_snapshot(root))

    @property
    def current(self) -> ConfigSnapshot:
        return self.live.snapshot

    def attach(self, prepare: Prepare) -> None:
        """Prepare resources for the current snapshot now and for every reload after; ConfigError refuses."""
        self._prepare = prepare
        self.live = Live(self.current, prepare(self.current))

    def reload(self) -> ReloadResult:
        """Re-read every route file; keep serving the old routes if any file or resource is invalid."""
        try:
            routes = load_routes(self.current.root, self.current.gateway)
            snapshot = replace(self.current, routes=routes)
            resources = self._prepare(snapshot)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("config reload refused, still serving the last valid config: %s", exc)
            return ReloadResult(False, str(exc))
        changed = _changed(self.current, snapshot)
        self.live = Live(snapshot, resources)
        self.last_error = None
        if changed:
            log.info("config reloaded: %s", ", ".join(changed))
        return ReloadResult(True, "reloaded", changed)

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a file under routes/ changes, until *stop* is set."""
        from watchfiles import awatch

        async for _ in awatch(self.current.routes_dir, stop_event=stop, debounce=200, step=50):
            await asyncio.to_thread(self.reload)


def _changed(old: ConfigSnapshot, new: ConfigSnapshot) -> tuple[str, ...]:
    names = set(old.routes) | set(new.routes)
    version = lambda snap, name: getattr(snap.routes.get(name), "version", None)  # noqa: E731
    return tuple(sorted(name for name in names if version(old, name) != version(new, name)))
