"""When do two answers say the same thing? A digest per answer; equal digests mean they agree.

`normalised` ignores case, runs of whitespace and surrounding quotes and end punctuation (a label
"Card_arrival." is the label "card_arrival"); `exact` compares the text as sent; `json` compares the
parsed value (key order and spacing aside), falling back to `normalised` for text that is not JSON.
Tool calls are part of the answer under every comparison.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

import orjson

_SPACE = re.compile(r"\s+")
_EDGES = "\"'`.,;:!? \n\t"


def answer_digest(response: dict[str, Any], comparison: str) -> str:
    """A short digest of the first choice's message under *comparison*; empty when there is none."""
    choices = response.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return ""
    message = choices[0].get("message") or {}
    text = _canonical(str(message.get("content") or ""), comparison)
    calls = message.get("tool_calls")
    if calls:
        text += "\x00" + orjson.dumps(calls, option=orjson.OPT_SORT_KEYS).decode()
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _canonical(text: str, comparison: str) -> str:
    if comparison == "exact":
        return text
    if comparison == "json":
        try:
            return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONDecodeError:
            pass
    return _SPACE.sub(" ", text).strip(_EDGES).lower()
