"""`make bench`: ragway against LiteLLM Proxy and Portkey on one zero-latency stub, written to docs/benchmarks.md.

Installs the peers (bench/setup.sh), starts the stub, then each system in turn (only one
at a time, each stopped before the next), drives it with wrk, and writes the sections
"Machine and versions", "Overhead and throughput", "Memory", "Profiles" and "Targets".
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench import bench_ann, cold_start, peers, streaming, targets
from bench.bodies import user_texts
from bench.overhead import (
    HEADERS,
    LITELLM_2W_ROW,
    LITELLM_ROW,
    PORTKEY_ROW,
    STUB_ROW,
    Plan,
    Row,
    measure_endpoint,
    skipped,
    table_rows,
)
from bench.overhead import markdown as overhead_markdown
from bench.procs import BenchError, port_in_use, running
from bench.ragway_rows import RagwayRun, ragway_rows
from bench.report import MACHINE_TITLE, machine_markdown, print_table, write_section
from bench.versions import versions

OVERHEAD_TITLE = "Overhead and throughput"
METHOD_TITLE = "How the systems run"
METHOD = """\
- Everything runs on this one machine over 127.0.0.1: wrk, the stub upstream and the system under test share
  its cores, so the stub's own row is the ceiling any gateway can reach here. Only one system runs at a time.
- Stub upstream: `python -m bench.stub_upstream` (a benchmark fixture: raw asyncio on uvloop, a fixed
  chat.completion, or the same answer as an SSE stream, no work per request).
- Inputs: every distinct banking77 question (test set, then training set, about 13,000), cycled from a
  different offset per wrk thread, so a 10 s row sends each text about once and no layer can memoise one.
- Peer versions are pinned in bench/setup.sh (LiteLLM) and bench/package.json (Portkey) and printed under
  "Machine and versions" as installed.
- LiteLLM Proxy: its own venv (`bench/.venv-litellm`), `bench/litellm.yaml` with the settings of LiteLLM's own
  documented benchmark (docs.litellm.ai/docs/benchmarks: the `openai/` provider, `callbacks: []`,
  `num_retries: 0`, `request_timeout: 30`, a master key, no database), `LITELLM_LOG=ERROR`, telemetry off,
  `LITELLM_LOCAL_MODEL_COST_MAP=True` so it never fetches the price map. Rows with `--num_workers 1` and
  `--num_workers 2` (that benchmark's advice: workers = cores).
- Portkey: `npm install @portkey-ai/gateway` into bench/node_modules, `node build/start-server.js --port=8787
  --headless` (the script reads only the `--port=N` form) with `NODE_ENV=production`; requests carry
  `x-portkey-provider: openai` and `x-portkey-custom-host: http://127.0.0.1:9100/v1`. One process only: the
  server script has no worker or cluster option, so Portkey has no 2-worker row.
- ragway, as deployed: `python -m gateway.cli serve --config bench/configs` (one uvicorn worker unless the row
  says 2), auth closed (every request carries a client key, `Authorization: Bearer ...`), the request log on
  (SQLite). Routes: `passthrough` (no retrieval, no cache, the direct OpenAI-compatible client),
  `passthrough-litellm` (the same call through litellm's client, `provider: litellm`), `rag` (4 banking77
  examples and 2 document chunks, cache off), `cached` (the in-process exact cache; the row repeats 20 inputs
  so every measured request is a hit), and the same `cached` route with the cache in Redis. The embedder's
  vector LRU is off (`embedder.cache_size: 0`), so every RAG request pays for its own forward pass.
- Streaming rows (`"stream": true`) are driven by an aiohttp client rather than wrk, to read the time to the
  first byte as well as to the end of the stream.
- Before measuring, each system must answer one chat request with the stub's text, or its rows say why not.
"""


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per row (default 10)")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of discarded warm-up per row (default 3)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32], help="default: 1 32")
    parser.add_argument("--quick-memory", action="store_true", help="memory at 1,000 and 10,000 requests, not 100,000")
    parser.add_argument(
        "--memory-budget", type=float, default=1200.0, help="seconds the memory run may take at most (default 1200)"
    )
    parser.add_argument("--profile-seconds", type=float, default=10.0, help="py-spy window per route (0: no profile)")
    parser.add_argument("--skip-setup", action="store_true", help="do not run bench/setup.sh (peers installed)")
    parser.add_argument("--ann-rows", type=int, default=1_000_000, help="rows of the large index (0: skip it)")
    parser.add_argument("--ann-add", type=int, default=10_000, help="rows `index add` appends while serving")
    parser.add_argument("--skip-cold-start", action="store_true", help="do not time a cold `make run`")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # SIGTERM (timeout, kill) unwinds like Ctrl-C, so every server this run started is stopped
    signal.signal(signal.SIGTERM, _exit_on_signal)
    if not args.skip_setup:
        subprocess.run(["bash", str(peers.BENCH_DIR / "setup.sh")], check=True, timeout=1800)
    _refuse_busy_ports()
    run_dir = peers.BENCH_DIR / ".run"
    plan = Plan(user_texts(), args.concurrency, args.duration, args.warmup, run_dir / "bodies")
    load_before = os.getloadavg()
    write_section(MACHINE_TITLE, _machine(argv, load_before), args.doc)
    write_section(METHOD_TITLE, METHOD, args.doc)
    rows: list[Row] = []
    streams: list[streaming.StreamRow] = []
    with running(peers.stub().command, run_dir / "logs"):
        rows += _measure_system(STUB_ROW, None, plan, rows, args.doc, streams)
        rows += _measure_system(LITELLM_ROW, peers.litellm(1), plan, rows, args.doc, streams)
        rows += _measure_system(LITELLM_2W_ROW, peers.litellm(2), plan, rows, args.doc, streams)
        rows += _measure_system(PORTKEY_ROW, peers.portkey(), plan, rows, args.doc, streams)
        run = RagwayRun(plan, run_dir, args.doc, args.quick_memory, args.profile_seconds, args.memory_budget)
        ragway = ragway_rows(run, lambda new: _publish([*rows, *new], plan, args.doc),
                             lambda new: _publish_streams([*streams, *new], args.doc))
    rows += ragway.rows
    _publish(rows, plan, args.doc)
    extra = _index_and_cold_start(args)
    closing = targets.markdown(rows, ragway.memory_growth, ragway.profiles, load_before, extra)
    write_section(targets.TITLE, closing, args.doc)
    write_section(MACHINE_TITLE, _machine(argv, load_before, os.getloadavg()), args.doc)
    print(f"wrote {args.doc}")
    return 0


def _index_and_cold_start(args: argparse.Namespace) -> list[list[object]]:
    """The million-row index and a cold `make run`, each in its own section; their rows of the closing table."""
    ann = bench_ann.run_section(args.ann_rows, args.ann_add, args.doc) if args.ann_rows > 0 else None
    cold = None if args.skip_cold_start else cold_start.run_cold_start(args.doc)
    size = f"{args.ann_rows:,}-row" if args.ann_rows > 0 else "million-row (skipped: --ann-rows 0)"
    index_text = f"{size} index: single-query search p99 at recall@10 >= 0.95"
    index_row = targets.bound_verdict(index_text, ann.p99_ms if ann else None, 2.0, "ms")
    if ann and ann.recall < 0.95:
        index_row[3] = f"missed: recall@10 {ann.recall:.4f}"
    return [
        index_row,
        targets.bound_verdict("cold `make run` until ready", cold.total_s if cold else None, cold_start.TARGET_S, "s"),
    ]


def _measure_system(name: str, system: peers.System | None, plan: Plan, done: list[Row], doc: Path,
                    streams: list[streaming.StreamRow]) -> list[Row]:
    """Start *system* (None: the stub itself, already running), measure it plain and streamed, stop it,
    publish the tables so far (streamed rows are appended to *streams*)."""
    try:
        if system is None:
            rows = _measure_both(name, peers.stub(), plan, streams)
        else:
            with running(system.command, peers.BENCH_DIR / ".run" / "logs") as server:
                rows = _measure_both(name, system, plan, streams, server.pid)
    except BenchError as exc:
        print(f"{name}: not measured: {exc}", file=sys.stderr)
        rows = skipped(name, plan, f"not run: {exc}")
    _publish([*done, *rows], plan, doc)
    _publish_streams(streams, doc)
    return rows


def _measure_both(name: str, system: peers.System, plan: Plan, streams: list[streaming.StreamRow],
                  pid: int | None = None) -> list[Row]:
    rows = measure_endpoint(name, system.endpoint, system.model, plan, pid)
    streams += streaming.measure_streaming(name, system.endpoint, system.model, plan.texts, plan.concurrencies,
                                           plan.duration_s, plan.warmup_s)
    return rows


def _publish_streams(rows: Sequence[streaming.StreamRow], doc: Path) -> None:
    write_section(streaming.TITLE, streaming.markdown(rows), doc)
    print_table(streaming.TITLE, streaming.HEADERS, [row.cells() for row in rows])


def _publish(rows: Sequence[Row], plan: Plan, doc: Path) -> None:
    write_section(OVERHEAD_TITLE, overhead_markdown(rows, plan), doc)
    print_table(OVERHEAD_TITLE, HEADERS, table_rows(rows))


def _machine(argv: Sequence[str] | None, load_before: tuple[float, ...], load_after: tuple[float, ...] = ()) -> str:
    args = " ".join(argv if argv is not None else sys.argv[1:])
    commands = ["make bench", f"# = python -m bench {args}".rstrip(), "# peers: bash bench/setup.sh"]
    found = versions()
    found["load average (1/5/15 min) at start"] = " / ".join(f"{x:.2f}" for x in load_before)
    if load_after:
        found["load average at end"] = " / ".join(f"{x:.2f}" for x in load_after)
    found["run at"] = time.strftime("%Y-%m-%d %H:%M %Z")
    return machine_markdown(found, commands)


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


def _refuse_busy_ports() -> None:
    ports = [peers.STUB_PORT, peers.LITELLM_PORT, peers.PORTKEY_PORT, peers.RAGWAY_PORT]
    busy = [port for port in ports if port_in_use(port)]
    if busy:
        raise SystemExit(f"ports already in use on 127.0.0.1: {busy}; stop what listens there and rerun")


if __name__ == "__main__":
    raise SystemExit(main())
