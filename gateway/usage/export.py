"""Stored records written out as CSV or JSON Lines, one flat row per request."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable
from typing import Any, Literal, TextIO

from gateway.usage.schema import request_log
from gateway.usage.store import LoggedRecord, to_row

ExportFormat = Literal["csv", "jsonl"]
FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
COLUMNS = tuple(column.name for column in request_log.columns)


def flat(logged: LoggedRecord) -> dict[str, Any]:
    """The record as its table row, `retrieved_ids` as a list."""
    row = to_row(logged.record)
    row["id"] = logged.id
    row["retrieved_ids"] = list(logged.record.retrieved_ids)
    return {name: row[name] for name in COLUMNS}


def write_records(
    records: Iterable[LoggedRecord], out: TextIO, fmt: ExportFormat, on_row: Callable[[], None] | None = None
) -> int:
    """Write *records* to *out* in *fmt*; return how many were written. *on_row* ticks a progress bar."""
    writer = _csv_writer(out) if fmt == "csv" else None
    count = 0
    for logged in records:
        row = flat(logged)
        if writer is None:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        else:
            row["retrieved_ids"] = json.dumps(row["retrieved_ids"])
            writer.writerow(row)
        count += 1
        if on_row is not None:
            on_row()
    return count


def _csv_writer(out: TextIO) -> csv.DictWriter[str]:
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    return writer
