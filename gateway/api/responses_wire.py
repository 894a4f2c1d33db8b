"""The OpenAI Responses API mapped onto chat completions, both ways.

A Responses request becomes a chat request for the same route (instructions -> system message,
input items -> messages, function tools -> chat tools); the chat answer becomes a Response
object, and a chat stream becomes the Responses event stream (response.created, output items,
text and function-call argument deltas, response.completed). The gateway keeps no conversation
state, so `previous_response_id` is refused, as are tools other than functions. A Response's ids
are drawn from its chat answer, so an answer replayed under an Idempotency-Key keeps them.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Iterator
from typing import Any, Literal

from pydantic import Field

from gateway.errors import InvalidRequest
from gateway.schemas import ChatCompletionRequest, Wire

Item = dict[str, Any]
Event = dict[str, Any]


class ResponsesRequest(Wire):
    model: str = Field(min_length=1)
    input: str | list[dict[str, Any]]
    instructions: str | None = None
    stream: bool = False
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_output_tokens: int | None = Field(None, ge=1)
    text: dict[str, Any] | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    previous_response_id: str | None = None
    store: bool | None = None
    truncation: Literal["auto", "disabled"] | None = None


def to_chat(req: ResponsesRequest) -> ChatCompletionRequest:
    """The chat request a Responses request stands for; InvalidRequest names what cannot map."""
    if req.previous_response_id:
        raise InvalidRequest("previous_response_id is not supported: the gateway keeps no conversation state; "
                             "send the earlier turns in `input`", param="previous_response_id")
    messages: list[Item] = [{"role": "system", "content": req.instructions}] if req.instructions else []
    messages += [{"role": "user", "content": req.input}] if isinstance(req.input, str) else _messages(req.input)
    if not messages:
        raise InvalidRequest("input is empty", param="input")
    chat: dict[str, Any] = {"model": req.model, "messages": messages, "stream": req.stream}
    for key in ("temperature", "top_p", "user", "metadata", "parallel_tool_calls"):
        if getattr(req, key) is not None:
            chat[key] = getattr(req, key)
    if req.max_output_tokens is not None:
        chat["max_tokens"] = req.max_output_tokens
    if req.tools:
        chat["tools"] = [_tool(tool, n) for n, tool in enumerate(req.tools)]
    if req.tool_choice is not None:
        chat["tool_choice"] = _tool_choice(req.tool_choice)
    if req.text and isinstance(req.text.get("format"), dict):
        chat["response_format"] = _response_format(req.text["format"])
    if req.stream:
        chat["stream_options"] = {"include_usage": True}
    return ChatCompletionRequest.model_validate(chat)


def _messages(items: list[Item]) -> list[Item]:
    messages: list[Item] = []
    for n, item in enumerate(items):
        kind = item.get("type", "message")
        if kind == "message":
            messages.append({"role": item.get("role", "user"), "content": _content(item.get("content"), n)})
        elif kind == "function_call":
            call = {"id": item.get("call_id"), "type": "function",
                    "function": {"name": item.get("name"), "arguments": item.get("arguments", "")}}
            if messages and messages[-1]["role"] == "assistant" and messages[-1].get("tool_calls"):
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id"),
                             "content": output if isinstance(output, str) else str(output)})
        else:
            raise InvalidRequest(f"input item of type '{kind}' is not supported", param=f"input.{n}.type")
    return messages


def _content(content: Any, n: int) -> Any:
    if isinstance(content, str) or content is None:
        return content or ""
    parts = []
    for part in content:
        kind = part.get("type")
        if kind in ("input_text", "output_text", "text"):
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and part.get("image_url"):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"]}})
        else:
            raise InvalidRequest(f"content part of type '{kind}' is not supported", param=f"input.{n}.content")
    if all(p["type"] == "text" for p in parts):
        return "\n".join(p["text"] for p in parts)
    return parts


def _tool(tool: Item, n: int) -> Item:
    if tool.get("type") != "function" or not tool.get("name"):
        raise InvalidRequest(f"tool of type '{tool.get('type')}' is not supported: only function tools pass "
                             "through the gateway", param=f"tools.{n}")
    function = {k: tool[k] for k in ("name", "description", "parameters", "strict") if tool.get(k) is not None}
    return {"type": "function", "function": function}


def _tool_choice(choice: str | Item) -> str | Item:
    if isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise InvalidRequest("tool_choice must be auto, none, required or a function", param="tool_choice")


def _response_format(fmt: Item) -> Item:
    if fmt.get("type") == "json_schema":
        schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if k in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return {"type": fmt.get("type", "text")}


class Ids:
    """The ids in one Response: drawn in order from its chat answer's id and time (random without an id)."""

    def __init__(self, answer: Item) -> None:
        self.seed = f"{answer['id']}\0{answer.get('created')}" if answer.get("id") else uuid.uuid4().hex
        self.drawn = 0

    def new(self, prefix: str) -> str:
        self.drawn += 1
        digest = hashlib.sha256(f"{self.seed}\0{self.drawn}".encode()).hexdigest()
        return f"{prefix}_{digest[:32]}"


def response_object(req: ResponsesRequest, response_id: str, output: list[Item], usage: Item | None,
                    finish: str | None, created: int | None = None, status: str = "completed") -> Item:
    """A Response object (as `client.responses.create` returns it)."""
    incomplete = finish == "length" and status == "completed"
    return {
        "id": response_id, "object": "response", "created_at": created or int(time.time()),
        "status": "incomplete" if incomplete else status, "model": req.model, "output": output,
        "incomplete_details": {"reason": "max_output_tokens"} if incomplete else None, "error": None,
        "instructions": req.instructions, "metadata": req.metadata or {}, "temperature": req.temperature,
        "top_p": req.top_p, "max_output_tokens": req.max_output_tokens, "tools": req.tools or [],
        "tool_choice": req.tool_choice or "auto", "parallel_tool_calls": req.parallel_tool_calls is not False,
        "text": req.text or {"format": {"type": "text"}}, "usage": _usage(usage),
    }


def from_chat(req: ResponsesRequest, body: Item) -> Item:
    """The Response for a chat.completion answer; the gateway's `ragway` field kept."""
    choice = (body.get("choices") or [{}])[0]
    message = choice.get("message") or {}
    ids = Ids(body)
    response_id = ids.new("resp")
    output: list[Item] = []
    if message.get("content"):
        output.append(_message_item(ids.new("msg"), message["content"]))
    output += [_call_item(ids.new("fc"), call.get("id", ""), call["function"]["name"], call["function"]["arguments"])
               for call in message.get("tool_calls") or ()]
    response = response_object(req, response_id, output, body.get("usage"), choice.get("finish_reason"),
                                body.get("created"))
    if "ragway" in body:
        response["ragway"] = body["ragway"]
    return response


def _message_item(item_id: str, text: str, status: str = "completed") -> Item:
    return {"type": "message", "id": item_id, "status": status, "role": "assistant",
            "content": [{"type": "output_text", "text": text, "annotations": []}]}


def _call_item(item_id: str, call_id: str, name: str, arguments: str, status: str = "completed") -> Item:
    return {"type": "function_call", "id": item_id, "call_id": call_id, "name": name, "arguments": arguments,
            "status": status}


def _usage(usage: Item | None) -> Item | None:
    if not usage:
        return None
    tokens_in, tokens_out = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"input_tokens": tokens_in, "output_tokens": tokens_out, "total_tokens": tokens_in + tokens_out,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 0}}


class StreamTranslator:
    """Chat completion chunks in, Responses stream events out (sequence-numbered)."""

    def __init__(self, req: ResponsesRequest) -> None:
        self.req = req
        self.started = False
        self.ids = Ids({})  # replaced by the first chunk's
        self.response_id = ""
        self.created: int | None = None
        self.sequence = 0
        self.text: list[str] = []
        self.message_id: str | None = None
        self.message_index = -1
        self.calls: dict[int, Item] = {}
        self.outputs = 0
        self.usage: Item | None = None
        self.finish: str | None = None

    def feed(self, chunk: Item) -> Iterator[Event]:
        yield from self._start(chunk)
        self.usage = chunk.get("usage") or self.usage
        for choice in chunk.get("choices") or ():
            if choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            self.finish = choice.get("finish_reason") or self.finish
            if delta.get("content"):
                yield from self._text(delta["content"])
            for call in delta.get("tool_calls") or ():
                yield from self._call(call)

    def finish_events(self) -> Iterator[Event]:
        yield from self._start({})
        output: list[tuple[int, Item]] = []
        if self.message_id is not None:
            text = "".join(self.text)
            part = {"type": "output_text", "text": text, "annotations": []}
            where = {"item_id": self.message_id, "output_index": self.message_index, "content_index": 0}
            yield self._event("response.output_text.done", **where, text=text, logprobs=[])
            yield self._event("response.content_part.done", **where, part=part)
            item = _message_item(self.message_id, text)
            yield self._event("response.output_item.done", output_index=self.message_index, item=item)
            output.append((self.message_index, item))
        for call in self.calls.values():
            item = _call_item(call["id"], call["call_id"], call["name"], call["arguments"])
            yield self._event("response.function_call_arguments.done", item_id=call["id"],
                              output_index=call["output_index"], name=call["name"], arguments=call["arguments"])
            yield self._event("response.output_item.done", output_index=call["output_index"], item=item)
            output.append((call["output_index"], item))
        items = [item for _, item in sorted(output, key=lambda pair: pair[0])]
        final = response_object(self.req, self.response_id, items, self.usage, self.finish, self.created)
        kind = "response.incomplete" if final["status"] == "incomplete" else "response.completed"
        yield self._event(kind, response=final)

    def error(self, error: Item) -> Iterator[Event]:
        yield from self._start({})
        yield self._event("error", code=error.get("code"), message=error.get("message"), param=error.get("param"),
                          error=error)

    def _start(self, chunk: Item) -> Iterator[Event]:
        """response.created and response.in_progress, once: the first chunk names the answer the ids come from."""
        if self.started:
            return
        self.started, self.ids = True, Ids(chunk)
        self.response_id, self.created = self.ids.new("resp"), chunk.get("created")
        skeleton = response_object(self.req, self.response_id, [], None, None, self.created, status="in_progress")
        yield self._event("response.created", response=skeleton)
        yield self._event("response.in_progress", response=skeleton)

    def _text(self, piece: str) -> Iterator[Event]:
        if self.message_id is None:
            self.message_id, self.message_index = self.ids.new("msg"), self._next_index()
            yield self._event("response.output_item.added", output_index=self.message_index,
                              item=_message_item(self.message_id, "", "in_progress") | {"content": []})
            yield self._event("response.content_part.added", item_id=self.message_id,
                              output_index=self.message_index, content_index=0,
                              part={"type": "output_text", "text": "", "annotations": []})
        self.text.append(piece)
        yield self._event("response.output_text.delta", item_id=self.message_id, output_index=self.message_index,
                          content_index=0, delta=piece, logprobs=[])

    def _call(self, delta: Item) -> Iterator[Event]:
        index = delta.get("index", 0)
        function = delta.get("function") or {}
        call = self.calls.get(index)
        if call is None:
            call = {"id": self.ids.new("fc"), "call_id": delta.get("id") or self.ids.new("call"),
                    "name": function.get("name", ""),
                    "arguments": "", "output_index": self._next_index()}
            self.calls[index] = call
            item = _call_item(call["id"], call["call_id"], call["name"], "", "in_progress")
            yield self._event("response.output_item.added", output_index=call["output_index"], item=item)
        if function.get("arguments"):
            call["arguments"] += function["arguments"]
            yield self._event("response.function_call_arguments.delta", item_id=call["id"],
                              output_index=call["output_index"], delta=function["arguments"])

    def _next_index(self) -> int:
        self.outputs += 1
        return self.outputs - 1

    def _event(self, kind: str, **fields: Any) -> Event:
        self.sequence += 1
        return {"type": kind, "sequence_number": self.sequence - 1, **fields}
