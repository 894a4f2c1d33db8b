"""`ragway finetune`: train a route's small model here, or export its examples to fine-tune elsewhere."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail, offline_env
from gateway.cli.distill import read_from_logs
from gateway.cli.finetune_report import print_result
from gateway.config import ConfigSnapshot, Route, load_snapshot
from gateway.config.gateway_sections import EmbedderConfig
from gateway.errors import ConfigError
from gateway.smallmodel import Embedder
from gateway.smallmodel.dataset import DatasetError, LabelledData, read_labelled_csv, read_texts_csv
from gateway.smallmodel.export import chat_records, write_jsonl


class Export(StrEnum):
    openai = "openai"
    hf = "hf"


class Method(StrEnum):
    head = "head"
    encoder = "encoder"


def finetune(
    route: Annotated[str, typer.Option("--route", "-r", help="Route name (a file under CONFIG/routes).")],
    data: Annotated[Path | None, typer.Option(help="Labelled CSV file of examples.")] = None,
    input_col: Annotated[str, typer.Option(help="Column holding the input text.")] = "text",
    output_col: Annotated[
        str | None, typer.Option(help="Column holding the label (default: label, category, output or intent).")
    ] = None,
    target_accuracy: Annotated[
        float, typer.Option(help="Accuracy the answers kept local must reach (its 95% lower bound, out of fold).")
    ] = 0.99,
    folds: Annotated[int, typer.Option(min=2, max=20, help="Cross-fitting folds for calibration.")] = 5,
    seed: Annotated[int, typer.Option(help="Seed of the folds (and of encoder tuning).")] = 0,
    method: Annotated[
        Method, typer.Option(help="head: a classifier on the gateway's embeddings; encoder: tune the embedder too.")
    ] = Method.head,
    epochs: Annotated[int, typer.Option(min=1, help="With --method encoder: passes over the rows.")] = 3,
    max_minutes: Annotated[
        float, typer.Option(help="With --method encoder: stop tuning after this long (the head is still fitted).")
    ] = 15.0,
    oos: Annotated[
        Path | None, typer.Option(help="CSV of known out-of-scope queries (column --input-col) to sharpen the "
                                       "out-of-scope bar.")
    ] = None,
    artifacts_dir: Annotated[
        Path | None, typer.Option(help="Where versioned artifacts are written (default: artifacts/ beside CONFIG).")
    ] = None,
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
    """Train ROUTE's small model on its labelled rows and calibrate its confidence threshold out of sample.

    Cross-fits: each row is scored by a head trained without its fold, the threshold is the lowest
    confidence at which the 95% lower confidence bound (Wilson) of the kept answers' accuracy reaches
    --target-accuracy, and the served head is then fitted on all rows. The head keeps the rows'
    vectors: the 10 nearest rows' vote is mixed into its probabilities (out of fold while calibrating).
    Rows the route's example index already holds are not embedded again. An out-of-scope bar
    (similarity to the nearest training row) is calibrated too; --oos sharpens it; serve it with
    `unknown:` in the route.

    --method encoder also tunes the embedder's weights on the rows (CPU; --max-minutes caps it) and
    serves that tuned encoder as the route's own small model. With --export, writes the labelled
    examples as chat-format JSONL instead (openai: messages; hf: prompt/completion).

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
    _check_training(found, examples, target_accuracy, folds)
    oos_texts = _read_oos(oos, input_col) if oos is not None else []
    snapshot = load_snapshot(Path(config))
    job = Job(
        examples=examples, oos_texts=oos_texts, embedder=snapshot.gateway.embedder,
        index=_example_index(snapshot, found), source=source, route=route,
        artifacts_dir=artifacts_dir if artifacts_dir is not None else Path(config).resolve().parent / "artifacts",
    )
    if method == Method.encoder:
        _train_encoder(job, target_accuracy, folds, seed, epochs, max_minutes)
    else:
        _train_head(job, target_accuracy, folds, seed)


@dataclass(frozen=True)
class Job:
    examples: LabelledData
    oos_texts: list[str]
    embedder: EmbedderConfig
    index: Path | None
    source: str
    route: str
    artifacts_dir: Path

    @property
    def embedder_model(self) -> str:
        return self.embedder.model


def load_embedder(settings: EmbedderConfig) -> Embedder:
    """The gateway's embedder, as gateway.yaml names it (its backend too), on every core."""
    from retrieval.embedder import open_embedder

    return open_embedder(settings.model, **settings.load_options(threads=None))


def _route(config: Path, name: str) -> Route:
    try:
        snapshot = load_snapshot(Path(config))
    except ConfigError as exc:
        fail(str(exc))
    if name not in snapshot.routes:
        fail(f"route '{name}' not found in {snapshot.routes_dir} (routes: {', '.join(sorted(snapshot.routes))})")
    return snapshot.routes[name]


def _example_index(snapshot: ConfigSnapshot, route: Route) -> Path | None:
    """The folder of the route's example index, whose stored vectors training may reuse."""
    examples = route.config.retrieval.examples
    return snapshot.indexes_dir / examples.index if examples is not None else None


def _read(data: Path, input_col: str, output_col: str | None) -> LabelledData:
    try:
        examples = read_labelled_csv(data, input_col, output_col)
    except DatasetError as exc:
        fail(str(exc))
    if examples.skipped:
        console.print(f"skipped {examples.skipped} rows without both {examples.input_col} and {examples.output_col}")
    return examples


def _read_oos(path: Path, input_col: str) -> list[str]:
    try:
        texts = read_texts_csv(path, input_col)
    except DatasetError as exc:
        fail(f"--oos: {exc}")
    return texts


def _export(route: Route, examples: LabelledData, style: Export, output: Path | None) -> None:
    if output is None:
        fail("--export needs --output/-o: the JSONL file to write")
    try:
        records = chat_records(route.config.system_prompt, examples.texts, examples.labels, style.value)
        count = write_jsonl(output, records)
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror}")
    console.print(f"wrote {count} {style.value} chat records for route '{route.name}' to {output}")


def _check_training(route: Route, examples: LabelledData, target_accuracy: float, folds: int) -> None:
    if route.config.task != "classification":
        fail(f"route '{route.name}' is a {route.config.task} route: a classifier head needs a classification "
             "route (use --export to fine-tune a model elsewhere)")
    if not 0.5 <= target_accuracy <= 1:
        fail(f"--target-accuracy must be between 0.5 and 1, got {target_accuracy}")
    unknown = sorted(set(examples.labels) - set(route.config.labels)) if route.config.labels else []
    if unknown:
        fail(f"labels not in route '{route.name}' labels: {', '.join(unknown[:5])}"
             + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""))
    if len(set(examples.labels)) < 2 or len(examples.labels) < max(10, folds):
        fail(f"need at least {max(10, folds)} rows and 2 labels to train, got {len(examples.labels)} rows, "
             f"{len(set(examples.labels))} labels")


def _train_head(job: Job, target_accuracy: float, folds: int, seed: int) -> None:
    from gateway.smallmodel.reuse import vectors_for  # scikit-learn and FAISS load only when training
    from gateway.smallmodel.train import TrainOptions, train

    options = TrainOptions(target_accuracy=target_accuracy, folds=folds, seed=seed)
    embedder = load_embedder(job.embedder)
    with _bar() as report:
        found = vectors_for(job.examples.texts, embedder, job.index, report)
        oos_vectors = embedder.encode(job.oos_texts) if job.oos_texts else None
        trained = train(job.examples.texts, job.examples.labels, embedder, options, vectors=found.vectors,
                        oos_vectors=oos_vectors, progress=report)
    if found.reused:
        console.print(f"reused {found.reused:,} vectors stored in {found.source}; embedded {found.embedded:,} rows")
    folder = trained.save(job.artifacts_dir, job.route, data_source=job.source)
    print_result(trained, folder)


def _train_encoder(job: Job, target_accuracy: float, folds: int, seed: int, epochs: int, minutes: float) -> None:
    from gateway.smallmodel.encoder import EncoderSettings
    from gateway.smallmodel.reuse import stored_vectors
    from gateway.smallmodel.train import TrainOptions
    from gateway.smallmodel.tuned import save_with_encoder, train_with_encoder
    from retrieval.embedder import resolve_model

    options = TrainOptions(target_accuracy=target_accuracy, folds=folds, seed=seed)
    settings = EncoderSettings(epochs=epochs, seed=seed, max_seconds=minutes * 60)
    base = (resolve_model(job.embedder_model), job.embedder_model)
    stored = stored_vectors(job.examples.texts, job.embedder_model, job.index)
    with _bar() as report:
        trained, encoder, tuning = train_with_encoder(
            job.examples.texts, job.examples.labels, base, options, settings, oos_texts=job.oos_texts,
            base_vectors=stored, progress=report,
        )
    stopped = f", stopped at --max-minutes {minutes:g}" if tuning.stopped_early else ""
    console.print(f"tuned the encoder: {tuning.steps}/{tuning.planned_steps} steps in {tuning.seconds / 60:.1f} min"
                  f" wall, {tuning.cpu_seconds / 60:.1f} min CPU on {tuning.threads} torch thread(s){stopped}"
                  f" (final loss {tuning.final_loss:.3f})")
    folder = save_with_encoder(trained, encoder, tuning, job.embedder_model, settings, job.artifacts_dir, job.route,
                               job.source)
    print_result(trained, folder)


@contextmanager
def _bar() -> Iterator[Callable[[str, int, int], None]]:
    columns = (TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as bar:
        tasks: dict[str, TaskID] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield report
