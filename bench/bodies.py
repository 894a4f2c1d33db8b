"""Request bodies for wrk: one JSON chat request per line, real user texts from banking77."""

from __future__ import annotations

import csv
import json
from itertools import islice
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"
DEFAULT_COUNT = 500


def user_texts(count: int = DEFAULT_COUNT, data_dir: Path = DATA_DIR) -> list[str]:
    """The first *count* banking77 test questions (varied inputs, so no layer can memoise one)."""
    path = data_dir / "test.csv"
    if path.exists():
        with path.open(newline="", encoding="utf-8") as handle:
            texts = [row["text"] for row in islice(csv.DictReader(handle), count)]
        if texts:
            return texts
    return [f"Question {i}: why was my card payment declined at the shop?" for i in range(count)]


def write_bodies(path: Path, model: str, texts: list[str], max_tokens: int = 16) -> Path:
    """Write one chat request per text to *path* (JSON lines) and return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps({"model": model, "messages": [{"role": "user", "content": text}], "max_tokens": max_tokens})
        for text in texts
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
