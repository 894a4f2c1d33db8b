"""Eval history: every variant of every eval run, with what it ran on, newest first on read."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import Engine, insert, select

from gateway.evaluation.provenance import Provenance
from gateway.evaluation.runner import VariantResult
from gateway.evaluation.slices import Scored
from gateway.promotion.store import eval_misses, eval_runs


@dataclass(frozen=True)
class HistoryEntry:
    id: int
    run_id: str
    ts: float
    variant: str
    n_examples: int
    metrics: dict[str, float]
    target_share: dict[str, float]
    provenance: Provenance
    details: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready, for `--json` output."""
        return {
            "run_id": self.run_id, "ts": self.ts, "variant": self.variant, "n_examples": self.n_examples,
            "metrics": self.metrics, "target_share": self.target_share, "details": self.details,
            "provenance": asdict(self.provenance),
        }


@dataclass(frozen=True)
class Miss:
    variant: str
    line: int
    input: str
    expected: str
    got: str | None
    target: str
    error: str


class EvalHistory:
    """Append and read eval runs in the eval database (see `gateway.promotion.store`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def record(self, provenance: Provenance, results: Sequence[VariantResult], ts: float | None = None) -> str:
        """Store one row per variant result under a new run id; return the run id."""
        run_id = uuid.uuid4().hex[:12]
        stamp = time.time() if ts is None else ts
        rows = [_row(run_id, stamp, provenance, result) for result in results]
        missed = [_miss_row(run_id, r.variant, m) for r in results for m in r.misses]
        with self._engine.begin() as conn:
            conn.execute(insert(eval_runs), rows)
            if missed:
                conn.execute(insert(eval_misses), missed)
        return run_id

    def misses(self, run_id: str, variant: str | None = None) -> list[Miss]:
        """The gold examples a run got wrong (or could not answer), in gold order per variant."""
        query = select(eval_misses).where(eval_misses.c.run_id == run_id)
        if variant is not None:
            query = query.where(eval_misses.c.variant == variant)
        with self._engine.connect() as conn:
            rows = conn.execute(query.order_by(eval_misses.c.id)).mappings().all()
        return [Miss(r["variant"], r["line"], r["input"], r["expected"], r["got"], r["target"], r["error"])
                for r in rows]

    def entries(self, route: str, variant: str | None = None, limit: int | None = None) -> list[HistoryEntry]:
        """The route's eval rows, newest first, optionally for one variant."""
        query = select(eval_runs).where(eval_runs.c.route == route)
        if variant is not None:
            query = query.where(eval_runs.c.variant == variant)
        query = query.order_by(eval_runs.c.ts.desc(), eval_runs.c.id.desc()).limit(limit)
        with self._engine.connect() as conn:
            return [_entry(row) for row in conn.execute(query).mappings()]

    def latest(self, route: str, variant: str) -> HistoryEntry | None:
        found = self.entries(route, variant, limit=1)
        return found[0] if found else None


def _row(run_id: str, ts: float, provenance: Provenance, result: VariantResult) -> dict[str, Any]:
    return {
        "run_id": run_id,
        "ts": ts,
        "route": provenance.route,
        "route_version": provenance.route_version,
        "variant": result.variant,
        "dataset": provenance.dataset,
        "dataset_checksum": provenance.dataset_checksum,
        "n_examples": result.n,
        "index_versions": json.dumps(provenance.index_versions, sort_keys=True),
        "model_versions": json.dumps(provenance.model_versions, sort_keys=True),
        "metrics": json.dumps(result.scalars(), sort_keys=True),
        "target_share": json.dumps(result.target_share, sort_keys=True),
        "details": json.dumps(result.details(), sort_keys=True),
    }


def _miss_row(run_id: str, variant: str, miss: Scored) -> dict[str, Any]:
    expected = miss.expected if isinstance(miss.expected, str) else json.dumps(miss.expected, sort_keys=True)
    return {"run_id": run_id, "variant": variant, "line": miss.line, "input": miss.input, "expected": expected,
            "got": miss.got, "target": miss.target, "error": miss.error}


def _entry(row: Any) -> HistoryEntry:
    provenance = Provenance(
        route=row["route"],
        route_version=row["route_version"],
        index_versions=json.loads(row["index_versions"]),
        model_versions=json.loads(row["model_versions"]),
        dataset=row["dataset"],
        dataset_checksum=row["dataset_checksum"],
    )
    return HistoryEntry(
        id=int(row["id"]),
        run_id=row["run_id"],
        ts=float(row["ts"]),
        variant=row["variant"],
        n_examples=int(row["n_examples"]),
        metrics=json.loads(row["metrics"]),
        target_share=json.loads(row["target_share"]),
        provenance=provenance,
        details=json.loads(row["details"] or "{}"),
    )
