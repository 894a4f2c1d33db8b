"""A labelled CSV file read into parallel lists of texts and labels."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

LABEL_COLUMNS = ("label", "category", "output", "intent")


class DatasetError(ValueError):
    """A labelled file that is missing, empty, or lacks a column; the message is one line."""


@dataclass(frozen=True)
class LabelledData:
    texts: list[str]
    labels: list[str]
    skipped: int
    input_col: str
    output_col: str


def read_labelled_csv(path: Path, input_col: str = "text", output_col: str | None = None) -> LabelledData:
    """Rows with a text and a label; rows missing either are skipped and counted.

    Without *output_col* the first of label, category, output, intent present is used.
    """
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            output_col = output_col or _label_column(path, columns)
            for name in (input_col, output_col):
                if name not in columns:
                    raise DatasetError(f"{path}: no column '{name}' (columns: {', '.join(columns) or 'none'})")
            rows = [(row.get(input_col) or "", row.get(output_col) or "") for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    kept = [(text.strip(), label.strip()) for text, label in rows if text.strip() and label.strip()]
    if not kept:
        raise DatasetError(f"{path}: no rows with both '{input_col}' and '{output_col}'")
    return LabelledData(
        texts=[text for text, _ in kept],
        labels=[label for _, label in kept],
        skipped=len(rows) - len(kept),
        input_col=input_col,
        output_col=output_col,
    )


def _label_column(path: Path, columns: list[str]) -> str:
    for name in LABEL_COLUMNS:
        if name in columns:
            return name
    raise DatasetError(f"{path}: no label column found (tried {', '.join(LABEL_COLUMNS)}): pass --output-col")


def read_texts_csv(path: Path, input_col: str = "text") -> list[str]:
    """The non-empty *input_col* values of a CSV file (e.g. known out-of-scope queries)."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            columns = list(reader.fieldnames or [])
            if input_col not in columns:
                raise DatasetError(f"{path}: no column '{input_col}' (columns: {', '.join(columns) or 'none'})")
            texts = [(row.get(input_col) or "").strip() for row in reader]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None
    kept = [text for text in texts if text]
    if not kept:
        raise DatasetError(f"{path}: no rows with '{input_col}'")
    return kept
