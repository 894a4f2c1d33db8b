"""`ragway finetune`: train a route's small model here, or export its examples to fine-tune elsewhere."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail, offline_env
from gateway.cli.distill import read_from_logs
from gateway.config import Route, load_snapshot
from gateway.errors import ConfigError
from gateway.smallmodel import Embedder
from gateway.smallmodel.dataset import DatasetError, LabelledData, read_labelled_csv
from gateway.smallmodel.export import chat_records, write_jsonl

if TYPE_CHECKING:
    from gateway.smallmodel.train import TrainedHead


class Export(StrEnum):
    openai = "openai"
    hf = "hf"


def finetune(
    route: Annotated[str, typer.Option("--route", "-r", help="Route name (a file under CONFIG/routes).")],
    data: Annotated[Path | None, typer.Option(help="Labelled CSV file of examples.")] = None,
    input_col: Annotated[str, typer.Option(help="Column holding the input text.")] = "text",
    output_col: Annotated[
        str | None, typer.Option(help="Column holding the label (default: label, category, output or intent).")
    ] = None,
    target_accuracy: Annotated[
        float, typer.Option(help="Accuracy the answers kept local must reach on the calibration split.")
    ] = 0.99,
    calibration_fraction: Annotated[float, typer.Option(help="Share of rows held out for calibration.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of the calibration split.")] = 0,
    artifacts_dir: Annotated[Path, typer.Option(help="Where versioned artifacts are written.")] = Path("artifacts"),
    export: Annotated[
        Export | None, typer.Option(help="Write chat-format JSONL for fine-tuning elsewhere instead of training.")
    ] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", help="The JSONL file --export writes.")] = None,
    from_logs: Annotated[
        bool, typer.Option("--from-logs", help="Train on the route's logged large-model answers (log_text: true).")
    ] = False,
    since: Annotated[
        str, typer.Option(help="With --from-logs: how far back to read (30d, 12h or an ISO time).")
    ] = "30d",
    min_examples: Annotated[
        int, typer.Option(min=2, help="With --from-logs: refuse with fewer usable logged answers.")
    ] = 50,
    log_url: Annotated[
        str | None, typer.Option(help="With --from-logs: the log store URL (default: log.url in gateway.yaml).")
    ] = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Train ROUTE's classifier head on its embeddings and calibrate its confidence threshold.

    Holds out a calibration split, picks the lowest confidence threshold at which the answers
    kept local reach --target-accuracy, prints the coverage that costs, and writes a new
    version under ARTIFACTS_DIR/ROUTE/ (with a `latest` pointer). With --export, writes the
    labelled examples as chat-format JSONL instead (openai: messages; hf: prompt/completion).

    With --from-logs instead of --data, the examples are the route's logged answers from its large
    target (routes with `log_text: true`): errors, cache hits, other targets and labels outside the
    route's label set are skipped and counted.
    """
    offline_env()
    found = _route(config, route)
    if from_logs:
        examples = read_from_logs(found, config, log_url, since, min_examples)
        source = f"logs:{route} since {since}"
    elif data is None:
        fail("--data is required: a labelled CSV file (columns --input-col and --output-col), or use --from-logs")
    else:
        examples, source = _read(data, input_col, output_col), f"csv:{data.name}"
    if export is not None:
        _export(found, examples, export, output)
        return
    _check_training(found, examples, target_accuracy, calibration_fraction)
    embedder = load_embedder(_embedder_model(config))
    trained = _train(examples, embedder, target_accuracy, calibration_fraction, seed)
    folder = trained.save(artifacts_dir, route, data_source=source)
    _print_result(trained, folder)


def load_embedder(model: str) -> Embedder:
    """The gateway's embedder, as gateway.yaml names it."""
    from retrieval.embedder import SentenceEmbedder

    return SentenceEmbedder(model=model)


def _route(config: Path, name: str) -> Route:
    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    if name not in snapshot.routes:
        fail(f"route '{name}' not found in {snapshot.routes_dir} (routes: {', '.join(sorted(snapshot.routes))})")
    return snapshot.routes[name]


def _embedder_model(config: Path) -> str:
    return load_snapshot(Path(config)).gateway.embedder.model


def _read(data: Path, input_col: str, output_col: str | None) -> LabelledData:
    try:
        examples = read_labelled_csv(data, input_col, output_col)
    except DatasetError as exc:
        fail(str(exc))
    if examples.skipped:
        console.print(f"skipped {examples.skipped} rows without both {examples.input_col} and {examples.output_col}")
    return examples


def _export(route: Route, examples: LabelledData, style: Export, output: Path | None) -> None:
    if output is None:
        fail("--export needs --output/-o: the JSONL file to write")
    try:
        records = chat_records(route.config.system_prompt, examples.texts, examples.labels, style.value)
        count = write_jsonl(output, records)
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror}")
    console.print(f"wrote {count} {style.value} chat records for route '{route.name}' to {output}")


def _check_training(route: Route, examples: LabelledData, target_accuracy: float, fraction: float) -> None:
    if route.config.task != "classification":
        fail(f"route '{route.name}' is a {route.config.task} route: a classifier head needs a classification "
             "route (use --export to fine-tune a model elsewhere)")
    if not 0.5 <= target_accuracy <= 1:
        fail(f"--target-accuracy must be between 0.5 and 1, got {target_accuracy}")
    if not 0.05 <= fraction <= 0.5:
        fail(f"--calibration-fraction must be between 0.05 and 0.5, got {fraction}")
    unknown = sorted(set(examples.labels) - set(route.config.labels)) if route.config.labels else []
    if unknown:
        fail(f"labels not in route '{route.name}' labels: {', '.join(unknown[:5])}"
             + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    if len(set(examples.labels)) < 2 or len(examples.labels) < 10:
        fail(f"need at least 10 rows and 2 labels to train, got {len(examples.labels)} rows, "
             f"{len(set(examples.labels))} labels")


def _train(
    examples: LabelledData, embedder: Embedder, target_accuracy: float, fraction: float, seed: int
) -> TrainedHead:
    from gateway.smallmodel.train import train  # scikit-learn loads only when training

    columns = (TextColumn("{task.description:<12}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        return train(
            examples.texts,
            examples.labels,
            embedder,
            calibration_fraction=fraction,
            target_accuracy=target_accuracy,
            seed=seed,
            progress=report,
        )


def _print_result(trained: TrainedHead, folder: Path) -> None:
    cal = trained.calibration
    table = Table(title=f"calibration split: {trained.n_calibration} rows held out, {trained.n_train} trained on")
    for column in ("min confidence", "coverage (kept local)", "accuracy of kept"):
        table.add_column(column, justify="right")
    for row in cal.table:
        table.add_row(f"{row.threshold:.2f}", f"{row.coverage:.1%}", f"{row.accuracy:.1%}")
    console.print(table)
    console.print(f"calibration accuracy: {cal.accuracy:.1%} (temperature {cal.temperature:.2f})")
    if cal.reached:
        console.print(
            f"threshold {cal.threshold:.3f}: keeps {cal.coverage:.1%} of queries local at {cal.threshold_accuracy:.1%} "
            f"(target {cal.target_accuracy:.1%}); the other {1 - cal.coverage:.1%} escalate to the large model"
        )
    else:
        console.print(f"[yellow]no threshold reaches {cal.target_accuracy:.1%}: every query escalates[/]")
    console.print(f"wrote {folder} (serve it as a target: `classifier: {folder.parent}`)")
