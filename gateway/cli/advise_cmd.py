"""`ragway advise`: prompt, RAG or fine-tune? The decision flowchart walked with the route's measurements."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.panel import Panel
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail
from gateway.cli.eval_cmd import RouteName, StoreUrl, deps, load_config, pick_route
from gateway.config.route import TaskType
from gateway.config.route_sections import EvalColumns
from gateway.evaluation.advise import Advice, advise
from gateway.evaluation.costmodel import OptionCost, Projection
from gateway.evaluation.dataset import DatasetError, load_gold
from gateway.evaluation.evidence import LabelledCount, gather
from gateway.evaluation.history import EvalHistory
from gateway.promotion.store import default_store_url, open_engine


def advise_command(
    ctx: typer.Context,
    route: RouteName,
    labelled: Annotated[
        Path | None, typer.Option(help="A labelled file to count (default: the route's example index).")
    ] = None,
    input_col: Annotated[str, typer.Option(help="Input column of --labelled.")] = "text",
    expected_col: Annotated[str, typer.Option(help="Label column of --labelled.")] = "category",
    days: Annotated[float, typer.Option(min=0.01, help="Request-log window for volume and p95, in days.")] = 30.0,
    store: StoreUrl = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Walk the prompt / RAG / fine-tune flowchart for a route with its measured numbers.

    Inputs come from the eval history (run `ragway eval --variants prompt,rag,small,cascade` first),
    the request log and the example index; each is shown as measured or assumed. Prints the
    recommendation with its reasons and the monthly cost of prompting against a self-hosted
    fine-tuned small model at the route's volume, with the crossover volumes.
    """
    snapshot = load_config(config)
    entry = pick_route(snapshot, route)
    count = _count(labelled, entry.config.task, EvalColumns(input=input_col, expected=expected_col))
    history = EvalHistory(open_engine(store or default_store_url(snapshot)))
    traffic = deps(ctx).traffic(snapshot, route, days)
    advice = advise(gather(snapshot, entry, history, traffic, count))
    print_advice(route, advice)


def print_advice(route: str, advice: Advice) -> None:
    console.print(Panel(advice.recommendation, title=f"advice for {route}", border_style="green"))
    steps = Table(title="flowchart")
    for column in ("step", "question", "answer", "because"):
        steps.add_column(column)
    for step in advice.steps:
        steps.add_row(str(step.number), step.question, step.answer, step.reason)
    console.print(steps)
    inputs = Table(title="inputs")
    for column in ("input", "value", "kind", "source"):
        inputs.add_column(column)
    for fact in advice.inputs:
        colour = "green" if fact.measured else "yellow"
        inputs.add_row(fact.name, fact.text, f"[{colour}]{fact.kind}[/]", fact.source)
    console.print(inputs)
    console.print(cost_table(advice.projection))
    console.print(_crossovers(advice.projection))


def cost_table(projection: Projection) -> Table:
    volume = projection.requests_per_month
    table = Table(title=f"cost at {volume:,.0f} requests/month (USD)")
    for column in ("option", "setup", "fixed / month", "per request", "per month", "year one"):
        table.add_column(column, justify="right" if column != "option" else "left")
    for option in (projection.prompting, projection.finetuning):
        table.add_row(*_option_row(option, volume))
    return table


def _option_row(option: OptionCost, volume: float) -> tuple[str, ...]:
    return (
        option.name,
        f"{option.setup:,.0f}",
        f"{option.monthly_fixed:,.0f}",
        f"{option.per_request:,.5f}",
        f"{option.monthly(volume):,.0f}",
        f"{option.year_one(volume):,.0f}",
    )


def _crossovers(projection: Projection) -> str:
    def volume(value: float | None) -> str:
        return "never (fine-tuning is not cheaper per request)" if value is None else f"{value:,.0f} requests/month"

    return (
        f"running-cost crossover: {volume(projection.running_crossover)}\n"
        f"year-one crossover (setup spread over 12 months): {volume(projection.year_one_crossover)}"
    )


def _count(path: Path | None, task: TaskType, columns: EvalColumns) -> LabelledCount | None:
    if path is None:
        return None
    try:
        gold = load_gold(path, task, columns)
    except DatasetError as exc:
        fail(str(exc))
    return LabelledCount(len(gold.examples), f"usable rows in {path}")
