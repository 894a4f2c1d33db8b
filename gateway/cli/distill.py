"""`ragway finetune --from-logs`: a training set from the route's logged large-model answers.

Only routes with `log_text: true` log the texts. A row teaches the small model only when the
large target answered it (status 200, not from the cache) with a label in the route's label set.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from rich.table import Table

from gateway.cli.common import console, fail
from gateway.cli.logs import guarded, open_store
from gateway.config import Route
from gateway.config.policy import CascadePolicy, RetrievalPolicy
from gateway.config.route import RouteConfig
from gateway.smallmodel.dataset import LabelledData
from gateway.usage.duration import epoch_since, parse_since
from gateway.usage.pricing import LARGE_TARGET
from gateway.usage.record import RequestRecord


@dataclass
class Distilled:
    """(text, label) pairs in log order, and how many rows were skipped for each reason."""

    texts: list[str] = field(default_factory=list)
    labels: list[str] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)


def large_target(config: RouteConfig) -> str:
    """The target whose answers are the teacher's: the policy's `large`, else the target named `large`."""
    if isinstance(config.policy, CascadePolicy | RetrievalPolicy):
        return config.policy.large
    return LARGE_TARGET


def distill(records: Iterable[RequestRecord], teacher: str, labels: Collection[str]) -> Distilled:
    """Keep each logged answer of *teacher* that is a usable label; count the rest by reason."""
    found = Distilled()
    seen: set[str] = set()
    for rec in records:
        reason = skip_reason(rec, teacher, labels) or ("repeated input" if rec.input_text.strip() in seen else None)
        if reason is not None:
            found.skipped[reason] += 1
            continue
        seen.add(rec.input_text.strip())
        found.texts.append(rec.input_text.strip())
        found.labels.append(rec.output_text.strip())
    return found


def skip_reason(rec: RequestRecord, teacher: str, labels: Collection[str]) -> str | None:
    """Why *rec* is not a training example, or None when it is one."""
    if rec.failed:
        return "error status"
    if rec.cache_hit:
        # the answer it repeats is logged once already, under the target that first gave it
        return "answered from cache"
    if rec.target != teacher:
        return "answered by another target"
    if not rec.input_text.strip() or not rec.output_text.strip():
        return "no logged text (log_text off?)"
    if labels and rec.output_text.strip() not in labels:
        return "label not in the route's labels"
    return None


def read_from_logs(route: Route, config: Path, log_url: str | None, since: str, min_examples: int) -> LabelledData:
    """The route's distilled examples from the log store; fails in one line when too few to train on."""
    teacher = large_target(route.config)
    if teacher not in route.config.targets:
        fail(f"route '{route.name}' has no target '{teacher}' whose answers could be learned from")
    try:
        start = epoch_since(parse_since(since), time.time())
    except ValueError as exc:
        fail(str(exc))
    with open_store(config, log_url) as store:
        records = (logged.record for logged in store.iter_records(since=start, route=route.name))
        found = guarded(store, lambda: distill(records, teacher, route.config.labels))
    _print_counts(found, route.name, teacher, since)
    distinct = len(set(found.labels))
    if len(found.texts) < min_examples or distinct < 2:
        fail(f"route '{route.name}' logged {len(found.texts)} usable answers with {distinct} labels since {since}; "
             f"need at least {min_examples} and 2 labels (turn on log_text: true and let traffic build up)")
    return LabelledData(texts=found.texts, labels=found.labels, skipped=sum(found.skipped.values()),
                        input_col="input_text", output_col="output_text")


def _print_counts(found: Distilled, route: str, teacher: str, since: str) -> None:
    table = Table(title=f"route '{route}' since {since}, teacher '{teacher}'")
    table.add_column("rows")
    table.add_column("count", justify="right")
    table.add_row("kept", str(len(found.texts)))
    for reason, count in found.skipped.most_common():
        table.add_row(f"skipped: {reason}", str(count))
    console.print(table)
    console.print(f"{len(found.texts)} examples over {len(set(found.labels))} labels")
