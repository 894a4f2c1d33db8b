"""`ragway eval ...`: measure a route's variants on a gold set, gate its deployment, show the history."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from sqlalchemy import Engine

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, err_console, fail, offline_env
from gateway.cli.eval_output import history_json, results_table, run_json, targets_table, verdict_lines
from gateway.config import load_snapshot
from gateway.config.route_sections import EvalColumns
from gateway.config.snapshot import ConfigSnapshot, Route
from gateway.errors import ConfigError
from gateway.evaluation import report
from gateway.evaluation.evidence import TrafficStats
from gateway.evaluation.gate import decide, evaluate_gate
from gateway.evaluation.history import EvalHistory
from gateway.evaluation.metrics import PRIMARY_METRIC
from gateway.evaluation.pipeline import EvalRun, evaluate
from gateway.evaluation.runner import AnswerFn
from gateway.evaluation.variants import VariantError, build_variant, has_small_model, parse_variants, with_small_model
from gateway.gold import DatasetError, GoldSet, load_gold
from gateway.promotion.promotions import PromotionStore
from gateway.promotion.store import default_store_url, open_engine

AnswerFactory = Callable[[Path], AbstractAsyncContextManager[AnswerFn]]
TrafficFn = Callable[[ConfigSnapshot, str, float], TrafficStats | None]
SHOWN_BAD_ROWS = 20

StoreUrl = Annotated[
    str | None,
    typer.Option("--store", envvar="RAGWAY_EVAL_STORE", help="Eval database URL (default: beside the log store)."),
]
RouteName = Annotated[str, typer.Option("--route", "-r", help="Route name (a file under routes/).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON to stdout instead of tables.")]


def gateway_answer_factory(config_dir: Path) -> AbstractAsyncContextManager[AnswerFn]:
    """The gateway's own request path as an answer function (loads the embedder and starts local models)."""
    from gateway.evaluation.evalpath import gateway_answers  # heavy: only a real eval needs the models

    return gateway_answers(config_dir)


def log_traffic(snapshot: ConfigSnapshot, route: str, days: float) -> TrafficStats | None:
    """The route's volume and p95 over the last *days* of the request log; None when it has no records."""
    from gateway.evaluation.evidence import traffic_stats
    from gateway.usage.store import UsageStore

    store = UsageStore.from_config(snapshot.gateway.log, snapshot.root.parent)
    try:
        if store.version() == 0:  # the gateway never served with this log store
            return None
        records = [logged.record for logged in store.records(since=time.time() - days * 86400, route=route)]
    finally:
        store.close()
    return traffic_stats(records, days) if records else None


@dataclass(frozen=True)
class EvalDeps:
    """What the eval commands reach outside themselves for; tests pass fakes as the Typer context object."""

    answer_factory: AnswerFactory = gateway_answer_factory
    traffic: TrafficFn = log_traffic


def deps(ctx: typer.Context) -> EvalDeps:
    return ctx.obj if isinstance(ctx.obj, EvalDeps) else EvalDeps()


eval_app = typer.Typer()


@eval_app.callback(invoke_without_command=True)
def eval_run(
    ctx: typer.Context,
    route: Annotated[str | None, typer.Option("--route", "-r", help="Route name (a file under routes/).")] = None,
    data: Annotated[Path | None, typer.Option(help="Gold .csv or .jsonl (default: the route's eval.data).")] = None,
    variants: Annotated[str, typer.Option(help="Comma list of route, prompt, rag, small, cascade.")] = "route",
    input_col: Annotated[str | None, typer.Option(help="Column/key holding the input.")] = None,
    expected_col: Annotated[str | None, typer.Option(help="Column/key holding the expected answer.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Evaluate a fixed-seed random sample of this size.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the --limit sample.")] = 0,
    concurrency: Annotated[int, typer.Option(min=1, help="Requests in flight at once.")] = 4,
    small: Annotated[
        Path | None,
        typer.Option(help="Classifier artifact for the small and cascade variants when the route names no small "
                          "model (default: artifacts/ROUTE, where `ragway finetune` writes)."),
    ] = None,
    gate: Annotated[bool, typer.Option("--gate", help="Check the route's eval.gate; exit 1 below it.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With --gate: promote this version even if it fails.")] = False,
    report_path: Annotated[
        Path | None, typer.Option("--report", help="HTML report path (default: reports/ beside the config dir).")
    ] = None,
    oos_label: Annotated[
        str | None,
        typer.Option(help="Gold label meaning out-of-scope (default: oos, out_of_scope, ... when present)."),
    ] = None,
    as_json: JsonFlag = False,
    store: StoreUrl = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Run every gold example through each variant of the route, by the gateway's own code path.

    Prints per variant the task metrics, p50/p95 latency, cost per 1,000 requests and the share
    answered by each target; writes an HTML report and stores the run in the eval history.
    For classification routes it also scores each target on the answers it gave (a cascade's
    local and escalated answers), the small model on the slice a cascade escalated, answers
    outside the label set, and out-of-scope rows when the gold set has an out-of-scope label.
    Every missed example is stored and listed in the report. With --gate, the route as written
    is checked against its eval.gate and the decision recorded; a running gateway serves an
    edited gated route only once its version is promoted (or forced).
    """
    if ctx.invoked_subcommand is not None:
        return
    if route is None:
        fail("--route is required (or use a subcommand: ragway eval history --route R)")
    if force and not gate:
        fail("--force only applies with --gate")
    offline_env()
    snapshot = load_config(config)
    names = _variants(variants, gate)
    entry = _borrow_small(snapshot, pick_route(snapshot, route), names, small)
    _check_variants(entry, names)
    gold = _gold(snapshot, entry, data, EvalColumns(**_columns(entry, input_col, expected_col))).sample(limit, seed)
    _report_bad_rows(gold)
    engine = open_engine(store or default_store_url(snapshot))
    setup = RunSetup(config, snapshot, entry, names, gold, concurrency, oos_label, err_console if as_json else console)
    run = asyncio.run(_run(deps(ctx).answer_factory, setup, engine))
    written = _write_report(snapshot, entry, run, gold, report_path)
    if as_json:
        print(run_json(run, entry.name, str(written)))
    else:
        _print_run(run, entry.name, len(gold.examples), written)
    if gate:
        _gate(entry, run, PromotionStore(engine), force)


@dataclass(frozen=True)
class RunSetup:
    config: Path
    snapshot: ConfigSnapshot
    route: Route
    variants: Sequence[str]
    gold: GoldSet
    concurrency: int
    oos_label: str | None
    progress_console: Console


async def _run(factory: AnswerFactory, setup: RunSetup, engine: Engine) -> EvalRun:
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    history = EvalHistory(engine)
    async with factory(setup.config) as answer:
        with Progress(*columns, console=setup.progress_console) as progress:
            return await evaluate(
                setup.snapshot, setup.route, answer, setup.variants, setup.gold, progress, history,
                setup.concurrency, setup.oos_label,
            )


def _print_run(run: EvalRun, route: str, n: int, written: Path) -> None:
    console.print(results_table(run.results, f"eval {run.run_id}: {route} on {n} examples"))
    by_target = targets_table(run.results)
    if by_target is not None:
        console.print(by_target)
    for line in verdict_lines(run.results):
        console.print(line)
    console.print(f"report: {written}")


def _write_report(snapshot: ConfigSnapshot, route: Route, run: EvalRun, gold: GoldSet, path: Path | None) -> Path:
    metric = PRIMARY_METRIC[route.config.task]
    reported = report.ReportInput(run.run_id, run.provenance, metric, run.results, gold.bad_rows, time.time())
    default = project_dir(snapshot) / "reports" / f"eval-{route.name}-{run.run_id}.html"
    return report.write(reported, path or default)


def project_dir(snapshot: ConfigSnapshot) -> Path:
    """Where relative paths resolve: beside the config directory, like data files and the SQLite log."""
    return snapshot.root.parent


def _gate(route: Route, run: EvalRun, promotions: PromotionStore, force: bool) -> None:
    settings = route.config.eval.gate if route.config.eval else None
    if settings is None:
        fail(f"route '{route.name}' has no eval.gate to check (set it in {route.path})")
    verdict = evaluate_gate(run.result("route"), settings)
    promotion = promotions.record(decide(route.name, route.version, verdict, force))
    if promotion.state == "refused":
        fail(f"gate failed for {route.name} version {route.version}: {verdict.message}")
    word = "[bold yellow]forced[/]" if promotion.state == "forced" else "[bold green]promoted[/]"
    console.print(f"gate: {word} {route.name} version {route.version}: {promotion.reason}")
    console.print("a running gateway serves this version within seconds (it rechecks held routes)")


@eval_app.command("history")
def history(
    route: RouteName,
    variant: Annotated[str | None, typer.Option(help="Only this variant.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="Newest rows to show.")] = 20,
    as_json: JsonFlag = False,
    store: StoreUrl = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Print the route's past evals, newest first, with the versions and dataset each one ran on."""
    snapshot = load_config(config)
    entries = EvalHistory(open_engine(store or default_store_url(snapshot))).entries(route, variant, limit)
    if not entries:
        fail(f"no eval history for route '{route}'")
    if as_json:
        print(history_json(entries))
        return
    table = Table(title=f"eval history: {route}")
    for column in ("time (UTC)", "run", "variant", "route ver", "dataset", "n", "metrics", "indexes", "models"):
        table.add_column(column)
    for e in entries:
        shown = {k: v for k, v in e.metrics.items() if k != "error_rate"}
        table.add_row(
            datetime.fromtimestamp(e.ts, UTC).strftime("%Y-%m-%d %H:%M"),
            e.run_id,
            e.variant,
            e.provenance.route_version,
            e.provenance.dataset_checksum[:12],
            str(e.n_examples),
            " ".join(f"{k}={report.format_metric(k, v)}" for k, v in shown.items()),
            _pairs(e.provenance.index_versions),
            _pairs(e.provenance.model_versions),
        )
    console.print(table)


def _pairs(values: dict[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(values.items()))


def load_config(config: Path) -> ConfigSnapshot:
    try:
        return load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))


def pick_route(snapshot: ConfigSnapshot, name: str) -> Route:
    if name not in snapshot.routes:
        fail(f"no route '{name}' in {snapshot.routes_dir} (routes: {', '.join(sorted(snapshot.routes)) or 'none'})")
    return snapshot.routes[name]


def _variants(spec: str, gate: bool) -> list[str]:
    try:
        names = parse_variants(spec)
    except VariantError as exc:
        fail(str(exc))
    return names if not gate or "route" in names else ["route", *names]


def _borrow_small(snapshot: ConfigSnapshot, route: Route, names: Sequence[str], small: Path | None) -> Route:
    """For the small and cascade variants: the route with its `ragway finetune` classifier as the small model."""
    if not {"small", "cascade"} & set(names) or has_small_model(route.config):
        return route
    folder = small or project_dir(snapshot) / "artifacts" / route.name
    if not folder.exists():
        if small is not None:
            fail(f"--small {small}: no classifier artifact there")
        return route
    return replace(route, config=with_small_model(route.config, str(folder.resolve())))


def _check_variants(route: Route, names: Sequence[str]) -> None:
    for name in names:
        try:
            build_variant(name, route.config)
        except VariantError as exc:
            hint = ""
            if name in ("small", "cascade"):
                hint = f"; train one with `ragway finetune --route {route.name} --data TRAIN.csv` or pass --small"
            fail(f"{exc}{hint}")


def _columns(route: Route, input_col: str | None, expected_col: str | None) -> dict[str, str]:
    base = route.config.eval.columns if route.config.eval else EvalColumns()
    return {"input": input_col or base.input, "expected": expected_col or base.expected}


def _gold(snapshot: ConfigSnapshot, route: Route, data: Path | None, columns: EvalColumns) -> GoldSet:
    if data is None and route.config.eval is None:
        fail(f"route '{route.name}' has no eval.data: pass --data")
    path = data if data is not None else snapshot.resolve(route.config.eval.data)  # type: ignore[union-attr]
    try:
        gold = load_gold(path, route.config.task, columns)
    except DatasetError as exc:
        fail(str(exc))
    if not gold.examples:
        fail(f"{path}: no usable rows")
    return gold


def _report_bad_rows(gold: GoldSet) -> None:
    if not gold.bad_rows:
        return
    err_console.print(f"[yellow]skipped {len(gold.bad_rows)} bad row(s) in {gold.path}:[/]", highlight=False)
    for bad in gold.bad_rows[:SHOWN_BAD_ROWS]:
        err_console.print(f"  line {bad.line}: {bad.reason}", highlight=False)
    if len(gold.bad_rows) > SHOWN_BAD_ROWS:
        err_console.print(f"  ... and {len(gold.bad_rows) - SHOWN_BAD_ROWS} more (all listed in the report)")
