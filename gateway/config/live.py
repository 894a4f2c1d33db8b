"""The live config: the last valid snapshot and what was loaded for it, swapped whole on reload.

Reloads read files and load indexes, so they run in a worker thread (`reload_soon`, `watch`), and
one lock lets only one run at a time: `/admin/reload` and the file watcher never interleave.

Two hooks shape a reload: `attach(prepare)` loads what a snapshot needs (and may refuse it whole),
`gate(admit)` picks per edited route which version serves (the deployment gate holds a version
back until it is promoted, while the running one keeps serving).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from gateway.config.snapshot import ConfigSnapshot, Route, load_routes, load_snapshot
from gateway.errors import ConfigError

log = logging.getLogger("ragway.config")

# While a route is held back, how often the watcher asks whether its version was promoted meanwhile.
RECHECK_MS = 2000

Prepare = Callable[[ConfigSnapshot], Any]
"""Loads what a snapshot needs (indexes, classifier heads); raises ConfigError to refuse it."""

Stamp = Callable[[ConfigSnapshot], Any]
"""A cheap fingerprint of the artifacts a snapshot loads: when it changes, they are loaded again."""


@dataclass(frozen=True)
class Admission:
    """The version of a route that serves; `refusal` says why the file's own version does not (yet)."""

    route: Route
    refusal: str | None = None


Admit = Callable[[Route, Route | None], Admission]
"""(the route as its file reads now, the version serving now or None at start) -> which one serves."""


def admit_all(candidate: Route, running: Route | None) -> Admission:
    return Admission(candidate)


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
        self.held: dict[str, Route] = {}
        """Route files whose version waits for promotion, by route name (the running version serves)."""
        self._prepare: Prepare = lambda snapshot: None
        self._admit: Admit = admit_all
        self._stamp: Stamp = lambda snapshot: None
        self._stamped: Any = None
        self._refused_stamp: Any = None
        # the route watcher, the artifact poller and /admin/reload may reload at once
        self._reloading = threading.Lock()

    @classmethod
    def open(cls, root: Path) -> ConfigStore:
        return cls(load_snapshot(root))

    @property
    def current(self) -> ConfigSnapshot:
        return self.live.snapshot

    def attach(self, prepare: Prepare, stamp: Stamp | None = None) -> None:
        """Prepare resources for the current snapshot now and for every reload after; ConfigError refuses.

        *stamp* fingerprints the artifacts *prepare* loads; `refresh` reloads when it changes.
        """
        self._prepare = prepare
        self._stamp = stamp or self._stamp
        self._stamped = self._stamp(self.current)
        self.live = Live(self.current, prepare(self.current))

    def gate(self, admit: Admit) -> None:
        """From the next reload on, let *admit* pick which version of each route serves."""
        self._admit = admit

    def reload(self) -> ReloadResult:
        """Re-read every route file; keep serving the old routes if any file or resource is invalid.

        A route whose new version the gate holds back keeps its running version; the other
        routes' edits apply. The result is not ok while anything is held, and says why.
        Blocking: callers on the event loop use `reload_soon`.
        """
        with self._reloading:
            return self._reload()

    async def reload_soon(self) -> ReloadResult:
        """`reload` in a worker thread, so requests keep being served while files and indexes load."""
        return await asyncio.to_thread(self.reload)

    def refresh(self) -> ReloadResult | None:
        """Reload when an artifact the routes load (index, classifier head) was replaced; else None.

        Requests keep reading the old resources until the new ones have loaded, then the swap is
        one assignment. A replacement that fails to load is tried again only once it changes again.
        """
        stamp = self._stamp(self.current)
        if stamp in (self._stamped, self._refused_stamp):
            return None
        result = self.reload()
        if result.ok or self.held:
            log.info("an index or classifier head was replaced on disk; its new version serves now")
        else:
            self._refused_stamp = stamp
        return result

    async def watch_artifacts(self, stop: asyncio.Event, interval_s: float) -> None:
        """Every *interval_s*, `refresh` (off the event loop), until *stop* is set."""
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), interval_s)
            except TimeoutError:
                await asyncio.to_thread(self.refresh)

    def _reload(self) -> ReloadResult:
        stamp = self._stamp(self.current)
        try:
            files = load_routes(self.current.root, self.current.gateway)
            routes, refusals = self._admit_each(files)
            snapshot = replace(self.current, routes=routes)
            resources = self._prepare(snapshot)
            _refuse_new_outages(self.live.resources, resources)
        except ConfigError as exc:
            self.last_error = str(exc)
            log.error("config reload refused, still serving the last valid config: %s", exc)
            return ReloadResult(False, str(exc))
        changed = _changed(self.current, snapshot)
        self.live = Live(snapshot, resources)
        # an artifact that failed to load (and left its old version serving) is tried again next time
        self._stamped = None if getattr(resources, "stale", False) else stamp
        self._hold({name: files[name] for name in refusals}, refusals)
        if changed:
            log.info("config reloaded: %s", ", ".join(changed))
        if refusals:
            return ReloadResult(False, "\n".join(refusals.values()), changed)
        return ReloadResult(True, "reloaded", changed)

    def recheck(self) -> ReloadResult | None:
        """Reload when a held route's version may serve now (promoted meanwhile); None when nothing changed."""
        with self._reloading:
            held = dict(self.held)
            running = self.current.routes
            if any(self._admit(route, running.get(name)).refusal is None for name, route in held.items()):
                return self._reload()
            return None

    async def watch(self, stop: asyncio.Event) -> None:
        """Reload whenever a file under routes/ changes, until *stop* is set; recheck held routes meanwhile."""
        from watchfiles import awatch

        changes_seen = awatch(self.current.routes_dir, stop_event=stop, debounce=200, step=50,
                              rust_timeout=RECHECK_MS, yield_on_timeout=True)
        async for changes in changes_seen:
            if changes:
                await asyncio.to_thread(self.reload)
            elif self.held:
                await asyncio.to_thread(self.recheck)

    def _admit_each(self, files: dict[str, Route]) -> tuple[dict[str, Route], dict[str, str]]:
        routes: dict[str, Route] = {}
        refusals: dict[str, str] = {}
        for name, route in files.items():
            admission = self._admit(route, self.current.routes.get(name))
            routes[name] = admission.route
            if admission.refusal is not None:
                refusals[name] = admission.refusal
        return routes, refusals

    def _hold(self, held: dict[str, Route], refusals: dict[str, str]) -> None:
        for name, route in held.items():
            if getattr(self.held.get(name), "version", None) != route.version:
                log.warning("route edit held back: %s", refusals[name])
        self.held = held
        self.last_error = "\n".join(refusals.values()) or None


def _changed(old: ConfigSnapshot, new: ConfigSnapshot) -> tuple[str, ...]:
    names = set(old.routes) | set(new.routes)
    version = lambda snap, name: getattr(snap.routes.get(name), "version", None)  # noqa: E731
    return tuple(sorted(name for name in names if version(old, name) != version(new, name)))


def _refuse_new_outages(old: Any, new: Any) -> None:
    """An edit that leaves a route without its index or artifact is refused: the last valid config keeps serving.

    Routes already unavailable at start stay so (they serve 503s naming the fix) until an edit mends them.
    """
    before = getattr(old, "unavailable", None) or {}
    after = getattr(new, "unavailable", None) or {}
    broken = [reason for name, reason in after.items() if name not in before]
    if broken:
        raise ConfigError("; ".join(broken))
