"""Retrieval benchmark: the latency embed + retrieve adds to a request, per embedder backend, with and without
micro-batching.

    python -m bench.bench_retrieval [--requests 256] [--concurrency 1 32] [--backend torch onnx] [--doc ...]

Each request embeds one distinct banking77 test question and searches the banking77-examples
index (k=4). The baseline embeds every request on its own forward pass in a worker thread with
the torch backend; micro-batched requests share forward passes through MicroBatcher (its LRU
is off, so no request is answered from memory). Every row runs in the same process, on the same
texts, one after the other, and the table gives its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np
from rich.console import Console
from rich.table import Table

from bench.report import write_section
from gateway.config.gateway_sections import EmbedderConfig
from retrieval.batching import MicroBatcher
from retrieval.build import build_examples_index
from retrieval.embedder import open_embedder
from retrieval.errors import RetrievalError
from retrieval.index import VectorIndex
from retrieval.onnx_embedder import OnnxEmbedder
from retrieval.types import Embedder

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "banking77"
TITLE = "Retrieval: embed + retrieve per request"
INDEX = "banking77-examples"
K = 4
HEADERS = ["embedding", "concurrency", "p50 ms", "p95 ms", "requests/s", "p50 vs baseline", "req/s vs baseline"]
console = Console()
Embed = Callable[[str], Awaitable[np.ndarray]]


@dataclass(frozen=True)
class Cell:
    mode: str
    concurrency: int
    p50_ms: float
    p95_ms: float
    per_second: float
    forward_passes: int


async def drive(texts: Sequence[str], concurrency: int, embed: Embed, index: VectorIndex) -> tuple[list[float], float]:
    """Send every text through embed + search with *concurrency* requests in flight; latencies and wall time."""
    queue: asyncio.Queue[str] = asyncio.Queue()
    for text in texts:
        queue.put_nowait(text)
    latencies: list[float] = []

    async def client() -> None:
        while not queue.empty():
            text = queue.get_nowait()
            start = time.perf_counter()
            index.search(await embed(text), K)
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(concurrency)))
    return latencies, time.perf_counter() - start


async def baseline(texts: Sequence[str], concurrency: int, embedder: Embedder, index: VectorIndex) -> Cell:
    """Every request on its own forward pass in a worker thread."""

    async def alone(text: str) -> np.ndarray:
        return (await asyncio.to_thread(embedder.encode, [text]))[0]

    timing = await drive(texts, concurrency, alone, index)
    return cell(f"{backend_of(embedder)}, one pass per request", concurrency, *timing, len(texts))


async def batched(texts: Sequence[str], concurrency: int, embedder: Embedder, index: VectorIndex) -> Cell:
    """Requests sharing forward passes through the gateway's MicroBatcher (its defaults, LRU off)."""
    settings = EmbedderConfig()
    batcher = MicroBatcher(embedder, settings.batch_max, settings.batch_wait_ms, cache_size=0,
                           sub_batch=settings.sub_batch)
    try:
        timing = await drive(texts, concurrency, batcher.embed, index)
    finally:
        await batcher.aclose()
    return cell(f"{backend_of(embedder)}, micro-batched", concurrency, *timing, batcher.forward_passes)


def backend_of(embedder: Embedder) -> str:
    return f"{'onnx' if isinstance(embedder, OnnxEmbedder) else 'torch'} {getattr(embedder, 'precision', '')}"


def cell(mode: str, concurrency: int, latencies: list[float], wall_s: float, passes: int) -> Cell:
    ms = np.asarray(latencies) * 1000
    p50, p95 = (float(np.percentile(ms, q)) for q in (50, 95))
    return Cell(mode, concurrency, p50, p95, len(latencies) / wall_s, passes)


def search_only_ms(index: VectorIndex, vectors: np.ndarray) -> float:
    start = time.perf_counter()
    for vector in vectors:
        index.search(vector, K)
    return (time.perf_counter() - start) * 1000 / len(vectors)


def load_index(embedder: Embedder, indexes_dir: Path) -> VectorIndex:
    """The built demo index when it matches the embedder; otherwise one built now in a temporary folder."""
    try:
        return VectorIndex.load(indexes_dir / INDEX, embedder.model_id, embedder.dim)
    except RetrievalError:
        console.print(f"{INDEX} not built in {indexes_dir}: building it in a temporary folder (minutes)")
    scratch = Path(tempfile.mkdtemp(prefix="bench-retrieval-"))
    build_examples_index(INDEX, DATA / "train.csv", embedder, scratch)
    return VectorIndex.load(scratch / INDEX, embedder.model_id, embedder.dim)


def rows(cells: list[Cell]) -> list[list[object]]:
    """Each concurrency's cells, with their ratios to its first cell (the torch baseline)."""
    table: list[list[object]] = []
    for concurrency in dict.fromkeys(c.concurrency for c in cells):
        group = [c for c in cells if c.concurrency == concurrency]
        for c in group:
            label = f"{c.mode} ({c.forward_passes} passes)"
            p50_ratio = f"{c.p50_ms / group[0].p50_ms:.2f}x"
            rate_ratio = f"{c.per_second / group[0].per_second:.2f}x"
            table.append([label, c.concurrency, c.p50_ms, c.p95_ms, c.per_second, p50_ratio, rate_ratio])
    return table


def markdown(table: list[list[object]], notes: list[str]) -> str:
    def fmt(value: object) -> str:
        return f"{value:,.1f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(HEADERS) + " |", "|" + "---|" * len(HEADERS)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in table]
    return "\n".join([*notes, "", *lines, ""])


def show(table: list[list[object]]) -> None:
    view = Table(title=TITLE)
    for header in HEADERS:
        view.add_column(header, justify="left" if header == "embedding" else "right")
    for row in table:
        view.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row))
    console.print(view)


def question_texts(n: int) -> list[str]:
    with (DATA / "test.csv").open(newline="", encoding="utf-8") as handle:
        texts = list(dict.fromkeys(record["text"] for record in csv.DictReader(handle)))
    return texts[:n]


async def run(args: argparse.Namespace) -> str:
    # One query per search is too little work to share across OpenMP threads; spreading it only adds waiting.
    faiss.omp_set_num_threads(1)
    settings = EmbedderConfig()
    embedders = {backend: open_embedder(settings.model, **{**settings.load_options(settings.threads),
                                                           "backend": backend}) for backend in {*args.backend, "torch"}}
    torch = embedders["torch"]
    index = load_index(torch, args.indexes_dir)
    texts = question_texts(args.requests)
    for embedder in embedders.values():
        embedder.encode(texts[:64])  # warm-up: first passes pay for lazy initialisation
    load_before = os.getloadavg()[0]
    cells = []
    for concurrency in args.concurrency:
        cells.append(await baseline(texts, concurrency, torch, index))
        cells += [await batched(texts, concurrency, embedders[backend], index) for backend in args.backend]
    table = rows(cells)
    show(table)
    search_ms = search_only_ms(index, torch.encode(texts[:64]))
    notes = [
        f"{len(texts)} distinct banking77 test questions per row; search = {INDEX} "
        f"({len(index):,} rows, {index.manifest.index_type}, k={K}, FAISS on 1 thread), "
        f"{search_ms:.2f} ms per search alone.",
        f"Model {settings.model} on {settings.threads} thread(s), {os.cpu_count()} cores; backends: "
        f"{', '.join(backend_of(embedders[b]) for b in args.backend)}; "
        f"micro-batching with the gateway's defaults: max_batch {settings.batch_max}, "
        f"sub-batches of {settings.sub_batch}, wait {settings.batch_wait_ms:g} ms, LRU off.",
        f"Load average (1 min) {load_before:.1f} before and {os.getloadavg()[0]:.1f} after: other work on the "
        "machine inflates every number; compare the ratio columns, measured in the same run.",
    ]
    return markdown(table, notes)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_retrieval", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=256, help="requests per row (default 256)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 32], help="default: 1 32")
    parser.add_argument("--backend", nargs="+", default=["torch", "onnx"], choices=["torch", "onnx"],
                        help="embedder backends to measure micro-batched (default: torch onnx)")
    parser.add_argument("--indexes-dir", type=Path, default=REPO / "indexes")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    body = asyncio.run(run(args))
    write_section(TITLE, body, args.doc)
    console.print(f"wrote section '{TITLE}' in {args.doc}")


if __name__ == "__main__":
    main()
