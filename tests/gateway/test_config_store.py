"""The config store: a held edit keeps the running version while other edits apply; reloads never overlap."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

from gateway.config.live import Admission, ConfigStore
from gateway.config.snapshot import ConfigSnapshot, Route
from tests.servers import write_config

GATEWAY = {"auth": {"open": True}, "models": {"m": {"model": "openai/m", "api_base": "http://127.0.0.1:9/v1"}}}
ROUTE = {"task": "generation", "targets": {"large": {"model": "m"}}, "policy": {"kind": "fixed", "target": "large"}}


class FakeGate:
    """Holds back every changed version of the routes in `holding`; counts its calls."""

    def __init__(self, holding: set[str]) -> None:
        self.holding = holding
        self.calls = 0

    def __call__(self, candidate: Route, running: Route | None) -> Admission:
        self.calls += 1
        changed = running is not None and running.version != candidate.version
        if changed and candidate.name in self.holding:
            return Admission(running, f"route '{candidate.name}' is held")
        return Admission(candidate)


def edit(root: Path, name: str, prompt: str) -> None:
    (root / "routes" / f"{name}.yaml").write_text(f"system_prompt: {prompt}\ntargets: {{large: {{model: m}}}}\n")


def test_a_held_route_keeps_serving_while_other_edits_apply(tmp_path: Path) -> None:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": ROUTE, "other": ROUTE})
    store = ConfigStore.open(root)
    running = store.current.routes["chat"]
    store.gate(FakeGate({"chat"}))
    edit(root, "chat", "edited")
    edit(root, "other", "edited too")

    result = store.reload()

    assert not result.ok and result.message == "route 'chat' is held"
    assert result.changed == ("other",)
    assert store.current.routes["chat"] is running
    assert store.current.routes["other"].config.system_prompt == "edited too"
    assert store.last_error == "route 'chat' is held"
    assert set(store.held) == {"chat"} and store.held["chat"].config.system_prompt == "edited"


def test_recheck_serves_a_held_route_once_the_gate_lets_it(tmp_path: Path) -> None:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": ROUTE})
    store = ConfigStore.open(root)
    gate = FakeGate({"chat"})
    store.gate(gate)
    edit(root, "chat", "edited")
    store.reload()

    assert store.recheck() is None
    gate.holding.clear()
    result = store.recheck()

    assert result is not None and result.ok and result.changed == ("chat",)
    assert store.current.routes["chat"].config.system_prompt == "edited"
    assert store.held == {} and store.last_error is None


def test_recheck_with_nothing_held_asks_no_one(tmp_path: Path) -> None:
    store = ConfigStore.open(write_config(tmp_path / "configs", GATEWAY, {"chat": ROUTE}))
    gate = FakeGate(set())
    store.gate(gate)

    assert store.recheck() is None
    assert gate.calls == 0


async def test_reloads_run_off_the_event_loop_one_at_a_time(tmp_path: Path) -> None:
    root = write_config(tmp_path / "configs", GATEWAY, {"chat": ROUTE})
    store = ConfigStore.open(root)
    loop_thread = threading.get_ident()
    running: list[int] = []
    overlaps: list[int] = []
    threads: set[int] = set()

    def slow_prepare(snapshot: ConfigSnapshot) -> None:
        running.append(1)
        overlaps.append(len(running))
        threads.add(threading.get_ident())
        time.sleep(0.05)
        running.pop()

    store.attach(slow_prepare)
    overlaps.clear()
    threads.clear()
    # an admin reload and the watcher's reloads arriving together
    watcher = [threading.Thread(target=store.reload) for _ in range(3)]
    for thread in watcher:
        thread.start()
    results = await asyncio.gather(*(store.reload_soon() for _ in range(3)))
    for thread in watcher:
        thread.join()

    assert all(result.ok for result in results)
    assert len(overlaps) == 6 and max(overlaps) == 1
    assert loop_thread not in threads


def test_refresh_reloads_when_an_artifact_changes_and_keeps_the_old_on_failure(tmp_path: Path) -> None:
    from gateway.errors import ConfigError

    store = ConfigStore.open(write_config(tmp_path / "configs", {"auth": {"open": True}}, {}))
    disk = {"version": 1, "broken": False}

    def prepare(snapshot: object) -> int:
        if disk["broken"]:
            raise ConfigError("index 'faq': artifacts do not match the manifest checksum")
        return disk["version"]

    store.attach(prepare, lambda snapshot: disk["version"])
    assert store.refresh() is None and store.live.resources == 1  # nothing replaced: no reload
    disk["version"] = 2
    assert store.refresh().ok and store.live.resources == 2
    disk.update(version=3, broken=True)
    assert not store.refresh().ok and store.live.resources == 2  # the old version keeps serving
    assert store.refresh() is None  # a refused version is not retried until it changes again
    disk.update(version=4, broken=False)
    assert store.refresh().ok and store.live.resources == 4
