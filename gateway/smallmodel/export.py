"""A route's labelled examples as chat-format JSONL, for fine-tuning a model elsewhere.

    openai  {"messages": [system, user, assistant]}          OpenAI fine-tuning files
    hf      {"prompt": [system, user], "completion": [assistant]}  TRL's conversational
            prompt-completion format (loss on the answer only)
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Literal

ExportFormat = Literal["openai", "hf"]


def chat_records(
    system_prompt: str, texts: Sequence[str], answers: Sequence[str], style: ExportFormat
) -> Iterator[dict[str, Any]]:
    """One training record per (text, answer) pair; no system message when the prompt is empty."""
    system = [{"role": "system", "content": system_prompt}] if system_prompt.strip() else []
    for text, answer in zip(texts, answers, strict=True):
        prompt = [*system, {"role": "user", "content": text}]
        reply = {"role": "assistant", "content": answer}
        if style == "openai":
            yield {"messages": [*prompt, reply]}
        else:
            yield {"prompt": prompt, "completion": [reply]}


def write_jsonl(path: Path, records: Iterator[dict[str, Any]]) -> int:
    """Write one JSON object per line; returns how many were written."""
    count = 0
    with path.open("w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    return count
