"""`ragway index ...`: build, grow, inspect and query the FAISS indexes routes retrieve from."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from gateway.cli.common import DEFAULT_CONFIG, ConfigDir, console, fail, offline_env
from gateway.config.gateway_file import GatewayConfig
from gateway.config.snapshot import ConfigSnapshot, load_gateway
from gateway.errors import ConfigError
from retrieval.build import (
    DEFAULT_ANN_THRESHOLD,
    DEFAULT_CHUNK_SIZE,
    DEFAULT_OVERLAP,
    EXACT_THRESHOLD,
    add_rows,
    build_documents_index,
    build_examples_index,
    document_rows,
    example_rows,
)
from retrieval.embedder import SentenceEmbedder, embedder_id, open_embedder
from retrieval.errors import RetrievalError
from retrieval.manifest import Manifest, read_manifest, verify
from retrieval.names import check_name
from retrieval.registry import IndexRegistry, index_names, require_index
from retrieval.types import Embedder

index_app = typer.Typer(help="Build, inspect and query the FAISS indexes routes retrieve from.", no_args_is_help=True)

IndexesDir = Annotated[
    Path | None, typer.Option("--indexes-dir", help="Folder of indexes (default: indexes_dir in gateway.yaml).")
]
Examples = Annotated[Path | None, typer.Option("--examples", help="CSV of labelled examples, with a header row.")]
InputCol = Annotated[str, typer.Option("--input-col", help="CSV column embedded and shown as the user turn.")]
OutputCol = Annotated[str, typer.Option("--output-col", help="CSV column shown as the assistant turn (the label).")]
PROGRESS_EVERY_S = 5.0
DEMO_EXAMPLES = "banking77-examples"
DEMO_DOCS = "bank-docs"


@index_app.command("build")
def build(
    ctx: typer.Context,
    name: Annotated[str, typer.Option("--name", help="Index name: its folder under the indexes dir.")],
    examples: Examples = None,
    input_col: InputCol = "text",
    output_col: OutputCol = "category",
    docs: Annotated[Path | None, typer.Option("--docs", help="Folder of .md, .txt and .html documents.")] = None,
    chunk_size: Annotated[int, typer.Option(min=64, help="Largest chunk, in characters.")] = DEFAULT_CHUNK_SIZE,
    overlap: Annotated[int, typer.Option(min=0, help="Characters shared by neighbouring chunks.")] = DEFAULT_OVERLAP,
    ann_threshold: Annotated[
        int, typer.Option("--ann-threshold", min=0, help="Above this many rows use IVF.")
    ] = DEFAULT_ANN_THRESHOLD,
    exact_threshold: Annotated[
        int, typer.Option("--exact-threshold", min=0,
                          help="Up to this many rows search exactly; above it (up to --ann-threshold) an HNSW graph.")
    ] = EXACT_THRESHOLD,
    indexes_dir: IndexesDir = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Build index NAME from a CSV of labelled examples (--examples) or a folder of documents (--docs).

    An existing index of that name is replaced whole once the new one is written.
    """
    gateway, folder = _settings(config, indexes_dir)
    with _errors():  # bad inputs fail fast, before the model loads
        check_name(name)
        if examples is not None and docs is None:
            example_rows(examples, input_col, output_col)
        elif docs is not None and examples is None:
            document_rows(docs, chunk_size, overlap)
        else:
            fail("give exactly one of --examples CSV or --docs DIR")
    embedder = _embedder(ctx, gateway)
    with _errors(), _progress(f"embedding {name}") as progress:
        if examples is not None:
            manifest = build_examples_index(
                name,
                examples,
                embedder,
                folder,
                input_col=input_col,
                output_col=output_col,
                ann_threshold=ann_threshold,
                exact_threshold=exact_threshold,
                progress=progress,
            )
        else:
            assert docs is not None  # checked above: exactly one of the two
            manifest = build_documents_index(
                name, docs, embedder, folder, chunk_size, overlap, ann_threshold=ann_threshold,
                exact_threshold=exact_threshold, progress=progress,
            )
    console.print(_manifest_table(manifest, folder / name))


@index_app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="An existing examples index.")],
    examples: Examples = None,
    input_col: InputCol = "text",
    output_col: OutputCol = "category",
    indexes_dir: IndexesDir = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Append the rows of a CSV to index NAME; only the new rows are embedded."""
    if examples is None:
        fail("give the rows to add with --examples CSV")
    gateway, folder = _settings(config, indexes_dir)
    with _errors():
        require_index(folder, name)
        example_rows(examples, input_col, output_col)
    embedder = _embedder(ctx, gateway)
    with _errors(), _progress(f"adding to {name}") as progress:
        manifest = add_rows(
            name, examples, embedder, folder, input_col=input_col, output_col=output_col, progress=progress
        )
    console.print(_manifest_table(manifest, folder / name))


@index_app.command("list")
def list_indexes(indexes_dir: IndexesDir = None, config: ConfigDir = DEFAULT_CONFIG) -> None:
    """List the built indexes with their kind, size, embedder and version."""
    _, folder = _settings(config, indexes_dir)
    table = Table(title=f"indexes in {folder}")
    for column in ("name", "kind", "rows", "type", "recall", "embedder", "version", "updated"):
        table.add_column(column, justify="right" if column in ("rows", "recall") else "left", overflow="fold")
    names = index_names(folder)
    for name in names:
        try:
            m = read_manifest(folder / name)
        except RetrievalError as exc:
            table.add_row(name, f"[red]{exc}[/]", *[""] * 6)
            continue
        recall = "exact" if m.index_type == "flat" else f"{m.recall:.3f}@{m.recall_k}"
        kind = f"ivf {m.ivf_nlist} lists, nprobe {m.ivf_nprobe}" if m.index_type == "ivf" else m.index_type
        table.add_row(m.name, m.kind, str(m.rows), kind, recall, m.embedder_id, m.version, m.updated_at)
    console.print(table if names else f"no indexes in {folder}; build one with `ragway index build`")


@index_app.command("info")
def info(name: str, indexes_dir: IndexesDir = None, config: ConfigDir = DEFAULT_CONFIG) -> None:
    """Show the manifest of index NAME and check its artifacts against the checksum."""
    _, folder = _settings(config, indexes_dir)
    with _errors():
        manifest = read_manifest(require_index(folder, name))
        verify(folder / name, manifest)
    console.print(_manifest_table(manifest, folder / name))


@index_app.command("query")
def query(
    ctx: typer.Context,
    name: str,
    text: str,
    k: Annotated[int, typer.Option("-k", "--k", min=1, help="How many nearest rows to show.")] = 5,
    min_score: Annotated[float, typer.Option(help="Hide rows scoring below this cosine similarity.")] = -1.0,
    indexes_dir: IndexesDir = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Show the K rows of index NAME nearest to TEXT, with their similarity scores."""
    gateway, folder = _settings(config, indexes_dir)
    with _errors():
        require_index(folder, name)  # a wrong name fails before the model loads
    embedder = _embedder(ctx, gateway)
    with _errors():
        index = IndexRegistry(folder, embedder.model_id, embedder.dim).get(name)
    hits = index.search(embedder.encode([text])[0], k, min_score)
    table = Table(title=f"{name} (version {index.version}): nearest to {text!r}")
    for column in ("#", "score", "id", "text", "output" if index.manifest.kind == "examples" else "source"):
        table.add_column(column, overflow="fold")
    for rank, hit in enumerate(hits, start=1):
        where = hit.output if index.manifest.kind == "examples" else f"{hit.source} #{hit.position}"
        table.add_row(str(rank), f"{hit.score:.3f}", hit.id, hit.text, where or "")
    console.print(table)


@index_app.command("ensure-demo")
def ensure_demo(
    ctx: typer.Context,
    banking77: Annotated[Path | None, typer.Option(help="Training CSV (default: the repo's ../shared/data).")] = None,
    docs: Annotated[Path | None, typer.Option(help="Demo documents (default: CONFIG/docs/bank).")] = None,
    indexes_dir: IndexesDir = None,
    config: ConfigDir = DEFAULT_CONFIG,
) -> None:
    """Build the demo indexes banking77-examples and bank-docs if they are missing or stale; else do nothing."""
    gateway, folder = _settings(config, indexes_dir)
    root = Path(config).resolve()
    banking77 = banking77 or root.parent.parent / "shared" / "data" / "banking77" / "train.csv"
    docs = docs or root / "docs" / "bank"
    wanted = [name for name in (DEMO_EXAMPLES, DEMO_DOCS) if not _current(folder / name, gateway)]
    if not wanted:
        console.print(f"demo indexes are up to date in {folder}")
        return
    with _errors():  # missing data fails before the model loads
        if DEMO_EXAMPLES in wanted:
            example_rows(banking77)
        if DEMO_DOCS in wanted:
            document_rows(docs)
    console.print(f"building the demo indexes {', '.join(wanted)} in {folder} (once; later runs reuse them)",
                  highlight=False)
    embedder = _embedder(ctx, gateway)
    for name in wanted:
        with _errors(), _progress(f"embedding {name}") as progress:
            if name == DEMO_EXAMPLES:
                build_examples_index(name, banking77, embedder, folder, progress=progress)
            else:
                build_documents_index(name, docs, embedder, folder, progress=progress)
    list_indexes(folder, config)


def _current(folder: Path, gateway: GatewayConfig) -> bool:
    """True when the index in *folder* exists, is intact and was built with the configured embedder."""
    try:
        manifest = read_manifest(folder)
        verify(folder, manifest)
    except RetrievalError:
        return False
    return manifest.embedder_id == embedder_id(gateway.embedder.model)


def _settings(config: Path, indexes_dir: Path | None) -> tuple[GatewayConfig, Path]:
    """gateway.yaml (defaults when the config folder has none) and the indexes folder to use."""
    root = Path(config).resolve()
    try:
        gateway = load_gateway(root) if (root / "gateway.yaml").is_file() else GatewayConfig()
    except ConfigError as exc:
        fail(str(exc))
    return gateway, indexes_dir or ConfigSnapshot(root=root, gateway=gateway).indexes_dir


def _embedder(ctx: typer.Context, gateway: GatewayConfig) -> Embedder:
    """The embedder gateway.yaml names, or one the caller passed as typer's context object (tests share one)."""
    given = ctx.find_object(SentenceEmbedder)
    if given is not None:
        return given
    offline_env()
    settings = gateway.embedder
    # the onnx backend exports the model on its first use (tens of seconds): say what the wait is
    first_use = " (exported to ONNX on first use)" if settings.backend == "onnx" else ""
    console.print(f"loading embedder {settings.model}, {settings.backend} backend{first_use}", highlight=False)
    started = time.monotonic()
    try:
        embedder = open_embedder(settings.model, **settings.load_options(threads=None))
    except (OSError, ValueError) as exc:
        fail(f"cannot load embedder '{settings.model}': {exc}")
    console.print(f"embedder ready in {time.monotonic() - started:.1f} s", highlight=False)
    return embedder


@contextmanager
def _errors() -> Iterator[None]:
    """Retrieval failures become one line on stderr and exit code 1."""
    try:
        yield
    except RetrievalError as exc:
        fail(str(exc))


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A live bar on a terminal; elsewhere (`make run`, a container log) a line every few seconds.

    Either way one closing line says how many rows took how long.
    """
    lines = _ProgressLines(description)
    if not console.is_terminal:
        yield lines.update
        lines.close()
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console, transient=True) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)
            lines.done = done

        yield update
    lines.close()


class _ProgressLines:
    """`description: done of total rows (percent), seconds`, printed at most every PROGRESS_EVERY_S."""

    def __init__(self, description: str) -> None:
        self.description = description
        self.started = time.monotonic()
        self.printed: float | None = None
        self.done = 0

    def update(self, done: int, total: int) -> None:
        self.done = done
        now = time.monotonic()
        if self.printed is None or now - self.printed >= PROGRESS_EVERY_S:
            self.printed = now
            share = f" ({done / total:.0%})" if total else ""
            console.print(f"{self.description}: {done:,} of {total:,} rows{share}, {now - self.started:.0f} s",
                          highlight=False)

    def close(self) -> None:
        console.print(f"{self.description}: {self.done:,} rows in {time.monotonic() - self.started:.1f} s",
                      highlight=False)


def _manifest_table(manifest: Manifest, folder: Path) -> Table:
    table = Table(title=f"index {manifest.name} ({folder})", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value", overflow="fold")
    for field, value in vars(manifest).items():
        table.add_row(field, ", ".join(value) if isinstance(value, list) else str(value))
    return table
