"""The negation set: questions from a labelled CSV paired with their negation, by rule, seeded.

    python -m bench.negation_set [--data ../shared/data/banking77/train.csv] [--input-col text]
                                 [-n 300] [--seed 7] [--out negations.csv]

A question with a negation loses it ("Why can't I ..." -> "Why can I ..."); one without gets one at
its first auxiliary ("Why was my card declined?" -> "Why wasn't my card declined?"), or after a
leading "I"/"we" ("I want a refund" -> "I don't want a refund"). Questions no rule fits are skipped.
The semantic cache must never answer one side of a pair with the other's answer.
"""

from __future__ import annotations

import argparse
import csv
import random
import re
from dataclasses import dataclass
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "banking77" / "train.csv"
_DROP = {
    "can't": "can", "cannot": "can", "won't": "will", "don't": "do", "doesn't": "does", "didn't": "did",
    "isn't": "is", "aren't": "are", "wasn't": "was", "weren't": "were", "haven't": "have", "hasn't": "has",
    "couldn't": "could", "wouldn't": "would", "shouldn't": "should", "hadn't": "had",
}
_ADD = {
    "is": "isn't", "are": "aren't", "was": "wasn't", "were": "weren't", "can": "can't", "could": "couldn't",
    "do": "don't", "does": "doesn't", "did": "didn't", "will": "won't", "would": "wouldn't",
    "should": "shouldn't", "has": "hasn't", "have": "haven't", "had": "hadn't", "am": "am not",
}
_WORD = re.compile(r"[A-Za-z']+")


@dataclass(frozen=True)
class Pair:
    text: str
    negated: str
    rule: str


def negate(text: str) -> Pair | None:
    """*text* with its negation removed or one added; None when no rule fits."""
    normal = text.replace("\u2019", "'")
    for match in _WORD.finditer(normal):
        word = match.group().lower()
        if word in _DROP:
            return Pair(text, _swap(normal, match, _DROP[word]), "drop-contraction")
        if word == "not" or word == "never":
            negated = normal[:match.start()].rstrip() + " " + normal[match.end():].lstrip()
            return Pair(text, negated.strip(), f"drop-{word}")
    for match in _WORD.finditer(normal):
        word = match.group().lower()
        if word in _ADD:
            return Pair(text, _swap(normal, match, _ADD[word]), "add-at-auxiliary")
    first = _WORD.match(normal)
    if first and first.group().lower() in ("i", "we"):
        return Pair(text, f"{first.group()} don't{normal[first.end():]}", "add-after-subject")
    return None


def _swap(text: str, match: re.Match[str], word: str) -> str:
    if match.group()[:1].isupper():
        word = word[:1].upper() + word[1:]
    return text[:match.start()] + word + text[match.end():]


def build(texts: list[str], n: int, seed: int) -> list[Pair]:
    """Up to *n* pairs from *texts* drawn in a seeded order; the same inputs give the same pairs."""
    order = list(dict.fromkeys(texts))
    random.Random(seed).shuffle(order)
    pairs = []
    for text in order:
        pair = negate(text)
        if pair is not None and pair.negated != text:
            pairs.append(pair)
            if len(pairs) == n:
                break
    return pairs


def read_texts(path: Path, column: str) -> list[str]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if column not in (reader.fieldnames or []):
            raise SystemExit(f"{path}: no column '{column}' (columns: {', '.join(reader.fieldnames or [])})")
        return [row[column] for row in reader]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--input-col", default="text")
    parser.add_argument("-n", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("negations.csv"))
    args = parser.parse_args()
    pairs = build(read_texts(args.data, args.input_col), args.n, args.seed)
    with args.out.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "negated", "rule"])
        writer.writerows([p.text, p.negated, p.rule] for p in pairs)
    print(f"wrote {len(pairs)} pairs to {args.out}")


if __name__ == "__main__":
    main()
