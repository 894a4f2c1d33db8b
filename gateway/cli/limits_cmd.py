"""`ragway limits`: every budget and rate limit in gateway.yaml with what has been used of it."""

from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail
from gateway.cli.logs import StoreUrl, budget_table, guarded, open_store
from gateway.config.snapshot import load_gateway
from gateway.errors import ConfigError
from gateway.usage.budgets import budget_usage


def limits_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
    config: ConfigDir = DEFAULT_CONFIG,
    url: StoreUrl = None,
) -> None:
    """List each key's and route's budgets and rate limits with their current usage.

    Spend is read from the request log (settled costs, today and this month in UTC); requests and
    tokens are those of the last 60 seconds. Limits are set under `limits:` in gateway.yaml.
    """
    try:
        limits = load_gateway(config.resolve()).limits
    except ConfigError as exc:
        fail(str(exc).splitlines()[0])
    if not limits.enabled:
        fail("no budgets or rate limits are configured: add a `limits:` section to gateway.yaml")
    with open_store(config, url) as store:
        rows = guarded(store, lambda: budget_usage(store, limits, time.time()))
    if as_json:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=2))
        return
    console.print(budget_table(rows))
