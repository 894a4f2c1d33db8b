"""A cached chat.completion replayed as chat.completion.chunk dicts, and chunks collected back.

`replay_as_stream` lets a cached answer serve a request that asked for `stream: true`;
`collect_stream` turns a streamed answer into the non-stream form the cache stores. A stream cut
off before its finish_reason collects to a choice with finish_reason None, which the cache refuses.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any

Chunk = dict[str, Any]
# Words with their trailing whitespace: deltas that read like a model's, and join back exactly.
_PIECES = re.compile(r"\s+|\S+\s*")
_MESSAGE_FIELDS = ("refusal", "tool_calls", "function_call", "audio")


def replay_as_stream(response: dict[str, Any], include_usage: bool = False) -> Iterator[Chunk]:
    """Per choice: a role delta, content deltas, extra fields, then the finish_reason; usage last if asked."""
    for choice in response.get("choices", []):
        index = choice.get("index", 0)
        message = choice.get("message") or {}
        content = message.get("content")
        opening = "" if isinstance(content, str) else None
        yield _chunk(response, index, {"role": message.get("role", "assistant"), "content": opening})
        for piece in _PIECES.findall(content or ""):
            yield _chunk(response, index, {"content": piece})
        extra = _extra_delta(message)
        if extra:
            yield _chunk(response, index, extra)
        yield _chunk(response, index, {}, finish_reason=choice.get("finish_reason"))
    if include_usage and response.get("usage") is not None:
        yield {**_envelope(response), "choices": [], "usage": response["usage"]}


def collect_stream(chunks: Iterable[Chunk]) -> dict[str, Any]:
    """The chat.completion a stream of chunks adds up to."""
    head: Chunk = {}
    choices: dict[int, dict[str, Any]] = {}
    usage = None
    for chunk in chunks:
        head = head or chunk
        usage = chunk.get("usage") or usage
        for part in chunk.get("choices") or []:
            _merge(choices.setdefault(part.get("index", 0), _empty_choice(part.get("index", 0))), part)
    response = {**_envelope(head), "object": "chat.completion", "choices": [choices[i] for i in sorted(choices)]}
    if usage is not None:
        response["usage"] = usage
    return response


def _envelope(response: dict[str, Any]) -> dict[str, Any]:
    envelope = {
        "id": response.get("id", ""),
        "object": "chat.completion.chunk",
        "created": response.get("created", 0),
        "model": response.get("model", ""),
    }
    if response.get("system_fingerprint") is not None:
        envelope["system_fingerprint"] = response["system_fingerprint"]
    return envelope


def _chunk(response: dict[str, Any], index: int, delta: dict[str, Any], finish_reason: str | None = None) -> Chunk:
    choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
    return {**_envelope(response), "choices": [choice]}


def _extra_delta(message: dict[str, Any]) -> dict[str, Any]:
    delta = {name: message[name] for name in _MESSAGE_FIELDS if message.get(name) is not None}
    if "tool_calls" in delta:
        delta["tool_calls"] = [{"index": i, **call} for i, call in enumerate(delta["tool_calls"])]
    return delta


def _empty_choice(index: int) -> dict[str, Any]:
    return {"index": index, "message": {"role": "assistant", "content": None}, "logprobs": None, "finish_reason": None}


def _merge(choice: dict[str, Any], part: dict[str, Any]) -> None:
    delta = part.get("delta") or {}
    message = choice["message"]
    for name, value in delta.items():
        if name == "content" and value is not None:
            message["content"] = (message["content"] or "") + value
        elif name == "tool_calls":
            _merge_tool_calls(message.setdefault("tool_calls", []), value)
        elif value is not None:
            message[name] = value
    if part.get("finish_reason") is not None:
        choice["finish_reason"] = part["finish_reason"]


def _merge_tool_calls(calls: list[dict[str, Any]], deltas: list[dict[str, Any]]) -> None:
    for delta in deltas:
        index = delta.get("index", len(calls))
        while len(calls) <= index:
            calls.append({"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        call = calls[index]
        call["id"] = delta.get("id") or call["id"]
        call["type"] = delta.get("type") or call["type"]
        function = delta.get("function") or {}
        call["function"]["name"] += function.get("name") or ""
        call["function"]["arguments"] += function.get("arguments") or ""
