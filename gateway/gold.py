"""Gold datasets: CSV or JSONL files of (input, expected answer) with a column mapping.

A row that cannot be used is reported with its line number and skipped; none is dropped silently.
"""

from __future__ import annotations

import csv
import hashlib
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.config.route import TaskType
from gateway.config.route_sections import EvalColumns


class DatasetError(Exception):
    """The gold file as a whole cannot be read (missing, unknown format, unmapped columns)."""


@dataclass(frozen=True)
class GoldExample:
    """`expected` is a label or reference text, or a JSON object for extraction routes."""

    line: int
    input: str
    expected: Any


@dataclass(frozen=True)
class BadRow:
    line: int
    reason: str


@dataclass(frozen=True)
class GoldSet:
    path: Path
    checksum: str
    examples: tuple[GoldExample, ...]
    bad_rows: tuple[BadRow, ...] = field(default=())

    def sample(self, n: int | None, seed: int = 0) -> GoldSet:
        """A fixed-seed random subset of *n* examples (all when *n* is None or not smaller), in file order."""
        if n is None or n >= len(self.examples):
            return self
        picked = sorted(random.Random(seed).sample(range(len(self.examples)), n))
        return replace(self, examples=tuple(self.examples[i] for i in picked))


def load_gold(path: Path, task: TaskType, columns: EvalColumns) -> GoldSet:
    """Read a .csv or .jsonl gold file; rows with a missing or unusable field go to `bad_rows`."""
    if not path.is_file():
        raise DatasetError(f"{path}: gold file not found")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        rows = _csv_rows(path, columns)
    elif suffix in (".jsonl", ".ndjson"):
        rows = _jsonl_rows(path)
    else:
        raise DatasetError(f"{path}: unknown gold file type '{suffix}' (use .csv or .jsonl)")
    examples: list[GoldExample] = []
    bad: list[BadRow] = []
    for line, row in rows:
        parsed = _example(line, row, task, columns)
        if isinstance(parsed, GoldExample):
            examples.append(parsed)
        else:
            bad.append(parsed)
    return GoldSet(path=path, checksum=file_checksum(path), examples=tuple(examples), bad_rows=tuple(bad))


def file_checksum(path: Path) -> str:
    """sha256 of the file's bytes: the same data always has the same checksum."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


Row = dict[str, Any] | str


def _csv_rows(path: Path, columns: EvalColumns) -> Iterator[tuple[int, Row]]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        missing = [c for c in (columns.input, columns.expected) if c not in (reader.fieldnames or [])]
        if missing:
            have = ", ".join(reader.fieldnames or []) or "none"
            raise DatasetError(
                f"{path}: no column {', '.join(missing)} (columns: {have}); name them with --input-col and "
                f"--expected-col, or eval.columns in the route"
            )
        start = reader.line_num + 1
        for row in reader:
            yield start, row
            start = reader.line_num + 1


def _jsonl_rows(path: Path) -> Iterator[tuple[int, Row]]:
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                yield line, f"invalid JSON: {exc.msg}"
                continue
            yield line, value if isinstance(value, dict) else "not a JSON object"


def _example(line: int, row: Row, task: TaskType, columns: EvalColumns) -> GoldExample | BadRow:
    if isinstance(row, str):
        return BadRow(line, row)
    text, expected = row.get(columns.input), row.get(columns.expected)
    if not isinstance(text, str) or not text.strip():
        return BadRow(line, f"'{columns.input}' is missing or empty")
    if task == "extraction":
        expected = _json_object(expected)
        if expected is None:
            return BadRow(line, f"'{columns.expected}' is not a JSON object")
    elif not isinstance(expected, str) or not expected.strip():
        return BadRow(line, f"'{columns.expected}' is missing or empty")
    else:
        expected = expected.strip()
    return GoldExample(line=line, input=text.strip(), expected=expected)


def _json_object(value: Any) -> dict[str, Any] | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None
