"""`ragway config ...`: validate config files without serving."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail
from gateway.config import load_snapshot
from gateway.errors import ConfigError

config_app = typer.Typer(help="Check the config directory.", no_args_is_help=True)


@config_app.command("check")
def check(config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Validate gateway.yaml and every route file; exit 1 naming file, line and key on the first fault."""
    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    table = Table(title=f"config OK: {snapshot.root}")
    for column in ("route", "task", "policy", "targets", "version"):
        table.add_column(column)
    for name, route in sorted(snapshot.routes.items()):
        targets = ", ".join(sorted(route.config.targets))
        table.add_row(name, route.config.task, route.config.policy.kind, targets, route.version)
    console.print(table)
