"""Chat-format JSONL for fine-tuning elsewhere."""

from __future__ import annotations

import json
from pathlib import Path

from gateway.smallmodel.export import chat_records, write_jsonl


def test_openai_style_is_one_message_list(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    count = write_jsonl(path, chat_records("Classify.", ["hi", "bye"], ["greet", "leave"], "openai"))
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert count == 2
    assert lines[0] == {
        "messages": [
            {"role": "system", "content": "Classify."},
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "greet"},
        ]
    }


def test_hf_style_separates_prompt_and_completion() -> None:
    (record,) = chat_records("", ["hi"], ["greet"], "hf")
    assert record == {
        "prompt": [{"role": "user", "content": "hi"}],
        "completion": [{"role": "assistant", "content": "greet"}],
    }
