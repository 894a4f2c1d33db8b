"""`ragway config ...`: validate config files, and what they name, without serving; show which route versions serve."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, err_console, fail, offline_env
from gateway.cli.eval_cmd import StoreUrl, load_config
from gateway.config import load_snapshot
from gateway.config.snapshot import ConfigSnapshot
from gateway.errors import ConfigError
from gateway.promotion.promotions import Promotion, PromotionStore
from gateway.promotion.store import default_store_url, open_engine

config_app = typer.Typer(help="Check the config directory.", no_args_is_help=True)


def route_outages(snapshot: ConfigSnapshot) -> dict[str, str]:
    """Route name -> why it cannot serve: what `serve` checks (its indexes and classifier artifacts load)."""
    import faiss  # heavy: only a full check loads the embedder and the indexes

    from gateway.pipeline.resources import prepare_resources
    from retrieval.embedder import open_embedder
    from retrieval.registry import IndexRegistry

    settings = snapshot.gateway.embedder
    embedder = open_embedder(settings.model, **settings.load_options(settings.threads))
    faiss.omp_set_num_threads(1)
    registry = IndexRegistry(snapshot.indexes_dir, embedder.model_id, embedder.dim)
    return prepare_resources(snapshot, registry).unavailable


@config_app.command("check")
def check(
    files_only: Annotated[
        bool, typer.Option("--files-only", help="Only validate the files; skip loading indexes and artifacts.")
    ] = False,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Validate gateway.yaml and every route file, then load what each route names, as `serve` does.

    Exits 1 naming file, line and key on the first invalid file, or listing each route whose
    index or classifier artifact is missing or does not load (`serve` would answer it with 503).
    """
    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    offline_env()
    outages = {} if files_only else route_outages(snapshot)
    title = f"config {'has unavailable routes' if outages else 'OK'}: {snapshot.root}"
    table = Table(title=title)
    for column in ("route", "task", "policy", "targets", "version", "status"):
        table.add_column(column)
    for name, route in sorted(snapshot.routes.items()):
        targets = ", ".join(sorted(route.config.targets))
        status = "[red]unavailable[/]" if name in outages else ("files ok" if files_only else "[green]ready[/]")
        table.add_row(name, route.config.task, route.config.policy.kind, targets, route.version, status)
    console.print(table)
    for name, reason in sorted(outages.items()):
        err_console.print(f"[bold red]error:[/] route '{name}' unavailable: {reason}", highlight=False, soft_wrap=True)
    if outages:
        raise typer.Exit(1)


@config_app.command("status")
def config_status(store: StoreUrl = None, config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Show which version of each gated route is promoted, refused or forced, and why."""
    snapshot = load_config(config)
    statuses = PromotionStore(open_engine(store or default_store_url(snapshot))).status()
    if not statuses:
        console.print("no gate decisions recorded yet")
        return
    table = Table(title="route versions")
    for column in ("route", "file version", "last promoted", "latest decision", "reason", "when (UTC)"):
        table.add_column(column)
    for status in statuses:
        file_route = snapshot.routes.get(status.route)
        serving = status.serving.version if status.serving else "-"
        table.add_row(
            status.route,
            file_route.version if file_route else "(no file)",
            serving,
            _decision(status.latest),
            status.latest.reason,
            datetime.fromtimestamp(status.latest.ts, UTC).strftime("%Y-%m-%d %H:%M"),
        )
    console.print(table)


def _decision(promotion: Promotion) -> str:
    colour = {"promoted": "green", "forced": "yellow", "refused": "red", "pending": "blue"}[promotion.state]
    return f"[{colour}]{promotion.state}[/] {promotion.version}"
