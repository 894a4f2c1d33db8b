"""The index at a million rows: build time and memory, single-query latency and recall@10 against exact search.

    python -m bench.bench_ann [--rows 1000000] [--queries 1000] [--add 10000] [--doc docs/benchmarks.md]

The rows are synthetic, made around the real banking77 training embeddings (bench/ann_data.py
says how), and written by the code `ragway index build` runs after embedding, in a child process
whose peak RSS is reported. Queries are real: banking77 test questions embedded with the gateway's
model, which the rows were never made from. Each query is searched alone, as a request does, on
one FAISS thread as the gateway sets it; recall@10 compares the index's answers with an exact
search over the same million vectors. Then the gateway serves the index while `ragway index add`
appends rows to it (bench/ann_serve.py).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import faiss
import numpy as np

from bench.ann_data import Base
from bench.bodies import DATA_DIR
from bench.peers import BENCH_DIR, OFFLINE_ENV, REPO_ROOT
from bench.procs import BenchError
from bench.report import markdown_table, print_table, write_section
from retrieval.index import VectorIndex
from retrieval.manifest import Manifest, read_manifest

TITLE = "Index at a million rows"
NAME = "synthetic-1m"
K = 10
RUN_DIR = BENCH_DIR / ".run" / "ann"
SEARCH_HEADERS = ["FAISS threads", "nprobe", "p50 ms", "p99 ms", "max ms", "CPU p50 ms", "CPU p99 ms", "recall@10",
                  "note"]


@dataclass(frozen=True)
class SearchRow:
    threads: int
    nprobe: int
    latencies_ms: np.ndarray
    cpu_ms: np.ndarray
    recall: float
    note: str = ""

    def cells(self) -> list[object]:
        p50, p99 = np.percentile(self.latencies_ms, [50, 99])
        cpu50, cpu99 = np.percentile(self.cpu_ms, [50, 99])
        return [self.threads, self.nprobe, round(float(p50), 3), round(float(p99), 3),
                round(float(self.latencies_ms.max()), 3), round(float(cpu50), 3), round(float(cpu99), 3),
                f"{self.recall:.4f}", self.note]


def _embedder():  # type: ignore[no-untyped-def]  # the embedder class is the embed backend's to choose
    from gateway.config.gateway_sections import EmbedderConfig
    from retrieval.embedder import SentenceEmbedder

    settings = EmbedderConfig()
    return SentenceEmbedder(settings.model, settings.device, None, settings.precision)


def base_rows(path: Path) -> Base:
    """The banking77 training rows with their vectors: read back from a built index, else embedded now."""
    if path.exists():
        return Base.load(path)
    for folder in (BENCH_DIR / ".run" / "indexes" / "bench-examples", REPO_ROOT / "indexes" / "banking77-examples"):
        try:
            index = VectorIndex.load(folder, read_manifest(folder).embedder_id, read_manifest(folder).dim)
        except Exception:
            continue
        rows = index.rows
        base = Base(index.stored_vectors(), [r.input for r in rows], [r.output or "" for r in rows],
                    index.manifest.embedder_id)
        break
    else:
        rows = list(csv.DictReader((DATA_DIR / "train.csv").open(encoding="utf-8")))
        embedder = _embedder()
        vectors = embedder.encode([r["text"] for r in rows])
        base = Base(vectors, [r["text"] for r in rows], [r["category"] for r in rows], embedder.model_id)
    base.save(path)
    return base


def query_vectors(path: Path, count: int) -> np.ndarray:
    """*count* banking77 test questions, embedded with the gateway's model (cached beside the run)."""
    if path.exists():
        cached = np.load(path)
        if len(cached) >= count:
            return cached[:count]
    with (DATA_DIR / "test.csv").open(encoding="utf-8") as handle:
        texts = list(dict.fromkeys(r["text"] for r in csv.DictReader(handle)))[:count]
    vectors = _embedder().encode(texts)
    np.save(path, vectors)
    return vectors


def build_child(base_path: Path, rows: int, indexes_dir: Path, timeout_s: float) -> dict:
    """Run bench/ann_data.py in a child process and return its report (times, peak RSS, manifest)."""
    argv = [sys.executable, "-m", "bench.ann_data", "--base", str(base_path), "--rows", str(rows),
            "--indexes-dir", str(indexes_dir), "--name", NAME]
    started = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=REPO_ROOT, env={**os.environ, **OFFLINE_ENV}, capture_output=True,
                              text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired:
        raise BenchError(f"building {rows:,} rows did not finish in {timeout_s:.0f} s") from None
    for line in done.stdout.splitlines():
        if line.startswith("BENCH_JSON "):
            report = json.loads(line.removeprefix("BENCH_JSON "))
            report["wall_s"] = round(time.perf_counter() - started, 1)
            return report
    raise BenchError(f"index build failed: {(done.stderr or done.stdout).strip()[-300:]}")


def time_searches(index: VectorIndex, queries: np.ndarray, exact: np.ndarray, threads: int, nprobe: int,
                  note: str = "") -> SearchRow:
    """Each query alone through VectorIndex.search, as one request makes it; recall against *exact*."""
    faiss.omp_set_num_threads(threads)
    ivf = faiss.extract_index_ivf(index._ann)
    ivf.nprobe = nprobe
    for vector in queries[:50]:  # warm-up: page the lists in
        index.search(vector, K)
    latencies, cpu, found = [], [], 0
    for vector, truth in zip(queries, exact.tolist(), strict=True):
        start, start_cpu = time.perf_counter(), time.thread_time()
        hits = index.search(vector, K)
        latencies.append(time.perf_counter() - start)
        cpu.append(time.thread_time() - start_cpu)
        found += len({int(h.id.rsplit(":", 1)[1]) for h in hits} & set(truth))
    return SearchRow(threads, nprobe, np.asarray(latencies) * 1000, np.asarray(cpu) * 1000, found / exact.size, note)


def search_rows(index: VectorIndex, queries: np.ndarray) -> tuple[list[SearchRow], float]:
    """The tuned nprobe on one thread (as served), on every core, and a sweep around it; and exact's time."""
    vectors = index.stored_vectors()
    started = time.perf_counter()
    _, exact = faiss.knn(queries, vectors, K, metric=faiss.METRIC_INNER_PRODUCT)
    exact_ms = (time.perf_counter() - started) * 1000 / len(queries)
    del vectors
    tuned = index.manifest.ivf_nprobe or 1
    cores = os.cpu_count() or 1
    rows = [time_searches(index, queries, exact, 1, tuned, "as served: nprobe from the manifest")]
    if cores > 1:
        rows.append(time_searches(index, queries, exact, cores, tuned, "OpenMP on every core (FAISS's default)"))
    for nprobe in sorted({max(1, tuned // 4), max(1, tuned // 2), tuned * 2, tuned * 4} - {tuned}):
        rows.append(time_searches(index, queries, exact, 1, nprobe))
    faiss.omp_set_num_threads(1)
    faiss.extract_index_ivf(index._ann).nprobe = tuned
    return rows, exact_ms


def load_timed(folder: Path) -> tuple[VectorIndex, float, float]:
    """The index as the gateway loads it (checksum verified), seconds taken and RSS added in MiB."""
    manifest = read_manifest(folder)
    before = _rss_mib()
    started = time.perf_counter()
    index = VectorIndex.load(folder, manifest.embedder_id, manifest.dim)
    return index, time.perf_counter() - started, _rss_mib() - before


def _rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build_markdown(report: dict, manifest: Manifest, load_s: float, load_mib: float) -> str:
    rows = [
        ["rows", f"{report['rows']:,}"],
        ["index", f"IVF-Flat, {manifest.ivf_nlist:,} lists, nprobe {manifest.ivf_nprobe} (tuned at build, in the "
                  f"manifest); inner product on normalised vectors"],
        ["making the synthetic rows", f"{report['generate_s']:.1f} s"],
        ["index build (k-means, add, nprobe tuning, writing, checksum)",
         f"{report['build_s']:.1f} s on {report['faiss_threads']} FAISS threads"],
        ["peak RSS of the build process", f"{report['peak_rss_mib']:,.0f} MiB "
                                          f"({report['peak_rss_before_build_mib']:,.0f} MiB with the rows made)"],
        ["files", f"index.faiss {report['index_bytes'] / 2**20:,.0f} MiB, rows.jsonl "
                  f"{report['rows_bytes'] / 2**20:,.0f} MiB"],
        ["recall@10 the build measured (its own tuning queries)", f"{manifest.recall:.4f}"],
        ["load as the gateway does (checksum, FAISS file, rows)", f"{load_s:.1f} s, +{load_mib:,.0f} MiB RSS"],
    ]
    return markdown_table(["", "value"], rows)


@dataclass(frozen=True)
class AnnResult:
    markdown: str
    p99_ms: float
    recall: float


def run(args: argparse.Namespace) -> AnnResult:
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    base_path = RUN_DIR / "base.npz"
    base = base_rows(base_path)
    queries = query_vectors(RUN_DIR / "queries.npy", args.queries)
    indexes = RUN_DIR / "indexes"
    report = build_child(base_path, args.rows, indexes, args.build_timeout)
    index, load_s, load_mib = load_timed(indexes / NAME)
    searches, exact_ms = search_rows(index, queries)
    print_table(TITLE, SEARCH_HEADERS, [r.cells() for r in searches])
    parts = [_intro(args, len(base.texts), len(queries), exact_ms),
             build_markdown(report, index.manifest, load_s, load_mib),
             markdown_table(SEARCH_HEADERS, [r.cells() for r in searches]),
             _verdict(searches[0])]
    del index
    if args.add > 0:
        from bench.ann_serve import serve_during_add

        parts.append(serve_during_add(indexes, NAME, base, args.add, RUN_DIR))
    served = searches[0]
    return AnnResult("\n\n".join(parts), float(np.percentile(served.latencies_ms, 99)), served.recall)


def _intro(args: argparse.Namespace, base_rows_n: int, queries: int, exact_ms: float) -> str:
    return (
        f"`python -m bench.bench_ann --rows {args.rows} --queries {args.queries} --add {args.add}`. "
        f"{args.rows:,} synthetic example rows made around the {base_rows_n:,} real banking77 training "
        "embeddings (each a training question's vector moved up to 35% towards another's, jittered and "
        "normalised; not embedded from text, which would take over an hour here), written by the code "
        "`ragway index build` runs after embedding. Queries: "
        f"{queries:,} real banking77 test questions embedded with the gateway's model, one at a time through "
        "`VectorIndex.search` (k=10). recall@10 = share of the exact top 10 (FAISS flat search over the same "
        f"vectors, {exact_ms:.1f} ms per query in batch) that the index returns. *CPU* columns: the searching "
        "thread's own CPU time, which waiting for a core does not inflate; the wall-clock columns include it. "
        f"Load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores when the searches ended."
    )


def _verdict(served: SearchRow) -> str:
    p99 = float(np.percentile(served.latencies_ms, 99))
    met = p99 <= 2.0 and served.recall >= 0.95
    return (f"Target p99 <= 2 ms at recall@10 >= 0.95, as served: p99 {p99:.2f} ms at recall@10 "
            f"{served.recall:.4f}: **{'met' if met else 'missed'}**.")


def run_section(rows: int, add: int, doc: Path, queries: int = 1000, build_timeout_s: float = 3600.0
                ) -> AnnResult | None:
    """Measure and write the section; None (and the reason in the section) when it could not run."""
    args = argparse.Namespace(rows=rows, add=add, queries=queries, build_timeout=build_timeout_s)
    for name, value in OFFLINE_ENV.items():
        os.environ.setdefault(name, value)
    try:
        result = run(args)
    except BenchError as exc:
        write_section(TITLE, f"Not run: {exc}", doc)
        return None
    write_section(TITLE, result.markdown, doc)
    print(f"wrote section '{TITLE}' in {doc}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.bench_ann", description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000, help="test questions searched (default 1000)")
    parser.add_argument("--add", type=int, default=10_000, help="rows `index add` appends while serving (0: skip)")
    parser.add_argument("--build-timeout", type=float, default=3600.0)
    parser.add_argument("--doc", type=Path, default=REPO_ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args(argv)
    run_section(args.rows, args.add, args.doc, args.queries, args.build_timeout)


if __name__ == "__main__":
    main()
