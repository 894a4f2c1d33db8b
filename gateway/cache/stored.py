"""What the cache keeps for a request: the provider's response body, and which target and model gave it.

The body is kept as the provider sent it; the gateway's own response metadata is never written into
it. Values are JSON `{"v": 2, "body": ..., "target": ..., "model": ...}`. Values written before
this shape existed are the body itself, with who answered in its `ragway` field; they still read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

VERSION = 2


@dataclass(frozen=True, slots=True)
class StoredAnswer:
    body: dict[str, Any]
    target: str = ""
    model: str = ""

    def encode(self) -> bytes:
        return orjson.dumps({"v": VERSION, "body": self.body, "target": self.target, "model": self.model})


def decode(value: bytes | None) -> StoredAnswer | None:
    """The answer a stored value holds; None for an absent or unreadable one."""
    if value is None:
        return None
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    if data.get("v") == VERSION and isinstance(data.get("body"), dict):
        return StoredAnswer(data["body"], str(data.get("target") or ""), str(data.get("model") or ""))
    meta = data.pop("ragway", None)
    meta = meta if isinstance(meta, dict) else {}
    return StoredAnswer(data, str(meta.get("target") or ""), str(meta.get("model") or ""))
