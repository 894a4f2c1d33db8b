"""The payload rows beside the vectors: one JSON object per line, row i for vector i."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import overload

import numpy as np
import orjson

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
                rows.append(Row(**orjson.loads(line)))
            except (ValueError, TypeError) as exc:
                raise IndexCorrupt(f"{path}:{number}: bad payload row: {exc}") from exc
    return rows


class RowFile(Sequence[Row]):
    """The rows of a rows file held as its bytes and the offsets of its lines; row i is parsed when read.

    What a serving gateway loads: a million rows as Python objects take seconds to parse and make the
    garbage collector walk them all (pauses of half a second in every other request while an index
    is swapped in), while the bytes and one offsets array are two objects, read in well under a second.
    A search reads only the k rows it returns.
    """

    def __init__(self, path: Path, data: bytes, starts: np.ndarray) -> None:
        self._path = path
        self._data = data
        self._starts = starts  # len(rows) + 1 offsets: row i is data[starts[i]:starts[i + 1]]

    @classmethod
    def read(cls, path: Path) -> RowFile:
        data = path.read_bytes()
        newlines = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) == ord("\n")) + 1
        if data and not data.endswith(b"\n"):
            newlines = np.append(newlines, len(data))
        return cls(path, data, np.concatenate([[0], newlines]).astype(np.int64))

    def __len__(self) -> int:
        return len(self._starts) - 1

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> list[Row]: ...

    def __getitem__(self, index: int | slice) -> Row | list[Row]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        line = self._data[self._starts[index] : self._starts[index + 1]]
        try:
            # orjson: 1.6 us a row against the json module's 4.0 (a RAG request reads six rows)
            return Row(**orjson.loads(line))
        except (ValueError, TypeError) as exc:
            raise IndexCorrupt(f"{self._path}:{index + 1}: bad payload row: {exc}") from exc
