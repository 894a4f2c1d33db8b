"""Request bodies for wrk: one JSON chat request per line, real user texts from banking77."""

from __future__ import annotations

import csv
import json
from itertools import islice
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "banking77"
DEFAULT_COUNT = 20_000


def user_texts(count: int = DEFAULT_COUNT, data_dir: Path = DATA_DIR) -> list[str]:
    """Up to *count* distinct banking77 questions, test set first, then training set (about 13,000 in all).

    Varied inputs, so no layer can memoise one: a row of 10 s at 1,000 req/s sends each text about once.
    """
    texts: dict[str, None] = {}
    for name in ("test.csv", "train.csv"):
        path = data_dir / name
        if path.exists():
            with path.open(newline="", encoding="utf-8") as handle:
                texts.update((row["text"], None) for row in islice(csv.DictReader(handle), count))
    if texts:
        return list(texts)[:count]
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
