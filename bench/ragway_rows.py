"""ragway's rows: passthrough, RAG, cache hit and 2 workers, plus its memory run and profiles."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from bench import memory, peers, profile, streaming
from bench.bodies import write_bodies
from bench.indexes import ensure_indexes
from bench.load import Target
from bench.overhead import Plan, Row, measure_endpoint, skipped
from bench.procs import BenchError, running
from bench.report import print_table, write_section

PASSTHROUGH = "ragway passthrough"
VIA_LITELLM = "ragway passthrough via litellm"
RAG = "ragway RAG (k=4 examples, 2 chunks)"
CACHE_HIT = "ragway cache hit (in-process)"
RAG_CACHE_HIT = "ragway RAG cache hit (in-process)"
REDIS_HIT = "ragway cache hit (Redis)"
REDIS_URL = "redis://127.0.0.1:6379/0"
TWO_WORKERS = "ragway passthrough, 2 workers"
RAG_TWO_WORKERS = "ragway RAG, 2 workers"
ROUTES = {PASSTHROUGH: "passthrough", VIA_LITELLM: "passthrough-litellm", RAG: "rag", CACHE_HIT: "cached",
          RAG_CACHE_HIT: "rag-cached"}
# the routes that search the bench's indexes: without them these rows are skipped, the others still run
NEEDS_INDEXES = (RAG, RAG_CACHE_HIT)
MEMORY_TITLE = "Memory"
PROFILE_TITLE = "Profiles"
CACHE_TEXTS = 20


@dataclass(frozen=True)
class RagwayRun:
    plan: Plan
    run_dir: Path
    doc: Path
    quick_memory: bool
    profile_s: float
    memory_budget_s: float
    config: Path = peers.RAGWAY_CONFIG
    rag_error: str | None = None

    @property
    def logs(self) -> Path:
        return self.run_dir / "logs"


@dataclass(frozen=True)
class RagwayResults:
    rows: list[Row]
    memory_growth: float | None
    profiles: dict[str, profile.Frames]


def ragway_rows(run: RagwayRun, publish: Callable[[list[Row]], None],
                publish_streams: Callable[[list[streaming.StreamRow]], None]) -> RagwayResults:
    """Measure every ragway row; a row that cannot run is kept with the reason instead of numbers."""
    run = _with_indexes(run)
    streams: list[streaming.StreamRow] = []
    rows = _guarded(list(ROUTES), run.plan, lambda: _one_worker(run, streams))
    publish(rows)
    publish_streams(streams)
    rows += _guarded([REDIS_HIT], run.plan, lambda: _redis_hits(run))
    rows += _guarded([TWO_WORKERS, RAG_TWO_WORKERS], run.plan, lambda: _two_workers(run))
    publish(rows)
    profiles = _profile_section(run) if run.profile_s > 0 else {}
    growth = _memory_section(run)
    return RagwayResults(rows, growth, profiles)


def _with_indexes(run: RagwayRun) -> RagwayRun:
    """Build the RAG route's indexes; without them serve the other routes and say why RAG is missing."""
    try:
        ensure_indexes(run.run_dir / "indexes")
    except BenchError as exc:
        routes = [route for name, route in ROUTES.items() if name not in NEEDS_INDEXES]
        return replace(run, config=_config_variant(run, "configs-norag", routes), rag_error=str(exc))
    return run


def _guarded(names: Sequence[str], plan: Plan, measure: Callable[[], list[Row]]) -> list[Row]:
    try:
        return measure()
    except BenchError as exc:
        return [row for name in names for row in skipped(name, plan, f"not run: {exc}")]


def _one_worker(run: RagwayRun, streams: list[streaming.StreamRow]) -> list[Row]:
    system = peers.ragway("passthrough", workers=1, config=run.config)
    plan = run.plan
    with running(system.command, run.logs) as server:
        rows = measure_endpoint(PASSTHROUGH, system.endpoint, ROUTES[PASSTHROUGH], plan, server.pid)
        streams += streaming.measure_streaming(PASSTHROUGH, system.endpoint, ROUTES[PASSTHROUGH], plan.texts,
                                               plan.concurrencies, plan.duration_s, plan.warmup_s)
        rows += measure_endpoint(VIA_LITELLM, system.endpoint, ROUTES[VIA_LITELLM], plan, server.pid)
        rows += _rag_rows(run, system.endpoint, server.pid)
        return rows + _cache_rows(CACHE_HIT, ROUTES[CACHE_HIT], run, system.endpoint, server.pid)


def _rag_rows(run: RagwayRun, endpoint: peers.Endpoint, pid: int) -> list[Row]:
    """The RAG route on varied inputs, then its cache hits (exact hits skip the embedding and the search)."""
    if run.rag_error:
        return [row for name in NEEDS_INDEXES for row in skipped(name, run.plan, f"not run: {run.rag_error}")]
    note = _retrieval_note(endpoint, run.plan.texts[0])
    rows = [replace(row, note=note) for row in measure_endpoint(RAG, endpoint, ROUTES[RAG], run.plan, pid)]
    return rows + _cache_rows(RAG_CACHE_HIT, ROUTES[RAG_CACHE_HIT], run, endpoint, pid)


def _retrieval_note(endpoint: peers.Endpoint, text: str) -> str:
    """Say so when the RAG route answered without retrieving: its row would then measure a passthrough."""
    retrieved = peers.ragway_meta(endpoint, ROUTES[RAG], text).get("retrieved") or []
    return f"{len(retrieved)} items retrieved per request" if retrieved else "WARNING: nothing retrieved"


def _cache_rows(name: str, route: str, run: RagwayRun, endpoint: peers.Endpoint, pid: int) -> list[Row]:
    """Send each of the few inputs once (misses, which fill the cache), then measure: every request a hit."""
    cache_plan = replace(run.plan, texts=run.plan.texts[:CACHE_TEXTS])
    bodies = write_bodies(run.plan.bodies_dir / f"prime-{route}.jsonl", route, cache_plan.texts)
    for line in bodies.read_bytes().splitlines():
        peers.post_raw(endpoint, line, timeout_s=30)
    return _cache_notes(measure_endpoint(name, endpoint, route, cache_plan, pid))


def _cache_notes(rows: list[Row]) -> list[Row]:
    """A cache row whose requests still reached the stub measured misses, not hits: say so."""
    return [
        replace(row, note=f"WARNING: {row.upstream_calls:,} requests reached the stub (misses)")
        if row.result and row.upstream_calls > row.result.requests // 100
        else row
        for row in rows
    ]


def _two_workers(run: RagwayRun) -> list[Row]:
    """One worker per core: each has its own event loop and its own embedder thread."""
    system = peers.ragway("passthrough", workers=2, config=run.config)
    with running(system.command, run.logs) as server:
        rows = measure_endpoint(TWO_WORKERS, system.endpoint, ROUTES[PASSTHROUGH], run.plan, server.pid)
        if run.rag_error:
            return rows + skipped(RAG_TWO_WORKERS, run.plan, f"not run: {run.rag_error}")
        note = _retrieval_note(system.endpoint, run.plan.texts[0])
        rag = measure_endpoint(RAG_TWO_WORKERS, system.endpoint, ROUTES[RAG], run.plan, server.pid)
        return rows + [replace(row, note=note) for row in rag]


def _redis_hits(run: RagwayRun) -> list[Row]:
    """The cached route again, with the cache in Redis as replicas share it."""
    config = _config_variant(run, "configs-redis", [ROUTES[CACHE_HIT]], cache_url=REDIS_URL)
    system = peers.ragway(ROUTES[CACHE_HIT], workers=1, config=config)
    with running(system.command, run.logs) as server:
        return _cache_rows(REDIS_HIT, ROUTES[CACHE_HIT], run, system.endpoint, server.pid)


def _config_variant(run: RagwayRun, name: str, routes: Sequence[str], cache_url: str | None = None) -> Path:
    """A copy of bench/configs under the run dir with only *routes*, and another cache store if given."""
    root = run.run_dir / name
    shutil.rmtree(root, ignore_errors=True)
    (root / "routes").mkdir(parents=True)
    gateway = yaml.safe_load((peers.RAGWAY_CONFIG / "gateway.yaml").read_text(encoding="utf-8"))
    if cache_url:
        gateway["cache"]["url"] = cache_url
    # relative paths resolve beside the config directory, which moved: pin them to the originals
    gateway["indexes_dir"] = str((run.run_dir / "indexes").resolve())
    gateway["log"]["url"] = f"sqlite:///{(run.run_dir / 'ragway-logs.db').resolve()}"
    (root / "gateway.yaml").write_text(yaml.safe_dump(gateway, sort_keys=False), encoding="utf-8")
    for route in routes:
        shutil.copy(peers.RAGWAY_CONFIG / "routes" / f"{route}.yaml", root / "routes" / f"{route}.yaml")
    return root


def _target(run: RagwayRun, endpoint: peers.Endpoint, route: str) -> Target:
    bodies = write_bodies(run.plan.bodies_dir / f"ragway-{route}.jsonl", route, run.plan.texts)
    return Target(endpoint.url, bodies, endpoint.headers)


def _memory_section(run: RagwayRun) -> float | None:
    """Write the memory section; the RAG route's growth, or None when it was not measured on that route."""
    route = ROUTES[PASSTHROUGH] if run.rag_error else ROUTES[RAG]
    try:
        points = _memory(run, route)
    except BenchError as exc:
        write_section(MEMORY_TITLE, f"Not run: {exc}", run.doc)
        return None
    rows = [[p.requests, round(p.rss_bytes / 2**20, 1), p.errors] for p in points]
    print_table(MEMORY_TITLE, ["requests", "RSS MiB", "errors"], rows)
    text = memory.markdown("ragway, 1 worker", route, points, _checkpoints(run)[-1])
    if run.rag_error:
        text = f"Measured on the passthrough route: the RAG route could not run ({run.rag_error}).\n\n{text}"
    write_section(MEMORY_TITLE, text, run.doc)
    return None if run.rag_error else memory.growth(points)


def _memory(run: RagwayRun, route: str) -> list[memory.Checkpoint]:
    """A fresh server, so the counts are requests since start."""
    system = peers.ragway(route, workers=1, config=run.config)
    with running(system.command, run.logs) as server:
        target = _target(run, system.endpoint, route)
        return memory.rss_checkpoints(server.pid, target, _checkpoints(run), run.memory_budget_s)


def _checkpoints(run: RagwayRun) -> list[int]:
    return [1_000, 10_000] if run.quick_memory else [10_000, 100_000]


def _profile_section(run: RagwayRun) -> dict[str, profile.Frames]:
    """Profile each route on a fresh 1-worker server, write the section, and return the frames by route."""
    intro = (
        f"py-spy {run.profile_s:.0f} s per route while wrk drives it at concurrency 32, `--nonblocking` (the server "
        "is not paused). Flamegraphs: the SVG files linked below. Tables: own time summed by package, the busiest "
        "frames, and ragway's own functions by time on the stack."
    )
    parts, found = [intro], {}
    try:
        system = peers.ragway(ROUTES[PASSTHROUGH], workers=1, config=run.config)
        with running(system.command, run.logs) as server:
            for label, route in _profiled_routes(run):
                svg = run.doc.parent / "profiles" / f"{route}.svg"
                raw = run.run_dir / "profiles" / f"{route}.txt"
                found[label] = profile.record(server.pid, _target(run, system.endpoint, route), svg, raw, run.profile_s)
                parts.append(profile.markdown(f"{label} route", found[label], svg, run.doc.parent))
    except BenchError as exc:
        parts.append(f"Not run: {exc}")
    write_section(PROFILE_TITLE, "\n\n".join(parts), run.doc)
    return found


def _profiled_routes(run: RagwayRun) -> list[tuple[str, str]]:
    routes = [("passthrough", ROUTES[PASSTHROUGH])]
    return routes if run.rag_error else [*routes, ("RAG", ROUTES[RAG])]
