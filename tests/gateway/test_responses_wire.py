"""The Responses <-> chat mapping, on plain dicts."""

from __future__ import annotations

import pytest

from gateway.api.responses_wire import ResponsesRequest, StreamTranslator, from_chat, to_chat
from gateway.errors import InvalidRequest


def request(**fields) -> ResponsesRequest:
    return ResponsesRequest.model_validate({"model": "chat", "input": "hi", **fields})


def test_input_items_become_chat_messages() -> None:
    chat = to_chat(request(instructions="Be brief.", max_output_tokens=9, input=[
        {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
        {"type": "function_call", "call_id": "c1", "name": "w", "arguments": "{}"},
        {"type": "function_call", "call_id": "c2", "name": "w", "arguments": "{\"x\":1}"},
        {"type": "function_call_output", "call_id": "c1", "output": "sun"},
    ], tools=[{"type": "function", "name": "w", "parameters": {"type": "object"}}],
        tool_choice={"type": "function", "name": "w"}))
    messages = [m.model_dump(exclude_none=True) for m in chat.messages]
    assert messages[0] == {"role": "system", "content": "Be brief."}
    assert messages[1] == {"role": "user", "content": "Weather?"}
    assert [c["id"] for c in messages[2]["tool_calls"]] == ["c1", "c2"]  # consecutive calls: one assistant turn
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "sun"}
    assert chat.tools == [{"type": "function", "function": {"name": "w", "parameters": {"type": "object"}}}]
    assert chat.tool_choice == {"type": "function", "function": {"name": "w"}}
    assert chat.max_tokens == 9


@pytest.mark.parametrize("fields", [{"previous_response_id": "resp_1"}, {"tools": [{"type": "web_search"}]},
                                    {"input": [{"type": "reasoning"}]}, {"input": []}])
def test_what_cannot_map_is_a_400(fields: dict) -> None:
    with pytest.raises(InvalidRequest):
        to_chat(request(**fields))


def test_chat_answer_becomes_a_response() -> None:
    body = {"id": "x", "created": 5, "choices": [{"finish_reason": "length", "message": {
        "content": "Hello", "tool_calls": [{"id": "c1", "function": {"name": "w", "arguments": "{}"}}]}}],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2}, "ragway": {"route": "chat"}}
    response = from_chat(request(), body)
    assert [item["type"] for item in response["output"]] == ["message", "function_call"]
    assert response["output"][0]["content"][0]["text"] == "Hello"
    assert response["status"] == "incomplete" and response["incomplete_details"] == {"reason": "max_output_tokens"}
    assert response["usage"]["total_tokens"] == 5 and response["ragway"] == {"route": "chat"}


def test_stream_translator_orders_events_and_sums_deltas() -> None:
    translator = StreamTranslator(request())
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
              {"choices": [{"index": 0, "delta": {"content": "lo"}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": "c1", "function": {
                  "name": "w", "arguments": "{\"a\""}}]}}]},
              {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "function": {"arguments": ":1}"}}]},
                            "finish_reason": "tool_calls"}]},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 3}}]
    events = [*(e for c in chunks for e in translator.feed(c)), *translator.finish_events()]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[0]["type"] == "response.created" and events[-1]["type"] == "response.completed"
    final = events[-1]["response"]
    assert final["output"][0]["content"][0]["text"] == "Hello"
    assert final["output"][1]["arguments"] == "{\"a\":1}" and final["output"][1]["call_id"] == "c1"
    assert final["usage"]["output_tokens"] == 3


def test_one_chat_answer_keeps_its_response_ids_and_another_answer_gets_others() -> None:
    body = {"id": "chatcmpl-1", "created": 5, "choices": [{"message": {"content": "Hi"}}]}
    first, again, other = (from_chat(request(), b) for b in (body, body, {**body, "id": "chatcmpl-2"}))
    assert first == again and first["id"].startswith("resp_") and first["output"][0]["id"].startswith("msg_")
    assert other["id"] != first["id"] and other["output"][0]["id"] != first["output"][0]["id"]

    def streamed(answer_id: str) -> list[dict]:
        translator = StreamTranslator(request())
        chunk = {"id": answer_id, "created": 5, "choices": [{"index": 0, "delta": {"content": "Hi"}}]}
        return [*translator.feed(chunk), *translator.finish_events()]

    assert streamed("chatcmpl-1") == streamed("chatcmpl-1")
    assert streamed("chatcmpl-1")[-1]["response"]["id"] != streamed("chatcmpl-2")[-1]["response"]["id"]
