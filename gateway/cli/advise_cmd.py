"""`ragway advise`: prompt, RAG or fine-tune? The decision flowchart walked with the route's measurements."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.panel import Panel
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail
from gateway.cli.eval_cmd import JsonFlag, RouteName, StoreUrl, deps, load_config, pick_route
from gateway.config.route import TaskType
from gateway.config.route_sections import EvalColumns
from gateway.evaluation.advise import Advice, advise
from gateway.evaluation.costmodel import OptionCost, Projection
from gateway.evaluation.evidence import LabelledCount, gather
from gateway.evaluation.history import EvalHistory
from gateway.gold import DatasetError, load_gold
from gateway.promotion.store import default_store_url, open_engine


def advise_command(
    ctx: typer.Context,
    route: RouteName,
    labelled: Annotated[
        Path | None, typer.Option(help="A labelled file to count (default: the route's example index).")
    ] = None,
    input_col: Annotated[
        str | None, typer.Option(help="Input column of --labelled (default: the route's eval.columns.input).")
    ] = None,
    expected_col: Annotated[
        str | None, typer.Option(help="Label column of --labelled (default: the route's eval.columns.expected).")
    ] = None,
    days: Annotated[float, typer.Option(min=0.01, help="Request-log window for volume and p95, in days.")] = 30.0,
    requests_per_month: Annotated[
        float | None,
        typer.Option(min=0, help="Monthly volume to cost the options at when the request log has none."),
    ] = None,
    as_json: JsonFlag = False,
    store: StoreUrl = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Recommend prompt, RAG or fine-tune for a route from its measured options, and say why.

    Every variant in the eval history (run `ragway eval --variants prompt,rag,small,cascade` first)
    is an option with its accuracy, cost per 1,000 requests at the route's volume (from the request
    log, else --requests-per-month) and p95. The recommendation is the most accurate option that
    meets the threshold and the SLOs that are set, the cheapest among equals; the flowchart walked
    with the same numbers says why. Each input shows its value and source (measured, configured,
    litellm's price map, or an assumed default with the key that overrides it).
    """
    snapshot = load_config(config)
    entry = pick_route(snapshot, route)
    base = entry.config.eval.columns if entry.config.eval else EvalColumns()
    columns = EvalColumns(input=input_col or base.input, expected=expected_col or base.expected)
    count = _count(labelled, entry.config.task, columns)
    history = EvalHistory(open_engine(store or default_store_url(snapshot)))
    traffic = deps(ctx).traffic(snapshot, route, days)
    advice = advise(gather(snapshot, entry, history, traffic, count, requests_per_month))
    if as_json:
        print(json.dumps(advice_dict(route, advice), indent=2))
    else:
        print_advice(route, advice)


def advice_dict(route: str, advice: Advice) -> dict[str, Any]:
    """The advice as JSON-ready data: recommendation, options, flowchart, inputs and cost projection."""
    projection = advice.projection
    return {
        "route": route,
        "recommendation": advice.recommendation,
        "chosen": advice.chosen.variant if advice.chosen else None,
        "notes": advice.notes,
        "options": [asdict(option) | {"kind": option.kind} for option in advice.options],
        "flowchart": [asdict(step) for step in advice.steps],
        "inputs": [{"name": f.name, "value": f.value, "kind": f.kind, "source": f.source} for f in advice.inputs],
        "projection": {
            "requests_per_month": projection.requests_per_month,
            "options": [asdict(projection.prompting), asdict(projection.finetuning)],
            "running_crossover": projection.running_crossover,
            "year_one_crossover": projection.year_one_crossover,
        },
    }


def print_advice(route: str, advice: Advice) -> None:
    console.print(Panel.fit(advice.recommendation, title=f"advice for {route}", border_style="green"))
    for note in advice.notes:
        console.print(f"[yellow]note:[/] {note}")
    if advice.options:
        console.print(options_table(advice))
    steps = Table(title="flowchart (why)")
    for column in ("step", "question", "answer", "because"):
        steps.add_column(column)
    for step in advice.steps:
        steps.add_row(str(step.number), step.question, step.answer, step.reason)
    console.print(steps)
    inputs = Table(title="inputs")
    for column in ("input", "value", "kind", "source"):
        inputs.add_column(column)
    for fact in advice.inputs:
        colour = "green" if fact.measured else "cyan" if fact.kind != "assumed" else "yellow"
        inputs.add_row(fact.name, fact.text, f"[{colour}]{fact.kind}[/]", fact.source)
    console.print(inputs)
    console.print(cost_table(advice.projection))
    console.print(_crossovers(advice.projection))
    console.print("(the year-one projection uses the cost model inputs above; every measured option in the table "
                  "already exists, so its setup cost is spent)")


def options_table(advice: Advice) -> Table:
    """Every measured option on accuracy, cost at the volume and p95; the chosen one and the frontier marked."""
    volume = advice.projection.requests_per_month
    table = Table(title=f"measured options (cost per 1k at {volume:,.0f} requests/month)")
    for column in ("option", "kind", "accuracy", "95% interval", "cases", "cost per 1k", "p95 ms", "frontier",
                   "meets", "cost made of"):
        numeric = column in ("accuracy", "cases", "cost per 1k", "p95 ms")
        table.add_column(column, justify="right" if numeric else "left")
    for o in sorted(advice.options, key=lambda o: (-o.score, o.cost_per_1k)):
        mark = "[bold green]chosen[/]" if advice.chosen is o else ("yes" if o.meets else f"no: {o.why_not}")
        table.add_row(o.variant, o.kind, f"{o.score:.1%}", f"{o.low:.1%}-{o.high:.1%}", f"{o.n:,}",
                      f"${o.cost_per_1k:,.4f}", f"{o.p95_ms:,.0f}", "yes" if o.frontier else "", mark, o.cost_note)
    return table


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
