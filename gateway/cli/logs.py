"""`ragway logs ...`: summarise, follow, export and prune the request log."""

from __future__ import annotations

import contextlib
import json
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated, TextIO, TypeVar

import typer
from rich import box
from rich.measure import Measurement
from rich.progress import Progress
from rich.table import Table
from sqlalchemy.exc import SQLAlchemyError

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail
from gateway.config.limits import LimitsConfig
from gateway.config.snapshot import load_gateway
from gateway.errors import ConfigError
from gateway.usage.budgets import BudgetRow, budget_usage
from gateway.usage.duration import epoch_since, parse_duration, parse_since
from gateway.usage.export import FORMATS, ExportFormat, write_records
from gateway.usage.store import LoggedRecord, UsageStore
from gateway.usage.summary import SummaryRow, parse_group_keys, summarize

logs_app = typer.Typer(help="Summarise, follow, export and prune the request log.", no_args_is_help=True)

StoreUrl = Annotated[
    str | None, typer.Option("--url", help="Log store URL (default: log.url in gateway.yaml), e.g. postgresql://...")
]
Since = Annotated[str, typer.Option("--since", help="Window start: a duration back from now (24h, 7d) or ISO time.")]
RouteFilter = Annotated[str | None, typer.Option("--route", help="Only this route.")]
T = TypeVar("T")


@logs_app.command("summary")
def summary(
    since: Since = "24h",
    by: Annotated[str, typer.Option("--by", help="Group by any of route,target,model,cache,status.")] = "route,target",
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigDir = DEFAULT_CONFIG,
    url: StoreUrl = None,
) -> None:
    """Requests, error rate, cache hit rate, p50/p95/p99 latency, tokens, cost and savings per group.

    Savings compare the cost with sending the same traffic to each route's large model.
    """
    window = _parsed(parse_since, since)
    keys = _parsed(parse_group_keys, by)
    with open_store(config, url) as store:
        rows = guarded(store, lambda: summarize(store, window, keys))
        budgets = guarded(store, lambda: budget_usage(store, _limits(config, url), time.time()))
    if as_json:
        payload = [row.as_dict() for row in rows]
        typer.echo(json.dumps({"groups": payload, "budgets": [b.as_dict() for b in budgets]} if budgets
                              else payload, indent=2))
        return
    table = _summary_table(rows, keys, since)
    # A wide summary overflows a narrow terminal (which wraps it) rather than losing columns.
    width = max(console.width, Measurement.get(console, console.options, table).maximum)
    console.print(table, width=width, crop=False)
    if budgets:
        console.print(budget_table(budgets, "spend against budgets"))


@logs_app.command("tail")
def tail(
    lines: Annotated[int, typer.Option("--lines", "-n", min=0, help="Latest records shown first.")] = 10,
    once: Annotated[bool, typer.Option("--once", help="Show the latest records and exit.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Exit after this many new records.")] = None,
    interval: Annotated[float, typer.Option("--interval", min=0.05, help="Seconds between polls.")] = 1.0,
    route: RouteFilter = None,
    config: ConfigDir = DEFAULT_CONFIG,
    url: StoreUrl = None,
) -> None:
    """Show the latest records, then follow new ones as any gateway writes them (Ctrl-C stops)."""
    with open_store(config, url) as store:
        latest = guarded(store, lambda: store.records(route=route, limit=lines, newest_first=True)) if lines else []
        last_id = _print_records(reversed(latest), 0)
        if not latest:
            last_id = guarded(store, lambda: _newest_id(store, route))
        if once:
            return
        with contextlib.suppress(KeyboardInterrupt):
            _follow(store, route, last_id, interval, limit)


@logs_app.command("export")
def export(
    since: Since = "7d",
    fmt: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl.")] = "jsonl",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    route: RouteFilter = None,
    config: ConfigDir = DEFAULT_CONFIG,
    url: StoreUrl = None,
) -> None:
    """Write every record in the window, one row per request, as CSV or JSON Lines."""
    if fmt not in FORMATS:
        fail(f"bad format {fmt!r}: use csv or jsonl")
    chosen: ExportFormat = fmt
    start = epoch_since(_parsed(parse_since, since), time.time())
    with open_store(config, url) as store:
        if output is None:
            guarded(store, lambda: write_records(store.iter_records(since=start, route=route), sys.stdout, chosen))
            return
        with output.open("w", encoding="utf-8", newline="") as out:
            written = guarded(store, lambda: _export_with_progress(store, start, route, out, chosen))
    console.print(f"wrote {written} records to {output}")


@logs_app.command("prune")
def prune(
    older_than: Annotated[str, typer.Option("--older-than", help="Age to keep, e.g. 30d.")],
    config: ConfigDir = DEFAULT_CONFIG,
    url: StoreUrl = None,
) -> None:
    """Delete records older than the given age and print how many went."""
    cutoff = time.time() - _parsed(parse_duration, older_than).total_seconds()
    with open_store(config, url) as store:
        deleted = guarded(store, lambda: store.prune(cutoff))
    console.print(f"deleted {deleted} records older than {older_than}")


@contextlib.contextmanager
def open_store(config: Path, url: str | None) -> Iterator[UsageStore]:
    """The store named by --url, else by gateway.yaml's log.url (relative SQLite paths beside CONFIG)."""
    try:
        if url:
            store = UsageStore(url)
        else:
            root = Path(config).resolve()
            store = UsageStore.from_config(load_gateway(root).log, root.parent)
    except (ConfigError, ValueError, ImportError) as exc:
        fail(str(exc).splitlines()[0])
    try:
        guarded(store, store.migrate)
        yield store
    finally:
        store.close()


def _limits(config: Path, url: str | None) -> LimitsConfig:
    """gateway.yaml's limits, or none when the store was named by --url without a readable config."""
    try:
        return load_gateway(Path(config).resolve()).limits
    except (ConfigError, OSError):
        if url:
            return LimitsConfig()
        raise


def guarded(store: UsageStore, call: Callable[[], T]) -> T:
    try:
        return call()
    except SQLAlchemyError as exc:
        detail = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        fail(f"log store {store.dialect}: {detail[0] if detail else type(exc).__name__}")


def _parsed(parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except ValueError as exc:
        fail(str(exc))


def _summary_table(rows: list[SummaryRow], keys: list[str], since: str) -> Table:
    cells = [
        [
            *(str(row.group[key]) for key in keys),
            str(row.requests), f"{row.error_rate:.1%}", f"{row.cache_hit_rate:.1%}",
            f"{row.p50_ms:.1f}", f"{row.p95_ms:.1f}", f"{row.p99_ms:.1f}",
            str(row.tokens_in), str(row.tokens_out),
            f"{row.cost_usd:.6f}", f"{row.large_cost_usd:.6f}", f"{row.savings_usd:.6f}",
        ]
        for row in rows
    ]
    headers = [*keys, "requests", "errors", "cache hit", "p50 ms", "p95 ms", "p99 ms", "tokens in", "tokens out",
               "cost $", "large $", "saved $"]
    table = Table(title=f"requests since {since}", box=box.SIMPLE_HEAD,
                  caption=None if rows else "no requests in this window")
    for i, header in enumerate(headers):
        # Never squeeze a figure into an ellipsis: a narrow terminal wraps the line instead.
        width = max([len(header), *(len(cell[i]) for cell in cells)])
        table.add_column(header, justify="left" if i < len(keys) else "right", min_width=width, no_wrap=True)
    for cell in cells:
        table.add_row(*cell)
    return table


def _follow(store: UsageStore, route: str | None, last_id: int, interval: float, limit: int | None) -> None:
    shown = 0
    while limit is None or shown < limit:
        time.sleep(interval)
        remaining = None if limit is None else limit - shown
        fresh = guarded(store, partial(store.records, route=route, after_id=last_id, limit=remaining))
        shown += len(fresh)
        last_id = _print_records(fresh, last_id)


def _newest_id(store: UsageStore, route: str | None) -> int:
    newest = store.records(route=route, limit=1, newest_first=True)
    return newest[0].id if newest else 0


def _print_records(records: Iterator[LoggedRecord] | list[LoggedRecord], last_id: int) -> int:
    for logged in records:
        rec = logged.record
        when = datetime.fromtimestamp(rec.ts, UTC).isoformat(timespec="milliseconds")
        console.print(
            f"{when} {rec.request_id} route={rec.route} target={rec.target} model={rec.model} "
            f"cache={rec.cache} status={rec.status} total_ms={rec.latency.total_ms:.1f} "
            f"tokens={rec.tokens_in}/{rec.tokens_out} cost=${rec.cost_usd:.6f} reason={rec.reason!r}",
            highlight=False, markup=False, soft_wrap=True,
        )
        last_id = logged.id
    return last_id


def _export_with_progress(
    store: UsageStore, start: float, route: str | None, out: TextIO, fmt: ExportFormat
) -> int:
    total = store.count(since=start, route=route)
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("exporting", total=total)
        records = store.iter_records(since=start, route=route)
        return write_records(records, out, fmt, on_row=lambda: progress.advance(task))


def budget_table(rows: list[BudgetRow], title: str = "budgets and rate limits") -> Table:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for header in ("scope", "limit", "window", "allowed", "used", "remaining", "used %"):
        table.add_column(header, justify="left" if header in ("scope", "limit", "window") else "right",
                         no_wrap=True)
    for row in rows:
        money = row.limit.startswith("usd")
        figure = (lambda v: f"${v:.4f}") if money else (lambda v: f"{v:,.0f}")
        table.add_row(row.scope, row.limit, row.window, figure(row.allowed), figure(row.used),
                      figure(row.remaining), f"{row.share:.0%}", style="bold red" if row.share >= 1 else None)
    return table
