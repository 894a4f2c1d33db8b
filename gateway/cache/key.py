"""Cache keys: the exact key of a request and the scope its semantic neighbours must share.

Normalisation only removes differences that cannot change the answer: JSON key order, top-level
fields set to null, a content list of one text part versus the same text as a string, Unicode
composition, and 1.0 versus 1 (within a float's exact integers). Whitespace and case are kept: a model
at temperature 0 can answer them differently.
"""

from __future__ import annotations

import hashlib
import unicodedata
from typing import Any

import orjson

from gateway.cache.query import CacheQuery

KEY_VERSION = 2
# Past 2**53 a float no longer stands for one integer, and an int past 64 bits does not serialise.
EXACT_FLOAT_INT = 2**53
# Parameters that change how an answer is delivered or attributed, never what it says.
DELIVERY_PARAMS = frozenset({"stream", "stream_options", "user", "metadata", "store"})


def exact_key(q: CacheQuery) -> str:
    """A hash of scope, route, route version, index versions, normalised messages and output parameters."""
    return _digest("e", q, normalise_messages(q.messages))


def semantic_scope(q: CacheQuery) -> str:
    """Everything the exact key holds except the last message, which the request vector stands for.

    A semantic hit may only replace the final turn: the system prompt, earlier turns and every
    parameter must match exactly.
    """
    return _digest("s", q, normalise_messages(q.messages[:-1]))


def last_text(messages: list[dict[str, Any]]) -> str:
    """The text of the last message (text parts joined), which the request vector stands for."""
    content = messages[-1].get("content") if messages else None
    if isinstance(content, list):
        return " ".join(part["text"] for part in content if _is_text_part(part))
    return content if isinstance(content, str) else ""


def normalise_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [_normalise_message(message) for message in messages]


def normalise_params(params: dict[str, Any]) -> dict[str, Any]:
    return {
        name: _canonical(value)
        for name, value in params.items()
        if value is not None and name not in DELIVERY_PARAMS
    }


def _digest(kind: str, q: CacheQuery, messages: list[dict[str, Any]]) -> str:
    payload = {
        "v": KEY_VERSION,
        "kind": kind,
        "scope": q.scope,
        "route": q.route,
        "route_version": q.route_version,
        "index_versions": list(q.index_versions),
        "messages": messages,
        "params": normalise_params(q.params),
    }
    blob = orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(blob).hexdigest()[:40]


def _normalise_message(message: dict[str, Any]) -> dict[str, Any]:
    out = {name: _canonical(value) for name, value in message.items() if value is not None}
    content = out.get("content")
    if isinstance(content, list) and len(content) == 1 and _is_text_part(content[0]):
        out["content"] = content[0]["text"]
    return out


def _is_text_part(part: Any) -> bool:
    return isinstance(part, dict) and part.get("type") == "text" and isinstance(part.get("text"), str)


def _canonical(value: Any) -> Any:
    if isinstance(value, str):
        return unicodedata.normalize("NFC", value)
    if isinstance(value, float) and value.is_integer() and abs(value) <= EXACT_FLOAT_INT:
        return int(value)
    if isinstance(value, dict):
        return {name: _canonical(item) for name, item in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value
