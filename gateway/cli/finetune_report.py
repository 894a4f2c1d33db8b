"""What `ragway finetune` prints after training: the calibration table, the threshold and the out-of-scope bar."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.table import Table

from gateway.cli.common import console

SCORES = {"centroid": "class centroid", "nearest example": "training example"}

if TYPE_CHECKING:
    from gateway.smallmodel.train import TrainedHead


def print_result(trained: TrainedHead, folder: Path) -> None:
    cal = trained.calibration
    level = f"{cal.confidence_level:.0%}"
    table = Table(title=f"out-of-fold calibration ({cal.method}): {trained.n_calibration:,} rows scored by heads "
                        f"that did not train on them; served head fitted on all {trained.n_train:,}")
    for column in ("min confidence", "coverage (kept local)", "accuracy of kept", f"{level} lower bound"):
        table.add_column(column, justify="right")
    for row in cal.table:
        table.add_row(f"{row.threshold:.2f}", f"{row.coverage:.1%}", f"{row.accuracy:.1%}", f"{row.lower_bound:.1%}")
    console.print(table)
    examples = trained.examples
    vote = (f"; the {examples.settings.k} nearest of {len(examples.labels):,} training rows vote with weight "
            f"{examples.settings.weight:g}" if examples is not None and examples.settings.weight > 0 else "")
    console.print(f"out-of-fold accuracy: {cal.accuracy:.1%} (temperature {cal.temperature:.2f}{vote})")
    if cal.reached:
        console.print(
            f"threshold {cal.threshold:.3f}: keeps {cal.coverage:.1%} of queries local at {cal.threshold_accuracy:.1%} "
            f"out of fold, {level} lower bound {cal.lower_bound:.1%} >= target {cal.target_accuracy:.1%}; "
            f"the other {1 - cal.coverage:.1%} escalate to the large model"
        )
    else:
        console.print(f"[yellow]no threshold has a {level} lower bound >= {cal.target_accuracy:.1%}: "
                      "every query escalates[/]")
    novel = trained.novelty
    if novel is not None:
        caught = (f"; catches {novel.oos_caught:.1%} of the {novel.n_oos:,} --oos examples"
                  if novel.oos_caught is not None else "")
        console.print(
            f"out-of-scope bar: similarity to the nearest {SCORES[novel.score]} < {novel.threshold:.3f} "
            f"(rejects {novel.in_scope_rejected:.1%} of in-scope rows out of fold{caught}); "
            "serve it with `unknown: escalate` or `unknown: {answer: <label>}` in the route"
        )
    console.print(f"wrote {folder} (serve it as a target: `classifier: {folder.parent}`)")
