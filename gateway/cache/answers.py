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
    calls = message.get("tool_calls")
    suffix = "\x00" + orjson.dumps(calls, option=orjson.OPT_SORT_KEYS).decode() if calls else ""
    return text_digest(str(message.get("content") or ""), comparison, suffix)


def text_digest(text: str, comparison: str, suffix: str = "") -> str:
    """The digest of an answer given as text (a gold label, say)."""
    return hashlib.sha256((_canonical(text, comparison) + suffix).encode()).hexdigest()[:16]


def _canonical(text: str, comparison: str) -> str:
    if comparison == "exact":
        return text
    if comparison == "json":
        try:
            return orjson.dumps(orjson.loads(text), option=orjson.OPT_SORT_KEYS).decode()
        except orjson.JSONDecodeError:
            pass
    return _SPACE.sub(" ", text).strip(_EDGES).lower()
