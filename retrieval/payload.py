"""The payload rows beside the vectors: one JSON object per line, row i for vector i."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from retrieval.errors import IndexCorrupt


@dataclass(frozen=True, slots=True)
class Row:
    """What a vector stands for: the embedded input, its output or label, where it came from."""

    input: str
    output: str | None = None
    source: str | None = None
    position: int | None = None


def write_rows(path: Path, rows: Iterable[Row], append: bool = False) -> None:
    with path.open("a" if append else "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(asdict(row), ensure_ascii=False) + "\n")


def read_rows(path: Path) -> list[Row]:
    """Every row in *path*; IndexCorrupt names the first bad line."""
    rows: list[Row] = []
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            try:
                rows.append(Row(**json.loads(line)))
            except (ValueError, TypeError) as exc:
                raise IndexCorrupt(f"{path}:{number}: bad payload row: {exc}") from exc
    return rows
